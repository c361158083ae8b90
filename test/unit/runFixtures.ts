/**
 * What the native engine answers when it has started (NativeStarted), for tests that make runs
 * with the host's own RunRecord from engine-shaped snapshots.
 */
import type { NativeStarted } from '../../electron/engine/protocol';

export const NATIVE_STARTED = {
  protocol: 1, port: 40000,
  applied: { server: { ringEntries: 4096, sqpoll: { enabled: false, cpu: null, idleMs: 1000 }, taskrun: 'defer', bufferRing: { size: 2048, count: 4096 } } },
  refused: [], ring: { flags: ['CQSIZE'], features: ['NODROP'], sqEntries: 4096, cqEntries: 8192 },
  loadThreads: 1, serverWorkers: [{ tid: 1, cpu: null, numaNode: null, attachedWq: false }],
} as unknown as NativeStarted;
