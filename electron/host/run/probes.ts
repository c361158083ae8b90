/**
 * The eBPF probes on the host: a native kernel read becomes `RunFrame.kernel`, measured frames
 * are summed into `KernelStats` per phase and for the run, and the BPF run-time stats become
 * each probe's measured overhead (bookkeeping, no engine, like runRecord.ts); plus the doctor's
 * probe checks (from the engine process's probesCheck) and the CLI's text lines for them.
 *
 * Overhead maths (from BPF_ENABLE_STATS, which the native side keeps on while probes are attached):
 * every frame carries each program's run_time_ns and run_cnt deltas; over the measured frames
 *   nsPerEvent = Σ run_time_ns / Σ run_cnt (the probe's programs together),
 *   cpuShare   = Σ run_time_ns / (measured seconds × online CPUs)
 * — online CPUs because tracepoints fire on every CPU (softirqs, the scheduler and TCP run where
 * they run, not only where the engine's threads are).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import {
  closingRetransmits, entersWereCounted, KernelHistogram, PER_REQUEST_PROBES, PROBE_NAMES, observedRequestsOf, type DoctorCheck, type ProbeName, type KernelFrame, type KernelStats, type ProbeOverhead, type ProbeStatus, type RunSummary,
} from '../../contract';
import type { EngineKernelFrame, EnginePrivileges, NativeProbeStatus } from '../../engine/protocol';

/** A native probe status in contract terms: `reason` is always a sentence. */
export function probeStatusOf(s: NativeProbeStatus): ProbeStatus {
  const via = s.loadedBy === 'helper' ? ' through the probe helper' : '';
  return {
    name: s.name,
    attached: s.attached,
    reason: s.reason ?? (s.attached ? `attached as ${s.variant ?? 'an unnamed variant'}${via}` : 'not attached (no reason given)'),
    variant: s.variant,
    fix: s.attached ? null : s.fix,
    loadedBy: s.loadedBy,
    overhead: null,
  };
}

/**
 * A native kernel read as the frame's `kernel`: times become ms since the run's time 0. Where the
 * kernel did not count io_uring_enter (the default: a syscall tracepoint would slow every task's
 * syscalls), `engineEnters` (the snapshot's server.enters, same interval) is the count.
 */
export function kernelFrameOf(k: EngineKernelFrame, t0Ns: number, engineEnters: number | null = null, enginePorts: readonly number[] | null = null): KernelFrame {
  const ms = (ns: number) => (ns - t0Ns) / 1e6;
  const kernelCounted = k.uring.entersSource != null;
  return {
    ...diagnoseFramesOf(k, ms),
    tMs: ms(k.monotonicNs),
    // The per-request probes' observed share (time sampling); absent from an addon before it.
    ...(k.perRequestSampling !== undefined ? { perRequestSampling: k.perRequestSampling && { ...k.perRequestSampling } } : {}),
    uring: {
      ...k.uring,
      enters: kernelCounted ? k.uring.enters : engineEnters ?? 0,
      entersSource: kernelCounted ? k.uring.entersSource : engineEnters === null ? null : 'engine',
      byOpcode: k.uring.byOpcode.map((o) => ({ ...o })),
    },
    runqueue: { ...k.runqueue },
    sqpoll: { ...k.sqpoll },
    softirq: { ...k.softirq },
    tcp: {
      ...k.tcp,
      events: k.tcp.events.map(({ monotonicNs, ...e }) => ({ tMs: ms(monotonicNs), ...e })),
      ...(enginePorts ? { enginePorts: [...enginePorts] } : {}),
    },
    overhead: k.overhead ? k.overhead.map((o) => ({ ...o })) : null,
  };
}

/**
 * The host is the lab itself (the CLI, `serve`, Electron's main process): its threads run beside
 * the server (kept off load.cpus) and take its CPU in bursts, one per frame. The kernel names it
 * `node` or `electron`, and a spike report said "the CPU of node rose … node (pid N) ran 16 ms in
 * the window": the lab's own bookkeeping named as if it were someone else's program. Its
 * competitor entries are named for what they are, the kernel's name kept in brackets.
 */
