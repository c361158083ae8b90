/**
 * The engine process: loads the native addon and answers the host's supervisor. It exists so
 * that a fault in kernel-facing code takes down this process, never the window or the CLI.
 * The same file runs under child_process.fork (CLI, browser host, tests) and Electron's
 * utilityProcess (desktop), which differ only in how messages travel.
 *
 * Native start/stop run on libuv's thread pool (they connect, allocate and join threads), so
 * this process's event loop keeps answering: its heartbeat is what tells the host's watchdog
 * the engine is alive, and a missing heartbeat means it is hung (or SIGSTOPped).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as Native from '../../native';
import { PER_REQUEST_OFF_REASON, PER_REQUEST_PROBES, PROBE_NAMES, PROBES_DISABLED_REASON, PROFILE_HZ_DEFAULT } from '../contract/probeNames';
import {
  ENGINE_HEARTBEAT_MS, ENGINE_SIGNALS, ENGINE_SIGNAL_GRACE_MS, postedForm, type EngineErrorData, type EngineSignal, type EnginePrivileges, type EngineResources, type EngineWireMessage, type HostToEngine,
  type NativeKernelFrame, type NativeProbesApi, type NativeProbeStatus, type ProbesRequest,
  type DiagnoseRequest, type StackName, type WireKernelFrame,
} from './protocol';
import { WORKER_THREAD_PREFIXES } from '../contract/threadNames';
import { probeFdReserve } from './probeFds';
import { FrameClock } from './frameClock';
import { ConnectionEchoDeltas } from './connectionEchoes';
import { StartFaults } from './startFaults';
import { InjectionSchedule, type NativeInjectApi } from './injections';
import { Symbolizer, type NativeOffCpuFrame, type NativeProfileFrame } from './symbolize';
import { SystemEvidence, engineCpus } from './systemEvidence';
import { allowedCpuListIn, parseCpuList } from '../contract/cpuList';

const native: typeof Native = require('../../../native');
const probesNative = native as unknown as NativeProbesApi;
const injectNative = native as unknown as NativeInjectApi;

// ---- issue 12: /proc evidence per frame, stacks named here (the process whose stacks they
// are; kallsyms read once per engine process), fault injections on the run's clock.
const symbolizer = new Symbolizer();
let systemEvidence: SystemEvidence | null = null;
let injections: InjectionSchedule | null = null;

/** Ends the running injections (their endedAtMs: now; the next snapshot reports it). */
function stopInjections(): void {
  injections?.stop();
  // Also what an earlier engine of this process may have left (idempotent natively).
  try { injectNative.injectStopAll?.(); } catch { /* children die with PDEATHSIG anyway */ }
}

interface ParentPortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;

function post(message: EngineWireMessage): void {
  const wire = postedForm(message);
  if (parentPort) parentPort.postMessage(wire);
  // A host that died (kill -9, a second Ctrl-C) closed the channel: nothing to tell it, and the
  // 'disconnect' handler stops this engine. The callback keeps a late EPIPE from being thrown.
  else if (process.connected) process.send?.(wire, undefined, undefined, ignoreSendError);
}

function ignoreSendError(): void { /* the host is gone; see post() */ }

let frameTimer: NodeJS.Timeout | null = null;

// ---- the lab's own threads keep off the load generator's CPUs --------------------------
// The load generator is the lab's instrument: when the user pins it (load.cpus), the lab's
// bookkeeping threads (this process's JS thread, libuv's and V8's helpers and the probe sampler,
// and those of the host that forked it: the CLI, `serve`, Electron's main process) run on the
// other CPUs this process may use, for the run. On a 2-CPU machine with the load saturating its
// CPU, sharing it cost the load 4–11 % of its throughput and 13–54 % of p99 with the probes on
// (npm run bench:probes; README: eBPF probes). The workers pin themselves (server.numa.cpus).

function allowedCpusOf(pid: number | 'self'): number[] {
  try {
    return parseCpuList(allowedCpuListIn(readFileSync(`/proc/${pid}/status`, 'utf8')) ?? '');
  } catch {
    return [];
  }
}

const allowedAtStart = allowedCpusOf('self');
/** What was moved, and each process's affinity to give back. */
let movedThreads: { pid: number; cpus: number[]; skip: string[] }[] = [];

