/**
 * What the live view says about the eBPF probes: each probe's state (attached with its
 * variant, or why not and the fix) and its measured cost, the counters of the recent kernel
 * frames (enters per second and per request, io-wq punts, softirq time, TCP retransmits,
 * drops, lost events), and the empty-state line of a kernel heatmap whose probe is missing.
 * Pure, no DOM.
 */
import { entersWereCounted, PER_REQUEST_PROBES, observedRequestsOf, type KernelFrame, type Phase, type ProbeName, type ProbeStatus, type RunFrame, type RunSummary } from '../../../electron/contract';
import { formatRatio } from '../format/engineCounters';
import { formatInt, formatNs, formatPercent } from '../format/numbers';

/** Frames the counters and live costs average over (1 s at 10 frames/s): one frame is noisy. */
export const KERNEL_WINDOW_FRAMES = 10;

/** The probe each kernel heatmap depends on. */
export const HEATMAP_PROBE = { uring: 'uring_latency', runqueue: 'runqueue' } as const;

/** Probe statuses of the shown run: its summary's once it ended, else its latest phase's; null when unknown. */
export function shownProbeStatuses(
  runId: string | null,
  phase: Pick<Phase, 'probes'> | null,
  summary: Pick<RunSummary, 'runId' | 'probes'> | null,
): ProbeStatus[] | null {
  if (summary && (runId === null || summary.runId === runId) && summary.probes.length) return summary.probes;
  return phase?.probes ?? null;
}

/**
 * Why a kernel heatmap has nothing to draw, for its empty state; null when it should draw.
 * `framesWithData`: frames in the window that carried kernel data.
 */
export function kernelEmptyText(opts: {
  probe: string;
  statuses: readonly ProbeStatus[] | null;
  framesWithData: number;
  frames: number;
  runLive: boolean;
}): string | null {
  const status = opts.statuses?.find((s) => s.name === opts.probe);
  if (status && !status.attached) return `probes not attached: ${status.reason}${status.fix ? ` — fix: ${status.fix}` : ''}`;
  if (opts.framesWithData > 0) return null;
  if (opts.frames === 0) return opts.runLive ? 'waiting for the first frame…' : 'kernel latency appears here during a run (probes attach at start)';
  if (!opts.statuses) return 'probes not attached: this run\'s frames carry no kernel data (a host without probes, or probes.enabled off)';
  return status ? 'probe attached: no samples in these frames yet' : `probes not attached: ${opts.probe} is not in this run's probe list`;
}

// ---- the per-request probes' time sampling -----------------------------------------------

/** How much of the time the per-request probes (uring_latency, softirq) were attached. */
export interface PerRequestSamplingView {
  duty: number;
  /** Observed share of the time: of the recent frames live, of the measured window in a summary. */
  share: number;
  /** "sampled 1.0 % of the time", or "attached all the time" at duty 1. */
  text: string;
}

/**
 * The recent frames' observed share (Σ attached ns / Σ interval ns), else the statuses' (the
 * summary's); null when the per-request probes were not attached.
 */
export function perRequestSamplingView(recent: readonly RunFrame[], statuses: readonly ProbeStatus[] | null): PerRequestSamplingView | null {
  let interval = 0;
  let observed = 0;
  let duty: number | null = null;
  for (const f of recent) {
    const s = f.kernel?.perRequestSampling;
    if (!s) continue;
    duty ??= s.duty;
    interval += s.intervalNs;
    observed += s.observedNs;
  }
  let share: number | null = duty !== null && interval > 0 ? Math.min(1, observed / interval) : null;
  if (share === null) {
    const s = statuses?.find((p) => p.attached && p.sampling)?.sampling;
    if (!s) return null;
    duty = s.duty;
    share = s.observedShare;
  }
  return { duty: duty!, share, text: duty! >= 1 ? 'attached all the time' : `sampled ${formatPercent(share)} of the time` };
}

// ---- counters ------------------------------------------------------------------------------

export interface KernelCounterCell {
  key: string;
  label: string;
  text: string;
  value: number | null;
  title: string;
  warn?: boolean;
}