export function withLabHostNamed<S extends NonNullable<KernelFrame['sched']>>(sched: S, hostPid: number): S {
  if (!sched.competitors.some((c) => c.tgid === hostPid)) return sched;
  return { ...sched, competitors: sched.competitors.map((c) => (c.tgid === hostPid ? { ...c, comm: `${LAB_HOST_COMM} (${c.comm})` } : c)) };
}

/** What a competitor of the lab's own host process is called (withLabHostNamed). */
const LAB_HOST_COMM = 'uring-lab host';

/** Issue 12's probe parts (stacks already named by the engine), on the run's clock; absent
 *  where the addon has no such probe. */
function diagnoseFramesOf(k: EngineKernelFrame, ms: (ns: number) => number): Pick<KernelFrame, 'sched' | 'memory' | 'offCpu' | 'profile'> {
  const x = k as EngineKernelFrame & Partial<Pick<KernelFrame, 'sched' | 'memory'>>;
  const out: Pick<KernelFrame, 'sched' | 'memory' | 'offCpu' | 'profile'> = {};
  if (x.sched !== undefined) out.sched = x.sched && withLabHostNamed(x.sched, process.pid);
  if (x.memory !== undefined) out.memory = x.memory;
  if (k.offCpu !== undefined) {
    out.offCpu = k.offCpu && {
      minUs: k.offCpu.minUs, truncated: k.offCpu.truncated,
      events: k.offCpu.events.map((e) => ({ tid: e.tid, comm: e.comm, offMs: e.offNs / 1e6, endTMs: ms(e.endMonotonicNs), stack: e.stack })),
    };
  }
  if (k.profile !== undefined) out.profile = k.profile;
  return out;
}

/**
 * The TCP drops that are not losses, apart from `drops`: ' (and 100 duplicates of data the
 * receiver already had, sent by spurious retransmits; 48 at closing or closed sockets; not
 * losses)', or '' when there were none (or a summary from before they were counted).
 */
export function notLossWords(tcp: { closeDrops?: number; duplicateDrops?: number }): string {
  const parts = [
    tcp.duplicateDrops ? `${tcp.duplicateDrops} duplicates of data the receiver already had, sent by spurious retransmits` : null,
    tcp.closeDrops ? `${tcp.closeDrops} at closing or closed sockets` : null,
  ].filter(Boolean);
  return parts.length ? ` (and ${parts.join('; ')}; not losses)` : '';
}

/** The retransmits of sockets being closed, among `retransmits`: ' (50 of them by closing
 *  sockets: FINs sent again, no request waited)', or '' (none, or a summary from before). */
export function closingRetransmitWords(tcp: { retransmits: number; closeRetransmits?: number }): string {
  const n = tcp.closeRetransmits ?? 0;
  if (!(n > 0)) return '';
  return ` (${n === tcp.retransmits ? 'all' : n} of them by closing sockets: FINs sent again, no request waited)`;
}

const URING_COUNTS = ['submits', 'completions', 'enters', 'cqWaits', 'ioWqPunts', 'cqeOverflows', 'shortWrites', 'reqFailed'] as const;
const SOFTIRQ_COUNTS = ['netRxNs', 'netTxNs', 'netRxCount', 'netTxCount', 'napiPolls'] as const;
const TCP_COUNTS = ['retransmits', 'closeRetransmits', 'drops', 'closeDrops', 'duplicateDrops', 'lostEvents', 'truncated'] as const;