/** The lab's bookkeeping threads: this process's but the workers, and its host's. */
function labThreadTargets(hostPid: number | undefined): { pid: number; skip: string[] }[] {
  // The host: the process the start came from, as it says (under Electron the parent may be
  // Chromium's zygote, not the main process); else the parent that forked this engine (never init).
  const host = hostPid && hostPid > 1 && hostPid !== process.pid ? hostPid : process.ppid > 1 ? process.ppid : null;
  return [{ pid: 0, skip: [...WORKER_THREAD_PREFIXES] }, ...(host ? [{ pid: host, skip: [] }] : [])];
}

function keepLabThreadsOffLoad(loadCpus: readonly number[] | null | undefined, hostPid: number | undefined): void {
  const away = allowedAtStart.filter((c) => !(loadCpus ?? []).includes(c));
  if (!loadCpus?.length || !away.length || away.length === allowedAtStart.length) return;
  const targets = labThreadTargets(hostPid).map((t) => ({ ...t, cpus: t.pid === 0 ? allowedAtStart : allowedCpusOf(t.pid) }));
  for (const t of targets) {
    // Only CPUs that process may use anyway; none left besides the load's: it stays.
    const to = away.filter((c) => t.cpus.includes(c));
    if (!to.length) continue;
    try {
      native.pinThreads(t.pid, to, t.skip);
      movedThreads.push(t);
    } catch { /* an addon from before it, or a refusal: the run is the same, only noisier */ }
  }
}

// ---- …and never preempt what they measure -------------------------------------------
// While a run serves, the same threads run SCHED_BATCH (native/src/core/lab_threads.h): their
// CPU share is unchanged, but their wake-ups (a frame every 100 ms: the probes' maps read, the
// frame built, shipped, recorded and diagnosed) no longer preempt the server or the load
// generator mid-burst; they run in the gaps of the workers' work or at the next tick. Pinned
// beside the server (above), they cut into its bursts: with the probes on, a frame's work is
// ~2.5 ms of the server's CPU. Measured by switching them every 10 s inside one run at
// 50 × 128 B with the probes on (README: eBPF probes): p99 −17 % (median pair of 13, 300 s),
// throughput +0.4 %.
let batchedThreads: { pid: number; skip: string[] }[] = [];

function batchLabThreads(hostPid: number | undefined): void {
  for (const t of labThreadTargets(hostPid)) {
    try {
      native.setLabThreadsBatch(t.pid, true, t.skip);
      batchedThreads.push(t);
    } catch { /* an addon from before it, or a refusal: the run is the same, only noisier */ }
  }
}

function restoreLabThreads(): void {
  const moved = movedThreads;
  movedThreads = [];
  for (const t of moved) {
    try { native.pinThreads(t.pid, t.cpus, t.skip); } catch { /* the host may be gone */ }
  }
  // Workers are created with this thread's policy: SCHED_OTHER again before any start. (An
  // engine killed in a run cannot: its host puts its own threads back, supervisor.ts.)
  const batched = batchedThreads;
  batchedThreads = [];
  for (const t of batched) {
    try { native.setLabThreadsBatch(t.pid, false, t.skip); } catch { /* the host may be gone */ }
  }
}

function stopFrames(): void {
  if (frameTimer) clearInterval(frameTimer);
  frameTimer = null;
}

function errorData(err: unknown): EngineErrorData {
  const e = err as { code?: string; message?: string; errno?: number; step?: string; fix?: string };
  return { code: e.code ?? 'ENGINE_ERROR', message: e.message ?? String(err), errno: e.errno, step: e.step, fix: e.fix };
}

/** What `config` needs (the native formula, with this process's memlock) and MemAvailable. */
function resourcesFor(config: Native.EngineConfig): EngineResources {
  let memAvailableBytes: number | null = null;
  try {
    const kib = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (kib) memAvailableBytes = Number(kib[1]) * 1024;
  } catch { /* reported as unknown */ }
  return { needs: native.memoryNeeds(config), memAvailableBytes };
}

// ---- eBPF probes: attached after each native start, read with each snapshot, detached on stop,
// shutdown and failed starts. A probe that fails never fails the run: its status says why.
/** The attached probes (null: none), what they were attached for (attachProbes' options, as
 *  JSON) and what they said: a knob change's start that asks for the same reuses them (see
 *  'stop' keepProbes). */