export interface KernelCountersView {
  cells: KernelCounterCell[];
  /** Frames averaged over (with kernel data). */
  frames: number;
}

/** The enters cells' title where nobody counted them. */
const NOT_COUNTED = 'not counted: the engine counts its echo server\'s io_uring_enter calls; a storage job\'s are not (the io_uring_calls probe with its syscall tracepoint counts every ring\'s)';

/** The run's TCP counts so far; closeDrops (at closing or closed sockets) and duplicateDrops
 *  (copies the receiver already had) are not in `drops`; closeRetransmits (FINs sent again by
 *  closing sockets) are among `retransmits`. */
type KernelTotals = { retransmits: number; closeRetransmits?: number; drops: number; closeDrops: number; duplicateDrops?: number; lostEvents: number };

/**
 * The counters of the recent frames (`recent`: newest first; frames without kernel data are
 * skipped), rates per second of their summed intervals, plus the run's TCP totals. Null when
 * none of them carried kernel data.
 */
export function kernelCountersView(recent: readonly RunFrame[], totals: KernelTotals): KernelCountersView | null {
  let seconds = 0;
  let requests = 0;
  let frames = 0;
  const sum = { enters: 0, completions: 0, ioWqPunts: 0, cqWaits: 0, softirqNs: 0, sqpollNs: 0, preemptions: 0, retransmits: 0, drops: 0, lost: 0 };
  // Softirq counts are of the time the per-request probes were attached (time sampling). The
  // estimate for the whole scales them by requests (Σ requests / Σ requests the windows held):
  // the attached probes slow the requests they see, so a rate over the observed time understates
  // it. Frames that do not say their windows' requests (older ones) fall back to that rate.
  let softirqObservedS = 0;
  let softirqObservedRequests: number | null = 0;
  let sampledShare = 1;
  let sampledInterval = 0;
  let sampledObserved = 0;
  let sampledDuty: number | null = null;
  // Frames that say the per-request probes were not attached (perRequestSampling null): their
  // softirq zeros measured nothing. Older frames (absent) are taken as attached.
  let unattachedFrames = 0;
  // Whether anyone counted the enters (the engine for its echo server, or a syscall probe): a
  // storage job's are not, and "0 enters/s" read as a ring that never entered.
  let entersCounted = false;
  for (const f of recent) {
    const k: KernelFrame | null | undefined = f.kernel;
    if (!k || !(f.intervalMs > 0)) continue;
    frames++;
    if (entersWereCounted(k.uring.entersSource)) entersCounted = true;
    seconds += f.intervalMs / 1000;
    requests += f.requests;
    sum.enters += k.uring.enters;
    sum.completions += k.uring.completions;
    sum.ioWqPunts += k.uring.ioWqPunts;
    sum.cqWaits += k.uring.cqWaits;
    sum.softirqNs += k.softirq.netRxNs + k.softirq.netTxNs;
    const ps = k.perRequestSampling;
    softirqObservedS += ps ? ps.observedNs / 1e9 : f.intervalMs / 1000;
    const seen = ps ? observedRequestsOf(ps, f.requests) : f.requests;
    softirqObservedRequests = softirqObservedRequests === null || seen === null ? null : softirqObservedRequests + seen;
    if (ps) { sampledInterval += ps.intervalNs; sampledObserved += ps.observedNs; sampledDuty ??= ps.duty; }
    if (ps === null) unattachedFrames++;
    sum.sqpollNs += k.sqpoll.onCpuNs;
    sum.preemptions += k.runqueue.preemptions;
    sum.retransmits += k.tcp.retransmits;
    sum.drops += k.tcp.drops;
    sum.lost += k.tcp.lostEvents;
  }
  if (frames === 0) return null;
  if (sampledInterval > 0) sampledShare = Math.min(1, sampledObserved / sampledInterval);
  const byRequests = sampledShare < 1 && softirqObservedRequests !== null && softirqObservedRequests > 0 && requests > 0;
  const softirqMsPerS = byRequests ? (sum.softirqNs * (requests / softirqObservedRequests!)) / seconds / 1e6
    : softirqObservedS > 0 ? sum.softirqNs / softirqObservedS / 1e6 : 0;
  const estimated = sampledShare < 1;
  // Nothing seen: not attached in any of these frames, or none of them held a sampling window.
  const softirqUnseen = unattachedFrames === frames ? 'not measured: the per-request probes (softirq among them) were not attached in these frames (probes.perRequest, or the probe panel says why)'
    : sampledInterval > 0 && !(sampledObserved > 0) ? `not observed: the softirq probe is time-sampled (probes.perRequestDuty ${sampledDuty}) and none of these frames held one of its windows; its zeros are no measurement`
    : null;
  const perS = (n: number) => n / seconds;
  const perReq = (n: number) => (requests > 0 ? n / requests : null);
  const cells: KernelCounterCell[] = [
    entersCounted
      ? { key: 'entersPerS', label: 'enters/s', value: perS(sum.enters), text: formatInt(perS(sum.enters)), title: 'io_uring_enter calls of the server threads per second (probe uring_calls)' }
      : { key: 'entersPerS', label: 'enters/s', value: null, text: '—', title: NOT_COUNTED },
    {
      key: 'entersPerReq',
      label: 'enters/req',
      value: entersCounted ? perReq(sum.enters) : null,
      text: entersCounted ? formatRatio(perReq(sum.enters)) : '—',
      title: entersCounted ? 'io_uring_enter calls per client request: SQPOLL brings it towards 0' : NOT_COUNTED,
    },
    { key: 'ioWqPunts', label: 'io-wq punts/s', value: perS(sum.ioWqPunts), text: formatInt(perS(sum.ioWqPunts)), title: 'requests punted to io-wq worker threads (io_uring_queue_async_work): a hidden cost', warn: sum.ioWqPunts > 0 },
    { key: 'cqWaits', label: 'CQ waits/s', value: perS(sum.cqWaits), text: formatInt(perS(sum.cqWaits)), title: 'waits for completions (io_uring_cqring_wait)' },
    softirqUnseen ? { key: 'softirqMs', label: estimated ? 'softirq ms/s (est.)' : 'softirq ms/s', value: null, text: '—', title: softirqUnseen } : {
      key: 'softirqMs',
      label: estimated ? 'softirq ms/s (est.)' : 'softirq ms/s',
      value: softirqMsPerS,
      text: formatRatio(softirqMsPerS),
      title: `NET_RX + NET_TX softirq time on all CPUs, ms per second (machine-wide)${!estimated ? '' : byRequests
        ? `; estimated: the softirq probe is time-sampled and was attached ${formatPercent(sampledShare)} of these frames (probes.perRequestDuty), holding ${formatPercent(softirqObservedRequests! / requests)} of their requests; this is its time per request of then × every request`
        : `; estimated: the softirq probe is time-sampled and was attached ${formatPercent(sampledShare)} of these frames (probes.perRequestDuty), this is its rate over that time`}`,
    },
    { key: 'sqpollCpu', label: 'SQPOLL CPU', value: sum.sqpollNs / (seconds * 1e9), text: formatPercent(sum.sqpollNs / (seconds * 1e9)), title: 'on-CPU share of the SQPOLL threads (of one CPU)' },
    { key: 'preemptions', label: 'preempt/s', value: perS(sum.preemptions), text: formatInt(perS(sum.preemptions)), title: "the engine's threads switched out while still runnable" },
    {
      // FINs sent again by closing sockets are counted (the kernel's count) but delay no
      // request: no warning for them alone.
      key: 'retransmits', label: 'retransmits', value: totals.retransmits, text: formatInt(totals.retransmits), warn: totals.retransmits - (totals.closeRetransmits ?? 0) > 0.5,
      title: `TCP retransmits this run (machine-wide, tcp:tcp_retransmit_skb)${totals.closeRetransmits ? `; ${formatInt(totals.closeRetransmits)} of them by sockets being closed (FIN_WAIT1, LAST_ACK, …: FINs sent again), which no request waited for` : ''}${totals.duplicateDrops ? `; ${formatInt(totals.duplicateDrops)} copies reached a receiver that already had the data (duplicates dropped): those retransmits were spurious` : ''}`,
    },
    {
      key: 'drops',
      label: 'drops',
      value: totals.drops,
      text: formatInt(totals.drops),
      // Every run's teardown drops packets at closing sockets, and spurious retransmits' copies
      // are dropped as duplicates: counted, but not as losses.
      title: `TCP packets lost on the way this run (skb:kfree_skb with a drop reason, machine-wide); not counted: ${formatInt(totals.closeDrops)} at sockets being closed or gone (queues purged at close, data after the application closed them, segments after a reset), which is how connections end, and ${formatInt(totals.duplicateDrops ?? 0)} duplicates of data the receiver already had (sent by spurious retransmits)`,
      warn: totals.drops > 0,
    },
    { key: 'lostEvents', label: 'lost events', value: totals.lostEvents, text: formatInt(totals.lostEvents), title: 'TCP events the ring buffer could not take this run: counted, never silent', warn: totals.lostEvents > 0 },
  ];
  return { cells, frames };
}