/** Kernel frames summed over a phase's (or the run's) measured frames. */
export class KernelAccumulator {
  frames = 0;
  measuredNs = 0;
  requests = 0;
  readonly uring = Object.fromEntries(URING_COUNTS.map((k) => [k, 0])) as Record<(typeof URING_COUNTS)[number], number>;
  readonly softirq = Object.fromEntries(SOFTIRQ_COUNTS.map((k) => [k, 0])) as Record<(typeof SOFTIRQ_COUNTS)[number], number>;
  readonly tcp = Object.fromEntries(TCP_COUNTS.map((k) => [k, 0])) as Record<(typeof TCP_COUNTS)[number], number>;
  readonly latency = new KernelHistogram();
  readonly taskWork = new KernelHistogram();
  readonly runqueue = new KernelHistogram();
  readonly byOpcode = new Map<number, { name: string; count: number; latency: KernelHistogram }>();
  preemptions = 0;
  /** The last frame's enters source and latency sample rate (constant while attached). */
  entersSource: KernelFrame['uring']['entersSource'] = null;
  /** Whether any frame's enters were counted (by the engine or a probe). */
  private entersCounted = false;
  latencySampleRate: number | null = null;
  sqpollOnCpuNs = 0;
  sqpollWakeups = 0;
  /** The per-request probes' time sampling over the frames that had them (null: none had). */
  private sampling: { duty: number; intervalNs: number; observedNs: number; observedRequests: number | null; windows: number | null; attachErrors: number } | null = null;
  /** Per program: [probe, Σ run_time_ns, Σ run_cnt]; null once a frame had no run-time stats. */
  private programs: Map<string, { probe: string; runTimeNs: number; runCount: number }> | null = new Map();

  /** Counts one measured frame: its kernel part, its interval and its completed client requests. */
  add(k: KernelFrame, intervalNs: number, requests: number): void {
    this.frames++;
    this.measuredNs += intervalNs;
    this.requests += requests;
    for (const key of URING_COUNTS) this.uring[key] += k.uring[key];
    for (const key of SOFTIRQ_COUNTS) this.softirq[key] += k.softirq[key];
    this.entersSource = k.uring.entersSource ?? null;
    if (entersWereCounted(k.uring.entersSource)) this.entersCounted = true;
    this.latencySampleRate = k.uring.latencySampleRate ?? null;
    this.tcp.retransmits += k.tcp.retransmits;
    // FINs sent again by closing sockets (the events' states; the uncarried scaled alike).
    this.tcp.closeRetransmits += closingRetransmits(k.tcp);
    this.tcp.drops += k.tcp.drops;
    this.tcp.closeDrops += k.tcp.closeDrops ?? 0;
    this.tcp.duplicateDrops += k.tcp.duplicateDrops ?? 0;
    this.tcp.lostEvents += k.tcp.lostEvents;
    this.tcp.truncated += k.tcp.truncated;
    this.latency.add(k.uring.latencyNs);
    this.taskWork.add(k.uring.taskWorkLatencyNs);
    for (const op of k.uring.byOpcode) {
      let entry = this.byOpcode.get(op.opcode);
      if (!entry) this.byOpcode.set(op.opcode, entry = { name: op.name, count: 0, latency: new KernelHistogram() });
      entry.count += op.count;
      entry.latency.add(op.latencyNs);
    }
    this.runqueue.add(k.runqueue.latencyNs);
    this.preemptions += k.runqueue.preemptions;
    this.sqpollOnCpuNs += k.sqpoll.onCpuNs;
    this.sqpollWakeups += k.sqpoll.wakeups;
    const ps = k.perRequestSampling;
    if (ps) {
      const acc = this.sampling ??= { duty: ps.duty, intervalNs: 0, observedNs: 0, observedRequests: 0, windows: 0, attachErrors: 0 };
      acc.duty = ps.duty;
      acc.intervalNs += ps.intervalNs;
      acc.observedNs += ps.observedNs;
      const observedRequests = observedRequestsOf(ps, requests);
      acc.observedRequests = acc.observedRequests === null || observedRequests === null ? null : acc.observedRequests + observedRequests;
      acc.windows = acc.windows === null || ps.windows === null ? null : acc.windows + ps.windows;
      acc.attachErrors += ps.attachErrors;
    }
    // A frame without run-time stats makes the overhead unknown rather than understated.
    if (!k.overhead) { this.programs = null; return; }
    if (!this.programs) return;
    for (const o of k.overhead) {
      const p = this.programs.get(o.program) ?? { probe: o.probe, runTimeNs: 0, runCount: 0 };
      p.runTimeNs += o.runTimeNs;
      p.runCount += o.runCount;
      this.programs.set(o.program, p);
    }
  }

