/**
 * Messages between the host's engine supervisor and the engine process. Both ends live in
 * this repository and ship together, so these are plain types; what comes from outside
 * (profiles, UI calls) was validated against contract.ts before it got here.
 */
import type * as Native from '../../native';
import type { SystemFrame } from '../contract/diagnose';
import type { DiagnoseRequest, IndexedInjectionResult } from './injections';
import type { StackName, SymbolizedOffCpuFrame, SymbolizedProfileFrame, WireProfileFrame } from './symbolize';

// The native addon's own declarations (native/index.d.ts) are the single source of these
// shapes (engine protocol v1: configuration and applied knobs at their profile paths); the
// aliases name them as the host sees them.
export type NativeEngineConfig = Native.EngineConfig;
export type NativeApplied = Native.StartResult['applied'];
export type NativeRefusal = Native.RefusedSetting;
/** A start's result; `probes`: each eBPF probe as the engine process attached it after the start. */
export type NativeStarted = Native.StartResult & { probes?: NativeProbeStatus[] };
/** An engine snapshot; `kernel`: the probes read right after it (null when none is attached).
 *  Issue 12: `system`, the /proc evidence over the same interval (systemEvidence.ts);
 *  `injections`, the outcomes so far of this engine's fault injections (injections.ts). */
export type NativeSnapshot = Native.EngineSnapshot & {
  /** Echoes each load connection completed in this snapshot's interval, in connection order
   *  (connectionEchoes.ts); null or absent where no echo load runs. */
  connectionEchoes?: number[] | null;
  kernel?: EngineKernelFrame | null;
  system?: SystemFrame | null;
  injections?: IndexedInjectionResult[];
};
/** The probes' frame as it leaves the engine process: stacks symbolized there (symbolize.ts),
 *  the process whose stacks they are. */
export type EngineKernelFrame = Omit<NativeKernelFrame, 'profile' | 'offCpu'> & {
  profile?: SymbolizedProfileFrame | null;
  offCpu?: SymbolizedOffCpuFrame | null;
};
/** The same as the engine sends it: the profile's stacks by id (WireProfileFrame). */
export type WireKernelFrame = Omit<EngineKernelFrame, 'profile'> & { profile?: WireProfileFrame | null };
export type WireSnapshot = Omit<NativeSnapshot, 'kernel'> & { kernel?: WireKernelFrame | null };
export type { StackName, WireProfileFrame };
export type { DiagnoseRequest, IndexedInjectionResult };
export type CapabilityProbe = Native.CapabilityProbe;
export type NativeMemoryNeeds = Native.MemoryNeeds;
/** `uring-lab load`: someone else's echo server (an IPv4 address the host resolved, a port). */
export type NativeTarget = NonNullable<Native.EngineConfig['target']>;

// ---- eBPF probes (issue 9): native/index.d.ts's probe API ----
export type NativeProbeName = Native.ProbeName;
export type NativeProbeStatus = Native.NativeProbeStatus;
export type NativeKernelFrame = Native.NativeKernelFrame;
/** The addon's probe functions; optional because an addon built without probes lacks them. */
export interface NativeProbesApi {
  probesAttach?(options: Native.ProbeAttachOptions): NativeProbeStatus[];
  probesAttachAsync?(options: Native.ProbeAttachOptions): Promise<NativeProbeStatus[]>;
  probesRead?(): NativeKernelFrame | null;
  probesDetach?(): void;
  probesCheck?(): NativeProbeStatus[];
}
/** Whether a run attaches probes (the profile's probes.enabled). */
export interface ProbesRequest {
  enabled: boolean;
  /** Also the per-request probes (PER_REQUEST_PROBES); absent: false. */
  perRequest?: boolean;
  /** The fraction of the time the per-request probes are attached (probes.perRequestDuty); absent: 1 (always). */
  perRequestDuty?: number;
}
/** The engine process's identity as the kernel sees it, for the doctor's privilege checks. */
export interface EnginePrivileges {
  uid: number;
  /** CapEff of /proc/self/status (hex), null if unreadable. */
  capEff: string | null;
  /** Where the addon looks for the probe helper (URING_LAB_PROBE_HELPER, else next to the addon). */
  probeHelper: string;
}

/** An engine error as it crosses to the host: the native start error's shape (no knob:
 *  the host's adapter maps `step` to a knob through the catalogue). */
export interface EngineErrorData {
  code: string;
  message: string;
  errno?: number;
  step?: string;
  fix?: string;
}

/** What a run needs (with the engine process's RLIMIT_MEMLOCK) and what the machine has. */
export interface EngineResources {
  needs: NativeMemoryNeeds;
  /** MemAvailable from /proc/meminfo, bytes; null if unreadable. */
  memAvailableBytes: number | null;
}