let attachedFor: { key: string; statuses: NativeProbeStatus[] } | null = null;
/** Probes kept by a stop for the start that follows; detached if none comes in time. */
let keptProbesTimer: NodeJS.Timeout | null = null;
/** How long a stop's kept probes wait for their start: a knob change sends it at once. */
const KEPT_PROBES_MS = 3000;

function notAttached(reason: string, fix: string | null): NativeProbeStatus[] {
  return PROBE_NAMES.map((name) => ({ name, attached: false, variant: null, reason, fix, loadedBy: null }));
}

/** Why the profile probe is not attached when diagnose.profileHz is 0. */
const PROFILE_OFF_REASON = 'on-CPU stack sampling is off (diagnose.profileHz is 0)';

/** What an attach will load, or the statuses when it loads nothing (detaches what was attached either way). */
type AttachPlan = { statuses: NativeProbeStatus[] } | ReturnType<typeof attachOptions>;

function planAttach(request: ProbesRequest | undefined, diagnose: DiagnoseRequest | undefined, without: ReadonlySet<string>): AttachPlan {
  detachProbes();
  if (!request?.enabled) return { statuses: notAttached(PROBES_DISABLED_REASON, 'set probes.enabled=true to attach them') };
  if (typeof probesNative.probesAttach !== 'function') {
    return { statuses: notAttached('this build of the native addon has no eBPF probes', 'rebuild it with the probes: npm run build:native (needs clang, bpftool and libbpf-dev: scripts/setup.sh)') };
  }
  return attachOptions(request, diagnose, without);
}

/** The addon's statuses in the lab's order, the probes left out saying why. */
function attachedStatuses(plan: ReturnType<typeof attachOptions>, attached: NativeProbeStatus[]): NativeProbeStatus[] {
  const statuses = PROBE_NAMES.map((name) => attached.find((s) => s.name === name)
    ?? (name === 'profile' && plan.profileHz === 0
      ? { name, attached: false, variant: null, reason: PROFILE_OFF_REASON, fix: `set diagnose.profileHz (e.g. ${PROFILE_HZ_DEFAULT}) to sample stacks`, loadedBy: null }
      : { name, attached: false, variant: null, reason: PER_REQUEST_OFF_REASON, fix: 'set probes.perRequest=true to attach it (and compare only runs with the same setting)', loadedBy: null }));
  if (attached.some((s) => s.attached)) attachedFor = { key: JSON.stringify(plan.options), statuses };
  return statuses;
}

function attachFailed(err: unknown): NativeProbeStatus[] {
  detachProbes();
  return notAttached(`loading the probes failed: ${(err as Error).message ?? String(err)}`, 'run `uring-lab doctor` to see what each probe needs');
}

/** `without`: probes left out on purpose (the switchback hook's reduced set); they report nothing. */
function attachProbes(request: ProbesRequest | undefined, diagnose: DiagnoseRequest | undefined, without: ReadonlySet<string> = new Set()): NativeProbeStatus[] {
  const plan = planAttach(request, diagnose, without);
  if ('statuses' in plan) return plan.statuses;
  try {
    return attachedStatuses(plan, probesNative.probesAttach!(plan.options as Native.ProbeAttachOptions));
  } catch (err) {
    return attachFailed(err);
  }
}

/**
 * attachProbes for a start: the programs load and verify on libuv's pool (probesAttachAsync)
 * while this thread does `meanwhile` (the stack names), which runs only when programs load
 * (nothing else brings stacks). Both take ~0.25 s here; one after the other they held a run's
 * start ~430 ms, side by side ~300 ms (median of 6, nine probes).
 */
async function attachProbesMeanwhile(request: ProbesRequest | undefined, diagnose: DiagnoseRequest | undefined, meanwhile: () => void): Promise<NativeProbeStatus[]> {
  const plan = planAttach(request, diagnose, new Set());
  if ('statuses' in plan) return plan.statuses;
  const options = plan.options as Native.ProbeAttachOptions;
  let loading: Promise<NativeProbeStatus[]>;
  try {
    // An addon from before probesAttachAsync attaches here, before `meanwhile`, as it always did.
    loading = probesNative.probesAttachAsync ? probesNative.probesAttachAsync(options) : Promise.resolve(probesNative.probesAttach!(options));
  } catch (err) {
    loading = Promise.reject(err);
  }
  // Awaited below, after `meanwhile`: not an unhandled rejection in the meantime.
  loading.catch(() => undefined);
  meanwhile();
  try {
    return attachedStatuses(plan, await loading);
  } catch (err) {
    return attachFailed(err);
  }
}