  /** The aggregates; null when no measured frame carried kernel data. */
  stats(): KernelStats | null {
    if (this.frames === 0) return null;
    const perReq = (n: number) => (this.requests > 0 ? n / this.requests : null);
    const observedShare = this.samplingShare();
    return {
      measuredS: this.measuredNs / 1e9,
      frames: this.frames,
      requests: this.requests,
      perRequestSampling: this.sampling && {
        duty: this.sampling.duty, observedShare: observedShare ?? 0, observedS: this.sampling.observedNs / 1e9,
        observedRequests: this.sampling.observedRequests,
        windows: this.sampling.windows, attachErrors: this.sampling.attachErrors,
      },
      uring: {
        ...this.uring,
        // Nobody counted them (a load against another's server, a storage job): no number, not 0.
        entersPerReq: this.entersCounted ? perReq(this.uring.enters) : null,
        entersSource: this.entersSource,
        latencySampleRate: this.latencySampleRate,
        // Completions of the observed time over that time's requests, as the engine counted them
        // (null when no window fell in these frames, or a frame did not count them).
        completionsPerReq: this.completionsPerRequest(),
        ioWqPuntsPerReq: perReq(this.uring.ioWqPunts),
        latencyNs: this.latency.summary(),
        taskWorkLatencyNs: this.taskWork.summary(),
        byOpcode: [...this.byOpcode].sort(([a], [b]) => a - b).map(([opcode, o]) => ({
          opcode, name: o.name, count: o.count, p50Ns: o.latency.quantileNs(0.5), p99Ns: o.latency.quantileNs(0.99),
        })),
      },
      runqueue: { latencyNs: this.runqueue.summary(), preemptions: this.preemptions },
      sqpoll: { onCpuNs: this.sqpollOnCpuNs, wakeups: this.sqpollWakeups, cpuShare: this.measuredNs > 0 ? this.sqpollOnCpuNs / this.measuredNs : 0 },
      softirq: {
        netRxMs: this.softirq.netRxNs / 1e6, netTxMs: this.softirq.netTxNs / 1e6,
        netRxCount: this.softirq.netRxCount, netTxCount: this.softirq.netTxCount, napiPolls: this.softirq.napiPolls,
      },
      tcp: { ...this.tcp, closeRetransmits: Math.round(this.tcp.closeRetransmits) },
      histograms: { uringLatencyNs: this.latency.toSparse(), runqueueNs: this.runqueue.toSparse() },
    };
  }

  /** Completions per client request: over every request when the probes were attached all the
   *  time, else over the requests the windows held (never over requests × observed share: the
   *  attached probes slow the requests they see, 0.28–0.79 read for a true 1.0). */
  private completionsPerRequest(): number | null {
    if (!this.sampling) return this.requests > 0 ? this.uring.completions / this.requests : null;
    const n = this.sampling.observedRequests;
    return n !== null && n > 0 ? this.uring.completions / n : null;
  }

  /** The share of the frames' time the per-request probes were attached; null when they were not. */
  samplingShare(): number | null {
    if (!this.sampling || this.sampling.intervalNs <= 0) return null;
    return Math.min(1, this.sampling.observedNs / this.sampling.intervalNs);
  }

  /** The per-request probes' duty (null when they were not attached). */
  samplingDuty(): number | null {
    return this.sampling?.duty ?? null;
  }