// ---- probe panel ---------------------------------------------------------------------------

export interface ProbeRow {
  name: string;
  attached: boolean;
  /** "tp_btf · in-process", or "not attached". */
  state: string;
  reason: string;
  fix: string | null;
  /** Cost: ns per event and CPU share, with what the share is of; null when not measured. */
  cost: { nsPerEvent: number; cpuShare: number; events: number; text: string; scope: 'live' | 'summary' } | null;
  /** A per-request probe's time sampling ("sampled 1.0 % of the time"); null for the others. */
  sampling: PerRequestSamplingView | null;
}

/**
 * One row per probe: state and cost. The cost is the summary's (measured window, share of all
 * CPUs) once the run ended, else the recent frames' BPF run-time stats (share of one CPU).
 */
export function probeRows(statuses: readonly ProbeStatus[] | null, recent: readonly RunFrame[]): ProbeRow[] {
  if (!statuses) return [];
  const live = new Map<string, { ns: number; count: number }>();
  let ns = 0;
  for (const f of recent) {
    const overhead = f.kernel?.overhead;
    if (!overhead) continue;
    ns += f.intervalMs * 1e6;
    for (const p of overhead) {
      const acc = live.get(p.probe) ?? { ns: 0, count: 0 };
      acc.ns += p.runTimeNs;
      acc.count += p.runCount;
      live.set(p.probe, acc);
    }
  }
  const sampling = perRequestSamplingView(recent, statuses);
  return statuses.map((s) => {
    let cost: ProbeRow['cost'] = null;
    if (s.overhead) {
      cost = {
        nsPerEvent: s.overhead.nsPerEvent,
        cpuShare: s.overhead.cpuShare,
        events: s.overhead.events,
        scope: 'summary',
        text: `${formatNs(s.overhead.nsPerEvent)}/event · ${formatPercent(s.overhead.cpuShare)} of all CPUs`,
      };
    } else {
      const acc = live.get(s.name);
      if (acc && ns > 0 && s.attached) {
        const nsPerEvent = acc.count > 0 ? acc.ns / acc.count : 0;
        const cpuShare = acc.ns / ns;
        cost = { nsPerEvent, cpuShare, events: acc.count, scope: 'live', text: `${formatNs(nsPerEvent)}/event · ${formatPercent(cpuShare)} of one CPU` };
      }
    }
    const how = [s.variant, s.loadedBy].filter(Boolean).join(' · ');
    return {
      name: s.name,
      attached: s.attached,
      state: s.attached ? (how ? `attached · ${how}` : 'attached') : 'not attached',
      reason: s.reason,
      fix: s.fix ?? null,
      cost,
      sampling: s.attached && PER_REQUEST_PROBES.includes(s.name as ProbeName) ? sampling : null,
    };
  });
}