/** What probesAttach is asked for: the probes wanted and their options. */
function attachOptions(request: ProbesRequest, diagnose: DiagnoseRequest | undefined, without: ReadonlySet<string>) {
  const profileHz = diagnose?.profileHz ?? PROFILE_HZ_DEFAULT;
  const wanted = PROBE_NAMES.filter((name) => (request.perRequest || !PER_REQUEST_PROBES.includes(name)) && (name !== 'profile' || profileHz > 0) && !without.has(name));
  // profileHz / offCpuMinUs: the issue-12 probes' options (an addon from before them ignores them).
  // perRequestDuty: the per-request probes' time sampling (an addon from before it ignores it: always attached).
  return { profileHz, options: { tgid: process.pid, probes: [...wanted], profileHz, offCpuMinUs: diagnose?.offCpuMinUs ?? 1000, perRequestDuty: request.perRequestDuty ?? 1 } };
}

/**
 * A knob change stops the engine and starts it again at once, in the same process: its probes
 * filter by this process, so the programs a stop kept (keepProbes) serve the next start as they
 * are when it asks for the same set. Loading and verifying them again took ~400 ms of this
 * thread per change on this VM (nine objects; ~150 ms since the loader keeps libbpf's BTF
 * parses on the heap), during which the load is stopped; reusing them costs nothing. A
 * different set (a probes or diagnose knob changed) detaches and attaches anew.
 * Null when nothing was kept for this request: the caller attaches.
 */
function takeKeptProbes(request: ProbesRequest | undefined, diagnose: DiagnoseRequest | undefined): NativeProbeStatus[] | null {
  const kept = keptProbesTimer !== null;
  if (keptProbesTimer) clearTimeout(keptProbesTimer);
  keptProbesTimer = null;
  if (!kept || !attachedFor || !request?.enabled) return null;
  return JSON.stringify(attachOptions(request, diagnose, new Set()).options) === attachedFor.key ? attachedFor.statuses : null;
}

/** A stop followed by a start (a knob change): the probes stay attached for it, for a while. */
function keepProbesForNextStart(): void {
  if (!attachedFor) return;
  if (keptProbesTimer) clearTimeout(keptProbesTimer);
  // No start after all (the run ended during the change): nothing may stay attached for long.
  keptProbesTimer = setTimeout(() => { keptProbesTimer = null; detachProbes(); }, KEPT_PROBES_MS);
}

/** The probes' interval since the last read (their maps are reset); null when none is attached. */
function readKernel(): WireKernelFrame | null {
  if (!attachedFor) return null;
  try {
    const k = probesNative.probesRead?.() ?? null;
    return k && symbolized(k);
  } catch {
    // A failed read loses this interval's kernel data only; the frame still goes out.
    return null;
  }
}

/** The profile stacks named since the last message, for the one being posted (protocol.ts,
 *  EngineWireMessage): none most frames once a run's stacks have been seen. */
function newStacks(): { stacks?: StackName[] } {
  const stacks = symbolizer.takeNewStacks();
  return stacks.length ? { stacks } : {};
}

/** `engineEnters`, the engine's own io_uring_enter count over the frame, is the source of
 *  `uring.enters` unless the kernel counts them (entersSource null: the default, no syscall tracepoint). */
function withEngineEnters(k: WireKernelFrame | null, engineEnters: number | undefined): WireKernelFrame | null {
  if (k && k.uring.entersSource === null && engineEnters !== undefined) k.uring.enters = engineEnters;
  return k;
}

/** The frame with its stacks named (symbolize.ts); a stack that cannot be named keeps its
 *  frames as [unknown] rather than losing the interval. */
function symbolized(k: NativeKernelFrame): WireKernelFrame {
  const { profile, offCpu, ...rest } = k as NativeKernelFrame & { profile?: NativeProfileFrame | null; offCpu?: NativeOffCpuFrame | null };
  const out: WireKernelFrame = rest;
  if (profile !== undefined) out.profile = profile && symbolizer.profile(profile);
  if (offCpu !== undefined) out.offCpu = offCpu && symbolizer.offCpu(offCpu);
  return out;
}