  /** Each probe's overhead (see the file comment); empty when run-time stats were missing. */
  overheadByProbe(cpus = os.cpus().length): Map<string, ProbeOverhead> {
    const out = new Map<string, ProbeOverhead>();
    if (!this.programs || this.measuredNs <= 0) return out;
    const byProbe = new Map<string, { runTimeNs: number; runCount: number }>();
    for (const p of this.programs.values()) {
      const t = byProbe.get(p.probe) ?? { runTimeNs: 0, runCount: 0 };
      t.runTimeNs += p.runTimeNs;
      t.runCount += p.runCount;
      byProbe.set(p.probe, t);
    }
    for (const [probe, t] of byProbe) {
      out.set(probe, overheadOf(t.runTimeNs, t.runCount, this.measuredNs, cpus));
    }
    return out;
  }

  /** Per program (the bench's ns/event table); empty when run-time stats were missing. */
  overheadByProgram(cpus = os.cpus().length): { program: string; probe: string; overhead: ProbeOverhead }[] {
    if (!this.programs || this.measuredNs <= 0) return [];
    return [...this.programs].map(([program, p]) => ({ program, probe: p.probe, overhead: overheadOf(p.runTimeNs, p.runCount, this.measuredNs, cpus) }));
  }
}

export function overheadOf(runTimeNs: number, runCount: number, measuredNs: number, cpus: number): ProbeOverhead {
  return {
    nsPerEvent: runCount > 0 ? runTimeNs / runCount : 0,
    events: runCount,
    cpuShare: measuredNs > 0 && cpus > 0 ? runTimeNs / (measuredNs * cpus) : 0,
  };
}

/** Statuses with each attached probe's measured overhead (null where it was not measured). */
export function withOverhead(statuses: readonly ProbeStatus[], acc: KernelAccumulator): ProbeStatus[] {
  const overhead = acc.overheadByProbe();
  const duty = acc.samplingDuty();
  const observedShare = acc.samplingShare();
  const sampling = duty !== null && observedShare !== null ? { duty, observedShare } : null;
  return statuses.map((s) => ({
    ...s,
    overhead: s.attached ? overhead.get(s.name) ?? null : null,
    sampling: s.attached && PER_REQUEST_PROBES.includes(s.name as ProbeName) ? sampling : null,
  }));
}

/** Every probe not attached with one reason (a phase whose engine never reported statuses). */
export function probesNotAttached(reason: string, fix: string | null): ProbeStatus[] {
  return PROBE_NAMES.map((name) => ({ name, attached: false, reason, variant: null, fix, loadedBy: null, overhead: null }));
}

// ---------------------------------------------------------------------------------------
// Doctor: one check per probe (attached in the engine process by probesCheck) and what
// decides whether probes can attach at all: the engine's privileges and the probe helper.
// ---------------------------------------------------------------------------------------
const PROBE_LABELS: Record<string, string> = {
  uring_latency: 'io_uring in-kernel request latency',
  uring_calls: 'io_uring_enter calls, CQ waits, io-wq punts',
  runqueue: 'Run-queue latency of the engine threads',
  sqpoll: 'SQPOLL thread on-CPU time and wake-ups',
  softirq: 'NET_RX/NET_TX softirq time and NAPI polls',
  tcp_events: 'TCP retransmits and drops (event channel)',
};

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Whether an effective capability set (hex, CapEff) lets a process load and attach tracing programs. */
export function canLoadProbes(uid: number, capEff: string | null): boolean {
  if (uid === 0) return true;
  if (!capEff) return false;
  const caps = BigInt(`0x${capEff}`);
  const has = (bit: bigint) => (caps >> bit) & 1n;
  return (has(CAP_BPF) === 1n && has(CAP_PERFMON) === 1n) || has(CAP_SYS_ADMIN) === 1n;
}

export interface ProbesCheckResult { probes: NativeProbeStatus[]; privileges: EnginePrivileges }

