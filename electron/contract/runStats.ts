/**
 * The statistics of a run or a phase, computed by one set of rules wherever they are
 * computed — the host's summary and the renderer's live per-phase table — so a live number
 * turns into the summary's number when the run ends instead of jumping:
 * only measured intervals count; throughput is requests over the summed measured time;
 * percentiles come from the merged histogram; CPU is per completed request.
 */
import { LatencyHistogram, type SparseHistogram } from './histogram';
import type { PhaseResult, RunStats, RunSummary } from './run';

/** What one measured interval adds (a native snapshot or a RunFrame both have these). */
export interface IntervalCounts {
  requests: number;
  bytes: number;
  errors: number;
  serverCpuNs: number;
  loadCpuNs: number;
  histogram: SparseHistogram;
}

export class RunTally {
  requests = 0;
  bytes = 0;
  errors = 0;
  serverCpuNs = 0;
  loadCpuNs = 0;
  measuredNs = 0;
  readonly histogram = new LatencyHistogram();

  add(interval: IntervalCounts, intervalNs: number): void {
    this.requests += interval.requests;
    this.bytes += interval.bytes;
    this.errors += interval.errors;
    this.serverCpuNs += interval.serverCpuNs;
    this.loadCpuNs += interval.loadCpuNs;
    this.measuredNs += intervalNs;
    this.histogram.add(interval.histogram);
  }

  stats(): RunStats {
    const measuredS = this.measuredNs / 1e9;
    return {
      measuredS,
      requests: this.requests,
      errors: this.errors,
      throughputRps: measuredS > 0 ? this.requests / measuredS : 0,
      latencyUs: latencySummary(this.histogram),
      serverCpuNsPerReq: this.requests > 0 ? this.serverCpuNs / this.requests : null,
      loadCpuNsPerReq: this.requests > 0 ? this.loadCpuNs / this.requests : null,
    };
  }
}

export function latencySummary(h: LatencyHistogram): RunStats['latencyUs'] {
  return { p50: h.quantileUs(0.5), p90: h.quantileUs(0.9), p99: h.quantileUs(0.99), p999: h.quantileUs(0.999), max: h.maxUs(), mean: h.meanUs() };
}

export type VsPhase0 = NonNullable<PhaseResult['vsPhase0']>;

/** Ratios to phase 0 (this / phase 0); null where either side has no requests or a zero base. */
export function ratiosVsPhase0(stats: RunStats | null | undefined, base: RunStats | null | undefined): VsPhase0 | null {
  if (!stats || !base) return null;
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || !(stats.requests > 0) || !(base.requests > 0) || !(b > 0) ? null : a / b;
  return {
    throughputRps: ratio(stats.throughputRps, base.throughputRps),
    p50: ratio(stats.latencyUs.p50, base.latencyUs.p50),
    p99: ratio(stats.latencyUs.p99, base.latencyUs.p99),
    p999: ratio(stats.latencyUs.p999, base.latencyUs.p999),
    serverCpuNsPerReq: ratio(stats.serverCpuNsPerReq, base.serverCpuNsPerReq),
  };
}

/**
 * A latency figure as text, "—" where no request completed in the window it covers: an empty
 * histogram's percentiles are 0 by construction, not measurements (a run stopped in its
 * warm-up printed "p50 0 … max 0"; a stalled frame "p99 0 µs"). Every text output (the CLI's
 * summary, phase and progress lines, `runs list`, the Markdown and CSV exports) prints through
 * this; the UI shows "—" by the same rule, and the JSON keeps the numbers beside `requests`.
 */
export function latencyText(requests: number, us: number, empty = '—'): string {
  const measured = latencyOf(requests, us);
  return measured === null ? empty : String(measured);
}

/** The same rule for a chart or a table cell: the latency, or null where no request completed. */
export function latencyOf(requests: number, us: number): number | null {
  return requests > 0 ? us : null;
}

/**
 * What became of the sends SEND_ZC was asked for, in words, or null where there were none:
 * `zeroCopy` the kernel sent in place, `copied` it copied all the same (its notification said
 * so: IORING_NOTIF_USAGE_ZC_COPIED), `fallbacks` the engine sent as plain copying sends while
 * SEND_ZCs held half the buffer pool. Local delivery (loopback, a veth pair into a namespace)
 * always copies (the kernel's msg_zerocopy.rst, "Loopback"): a run there pays for the
 * notifications and gains nothing, which the summary says rather than leave a user to infer
 * it from a counter. The run summary's warning and the `server` verb's summary say it in these
 * words; the UI's engine counters show the notes below beside the counts.
 */
/** A count for the summaries' words: rounded, with thousands separators. */
const wholeNumber = (v: number) => Math.round(v).toLocaleString('en-US');

export function zeroCopyWords(zeroCopy: number, copied: number, fallbacks: number): string | null {
  if (zeroCopy + copied + fallbacks === 0) return null;
  const n = wholeNumber;
  const why = copied > 0 && zeroCopy === 0 ? ` (${LOOPBACK_ZC_NOTE}: here it only added notifications; it pays off toward a NIC)`
    : copied > 0 ? ` (${(100 * copied / (zeroCopy + copied)).toFixed(1)} %: delivered on this machine)` : '';
  const past = fallbacks > 0 ? `, ${n(fallbacks)} sent as plain sends past the budget (SEND_ZCs held half the buffer pool, rounded down: a one-buffer pool has none for them)` : '';
  return `${n(zeroCopy)} zero-copy, ${n(copied)} copied by the kernel${why}${past}`;
}