/**
 * URING_LAB_PROBE_SWITCHBACK_FRAMES=K, a measurement hook for `npm run bench:probes` (its
 * default, in-run mode): during a run with probes.enabled the engine detaches its probes after every K
 * frames and attaches them again after the next K, so one run (one server, one set of
 * connections) alternates K frames with probes and K without; frames without carry kernel null.
 * The bench compares neighbouring blocks, which cancels what separate runs differ by (which CPU
 * cache lines the connections hash to, the machine's drift over minutes). 0 (unset): off.
 */
const SWITCHBACK_FRAMES = (() => {
  const n = Number(process.env.URING_LAB_PROBE_SWITCHBACK_FRAMES ?? '');
  return Number.isInteger(n) && n >= 2 && n <= 100_000 ? n : 0;
})();
/** URING_LAB_PROBE_SWITCHBACK_ONLY=name,…: the hook toggles only these probes (the others stay
 *  attached in every block, re-attached with them): one probe's own cost. */
const SWITCHBACK_ONLY: ReadonlySet<string> = new Set((process.env.URING_LAB_PROBE_SWITCHBACK_ONLY ?? '').split(',').filter((n) => (PROBE_NAMES as readonly string[]).includes(n)));

function detachProbes(): void {
  if (keptProbesTimer) clearTimeout(keptProbesTimer);
  keptProbesTimer = null;
  if (!attachedFor) return;
  attachedFor = null;
  try { probesNative.probesDetach?.(); } catch { /* the fds close with the process anyway */ }
}

function privileges(): EnginePrivileges {
  let capEff: string | null = null;
  try { capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? null; } catch { /* unknown */ }
  // Where probesAttach would look for it (the addon's own rule: the variable, the package's resources/, next to the .node file).
  const helper = (native as { probeHelper?: () => { path: string } }).probeHelper;
  const probeHelper = typeof helper === 'function' ? helper().path : process.env.URING_LAB_PROBE_HELPER || path.join(path.dirname(native.addonPath), 'uring-lab-probe-helper');
  return { uid: process.getuid?.() ?? -1, capEff, probeHelper };
}

// The start window's faults, for the run's first frame (or its final one, if it stops first).
let startFaults = new StartFaults(null);
/** Echoes per load connection: each frame's differences (connectionEchoes.ts). */
const connectionEchoes = new ConnectionEchoDeltas();

// One native call at a time: the host's supervisor already serialises, this guards anyway.
let busy: Promise<void> = Promise.resolve();
/** Starts received whose native start has not claimed the engine yet (queued, or attaching
 *  their probes): a cancelStart then finds nothing native to call off. */
let startsBeforeNative = 0;
/** A cancelStart came then: the next start calls itself off as soon as it has claimed the engine. */
let cancelBeforeNative = false;

function handle(message: HostToEngine): void {
  if (message.type === 'shutdown') {
    stopFrames();
    stopInjections();
    // A run still going: stop it synchronously so no native thread outlives the process.
    try { native.stop(); } catch { /* exiting anyway */ }
    detachProbes();
    process.exit(0);
  }
  if (message.type === 'cancelStart') {
    // Out of the queue: the start it calls off holds the queue until its set-up is done. The
    // host sends it only after that start, one request at a time. While the start waits in
    // the queue or attaches its probes the native engine is not claimed yet: the start calls
    // itself off as soon as it has claimed it. Else the native call finds it starting (or
    // done: then nothing happens and the host stops the run as usual).
    if (startsBeforeNative > 0) cancelBeforeNative = true;
    native.cancelStart();
    return;
  }
  if (message.type === 'start') startsBeforeNative++;
  busy = busy.then(() => handleNative(message)).catch(() => undefined);
}

/**
 * A start's work before its native start: frames stopped, this thread's placement restored,
 * the probes attached and the stack names read. The probes filter by this process's tgid, not
 * by thread, so they attach before the native start: a load that starts before its counters
 * are zeroed must not wait out the probes' load and verification (~150 ms for nine programs
 * here, once ~400 ms; longer on a busy machine than a short load.timeoutMs), and the server's
 * rings are seen from their creation. Stack names are read here too (once per engine process,
 * ~250 ms), for the same reason, while the programs load on the thread pool.
 */