export async function probeDoctorChecks(check: (() => Promise<ProbesCheckResult>) | undefined): Promise<DoctorCheck[]> {
  let result: ProbesCheckResult | null = null;
  let error: string | null = null;
  if (check) {
    try { result = await check(); } catch (err) { error = (err as Error).message; }
  }
  const checks: DoctorCheck[] = [];
  if (!result) {
    checks.push({ id: 'probes', label: 'eBPF probes', ok: null, value: 'unknown', reason: error ? `the probe check failed: ${error}` : 'not checked', fix: 'build the native addon (npm run build:native) and run `uring-lab doctor` again' });
    return checks;
  }
  const { uid, capEff } = result.privileges;
  const privileged = canLoadProbes(uid, capEff);
  checks.push(privileged
    ? { id: 'bpf_privileges', label: 'Engine privileges for eBPF', ok: true, value: uid === 0 ? 'root' : 'CAP_BPF+CAP_PERFMON', reason: 'the engine process loads and attaches the probes itself' }
    : { id: 'bpf_privileges', label: 'Engine privileges for eBPF', ok: false, value: `uid ${uid}, CapEff ${capEff ?? 'unknown'}`, reason: 'the engine process has neither CAP_BPF+CAP_PERFMON nor root: tracing programs need both capabilities, so only the probe helper can load them', fix: 'give the probe helper its capabilities (see the next check), or run the lab as root' });
  checks.push(await helperCheck(result.privileges.probeHelper, privileged));
  checks.push(unprivilegedBpfCheck(privileged));
  for (const s of result.probes) {
    const label = `eBPF probe ${s.name} (${PROBE_LABELS[s.name] ?? s.name})`;
    checks.push(s.attached
      ? { id: `probe_${s.name}`, label, ok: true, value: `${s.variant ?? 'attached'}${s.loadedBy === 'helper' ? ', through the helper' : ''}`, reason: s.reason ?? `attached as ${s.variant}` }
      : { id: `probe_${s.name}`, label, ok: false, value: 'not attached', reason: s.reason ?? 'not attached (no reason given)', fix: s.fix ?? undefined });
  }
  return checks;
}

async function helperCheck(file: string, enginePrivileged: boolean): Promise<DoctorCheck> {
  const base = { id: 'probe_helper', label: 'Probe helper (uring-lab-probe-helper)' };
  const setcap = `sudo setcap cap_bpf,cap_perfmon,cap_sys_admin+ep ${file} (cap_sys_admin only for the run-time overhead stats)`;
  if (!existsSync(file)) {
    return enginePrivileged
      ? { ...base, ok: true, value: 'absent (not needed)', reason: `no helper at ${file}; the engine is privileged and loads the probes itself` }
      : { ...base, ok: false, value: 'absent', reason: `no helper at ${file}, and the engine is not privileged: no probe can attach`, fix: 'build it (npm run build:native) or install the deb package, which installs it with its capabilities; or set URING_LAB_PROBE_HELPER' };
  }
  let caps: string | null = null;
  try {
    // getcap prints "<file> cap_bpf,cap_perfmon=ep" (nothing when the file has no capabilities).
    // Asynchronously: the host's event loop keeps serving clients meanwhile.
    caps = (await promisify(execFile)('getcap', [file], { encoding: 'utf8', timeout: 2000 })).stdout.trim().slice(file.length).trim();
  } catch {
    return { ...base, ok: null, value: 'present', reason: `${file} exists, but getcap (libcap2-bin) could not read its file capabilities`, fix: 'install libcap2-bin to check, or run the doctor as root' };
  }
  const hasBoth = /cap_bpf/.test(caps) && /cap_perfmon/.test(caps) && /[=+][a-z]*e/.test(caps);
  if (hasBoth) {
    const stats = /cap_sys_admin/.test(caps) ? '' : '; without cap_sys_admin it cannot turn on BPF run-time stats, so an unprivileged run reports no probe overhead';
    return { ...base, ok: true, value: caps, reason: `${file} holds CAP_BPF and CAP_PERFMON: an unprivileged engine gets the probes through it${stats}` };
  }
  return enginePrivileged
    ? { ...base, ok: true, value: caps || 'no file capabilities', reason: `${file} has no CAP_BPF/CAP_PERFMON, which only matters when the lab runs unprivileged (it is privileged now)`, fix: setcap }
    : { ...base, ok: false, value: caps || 'no file capabilities', reason: `${file} lacks CAP_BPF/CAP_PERFMON and the engine is not privileged: no probe can attach`, fix: setcap };
}

