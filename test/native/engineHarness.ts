/**
 * Shared harness for the native engine tests: the addon, a small engine config with
 * overrides, and a stop that never throws (so one failing test cannot leave the engine
 * running for the next).
 */
import { createRequire } from 'node:module';
import type * as Native from '../../native';

export const native: typeof Native = createRequire(__filename)('../../native');

export type EngineConfig = Native.EngineConfig;

export function config(over: {
  port?: number;
  ringEntries?: number;
  sqpoll?: Partial<EngineConfig['sqpoll']>;
  taskrun?: EngineConfig['taskrun'];
  bufferRing?: Partial<EngineConfig['bufferRing']>;
  load?: Partial<EngineConfig['load']>;
  maxDurationMs?: number;
} = {}): EngineConfig {
  return {
    port: over.port ?? 0,
    ringEntries: over.ringEntries ?? 256,
    sqpoll: { enabled: false, idleMs: 1000, cpu: null, ...over.sqpoll },
    taskrun: over.taskrun ?? 'defer',
    bufferRing: { size: 2048, count: 1024, ...over.bufferRing },
    load: { connections: 8, messageBytes: 128, threads: 1, ...over.load },
    maxDurationMs: over.maxDurationMs ?? 10_000,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function stopQuietly(): void {
  try {
    native.stop();
  } catch {
    /* nothing running */
  }
}