async function beforeNativeStart(message: Extract<HostToEngine, { type: 'start' }>): Promise<NativeProbeStatus[]> {
  stopFrames();
  symbolizer.resetStacks();
  // Workers inherit this thread's affinity and policy before they set their own: never a moved one.
  restoreLabThreads();
  // Only where probes are attached (kept, or loading). Never throws: the attach in flight beside
  // it must settle into this start, and names not read now are read at the first stack (Symbolizer).
  const preload = (): void => {
    try { symbolizer.preload(); } catch { /* see above */ }
  };
  const kept = takeKeptProbes(message.probes, message.diagnose);
  if (!kept) return attachProbesMeanwhile(message.probes, message.diagnose, preload);
  preload();
  return kept;
}

async function handleNative(message: Exclude<HostToEngine, { type: 'shutdown' }>): Promise<void> {
  switch (message.type) {
    case 'plan': {
      try {
        post({ type: 'planned', resources: resourcesFor(message.config) });
      } catch (err) {
        post({ type: 'error', during: 'plan', error: errorData(err) });
      }
      return;
    }
    case 'start': {
      let probes: NativeProbeStatus[];
      try {
        probes = await beforeNativeStart(message);
      } finally {
        startsBeforeNative--;
      }
      // No await from here to the native start's claim: a cancelStart after it finds it claimed.
      const calledOff = cancelBeforeNative;
      cancelBeforeNative = false;
      let started: Native.StartResult;
      // The probes' descriptors are open by now where they attached, and the start's RLIMIT_NOFILE
      // check counts them as open. Where the limit kept some out (EMFILE/ENFILE) the check reserves
      // room for all of them, so the limit it asks for holds the run with its probes: without it
      // each limit it named failed again with a larger one (157, then 234, then 237). Probes left
      // out for another reason (no privileges, disabled) hold nothing.
      const outOfFds = probes.some((p) => !p.attached && /Too many open files/.test(p.reason ?? ''));
      const config = outOfFds ? { ...message.config, fdReserve: probeFdReserve(true) } : message.config;
      try {
        const starting = native.startAsync(config);
        if (calledOff) native.cancelStart();
        started = await starting;
      } catch (err) {
        detachProbes();
        post({ type: 'error', during: 'start', error: errorData(err) });
        return;
      }
      // Kernel and engine counts start together: the read below empties what the probes saw of
      // the start (connecting, touching buffers).
      readKernel();
      // Zero the counters: the first frame must not carry the CPU of connecting and touching
      // buffers, nor requests from before the phase's time origin.
      const baseline = native.snapshot();
      connectionEchoes.reset(native.connectionEchoes());
      startFaults = new StartFaults(baseline);
      const atNs = baseline?.monotonicNs ?? Number(process.hrtime.bigint());
      systemEvidence = new SystemEvidence(engineCpus(message.config.server?.numa?.cpus, message.config.load?.cpus));
      injections?.stop();
      const runT0Ns = message.diagnose?.runT0Ns ?? atNs;
      injections = new InjectionSchedule(message.diagnose?.injections ?? [], systemEvidence.cpus, injectNative, () => (Number(process.hrtime.bigint()) - runT0Ns) / 1e6);
      // After the start: the workers were created with this thread's affinity and set their own.
      keepLabThreadsOffLoad(message.config.load?.cpus, message.hostPid);
      batchLabThreads(message.hostPid);
      post({ type: 'started', started: { ...started, probes }, atNs });
      injections.start();
      // Snapshots are taken here, next to the native engine, so their spacing does not
      // depend on the host's event loop or on IPC latency.
      let frames = 0;
      const switchback = message.probes?.enabled ? SWITCHBACK_FRAMES : 0;
      const clock = new FrameClock(message.frameIntervalMs, atNs);
      frameTimer = setInterval(() => {
        if (!clock.due(Number(process.hrtime.bigint()))) return;
        try {
          // The kernel read first, the snapshot right after: one interval, one clock (monotonicNs of
          // both), and the kernel's ends (when its read ended) before the client's. A frame never
          // carries kernel evidence from after the latencies it is joined with: read after the
          // snapshot, a hog starting in the ms between them named a spike in the frame before it.
          const kernel = readKernel();
          const read = native.snapshot();
          // As this snapshot read them (native: each load thread's right after its histogram).
          const echoes = read ? connectionEchoes.next(native.connectionEchoes()) : null;
          const snapshot = read && startFaults.into(read);
          if (snapshot) clock.taken(snapshot.monotonicNs);
          if (snapshot) post({ type: 'snapshot', snapshot: { ...snapshot, connectionEchoes: echoes, kernel: withEngineEnters(kernel, snapshot.server?.enters), system: systemEvidence?.next() ?? null, injections: injections?.outcomes() ?? [] }, ...newStacks() });
          if (switchback && ++frames % switchback === 0) {
            const on = Math.floor(frames / switchback) % 2 === 0;
            if (!on && SWITCHBACK_ONLY.size === 0) detachProbes();
            else {
              attachProbes(message.probes, message.diagnose, on ? undefined : SWITCHBACK_ONLY);
              readKernel(); // the next frame's kernel interval starts now, not at the switch
            }
          }
        } catch (err) {
          post({ type: 'error', during: 'snapshot', error: errorData(err) });
        }
      }, message.frameIntervalMs);
      return;
    }
    case 'stop': {
      stopFrames();
      restoreLabThreads();
      // Faults end before the engine: a hog or a paused server must not slow its stop, and an
      // injection's end is the stop's time.
      stopInjections();
      try {
        const stopped = await native.stopAsync();
        const final = stopped && startFaults.into(stopped);
        const kernel = withEngineEnters(readKernel(), final?.server?.enters);
        if (message.keepProbes) keepProbesForNextStart();
        else detachProbes();
        post({ type: 'stopped', final: final && { ...final, connectionEchoes: connectionEchoes.next(native.connectionEchoes()), kernel, system: systemEvidence?.next() ?? null, injections: injections?.outcomes() ?? [] }, ...newStacks() });
      } catch (err) {
        detachProbes();
        post({ type: 'error', during: 'stop', error: errorData(err) });
      }
      return;
    }
    case 'probe': {
      try {
        post({ type: 'probed', capabilities: native.probeCapabilities() });
      } catch (err) {
        post({ type: 'error', during: 'probe', error: errorData(err) });
      }
      return;
    }
    case 'cancelStart':
      return; // handled as it arrives (handle())
    case 'probesCheck': {
      try {
        const probes = typeof probesNative.probesCheck === 'function'
          ? probesNative.probesCheck()
          : notAttached('this build of the native addon has no eBPF probes', 'rebuild it with the probes: npm run build:native');
        post({ type: 'probesChecked', probes, privileges: privileges() });
      } catch (err) {
        post({ type: 'error', during: 'probesCheck', error: errorData(err) });
      }
      return;
    }
  }
}