function unprivilegedBpfCheck(enginePrivileged: boolean): DoctorCheck {
  let value: string | null = null;
  try { value = readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim(); } catch { /* absent */ }
  const base = { id: 'unprivileged_bpf_disabled', label: 'kernel.unprivileged_bpf_disabled' };
  if (value === null) return { ...base, ok: null, value: 'absent', reason: 'the sysctl does not exist here (no CONFIG_BPF_SYSCALL?)', fix: 'use a kernel with CONFIG_BPF_SYSCALL=y' };
  const words = value === '0' ? 'unprivileged processes may create maps and load socket filters' : value === '1' ? 'bpf() is closed to processes without CAP_BPF until reboot' : 'bpf() is closed to processes without CAP_BPF (the admin may reopen it)';
  return enginePrivileged
    ? { ...base, ok: true, value, reason: `${words}; it does not matter here: the engine has CAP_BPF (or is root)` }
    // Tracing programs need CAP_BPF+CAP_PERFMON whatever the sysctl says, so the helper loads them either way;
    // the engine only reads the maps through the descriptors it was given.
    : { ...base, ok: true, value, reason: `${words}; the lab does not rely on it: tracing programs need CAP_BPF+CAP_PERFMON anyway, so the probe helper creates the maps and loads the programs and the engine reads the maps through the descriptors it hands over` };
}

// ---------------------------------------------------------------------------------------
// The CLI's text summary: the kernel's view and the probes in two or three lines.
// ---------------------------------------------------------------------------------------
/** ns for people: "850 ns", "12.3 µs", "4.1 ms". */
export function nsText(ns: number): string {
  if (ns < 1_000) return `${Math.round(ns)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  return `${(ns / 1_000_000).toFixed(ns < 10_000_000 ? 2 : 1)} ms`;
}

/** A share of the time as a percentage with the digits it needs: "12.5", "0.37", "0.0019". */
export function shareText(share: number): string {
  const pct = share * 100;
  return pct >= 1 ? pct.toFixed(1) : pct >= 0.1 ? pct.toFixed(2) : pct > 0 ? pct.toPrecision(2) : '0';
}

/**
 * How the numbers of one per-request probe (uring_latency, softirq: time-sampled) are to be read
 * in the text summary: `na` with the reason when they measured nothing (the probe not attached,
 * or its windows saw none of the measured time: its zeros are no measurement), else `sampled`,
 * the words that say which share of the time they are of ('' when attached all the time, or a
 * summary from before time sampling), without brackets.
 */
export function perRequestWords(s: Pick<RunSummary, 'probes' | 'kernelStats'>, probe: 'uring_latency' | 'softirq'): { na: string } | { sampled: string } {
  const status = s.probes.find((p) => p.name === probe);
  const ps = s.kernelStats?.perRequestSampling;
  if ((status && !status.attached) || ps === null) return { na: 'not attached' };
  if (!ps || ps.duty >= 1) return { sampled: '' };
  const duty = `probes.perRequestDuty ${ps.duty}`;
  if (!(ps.observedS > 0) || ps.windows === 0) {
    return { na: `not observed: the time-sampled probes' windows (${duty}) fell in none of the measured time` };
  }
  return { sampled: `sampled ${shareText(ps.observedShare)} % of the time, ${ps.windows === null ? '' : `${ps.windows} window${ps.windows === 1 ? '' : 's'}, `}${duty}` };
}

