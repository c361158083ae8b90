/**
 * Messages between the host's engine supervisor and the engine process. Both ends live in
 * this repository and ship together, so these are plain types; what comes from outside
 * (profiles, UI calls) was validated against contract.ts before it got here.
 */
import type * as Native from '../../native';

// The native addon's own declarations (native/index.d.ts) are the single source of these
// shapes; the aliases name them as the host sees them.
export type NativeEngineConfig = Native.EngineConfig & { port: number };
export type NativeApplied = Native.AppliedKnobs;
export type NativeStarted = Native.StartResult;
export type NativeSnapshot = Native.EngineSnapshot;
export type CapabilityProbe = Native.CapabilityProbe;

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