if (parentPort) parentPort.on('message', (event) => handle(event.data as HostToEngine));
else process.on('message', (message) => handle(message as HostToEngine));
// A host that dies without saying goodbye must not leave a load generator running.
process.on('disconnect', () => handle({ type: 'shutdown' }));
// `kill PID` (the pid `uring-lab server` prints): the host stops the run or server in order and
// then ends this process (protocol.ts, ENGINE_SIGNALS); without it the signal would kill the
// engine mid-run, the run would end as a crash and its last counts would be lost.
let signalledBy: EngineSignal | null = null;
/** ENGINE_SIGNAL_GRACE_MS, or URING_LAB_ENGINE_SIGNAL_GRACE_MS (a test hook: an engine whose host
 *  never answers the signal must still end, and a test should not wait 30 s to see it). */
const signalGraceMs = (): number => {
  const ms = Number(process.env.URING_LAB_ENGINE_SIGNAL_GRACE_MS ?? '');
  return Number.isFinite(ms) && ms > 0 ? ms : ENGINE_SIGNAL_GRACE_MS;
};
for (const signal of ENGINE_SIGNALS) {
  process.on(signal, () => {
    // A second signal, or no host left to tell (the fork channel closed): end now.
    if (signalledBy !== null || (!parentPort && !process.connected)) { handle({ type: 'shutdown' }); return; }
    signalledBy = signal;
    post({ type: 'signalled', signal });
    setTimeout(() => handle({ type: 'shutdown' }), signalGraceMs());
  });
}

setInterval(() => post({ type: 'heartbeat' }), ENGINE_HEARTBEAT_MS).unref();
post({ type: 'ready', pid: process.pid, protocol: native.PROTOCOL_VERSION });