export function kernelSummaryLines(s: RunSummary): string[] {
  const lines: string[] = [];
  const k = s.kernelStats;
  if (k) {
    const perReq = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2));
    // The per-request probes' numbers are of the time they were attached (time sampling): each
    // says which share that was, or n/a where they saw nothing (zeros that measured nothing).
    const uringWords = perRequestWords(s, 'uring_latency');
    const softirqWords = perRequestWords(s, 'softirq');
    // A histogram with no samples (its probe off, or nothing happened) has no percentiles to show.
    const bracket = (words: string) => (words ? ` (${words})` : '');
    const uringLatency = 'na' in uringWords ? `latency n/a (no samples: ${uringWords.na})`
      : k.uring.latencyNs.count > 0 ? `p50 ${nsText(k.uring.latencyNs.p50)} p99 ${nsText(k.uring.latencyNs.p99)}${bracket(uringWords.sampled)}` : `latency n/a (no samples${uringWords.sampled ? `; ${uringWords.sampled}` : ''})`;
    const softirq = 'na' in softirqWords ? `softirq n/a (${softirqWords.na})`
      : `softirq NET_RX ${k.softirq.netRxMs.toFixed(1)} ms NET_TX ${k.softirq.netTxMs.toFixed(1)} ms · NAPI polls ${k.softirq.napiPolls}${bracket(softirqWords.sampled)}`;
    const runqueueP99 = k.runqueue.latencyNs.count > 0 ? nsText(k.runqueue.latencyNs.p99) : 'n/a (no samples)';
    // The engine counts the echo server's own enters; a storage job's are not counted.
    const enters = s.storage ? 'n/a (storage jobs are not counted)' : s.target ? 'n/a (the server is not ours)' : perReq(k.uring.entersPerReq);
    lines.push(`  kernel       io_uring in-kernel ${uringLatency} · enters/req ${enters} · io-wq punts ${k.uring.ioWqPunts} · CQ overflows ${k.uring.cqeOverflows} · run-queue p99 ${runqueueP99}`);
    lines.push(`  kernel       ${softirq} · SQPOLL ${(k.sqpoll.cpuShare * 100).toFixed(1)} % of a CPU · TCP retransmits ${k.tcp.retransmits}${closingRetransmitWords(k.tcp)} drops ${k.tcp.drops}${notLossWords(k.tcp)} lost events ${k.tcp.lostEvents}`);
  }
  const attached = s.probes.filter((p) => p.attached);
  if (s.probes.length === 0) return lines;
  if (attached.length === s.probes.length) {
    const costed = attached.filter((p) => p.overhead);
    const share = costed.reduce((n, p) => n + p.overhead!.cpuShare, 0);
    // Back from the share to time per request: Σ run_time_ns = share × measured ns × CPUs.
    const perReq = s.requests > 0 ? (share * s.measuredS * 1e9 * os.cpus().length) / s.requests : null;
    const cost = costed.length ? `, their programs used ${(share * 100).toFixed(2)} % of the CPUs${perReq === null ? '' : ` (${nsText(perReq)} per request)`} (${costed.map((p) => `${p.name} ${p.overhead!.events > 0 ? `${Math.round(p.overhead!.nsPerEvent)} ns/event` : 'no events'}`).join(', ')})` : ', overhead not measured (no run-time stats)';
    lines.push(`  probes       all ${attached.length} attached${attached.some((p) => p.loadedBy === 'helper') ? ' through the probe helper' : ''}${cost}`);
  } else {
    const missing = s.probes.filter((p) => !p.attached);
    const first = missing[0]!;
    lines.push(`  probes       ${attached.length}/${s.probes.length} attached; ${missing.map((p) => p.name).join(', ')} not: ${first.reason}${first.fix ? `; fix: ${first.fix}` : ''}`);
  }
  return lines;
}