/**
 * Version of the engine protocol: the addon's configuration and result shapes, and these
 * messages. Both sides ship together; the supervisor refuses an engine that speaks another.
 */
export const ENGINE_PROTOCOL_VERSION = 1;

/** The engine process says something at least this often (a heartbeat when idle). */
export const ENGINE_HEARTBEAT_MS = 250;

/**
 * Signals that ask the engine process to end. `uring-lab server` prints the engine's pid (the
 * process whose threads serve), so `kill PID` is how a script stops it: the engine tells its
 * host (`signalled`), which stops the run or server in order (final counts, summary, exit code)
 * and then ends the process. A host that has not done so after ENGINE_SIGNAL_GRACE_MS (hung, or
 * one that does not know the message) does not keep it alive: the engine stops its native work
 * and exits. A second signal ends it at once, the same way.
 */
export const ENGINE_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type EngineSignal = (typeof ENGINE_SIGNALS)[number];
export const ENGINE_SIGNAL_GRACE_MS = 30_000;

export type HostToEngine =
  | { type: 'plan'; config: NativeEngineConfig }
  /** hostPid: the host process (whose threads the engine keeps off load.cpus during the run); under
   *  Electron the engine's parent may be Chromium's zygote rather than the main process. */
  | { type: 'start'; config: NativeEngineConfig; frameIntervalMs: number; probes?: ProbesRequest; diagnose?: DiagnoseRequest; hostPid?: number }
  /** keepProbes: a start follows at once (a knob change), and the eBPF probes stay attached for
   *  it when it asks for the same set; otherwise (or after a few seconds without one) they detach. */
  | { type: 'stop'; keepProbes?: boolean }
  /** Calls off the start in progress (a stop or an interrupt during a long set-up): not a
   *  request with an answer of its own; the start's answer is then an error at step
   *  START_CANCELLED. Nothing happens when no start is in progress. */
  | { type: 'cancelStart' }
  | { type: 'probe' }
  /** Doctor: attach each eBPF probe for a moment (no run), then detach. */
  | { type: 'probesCheck' }
  | { type: 'shutdown' };

export type EngineToHost =
  /** `protocol`: the engine protocol version the addon speaks (ENGINE_PROTOCOL_VERSION). */
  | { type: 'ready'; pid: number; protocol: number }
  | { type: 'heartbeat' }
  | { type: 'planned'; resources: EngineResources }
  /** `atNs`: CLOCK_MONOTONIC when the engine was up and its counters were zeroed (the
   *  phase's time origin: connecting and allocating are not part of any frame). */
  | { type: 'started'; started: NativeStarted; atNs: number }
  | { type: 'snapshot'; snapshot: NativeSnapshot }
  | { type: 'stopped'; final: NativeSnapshot | null }
  | { type: 'probed'; capabilities: CapabilityProbe }
  | { type: 'probesChecked'; probes: NativeProbeStatus[]; privileges: EnginePrivileges }
  /** Someone sent the engine process `signal` (ENGINE_SIGNALS): the host ends what it runs there. */
  | { type: 'signalled'; signal: EngineSignal }
  | { type: 'error'; during: 'plan' | 'start' | 'stop' | 'snapshot' | 'probe' | 'probesCheck'; error: EngineErrorData };

/**
 * EngineToHost as it crosses the channel: snapshots carry the profile's stacks by id, and
 * `stacks` names the ids first used since the previous message (or since the run's `started`,
 * where both sides start their ids again). The supervisor turns them into EngineToHost, so the
 * rest of the host sees folded names.
 */
export type EngineWireMessage =
  | Exclude<EngineToHost, { type: 'snapshot' | 'stopped' }>
  | { type: 'snapshot'; snapshot: WireSnapshot; stacks?: StackName[] }
  | { type: 'stopped'; final: WireSnapshot | null; stacks?: StackName[] };

/**
 * How the engine posts a message: snapshots (10 a second, hundreds of [bucket, count] pairs
 * each) as JSON text, the rest as objects; the supervisor reads both. Both channels (fork's
 * 'advanced' serialization, Electron's utilityProcess) clone with V8's serializer, which writes
 * the addon's arrays as sparse ones (an N-API array is holey however it is filled): on a frame
 * with probes, reading one took the host 180 µs and writing it the engine 122 µs, against 37 and
 * 52 µs as JSON, every 100 ms on the CPU the server runs on. JSON loses nothing a frame has:
 * frames are saved and streamed as JSON.
 */
export function postedForm(message: EngineWireMessage): EngineWireMessage | string {
  return message.type === 'snapshot' || message.type === 'stopped' ? JSON.stringify(message) : message;
}
