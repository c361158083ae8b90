/**
 * Messages between the host's engine supervisor and the engine process. Both ends live in
 * this repository and ship together, so these are plain types; what comes from outside
 * (profiles, UI calls) was validated against contract.ts before it got here.
 */
import type { RejectedKnob, SparseHistogram } from '../contract';

/** The configuration the native engine takes (see native/index.d.ts). */
export interface NativeEngineConfig {
  port: number;
  ringEntries: number;
  sqpoll: { enabled: boolean; idleMs: number; cpu: number | null };
  taskrun: 'defer' | 'coop' | 'default';
  bufferRing: { size: number; count: number };
  load: { connections: number; messageBytes: number; threads: number };
  /** Hard bound: the native load threads stop by themselves after this long. */
  maxDurationMs: number;
}

export interface NativeApplied {
  sqpollEnabled: boolean;
  sqpollCpu: number | null;
  sqpollIdleMs: number;
  taskrun: 'defer' | 'coop' | 'default';
  ringEntries: number;
  bufferRingSize: number;
  bufferRingCount: number;
}

export interface NativeStarted {
  port: number;
  applied: NativeApplied;
  rejected: RejectedKnob[];
  ring: { flags: string[]; features: string[]; sqEntries: number; cqEntries: number };
}

export interface NativeSnapshot {
  requests: number;
  bytes: number;
  errors: number;
  enobufs: number;
  histogram: SparseHistogram;
  serverCpuNs: number;
  loadCpuNs: number;
  processCpuNs: number;
  monotonicNs: number;
  activeConnections: number;
  running: boolean;
}

export interface EngineErrorData {
  code: string;
  message: string;
  errno?: number;
  knob?: string;
}

export type HostToEngine =
  | { type: 'start'; config: NativeEngineConfig; frameIntervalMs: number }
  | { type: 'stop' }
  | { type: 'probe' }
  | { type: 'shutdown' };

export type EngineToHost =
  | { type: 'ready'; pid: number }
  | { type: 'started'; started: NativeStarted }
  | { type: 'snapshot'; snapshot: NativeSnapshot }
  | { type: 'stopped'; final: NativeSnapshot | null }
  | { type: 'probed'; capabilities: CapabilityProbe }
  | { type: 'error'; during: 'start' | 'stop' | 'snapshot' | 'probe'; error: EngineErrorData };

/** Result of one attempted ring setup during the capability probe. */
export interface ProbeResult {
  /** 0 when the kernel accepted it, else the positive errno. */
  errno: number;
  code: string;
  reason: string;
}

export interface CapabilityProbe {
  ring: ProbeResult;
  sqpoll: ProbeResult;
  deferTaskrun: ProbeResult;
  coopTaskrun: ProbeResult;
  /** A socket op (RECV) on an IOPOLL ring: the kernel answers EINVAL. */
  iopollSocket: ProbeResult;
  /** io_uring op names the kernel reports as supported (IORING_REGISTER_PROBE). */
  ops: string[];
  /** IORING_FEAT_* names. */
  features: string[];
}
