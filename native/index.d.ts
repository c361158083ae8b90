/**
 * uring-lab native engine: an io_uring TCP echo server on its own thread and a
 * closed-loop load generator on native threads, one engine per process.
 * All functions are synchronous; start() and stop() block for milliseconds.
 */

export type Taskrun = 'defer' | 'coop' | 'default';

export interface EngineConfig {
  /** Listening port on 127.0.0.1; 0 or absent picks an ephemeral port. */
  port?: number;
  /** Server ring SQ entries; the CQ gets twice as many (IORING_SETUP_CQSIZE). */
  ringEntries: number;
  sqpoll: {
    enabled: boolean;
    /** sq_thread_idle in ms; the kernel takes 0 as 1000. */
    idleMs: number;
    /** IORING_SETUP_SQ_AFF CPU; null leaves the SQPOLL thread unpinned. */
    cpu: number | null;
  };
  /** 'defer' = SINGLE_ISSUER|DEFER_TASKRUN, 'coop' = COOP_TASKRUN, 'default' = neither. */
  taskrun: Taskrun;
  /** Provided-buffer ring: `count` buffers (power of two, <= 32768) of `size` bytes. */
  bufferRing: { size: number; count: number };
  load: {
    /** Closed-loop connections; 0 runs the server only (for an external client). */
    connections: number;
    messageBytes: number;
    /** Load threads (1..64); never more than connections. */
    threads: number;
  };
  /** Hard bound: load threads stop by themselves after this many ms (required). */
  maxDurationMs: number;
}

export interface AppliedKnobs {
  sqpollEnabled: boolean;
  sqpollCpu: number | null;
  /** The idle time in effect (0 requested with SQPOLL on reads as 1000). */
  sqpollIdleMs: number;
  taskrun: Taskrun;
  /** SQ entries the kernel gave the ring. */
  ringEntries: number;
  bufferRingSize: number;
  bufferRingCount: number;
}

/** A knob the kernel refused; the engine dropped it and ran without. */
export interface RejectedKnob {
  /** Profile path: 'server.sqpoll.enabled' | 'server.sqpoll.cpu' | 'server.taskrun'. */
  knob: string;
  requested: unknown;
  /** Positive errno from io_uring_setup. */
  errno: number;
  /** Symbolic errno, e.g. 'EINVAL'. */
  code: string;
  /** One line: what the kernel refused and why. */
  reason: string;
  fix?: string;
}

export interface RingSetup {
  /** IORING_SETUP_* that took effect, without the prefix: 'SQPOLL', 'SQ_AFF', 'CQSIZE', 'SUBMIT_ALL',
   *  'COOP_TASKRUN', 'SINGLE_ISSUER', 'DEFER_TASKRUN'. */
  flags: string[];
  /** IORING_FEAT_* the kernel reported, without the prefix: 'NODROP', 'FAST_POLL', ... */
  features: string[];
  sqEntries: number;
  cqEntries: number;
}

export interface StartResult {
  port: number;
  applied: AppliedKnobs;
  rejected: RejectedKnob[];
  ring: RingSetup;
  /** Load threads actually started: min(load.threads, load.connections). */
  loadThreads: number;
}

/** [bucketIndex, count] pairs with count > 0, ascending by index. */
export type SparseHistogram = Array<[number, number]>;

/** Counters are deltas since the previous snapshot (or start); the last four fields are gauges. */
export interface EngineSnapshot {
  /** Completed round trips; always equals the sum of `histogram` counts. */
  requests: number;
  /** Echoed bytes of completed round trips (requests × messageBytes). */
  bytes: number;
  /** Load errors (echo mismatches, failed connections) plus serverErrors. */
  errors: number;
  /** Real server-side errors (peer resets and cancellations are not errors). */
  serverErrors: number;
  /** Multishot recvs ended by an empty provided-buffer ring (-ENOBUFS). */
  enobufs: number;
  /** Round-trip latency in µs, layout as histogramLayout(). */
  histogram: SparseHistogram;
  /** Server thread + its SQPOLL / io-wq kernel threads. */
  serverCpuNs: number;
  /** Load threads + their io-wq kernel threads. */
  loadCpuNs: number;
  /** CLOCK_PROCESS_CPUTIME_ID (the whole Node process). */
  processCpuNs: number;
  /** CLOCK_MONOTONIC at the snapshot. */
  monotonicNs: number;
  /** Connections open on the server side. */
  activeConnections: number;
  /** False once the load threads stopped by themselves (maxDurationMs) or the server died. */
  running: boolean;
  /** Set if the server loop died ('EFAULT: Bad address'), else null. */
  serverError: string | null;
}

export interface HistogramLayout {
  unit: 'us';
  subBucketBits: 5;
  linearBuckets: 64;
  bucketCount: 736;
  /** Inclusive lower bound of each bucket, µs. */
  lowerBoundsUs: number[];
}

/** Error thrown by start() when the engine cannot run at all. */
export interface EngineStartError extends Error {
  /** Symbolic errno, e.g. 'EADDRINUSE'. */
  code: string;
  /** Positive errno. */
  errno: number;
  /** Profile path of the knob at fault, or 'server' / 'load.*' for a step. */
  knob: string;
  fix?: string;
}

/**
 * Starts the server (and load threads if load.connections > 0). Returns once the
 * server listens and every load connection is connected.
 * @throws TypeError / RangeError naming the config field; EngineStartError; Error if already running.
 */
export function start(config: EngineConfig): StartResult;
/** Deltas since the previous snapshot; null when nothing is running. */
export function snapshot(): EngineSnapshot | null;
/** Stops everything, returns the final snapshot; null when nothing is running. */
export function stop(): EngineSnapshot | null;
export function histogramLayout(): HistogramLayout;
/** Bucket index of a latency in µs (as the native recorder computes it). */
export function histogramIndex(us: number): number;
/** Absolute path of the loaded .node file. */
/** One throw-away ring setup during the capability probe: errno 0 means accepted. */
export interface ProbeResult {
  errno: number;
  code: string;
  reason: string;
}

export interface CapabilityProbe {
  ring: ProbeResult;
  sqpoll: ProbeResult;
  deferTaskrun: ProbeResult;
  coopTaskrun: ProbeResult;
  /** A RECV on a socket, on an IOPOLL ring: kernels answer EINVAL. */
  iopollSocket: ProbeResult;
  /** IORING_OP_* names (without prefix) the kernel supports. */
  ops: string[];
  /** IORING_FEAT_* names of a plain ring. */
  features: string[];
}

/** What this kernel's io_uring accepts; independent of a running engine. */
export function probeCapabilities(): CapabilityProbe;

export const addonPath: string;