/** Why every SEND_ZC was copied (loopback, msg_zerocopy.rst "Loopback"). */
export const LOOPBACK_ZC_NOTE = 'the kernel copies every SEND_ZC whose data is delivered on this machine, over loopback or a veth pair';
/** Why some sends went as copying sends with SEND_ZC on (uring_echo_conn.c, zc_budget). */
export const ZC_BUDGET_NOTE = 'past budget: sent as copying sends while SEND_ZCs held half the buffer pool, rounded down (a one-buffer pool has none for them; a SEND_ZC holds its buffers until its notification; to a peer that never reads, for good)';

/**
 * The echo server's own counts per request over the measured window, and its CPU split, in
 * words (null for a storage run, a load against another's server, or no request): the engine
 * keeps these itself, so they are there without probes or root. enters/request is where SQPOLL
 * shows; the SQPOLL thread's CPU is apart, with its busy share. The epoll engine counts its
 * epoll_waits and their events in the same fields, and has no pool or CQ. The CLI's summary
 * and the Markdown export (`runs show`) say it in these words.
 */
export function serverLoopWords(s: Pick<RunSummary, 'engine' | 'requests' | 'target' | 'storage' | 'applied'>): { loop: string; cpu: string } | null {
  const e = s.engine;
  if (!e || !(s.requests > 0) || s.target || s.storage) return null;
  const n2 = (v: number) => v.toFixed(2);
  const int = wholeNumber;
  const loop = s.applied.server.engine === 'epoll'
    ? `${n2(e.entersPerReq)} epoll_waits, ${n2(e.cqesPerReq)} events, ${n2(e.recvsPerReq)} recvs, ${n2(e.sendsPerReq)} sends per request`
    : `${n2(e.entersPerReq)} enters, ${n2(e.cqesPerReq)} CQEs, ${n2(e.recvsPerReq)} recvs, ${n2(e.sendsPerReq)} sends per request · ${int(e.enobufs)} ENOBUFS, ${int(e.cqOverflows)} CQ overflows${batchedWaitWords(s.applied.server.minWaitUs, e.batchedWaits, e.entersPerReq * s.requests)}`;
  const sqpoll = e.sqpollCpuNsPerReq > 0
    ? `, SQPOLL thread ${int(e.sqpollCpuNsPerReq)} ns${e.sqpollBusyShare === null ? '' : ` (${Math.round(e.sqpollBusyShare * 100)} % busy, the rest idle spin)`}`
    : '';
  return { loop, cpu: `user ${int(e.userCpuNsPerReq)} ns, system ${int(e.systemCpuNsPerReq)} ns${sqpoll}` };
}

/**
 * With server.minWaitUs on: how many of the loop's enters waited with the minimum wait, which it
 * asks for only after a reap that gave 4 or more connections data, fewer than half of those open.
 * None means completions never came in such batches (one connection, a few whose large echoes
 * arrive piece by piece, or so few that every batch held half of them), and the knob changed
 * nothing. '' with the knob off or a count not recorded.
 */
export function batchedWaitWords(minWaitUs: number, batchedWaits: number | null, enters: number): string {
  if (!(minWaitUs > 0) || batchedWaits === null) return '';
  if (batchedWaits === 0) return ' · no batched waits (completions never came from 4 or more connections, fewer than half of those open, at once: minWaitUs changed nothing)';
  const share = enters > 0 ? ` (${(batchedWaits / enters * 100).toFixed(batchedWaits / enters < 0.1 ? 1 : 0)} % of enters)` : '';
  return ` · ${wholeNumber(batchedWaits)} batched waits${share}`;
}

/**
 * More server workers than CPUs they may run on (server.numa.cpus when set, else every CPU the
 * engine may use): they take turns on them, so the numbers describe threads time-sharing CPUs,
 * not rings each with a CPU of its own. A lab run's load shares the CPUs too; that is said
 * where it is pinned (the shared-pinning warning). Null when each worker can have a CPU.
 */
export function oversubscribedRingsWarning(server: { rings: number; numa: { cpus: readonly number[] | null } }, cpusAvailable: number): string | null {
  const pinned = server.numa.cpus ? new Set(server.numa.cpus).size : null;
  const cpus = pinned ?? cpusAvailable;
  if (server.rings <= cpus || cpus < 1) return null;
  const where = pinned !== null ? `the ${cpus === 1 ? 'CPU' : `${cpus} CPUs`} of server.numa.cpus` : `the ${cpus === 1 ? 'one CPU' : `${cpus} CPUs`} the engine may use`;
  return `server.rings = ${server.rings} worker threads on ${where}: they took turns there, so the numbers describe ${server.rings} threads sharing ${cpus === 1 ? 'a CPU' : `${cpus} CPUs`}, not a CPU per ring; set server.rings to at most ${cpus}${pinned !== null ? ', or list more CPUs in server.numa.cpus' : ''} for a CPU per ring`;
}

/** NAPI busy poll on loopback traffic: the registration takes, the polling cannot (the run's and
 *  the `server` verb's summaries say so). */
export const NAPI_ON_LO_WARNING = 'NAPI busy poll was registered but has no effect on lo (loopback traffic has no NAPI context); it acts on a NIC or veth';
