/**
 * Thread names the lab relies on, as plain constants: the engine process uses them without the
 * contract's zod schemas (diagnose.ts re-exports them).
 */

/** Name prefixes of the engine's worker threads (server, load, storage jobs, io_uring's own
 *  SQPOLL and io-wq threads): the threads whose CPU the frames' serverCpuNs + loadCpuNs count. */
export const WORKER_THREAD_PREFIXES = ['uring-srv-', 'uring-load', 'uring-storage', 'iou-'] as const;
