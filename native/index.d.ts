/**
 * uring-lab native engine: a TCP echo server (io_uring, or the epoll baseline) on its own thread and a
 * closed-loop load generator on native threads, one engine per process.
 *
 * The JS API is engine protocol v1: configs carry `protocol: 1`, start results answer with it.
 * The `server` and `load` subtrees use the same key names and nesting as a profile's `server`
 * and `load`, and every result reports settings by those paths or by io_uring names (ring setup
 * flags, setup steps). No profile path is spelled here or in the addon: the host maps a
 * refused setting's flag or a start error's step to its knob through its knob catalogue.
 *
 * start() and stop() block the calling thread (typically 1–150 ms, up to ~4 s when
 * drains time out); startAsync() and stopAsync() do the same work on libuv's thread
 * pool. The engine is always in one of four states: idle, starting, running or
 * stopping. Only one start or stop can be in progress at a time. While one is in
 * progress, snapshot() returns null without waiting, and any other start or stop is
 * refused with code 'EBUSY'.
 */

/** The engine protocol version this addon speaks. */
export const PROTOCOL_VERSION: 1;

export type Taskrun = 'defer' | 'coop' | 'default';

export interface SqpollSettings {
  enabled: boolean;
  /** IORING_SETUP_SQ_AFF CPU; null leaves the SQPOLL thread unpinned. */
  cpu: number | null;
  /** sq_thread_idle in ms; the kernel takes 0 as 1000. */
  idleMs: number;
  /**
   * Config: with several rings, workers 1.. create their rings with IORING_SETUP_ATTACH_WQ to
   * worker 0's ring, so one SQPOLL thread (and one io-wq) serves every ring; a refusal leaves
   * that worker with its own SQPOLL thread and reports 'ATTACH_WQ' with the errno (cause
   * 'moot_without_sqpoll' when worker 0 got no SQPOLL thread to share). SINGLE_ISSUER is kept
   * with it: the kernel allows SQPOLL + SINGLE_ISSUER + ATTACH_WQ (only the task-run modes
   * conflict with SQPOLL). Applied: every other ring attached (one ring: SQPOLL took effect).
   */
  shared: boolean;
}

/** server.numa: where the worker threads run and their memory lives. */
export interface NumaSettings {
  /**
   * Config: set_mempolicy(MPOL_BIND, node) on each worker thread before its ring, buffers and
   * connection state are first touched; with `cpus` null the workers are also pinned to the
   * node's CPUs. The host refuses a node that does not exist before starting. Applied: the
   * policy took effect on every worker (checked with get_mempolicy), else null and 'NUMA_NODE'
   * is refused with the errno.
   */
  node: number | null;
  /**
   * Config: worker i pinned to cpus[i % cpus.length] (pthread_setaffinity_np, before its ring
   * exists: an SQPOLL thread copies its creator's affinity). Applied: the same list when every
   * worker got its CPU, else null and 'NUMA_CPUS' refused with the errno.
   */
  cpus: number[] | null;
}

export interface BufferRingSettings {
  /** Bytes per provided buffer. */
  size: number;
  /** Buffers in the ring (the kernel wants a power of two, <= 32768). */
  count: number;
  /**
   * Config: map the count × size pool with MAP_HUGETLB on 2 MiB huge pages (rounded up to
   * whole huge pages). When the mapping fails (ENOMEM: too few huge pages reserved in
   * vm.nr_hugepages) the pool uses normal pages, the run goes on, and 'HUGEPAGES' is reported
   * refused with the mmap's errno. Applied: the pool really is on huge pages (false when not
   * requested or refused; with 'epoll', the requested value, as for the other ring knobs).
   */
  hugepages: boolean;
  /**
   * Config: register the ring with IOU_PBUF_RING_INC (Linux 6.12): the kernel fills each buffer
   * piece by piece across receives (of any connection), and a buffer returns to the ring once
   * the kernel has finished it and every piece of it was echoed. A kernel that refuses it gets
   * a plain ring, and 'BUF_INCREMENTAL' is reported refused with its errno. Applied: it took effect.
   */
  incremental: boolean;
  /**
   * Config: the ring holds only as many free buffers as recent reaping cycles used (twice the
   * most one took, at least 2; all of them while connections wait for buffers) and is topped
   * up with the most recently returned first, so the kernel fills buffers still in the cache
   * instead of the one returned longest ago. False: every free buffer in the ring, in the
   * order they came back. A policy of the server's own: applied as requested, never refused.
   */
  hotFirst: boolean;
}

/**
 * The io_uring server's receive and send path (in ServerConfig as config, in AppliedSettings as
 * what took effect; a refused one is false in applied and listed in StartResult.refused).
 */
export interface EchoPathSettings {
  /** Multishot recv (default); false: one-shot recv with buffer select, re-armed per completion.
   *  With recvOnReady: the readiness poll is multishot (false: one-shot, re-armed per completion). */
  multishot: boolean;
  /** A POLLIN poll per connection says when data is there, and the server sends MSG_DONTWAIT recvs
   *  inline, about 64 KiB of them per trip, instead of an armed recv that the kernel runs
   *  from task work, up to 20 connections before user space can echo the first. Never refused. */
  recvOnReady: boolean;
  /** IORING_RECVSEND_BUNDLE on the recv: one CQE over several consecutive buffers (Linux 6.10);
   *  refused 'RECV_BUNDLE' (EINVAL) without IORING_FEAT_RECVSEND_BUNDLE. */
  recvBundle: boolean;
  /** Echo with SEND_ZC / SENDMSG_ZC and IORING_SEND_ZC_REPORT_USAGE; a piece returns only after
   *  the notification. Frames count zero-copy vs copied sends (loopback always copies).
   *  Refused 'SEND_ZC' when the ring's opcode probe lacks them. */
  sendZeroCopy: boolean;
  /** The receive pool also registered (io_uring_register_buffers, in <= 1 GiB iovecs); with
   *  sendZeroCopy a one-piece send is a fixed-buffer SEND_ZC. Refused 'REGISTERED_BUFFERS' with
   *  the registration's errno (ENOMEM over RLIMIT_MEMLOCK). */
  registeredBuffers: boolean;
  /** A sparse registered file table (load.connections + 1024, at most RLIMIT_NOFILE), multishot
   *  accept direct, IOSQE_FIXED_FILE recv/send, close_direct. Refused 'DIRECT_DESCRIPTORS' with
   *  the registration's errno; a full table fails accepts with ENFILE (counted, backed off). */
  directDescriptors: boolean;
  /** Sends go MSG_DONTWAIT | MSG_WAITALL with IOSQE_CQE_SKIP_SUCCESS (not SEND_ZC, not under the
   *  ioWqPunt fault, not right after one fell short, not while anything waits on the send's end):
   *  each has ended when the enter that took it returns, one that fell short posts a CQE with
   *  what it sent (-EAGAIN: nothing), and a whole one posts none and is counted as sent after
   *  the next reap. Checked by behaviour at start; refused 'QUIET_SENDS' with EOPNOTSUPP when
   *  the kernel does not keep that contract, EINVAL (conflicts_with_sqpoll) with SQPOLL. */
  quietSends: boolean;
}

/** The server subtree of an EngineConfig: a profile's `server`, plus `rings`. */
export interface ServerConfig {
  /**
   * 'io_uring': the io_uring echo server. 'epoll': the baseline, an edge-triggered epoll echo
   * server with non-blocking sockets on its own thread. The ring knobs (ringEntries, sqpoll,
   * taskrun, registeredRingFd, iopoll, bufferRing) configure the io_uring server only: with 'epoll' they
   * are still type-checked but do not apply (see AppliedSettings and StartResult.ring). The
   * load generator runs on io_uring either way.
   */
  engine: 'io_uring' | 'epoll';
  /**
   * Server worker threads (1..64), each with its own ring (epoll: its own epoll set) and its own
   * SO_REUSEPORT listener on the one port: worker 0 binds `port` (0: ephemeral), the others the
   * port it got, and the kernel spreads connections over them by a hash of the 4-tuple. Worker 0
   * starts first; a failure of any worker fails the start (everything stopped). Snapshots sum
   * the workers (per worker in `serverWorkers`).
   */
  rings: number;
  /** Server ring SQ entries (1..32768; the kernel wants a power of two); the CQ gets twice as many (CQSIZE). */
  ringEntries: number;
  sqpoll: SqpollSettings;
  /** 'defer' = SINGLE_ISSUER|DEFER_TASKRUN, 'coop' = COOP_TASKRUN, 'default' = neither. */
  taskrun: Taskrun;
  /**
   * Register the server ring's fd with the kernel right after the ring is created
   * (io_uring_register_ring_fd, Linux 5.18), so each io_uring_enter skips the fdget/fdput of
   * the ring's file. A kernel that refuses it (EINVAL before 5.18) leaves the ring running
   * without it, and the refusal is reported as 'REGISTERED_RING_FD'. Load rings never register.
   */
  registeredRingFd: boolean;
  /**
   * Ask for IORING_SETUP_IOPOLL on the server ring (busy-polled completions; meant for O_DIRECT
   * storage on devices with poll queues). The kernel accepts an IOPOLL ring but refuses socket
   * ops on it with EINVAL, so once the ring settles with IOPOLL it gets one recv on a
   * socketpair; if that fails the ring is made again without IOPOLL and 'IOPOLL' is reported
   * refused (cause 'refused', the recv's errno, requested true). Load rings never use it.
   */
  iopoll: boolean;
  /** The provided-buffer ring the server receives into. */
  bufferRing: BufferRingSettings;
  /** IORING_REGISTER_NAPI (opcode 27, Linux 6.9) with this busy-poll timeout in µs on every
   *  server ring; 0: off. No effect on lo (no NAPI ids), though the kernel accepts it. Refused
   *  'NAPI' with the registration's errno (EINVAL on an IOPOLL ring). */
  napiBusyPollUs: number;
  /** The serve loop's waits ask for a whole CQ of completions but return once this many µs have
   *  passed with at least one (IORING_ENTER_EXT_ARG min_wait_usec, IORING_FEAT_MIN_TIMEOUT, 6.12);
   *  0: off. Refused 'MIN_WAIT' (EOPNOTSUPP) without the feature. */
  minWaitUs: number;
  numa: NumaSettings;
  multishot: EchoPathSettings['multishot'];
  recvOnReady: EchoPathSettings['recvOnReady'];
  recvBundle: EchoPathSettings['recvBundle'];
  sendZeroCopy: EchoPathSettings['sendZeroCopy'];
  registeredBuffers: EchoPathSettings['registeredBuffers'];
  directDescriptors: EchoPathSettings['directDescriptors'];
  quietSends: EchoPathSettings['quietSends'];
  socket: SocketSettings;
}

/**
 * Socket options of every server worker's listener, set before listen() so each accepted socket
 * inherits them (both engines). Refused 'TCP_CONGESTION', 'SO_RCVBUF', 'SO_SNDBUF' with
 * setsockopt's errno, the server running on the kernel's default.
 */
export interface SocketSettings {
  /** TCP_CONGESTION: a congestion control name (1-15 of a-z, 0-9, _ and -); null: the system's
   *  net.ipv4.tcp_congestion_control. ENOENT: no such module; EPERM: outside
   *  net.ipv4.tcp_allowed_congestion_control without CAP_NET_ADMIN. */
  congestion: string | null;
  /** SO_RCVBUF in bytes (1024 to 512 MiB, raised to the kernel's floor of a few KiB; the kernel then stops autotuning it); null: autotuned.
   *  Set with SO_RCVBUFFORCE where permitted (CAP_NET_ADMIN), else capped at net.core.rmem_max:
   *  granted less than asked is refused with the FORCE's errno (EPERM). */
  receiveBufferBytes: number | null;
  /** SO_SNDBUF in bytes, as receiveBufferBytes (net.core.wmem_max, SO_SNDBUFFORCE). */
  sendBufferBytes: number | null;
}

/** The load subtree of an EngineConfig: a profile's `load`. */
export interface LoadConfig {
  /** Load connections; 0 runs the server only (for an external client). */
  connections: number;
  messageBytes: number;
  /** Load threads (1..64); never more than connections. */
  threads: number;
  /**
   * mode, pipeline, rateRps, timeoutMs and cpus may be left out (callers from before them): a
   * closed loop, one message per connection, no timeout, not pinned.
   *
   * 'closed': every connection keeps `pipeline` messages outstanding, each replaced when its
   * echo is back; latency from the submit that sent it. 'open' (like wrk2): `rateRps` requests
   * per second on a fixed schedule, each thread taking the share of its connections; request g
   * of a thread is intended at start + g / rate on its connection g mod n, started then if the
   * connection has fewer than `pipeline` out, else queued; latency is measured from the
   * intended time either way, so a server stall shows as latency of every request scheduled
   * during it (and correctedHistogram gets the same samples: nothing is omitted).
   */
  mode?: 'closed' | 'open';
  /** Messages outstanding per connection (1..4096); echoes come back in order and are checked. */
  pipeline?: number;
  /** Open loop: requests per second over all connections (> 0; RangeError naming
   *  config.load.rateRps when mode is 'open' without it). Null for a closed loop. */
  rateRps?: number | null;
  /** A request unanswered this long (ms) after its send was posted counts in `timeouts` (with
   *  the others started on its connection) and the connection is shut down and abandoned (no
   *  error counted); an open loop's queueing before the send is latency, not timeout. 0: never.
   *  Checked 8 times per timeout, at least every 50 ms (and at most every 1 ms). */
  timeoutMs?: number;
  /** Load thread i pinned to cpus[i % cpus.length] before its ring exists (the host refuses CPUs
   *  that do not exist first); a refused pin fails the start at 'LOAD_CPU'. Null: not pinned. */
  cpus?: number[] | null;
}

/**
 * What to run. The host validates a profile against its knob catalogue first; the addon only
 * asserts types and hard safety bounds. A wrong type throws TypeError and an out-of-range value
 * RangeError, with a message naming the field as `config.<path>`, e.g.
 * `config.server.bufferRing.count must be a number (got string)`.
 */
export interface EngineConfig {
  /** Must be 1 (PROTOCOL_VERSION); anything else is a TypeError naming config.protocol. */
  protocol: 1;
  /** Listening port on 127.0.0.1; 0 picks an ephemeral port. */
  port: number;
  /** Hard bound: load threads stop by themselves after this many ms. */
  maxDurationMs: number;
  /** Descriptors the host will open in the engine process after the start (the eBPF probes'
   *  maps, programs and links): counted by the RLIMIT_NOFILE check before anything opens. */
  fdReserve?: number;
  server: ServerConfig;
  load: LoadConfig;
  /**
   * `uring-lab load`: run the load alone against someone else's TCP echo server at this IPv4
   * address (dotted; the host resolves names) and port (1..65535). No server worker starts:
   * `port` is unused, the start result's `port` is this one, `applied.server` echoes the request
   * (nothing of it ran), `refused` and `serverWorkers` are empty, `ring` is all zeros; snapshots
   * have `server: null`, `serverCpuNs: 0`, and `activeConnections` counts the load's open
   * connections. Needs load.connections >= 1 (RangeError otherwise). Absent or null: our own
   * server on 127.0.0.1. A refused connect fails the start at 'LOAD_CONNECT' (ECONNREFUSED).
   */
  target?: { host: string; port: number } | null;
  /**
   * `uring-lab server --bind`: the IPv4 address (dotted) every server worker listens on, e.g.
   * '0.0.0.0' for clients on other hosts. Absent or null: 127.0.0.1. An address this host does
   * not have fails the start at 'SERVER_BIND' (EADDRNOTAVAIL).
   */
  bind?: string | null;
  /**
   * topology "veth": the network namespace file (/run/netns/NAME, set up by the host) every
   * server worker joins with setns(CLONE_NEWNET) on its own thread before its listener; with
   * `bind` set to the namespace's veth address, the load (host namespace) connects there.
   * A missing namespace fails the start at 'SERVER_SOCKET' (ENOENT). Absent or null: none.
   */
  serverNetns?: string | null;
  /**
   * 'storage': no server and no echo load; load.threads storage jobs (fio's numjobs: each has
   * the whole storage.queueDepth in flight) run against storage.path, each with its own ring
   * made with the server's ring knobs (ringEntries, sqpoll, taskrun, iopoll, registeredRingFd;
   * registeredBuffers = READ/WRITE_FIXED, directDescriptors = a registered file). Absent: 'echo'.
   */
  workload?: 'echo' | 'storage';
  storage?: StorageConfig;
}

/** The storage workload's target; the host has resolved and checked it (electron/host/run/storage.ts). */
export interface StorageConfig {
  /** A regular file or block device (never null here: the host gives its test file's path). */
  path: string;
  /** The region used is [0, fileSizeMiB MiB), cut to the file's or device's size and whole blocks. */
  fileSizeMiB: number;
  /** Bytes per I/O, a multiple of 512. */
  blockBytes: number;
  pattern: 'randread' | 'read' | 'randwrite' | 'write';
  /** I/Os in flight per job. */
  queueDepth: number;
  /** I/Os per io_uring_enter at most (fio's iodepth_batch_submit), 1..4096, capped at queueDepth. Absent: 1. */
  submitBatch?: number;
  /** O_DIRECT. */
  direct: boolean;
  /** Host-only: profile knob the native side ignores. */
  allowDevice?: boolean;
  /** Before the jobs: size the file and write the pattern (word at offset o = o ^ seed) over it. Only for a file the lab created. */
  fill?: boolean;
  /** Check every read block against the pattern (a mismatch counts as an error). */
  verify?: boolean;
  /** The pattern's seed (0..2^53-1); writes write the pattern with it. */
  seed?: number;
}

/** The storage target as the jobs used it (StartResult.storage). */
export interface StorageStarted {
  path: string;
  /** The region used, bytes. */
  sizeBytes: number;
  /** The block device holding the file (or the device itself), by its /sys/dev/block name; '' if unknown. */
  device: string;
  devMajor: number;
  devMinor: number;
  blockDevice: boolean;
  filled: boolean;
  verified: boolean;
}

/**
 * What the kernel really accepted, in the same paths as the config. With engine 'epoll' there is
 * no server ring: the ring knobs did not apply, nothing was refused, and they are reported at
 * their requested values (the descriptions below are about the io_uring server).
 */
export interface AppliedSettings {
  server: {
    /** The server that ran. */
    engine: 'io_uring' | 'epoll';
    /** SQ entries the kernel gave the ring. */
    ringEntries: number;
    /** enabled: SQPOLL took effect; cpu: null unless SQ_AFF took effect; idleMs: the idle time
     *  in effect (0 requested with SQPOLL on reads as 1000). */
    sqpoll: SqpollSettings;
    /** The task-run mode in effect ('default' when DEFER/COOP_TASKRUN were refused). */
    taskrun: Taskrun;
    /** The ring's fd is registered (io_uring_register_ring_fd succeeded); false when not requested or refused. */
    registeredRingFd: boolean;
    /** IOPOLL took effect and the ring took a socket op; false when not requested or refused. */
    iopoll: boolean;
    bufferRing: BufferRingSettings;
    /** Worker threads that ran. */
    rings: number;
    /** The busy-poll timeout registered on every ring; 0 when off or refused. */
    napiBusyPollUs: number;
    /** min_wait_usec the loops wait with; 0 when off or refused. */
    minWaitUs: number;
    numa: NumaSettings;
    /** The receive and send path as it took effect (see EchoPathSettings). */
    multishot: boolean;
    recvOnReady: boolean;
    recvBundle: boolean;
    sendZeroCopy: boolean;
    registeredBuffers: boolean;
    directDescriptors: boolean;
    quietSends: boolean;
    /** The listeners' socket options as the kernel holds them: the congestion control read back,
     *  the buffers it granted (in the units asked; a cap can make them less); null where not
     *  asked for or refused (the kernel's default). A target (uring-lab load): as requested. */
    socket: SocketSettings;
  };
}

/**
 * Why a requested setting did not take effect:
 * - 'refused': the kernel refused the flag on its own (unsupported on this kernel, not
 *   permitted, a bad value such as an offline CPU for SQ_AFF). `errno` is the kernel's.
 * - 'conflicts_with_sqpoll': the kernel refused the flag only together with SQPOLL (it refuses
 *   DEFER_TASKRUN and COOP_TASKRUN with SQPOLL with EINVAL: task-run modes describe an
 *   application that submits for itself, and with SQPOLL the kernel thread submits).
 * - 'moot_without_sqpoll': SQ_AFF, dropped because SQPOLL, which it pins, was refused;
 *   `errno` is SQPOLL's.
 * - 'needs_single_issuer': DEFER_TASKRUN, dropped because SINGLE_ISSUER, which it requires,
 *   was refused; `errno` is SINGLE_ISSUER's.
 */
export type RefusalCause = 'refused' | 'conflicts_with_sqpoll' | 'moot_without_sqpoll' | 'needs_single_issuer'
  /** IOPOLL on a storage job: the ring was accepted, then the device failed its first I/O with
   *  EOPNOTSUPP (no poll queues); the job runs without IOPOLL. */
  | 'no_poll_queues';

/** A ring setting the config asked for that the kernel refused; the engine dropped it and ran without. */
export interface RefusedSetting {
  /**
   * The IORING_SETUP_* flag without the prefix: 'SQPOLL' (sqpoll.enabled), 'SQ_AFF'
   * (sqpoll.cpu), 'DEFER_TASKRUN', 'SINGLE_ISSUER' (taskrun 'defer'), 'COOP_TASKRUN' (taskrun
   * 'coop'). SUBMIT_ALL and CQSIZE are the engine's own: dropping them shows only in ring.flags.
   * Or 'REGISTERED_RING_FD' (registeredRingFd): not a setup flag but the registration right
   * after setup, always with cause 'refused'. Or 'IOPOLL' (iopoll): refused by setup, or by
   * the socket recv the settled IOPOLL ring is given (EINVAL on every kernel so far), cause 'refused'.
   * Or 'HUGEPAGES' (bufferRing.hugepages): not a ring setting but the buffer pool's MAP_HUGETLB
   * mapping, cause 'refused', with the mmap's errno (ENOMEM without enough reserved huge pages).
   * Or the receive/send path's 'RECV_BUNDLE', 'BUF_INCREMENTAL', 'SEND_ZC', 'REGISTERED_BUFFERS',
   * 'DIRECT_DESCRIPTORS', 'QUIET_SENDS' (see EchoPathSettings), cause 'refused' ('QUIET_SENDS' with
   * SQPOLL: 'conflicts_with_sqpoll').
   * Or the workers' 'ATTACH_WQ' (sqpoll.shared; cause 'moot_without_sqpoll' when worker 0 has no
   * SQPOLL thread), 'NAPI' (napiBusyPollUs), 'MIN_WAIT' (minWaitUs, EOPNOTSUPP without
   * IORING_FEAT_MIN_TIMEOUT), 'NUMA_NODE' / 'NUMA_CPUS' (numa), 'TCP_CONGESTION' / 'SO_RCVBUF' /
   * 'SO_SNDBUF' (socket; see SocketSettings). With several
   * rings, a refusal of any worker is listed once (the first worker's errno).
   */
  setting: string;
  cause: RefusalCause;
  /** Positive errno from io_uring_setup (from io_uring_register for 'REGISTERED_RING_FD'; for
   *  'IOPOLL', from setup or from the socket recv's completion; for 'HUGEPAGES', from mmap). */
  errno: number;
  /** Symbolic errno, e.g. 'EINVAL'. */
  code: string;
  /** strerror, e.g. 'Invalid argument'. */
  errnoText: string;
  /** The config value that asked for the setting: true for the switches (SQPOLL, REGISTERED_RING_FD,
   *  IOPOLL, HUGEPAGES, ATTACH_WQ, the receive/send path's), the CPU (SQ_AFF), the taskrun mode,
   *  the microseconds (NAPI, MIN_WAIT), the node (NUMA_NODE), the CPU list (NUMA_CPUS). */
  requested: unknown;
}

export interface RingSetup {
  /** IORING_SETUP_* that took effect, without the prefix: 'IOPOLL', 'SQPOLL', 'SQ_AFF', 'CQSIZE', 'SUBMIT_ALL',
   *  'COOP_TASKRUN', 'SINGLE_ISSUER', 'DEFER_TASKRUN'. */
  flags: string[];
  /** IORING_FEAT_* the kernel reported, without the prefix: 'NODROP', 'FAST_POLL', ... */
  features: string[];
  sqEntries: number;
  cqEntries: number;
}

export interface StartResult {
  protocol: 1;
  port: number;
  applied: AppliedSettings;
  /**
   * Every requested setting the kernel refused, in the order the fallback dropped them. The
   * server ring is first tried with everything requested plus SUBMIT_ALL|CQSIZE. On EINVAL with
   * SQPOLL and a task-run mode, the modes are dropped (SINGLE_ISSUER stays: the kernel allows it
   * with SQPOLL), 'conflicts_with_sqpoll'. Otherwise flags are suspected one at a time in the
   * order SQ_AFF, SQPOLL (with SQ_AFF), IOPOLL, DEFER_TASKRUN, COOP_TASKRUN, SINGLE_ISSUER (with
   * DEFER_TASKRUN), SUBMIT_ALL, CQSIZE: the first whose removal lets setup succeed is the one
   * refused. If SQPOLL goes after the task-run mode was dropped only because of it, the mode is
   * tried again. A ring that settled with IOPOLL is given one socket recv; refused, the ring is
   * made again without IOPOLL ('IOPOLL', with the recv's errno). Then, if registeredRingFd asks for it, the ring's fd is registered; a refusal
   * comes last ('REGISTERED_RING_FD'). debugRingFallback() runs this same code against a fake kernel.
   */
  refused: RefusedSetting[];
  /** The server ring; with engine 'epoll' (no ring) `{ flags: [], features: [], sqEntries: 0, cqEntries: 0 }`. */
  ring: RingSetup;
  /** Load threads actually started: min(load.threads, load.connections). */
  loadThreads: number;
  /** Each server worker as it started (length = server.rings). */
  serverWorkers: ServerWorkerStarted[];
  /** The storage workload's target; null for echo. */
  storage: StorageStarted | null;
}

export interface ServerWorkerStarted {
  /** Its thread id (named 'uring-srv-<i>' in /proc/self/task/<tid>/comm). */
  tid: number;
  /** The CPU it is pinned to (numa.cpus), else null. */
  cpu: number | null;
  /** The node its memory policy is bound to (numa.node), else null. */
  numaNode: number | null;
  /** Its ring shares worker 0's SQPOLL thread (sqpoll.shared; false for worker 0). */
  attachedWq: boolean;
}

/**
 * The server's own counters over one snapshot interval, summed over its workers (deltas,
 * except the buffer gauges). The epoll server counts epoll_wait calls as `enters`, events as
 * `cqes`, reads that returned data as `recvs`, send() calls as `sends`.
 */
export interface ServerCounters {
  /** io_uring_enter calls the serve loops made (with SQPOLL, none while the thread is awake and
   *  completions are waiting: enters per request is what shows SQPOLL's effect). */
  enters: number;
  /** Of those, the waits made with server.minWaitUs's min_wait_usec: only after a reap that gave
   *  4 or more connections data to echo, fewer than half of the worker's open connections (0 with
   *  minWaitUs 0, and always on the epoll engine). */
  batchedWaits: number;
  /** Completions reaped (a quiet send that sent everything posts none: see quietSends). */
  cqes: number;
  /** Receive completions carrying data. */
  recvs: number;
  /** Send operations completed (quiet ones counted when settled, CQE or not). */
  sends: number;
  /** Bytes echoed back. */
  bytesOut: number;
  /** SEND_ZC the kernel really sent zero-copy / copied anyway (loopback always copies). */
  zeroCopySends: number;
  copiedSends: number;
  /** With SEND_ZC on, sends made as copying sends because SEND_ZCs already pinned half the
   *  buffer pool (their memory is the kernel's until the peer reads; a copying send's can be
   *  spilled from a peer that does not read). */
  zeroCopyFallbacks: number;
  /** Multishot recvs ended by an empty buffer ring, and recvs re-armed from the starved queue:
   *  after that, or after a one-shot turn while the pool was oversubscribed (a connection that
   *  took its socket's data waits behind the starved ones instead of keeping a multishot recv). */
  enobufs: number;
  rearms: number;
  /** Echo bytes copied out of the buffer pool because their send was stuck on a peer that
   *  does not read (its buffers go back to the others; the copy still counts against its cap). */
  spilledBytes: number;
  /** CQEs the kernel could not post into a full CQ (its koverflow counter) this interval. */
  cqOverflows: number;
  /** Gauges: provided buffers held by the server now, and in its pools. */
  buffersInUse: number;
  buffersTotal: number;
  /** Each worker's most buffers held at once since the start (counted as they are taken, not
   *  sampled), summed over the workers. */
  buffersPeak: number;
  /** Gauge: free buffers the kernel can pick from now (published in the ring), summed over the
   *  workers. The whole free pool unless bufferRing.hotFirst holds some back. */
  buffersInRing: number;
  /** The worker threads' user and system CPU (from /proc/self/task/TID/stat: scaled by the
   *  kernel to the exact runtime, but in 10 ms ticks), and their SQPOLL threads' CPU apart
   *  (exact). serverCpuNs is the exact total of workers and every io_uring helper. */
  userCpuNs: number;
  systemCpuNs: number;
  sqpollCpuNs: number;
  /** The part of sqpollCpuNs its threads spent with work to do (the kernel's SqWorkTime from
   *  the ring's fdinfo, Linux 6.11; the rest spun idle until sqpoll.idleMs), each thread once.
   *  Null without an SQPOLL thread, or on a kernel that does not report it. */
  sqpollWorkNs: number | null;
  /** TCP segments the server's connections sent and received: the kernel's own per-socket
   *  counts (tcp_info segs_out / segs_in: data, pure ACKs, SYN-ACK, FIN, retransmits), read
   *  through sock_diag at each snapshot for the sockets on the server's port, in its
   *  namespace; a connection gone meanwhile counted to its end by the kernel's word on it
   *  (SKNLGRP_INET_TCP_DESTROY; where it cannot be joined, its tail is lost: understated,
   *  never overstated). Null where sock_diag could not be read, and between reads. */
  segmentsOut: number | null;
  segmentsIn: number | null;
  /** Requests the load completed over the same span as the segment counts (0 for a server
   *  without a load of ours). The counts are read once a second and by the final snapshot
   *  (a dump walks the kernel's whole established-socket hash: ~1.3 ms here), so they cover
   *  the span since the previous snapshot that read them; null in the snapshots between. */
  segmentsRequests: number | null;
  /** The kernel's words on some connections that closed in this span were lost (a burst of
   *  closes on the server's port overran the netlink socket's 4 MiB buffer): their last
   *  segments were never told, so the span's counts are null rather than short. */
  segmentsLost?: boolean;
  /** Of those, the segments that carried data (tcp_info data_segs_out / data_segs_in); the
   *  rest are pure ACKs, the handshake, FINs and window updates. Null as segmentsOut is. */
  dataSegmentsOut: number | null;
  dataSegmentsIn: number | null;
  /** Real server errors (as serverErrors) by what failed. */
  errorsByOp: { accept: number; recv: number; send: number; other: number };
}

/** [bucketIndex, count] pairs with count > 0, ascending by index. */
export type SparseHistogram = Array<[number, number]>;

/**
 * Counters and histograms are deltas since the previous snapshot (or start); the fields from
 * `monotonicNs` on are gauges.
 *
 * Round-trip latency is measured on the load thread as follows: t0 is one clock read just
 * before the io_uring_enter that really submits the request. The end time is one
 * clock read right after the wait that reaped the echo's last byte returns, shared by the whole
 * batch of completions. The difference is rounded up to whole µs (a 1.2 µs round trip records
 * as 2), so no latency is ever understated, and none is overstated by 1 µs or more.
 */
export interface EngineSnapshot {
  /** Completed round trips; always equals the sum of `histogram` counts. */
  requests: number;
  /** Echoed bytes of completed round trips (requests × messageBytes). */
  bytes: number;
  /** Load errors (echo mismatches, failed connections) plus serverErrors. */
  errors: number;
  /** Of errors: echoes whose bytes differ from the request sent (the connection carries on). */
  mismatches: number;
  /** Load requests abandoned after load.timeoutMs with their connection (not in errors). */
  timeouts: number;
  /** Real server-side errors (peer resets and cancellations are not errors). */
  serverErrors: number;
  /** Multishot recvs ended by an empty provided-buffer ring (-ENOBUFS). */
  enobufs: number;
  /** Raw round-trip latency in µs (what each request really took), layout as histogramLayout(). */
  histogram: SparseHistogram;
  /**
   * The same round trips corrected for coordinated omission, in the same layout. A closed loop
   * stops sending while the server stalls, so a 2 s stall shows in `histogram` as one slow
   * sample per connection. This histogram adds, HdrHistogram-style
   * (recordValueWithExpectedInterval), the sends that were omitted: for each raw value v above
   * E it also records v−E, v−2E, … while ≥ E, at most 100000 per sample. E is the load thread's
   * EWMA of raw round trips (alpha 1/64, seeded by its first sample, updated after the
   * correction so a stall does not raise its own E, at least 1 µs). E is per thread: when
   * several connections of one thread come out of the same stall, the first raises E and the
   * later ones add fewer synthetic samples. The total count is ≥ `requests`.
   */
  correctedHistogram: SparseHistogram;
  /** Server thread + its SQPOLL / io-wq kernel threads. */
  serverCpuNs: number;
  /** Load threads + their io-wq kernel threads; always equals the sum of `loadThreadCpuNs`. */
  loadCpuNs: number;
  /**
   * CPU ns per load thread (its own thread clock + its io-wq helpers, read with exact
   * per-thread CPU clocks), in start order; length = StartResult.loadThreads. Compared with the
   * interval between two snapshots (`monotonicNs`), its own part (`loadThreadBusyNs`) ≥ 90 %
   * of it means that generator thread was saturated: the numbers then measure the load
   * generator, not the server.
   */
  loadThreadCpuNs: number[];
  /**
   * Each load thread's own CPU ns, without its io-wq / SQPOLL helpers (which run on other CPUs
   * beside it), in the same order: what the saturation check compares with the interval, since
   * with its helpers a thread's CPU can exceed the interval itself.
   */
  loadThreadBusyNs: number[];
  /** CLOCK_PROCESS_CPUTIME_ID (the whole Node process). */
  processCpuNs: number;
  /** CLOCK_MONOTONIC at the snapshot (stop(): when the load threads had stopped). */
  monotonicNs: number;
  /** Connections open on the server side (with a `target`: the load's open connections); in
   *  stop()'s final snapshot, those open when the stop came. */
  activeConnections: number;
  /** The most connections the server's workers had open at once since the start, counted at
   *  every accept (a per-snapshot sample misses bursts shorter than a frame); 0 with a `target`. */
  peakConnections: number;
  /** The server's own counters (see ServerCounters); null with a `target` (no server of ours). */
  server: ServerCounters | null;
  /** Per worker: connections it accepted since start (cumulative) and has open now (gauges). */
  serverWorkers: Array<{ accepted: number; active: number }>;
  /**
   * Gauge: requests that have been sent but whose echo has not fully arrived yet, over all load
   * threads (started requests, queued ones of a pipeline included). It is at most
   * `load.connections` × `load.pipeline`, and 0 once the load has stopped. In the final
   * snapshot from stop() it is the value just before the load threads were told to stop.
   */
  inFlight: number;
  /**
   * Gauge: age in µs (rounded up) at snapshot time of the oldest request counted in `inFlight`,
   * or 0 when none is. A stalled server shows here while it stalls, before any slow sample
   * reaches the histograms. In stop()'s final snapshot it is measured just before the stop.
   */
  oldestInFlightUs: number;
  /** Gauge: load connections not dead (failed or closed); 0 once the load threads ended. Final snapshot: before the stop. */
  liveLoadConnections: number;
  /**
   * False once the load threads stopped by themselves (maxDurationMs), or as soon as the server
   * loop died (without waiting for its drain).
   */
  running: boolean;
  /**
   * stop()'s final snapshot, with a server of ours: how evenly its workers served every
   * connection they had over the whole run, in bytes (each connection's echoed bytes folded in
   * as it closed; the teardown closes those still open). `connections` sent at least one byte;
   * `silent` closed without sending any (a port check); `unserved` sent bytes and got none
   * back; `minConnection` is the fewest's place in accept order over all workers (0-based; on
   * a tie the first accepted). Jain's index is sumBytes² / (connections × squaresBytes). Null
   * in every other snapshot and with a `target`.
   */
  serverConnectionEchoes?: {
    connections: number; silent: number; unserved: number;
    minBytes: number; minConnection: number; maxBytes: number;
    sumBytes: number; squaresBytes: number;
  } | null;
  /**
   * The server loop's death, as the symbolic errno and its text, e.g. 'EFAULT: Bad address';
   * null while it lives. Once set, `running` is false, and the value stays in every later
   * snapshot, including the final one from stop(). The host should fail the run with it.
   */
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

/**
 * Where a start failed (EngineStartError.step). Server steps: 'SERVER_EVENTFD',
 * 'SERVER_THREAD', 'SERVER_RING_SETUP' (io_uring_setup refused even the plainest ring; ENOMEM
 * usually means RLIMIT_MEMLOCK), 'BUF_RING_ALLOC', 'BUF_RING_REGISTER' (EINVAL: the count is not
 * a power of two; ENOMEM: RLIMIT_MEMLOCK), 'MULTISHOT_RECV' (the kernel is older than 6.0),
 * 'SERVER_SOCKET', 'SERVER_BIND', 'SERVER_LISTEN', 'SERVER_SUBMIT'. Load steps: 'LOAD_ALLOC',
 * 'LOAD_EVENTFD', 'LOAD_THREAD', 'LOAD_RING_SETUP', 'LOAD_SOCKET', 'LOAD_CONNECT'. Engine steps:
 * 'FD_LIMIT' (checked before anything opens: RLIMIT_NOFILE cannot hold the connections, code
 * EMFILE), 'ENGINE_BUSY' (another start or stop owns the engine, code EBUSY).
 */
export type StartStep =
  | 'ENGINE_BUSY'
  | 'FD_LIMIT'
  | 'SERVER_EVENTFD'
  | 'SERVER_THREAD'
  | 'SERVER_RING_SETUP'
  | 'BUF_RING_ALLOC'
  | 'BUF_RING_REGISTER'
  | 'MULTISHOT_RECV'
  | 'SERVER_SOCKET'
  | 'SERVER_BIND'
  | 'SERVER_LISTEN'
  | 'SERVER_SUBMIT'
  | 'LOAD_ALLOC'
  | 'LOAD_EVENTFD'
  | 'LOAD_THREAD'
  | 'LOAD_RING_SETUP'
  | 'LOAD_SOCKET'
  | 'LOAD_CONNECT'
  /** Pinning a load thread to its load.cpus CPU. */
  | 'LOAD_CPU'
  /** Storage workload: opening/sizing the target, writing the lab's pattern, a job's first I/O. */
  | 'STORAGE_OPEN'
  | 'STORAGE_FILL'
  | 'STORAGE_IO'
  /** called off by cancelStart() while it set up (code 'ECANCELED'); nothing is left running. */
  | 'START_CANCELLED';

/**
 * Error thrown by start() (and rejected by startAsync(), the same object shape) when the engine
 * cannot run at all; everything started so far has been cleaned up. The message is one line:
 * what failed, in words naming the concept and its numbers (never a profile path), then
 * '(CODE): strerror', then '; fix' when there is one. For example:
 * 'could not bind 127.0.0.1:8080 (EADDRINUSE): Address already in use; use port 0 ...', or
 * '200 load connections need 432 file descriptors (...) but RLIMIT_NOFILE allows 100 (hard
 * limit 100) (EMFILE): Too many open files; raise the limit before starting (ulimit -n 432, ...'.
 */
export interface EngineStartError extends Error {
  /**
   * Symbolic errno, e.g. 'EADDRINUSE'. With step 'FD_LIMIT' it is 'EMFILE': each connection
   * needs two descriptors, its load socket and the server's accepted socket. The engine first
   * raises the soft limit to the hard limit; if that is still too low it refuses before opening
   * anything. 'ENOMEM' from 'SERVER_RING_SETUP' or 'BUF_RING_REGISTER' usually means
   * RLIMIT_MEMLOCK (see memoryNeeds().pinnedBytes).
   */
  code: string;
  /** Positive errno. */
  errno: number;
  step: StartStep;
  fix?: string;
}

/**
 * start/startAsync/stop/stopAsync refused because the engine is running (a start) or another
 * start or stop is in progress. The message says which, e.g.
 * 'engine is starting (startAsync in progress): await startAsync(), then stop'.
 */
export interface EngineBusyError extends EngineStartError {
  code: 'EBUSY';
  errno: 16;
  step: 'ENGINE_BUSY';
  fix: string;
}

/**
 * Starts the server (and load threads if load.connections > 0). Returns once the
 * server listens and every load connection is connected; blocks the calling thread meanwhile.
 * @throws TypeError / RangeError naming the config field; EngineStartError;
 *   EngineBusyError if running, starting or stopping.
 */
export function start(config: EngineConfig): StartResult;
/**
 * start() without blocking the JS thread. The config is validated and the engine is claimed
 * (idle → starting) synchronously, before this returns. The connects and thread start-ups then
 * run on libuv's thread pool. While the start is in progress, snapshot() returns null, and
 * start/startAsync/stop/stopAsync are refused with EBUSY.
 * Never throws: config TypeError/RangeError, EngineStartError and EngineBusyError all come back
 * as a rejected promise, and the error objects are the same as those start() throws.
 */
export function startAsync(config: EngineConfig): Promise<StartResult>;
/**
 * Calls off the start in progress: its set-up (buffer prefault, the load's connects, a storage
 * target's fill) stops at its next step, everything it made is undone, and startAsync()
 * rejects with an EngineStartError at step 'START_CANCELLED' (ECANCELED). Returns true if a
 * start was in progress (one that finishes all the same resolves, and is stopped as usual),
 * false if none was. Never blocks.
 */
export function cancelStart(): boolean;
/**
 * Deltas since the previous snapshot. Returns null when the engine is not running, including
 * while a start or stop is in progress. It never waits for a start or stop in progress, and never
 * reads state that is only partly built.
 */
export function snapshot(): EngineSnapshot | null;
/**
 * Stops everything and returns the final snapshot, or null when nothing is running (so a second
 * call is harmless). Blocks the calling thread while threads are joined and drained.
 * @throws EngineBusyError while a startAsync or stopAsync is in progress.
 */
export function stop(): EngineSnapshot | null;
/**
 * stop() without blocking the JS thread. The engine is claimed (running → stopping)
 * synchronously, so snapshot() returns null from the moment this returns. The joins and drains
 * then run on libuv's thread pool. The promise resolves with the final snapshot, or with null
 * when nothing was running. It rejects with EngineBusyError while a start or another stop is in
 * progress.
 */
export function stopAsync(): Promise<EngineSnapshot | null>;
/**
 * Echoes completed per load connection since the last start, in connection order (connection i
 * of load.connections; the threads' connections follow one another), cumulative, as the latest
 * snapshot() (or the stop's final snapshot) read them: each load thread's beside its histogram,
 * so their sum is what the snapshots' `requests` add up to, but for completions in the few ns
 * between two reads of a running thread (mismatched echoes count in neither). A reader takes
 * differences itself. `run` says which start they belong to (it grows by one per start).
 * While running, and after stop()/stopAsync() until the next start, when they are final. Null
 * while a start or stop is in progress, before any start, and when the last start ran no echo
 * load (the storage workload, a server alone).
 */
export function connectionEchoes(): { run: number; counts: Float64Array } | null;

/**
 * Memory that start(config) would allocate, in bytes. It is computed by the same C functions
 * that size the allocations, so the two cannot drift apart. Socket buffers, which the kernel
 * grows and shrinks with the traffic, are not included.
 */
export interface MemoryNeeds {
  /**
   * Server: server.bufferRing.count × size of provided buffers (whole pages; whole 2 MiB huge
   * pages when bufferRing.hugepages asks for them, even if the kernel then refuses), plus their
   * registered ring (16 B per buffer, whole pages) and 8 B per buffer of bookkeeping.
   */
  bufferRingBytes: number;
  /** Load: a send and a receive buffer of load.messageBytes per connection, whole pages per load thread. */
  loadBufferBytes: number;
  /**
   * Kernel pages of every io_uring: the server ring (server.ringEntries, CQ twice that) and one ring
   * per load thread. Each ring counts its SQ/CQ region and its SQE array, in whole pages, after
   * the kernel rounds both entry counts up to powers of two.
   */
  ringBytes: number;
  /**
   * Per-connection and per-thread structs on both sides. With engine 'epoll' it also holds the
   * server's buffers (64 KiB pending per connection at worst, plus one scratch buffer), and
   * bufferRingBytes and the server's share of ringBytes are 0.
   */
  connectionStateBytes: number;
  /** Sum of the four above. */
  totalBytes: number;
  /**
   * Bytes this process would have charged against RLIMIT_MEMLOCK. Measured on Linux 6.18: the
   * kernel charges every ring's pages (ringBytes) and the registered buffer ring's pages (not the
   * buffers it points to) to the user's locked memory, unless the process has CAP_IPC_LOCK. With
   * CAP_IPC_LOCK this is 0. The limit applies per user, across all of that user's processes, and
   * a stopped run's rings are released asynchronously, so an immediate restart can briefly see
   * them still charged.
   */
  pinnedBytes: number;
  /** This process has CAP_IPC_LOCK (in the initial user namespace): nothing is charged. */
  memlockExempt: boolean;
  /** RLIMIT_MEMLOCK soft limit in bytes, or null when unlimited. */
  memlockLimitBytes: number | null;
}

/**
 * What start(config) would allocate (see MemoryNeeds), for a protocol v1 config. It validates
 * the config exactly like start() and throws the same TypeError/RangeError. It needs no engine and does not touch a
 * running one.
 */
export function memoryNeeds(config: EngineConfig): MemoryNeeds;
/** Sets the scheduler affinity of process `pid`'s threads (0: this process) whose names start
 *  with none of `skipPrefixes` to `cpus`; returns how many threads it set. The engine keeps the
 *  lab's bookkeeping threads (its own and its host's) off the load generator's CPUs during a
 *  run, and restores them after. */
export function pinThreads(pid: number, cpus: number[], skipPrefixes: string[]): number;

export function histogramLayout(): HistogramLayout;
/** Bucket index of a latency in µs (as the native recorder computes it). */
export function histogramIndex(us: number): number;
/**
 * Bucket index that the load generator records for a round trip of `ns` nanoseconds: ns is
 * rounded up to whole µs ((ns + 999) / 1000), then histogramIndex. For example 1 ns → 1 µs and
 * 1001 ns → 2 µs. Only 0 ns lands in bucket 0.
 */
export function histogramIndexNs(ns: number): number;

/**
 * Test/teaching hook, the same pause as the `serverPause` fault injection. The server thread sleeps
 * once for `ms` (1..60000) at its next loop iteration, before it waits for completions. It
 * serves nothing meanwhile, like a stalled server. An idle server (no traffic) starts the pause
 * only when its next completion wakes it. Returns false (and does nothing) when the engine is not
 * running.
 */
export function debugPauseServer(ms: number): boolean;
/**
 * Test hook: the server loop dies at its next iteration, as if io_uring_enter had failed with
 * `errno` (e.g. 14 for EFAULT; EINTR, EAGAIN, EBUSY and ETIME are refused because the loop
 * survives them). From then on snapshot().running is false and serverError is set. Returns false
 * when the engine is not running.
 */
export function debugFailServer(errno: number): boolean;

/** A flag combination the fake kernel of debugRingFallback refuses. */
export interface FakeRefusal {
  /** Ring setup flags without the prefix ('SQPOLL', 'DEFER_TASKRUN', ...): an attempt that
   *  includes all of them is refused. The first matching refusal wins. A rule that also names
   *  'REGISTERED_RING_FD' refuses the fd registration instead, on a ring with its other flags. */
  flags: string[];
  /** Positive errno the fake returns, e.g. 22 for EINVAL. */
  errno: number;
}

export interface RingFallbackRun {
  /** Set when no combination was accepted (start would fail at SERVER_RING_SETUP with it). */
  error: { errno: number; code: string; errnoText: string } | null;
  applied: AppliedSettings['server'];
  refused: RefusedSetting[];
  /** features is always [] and the entry counts are the request's rounded up to powers of two. */
  ring: RingSetup;
  /** The flags of every setup attempt, in order. */
  attempts: string[][];
}

/**
 * Test hook: runs the engine's real ring-setup fallback (the code behind StartResult.refused)
 * for a `server` config subtree against a fake kernel that refuses the listed flag combinations
 * and accepts everything else, and returns what would be applied and refused. No ring is
 * created and nothing else runs, so it needs no engine and no kernel that refuses anything.
 * @throws TypeError / RangeError naming `request.<path>` or `refusals[i]`.
 */
export function debugRingFallback(request: ServerConfig, refusals: FakeRefusal[]): RingFallbackRun;

/** One throw-away ring setup during the capability probe: errno 0 means accepted. */
export interface ProbeResult {
  /** The kernel took it (a tried probe) or reports it (a feature bit, an opcode). */
  available: boolean;
  /** The errno of a refusal; 0 when available, and for a stated capability that is absent (code ABSENT). */
  errno: number;
  code: string;
  reason: string;
}

/**
 * A pipe's pages (data at page offset 0, as TCP's stream data usually is) read() into a buffer
 * nearOffset (16) and farOffset (64) bytes into its page: the best write + read round of
 * blockBytes at each. On CPUs whose `rep movsb` slows down when the destination lies just past
 * the source modulo 4 KiB (AMD Zen 3: 1-31 bytes, ~0.5 ns per byte), nearNs is far above farNs.
 */
export interface CopyDistanceProbe {
  /** 'OK', or the errno word of the set-up that failed (the times are then null). */
  code: string;
  reason: string;
  blockBytes: number;
  nearOffset: number;
  farOffset: number;
  nearNs: number | null;
  farNs: number | null;
}

/**
 * What a system call costs here (native/src/core/syscall_cost.h): getppid and an io_uring_enter
 * with nothing to do, the best of 5 rounds of `calls` each. An epoll echo server makes ~2.5
 * calls per request, the lab's io_uring server 0.04-0.4: which costs less depends on this.
 */
export interface SyscallCostProbe {
  calls: number;
  /** ns per getppid. */
  getppidNs: number;
  /** 'OK', or the errno word of the ring's set-up or of an enter (enterNs is then null). */
  enterCode: string;
  /** ns per io_uring_enter(fd, 0, 0, 0). */
  enterNs: number | null;
}

export interface CapabilityProbe {
  ring: ProbeResult;
  sqpoll: ProbeResult;
  deferTaskrun: ProbeResult;
  coopTaskrun: ProbeResult;
  /** A RECV on a socket, on an IOPOLL ring: kernels answer EINVAL. */
  iopollSocket: ProbeResult;
  /** A second SQPOLL ring sharing the first's thread (IORING_SETUP_ATTACH_WQ). */
  attachWq: ProbeResult;
  /** A 1-entry provided-buffer ring registered (IORING_REGISTER_PBUF_RING, 5.19). */
  bufferRing: ProbeResult;
  /** The same with IOU_PBUF_RING_INC (6.12); EINVAL where the kernel does not know the flag. */
  incrementalBuffers: ProbeResult;
  /** IORING_REGISTER_NAPI (6.9) registered and unregistered; lo has no NAPI ids, so no effect there. */
  napi: ProbeResult;
  /** io_uring_register_buffers() of one page. */
  registeredBuffers: ProbeResult;
  /** io_uring_register_files_sparse(): the table direct descriptors live in. */
  sparseFiles: ProbeResult;
  /** ACCEPT with IORING_ACCEPT_MULTISHOT completed and stayed armed (CQE_F_MORE). */
  multishotAccept: ProbeResult;
  /** RECV with IORING_RECV_MULTISHOT from a buffer ring completed and stayed armed. */
  multishotRecv: ProbeResult;
  /** IORING_FEAT_RECVSEND_BUNDLE in a ring's features (6.10). */
  recvBundle: ProbeResult;
  /** Not io_uring: a 0.1 ms slice (sched_attr.sched_runtime) kept by a fair thread (6.12), as
   *  the measured threads ask (code IGNORED where the kernel takes the call but keeps its default). */
  shortSlice: ProbeResult;
  /** IORING_FEAT_MIN_TIMEOUT in a ring's features (6.12). */
  minWait: ProbeResult;
  /** Not io_uring: a sock_diag dump of TCP sockets with tcp_info, as the server's segment
   *  counts make (ENOENT without tcp_diag). */
  tcpDiag: ProbeResult;
  /** Not io_uring: joining sock_diag's SKNLGRP_INET_TCP_DESTROY, which counts closed
   *  connections to their last segment (any user may; a failure leaves their tails out). */
  tcpDestroyEvents: ProbeResult;
  /** IORING_OP_SEND_ZC in io_uring_get_probe (6.0). */
  sendZeroCopy: ProbeResult;
  /** IORING_OP_SENDMSG_ZC in io_uring_get_probe (6.1). */
  sendmsgZeroCopy: ProbeResult;
  /** IORING_OP_* names (without prefix) the kernel supports. */
  ops: string[];
  /** Not io_uring: the kernel's copy into user memory by where the destination starts. */
  copyDistance: CopyDistanceProbe;
  /** Not io_uring: what one system call costs here. */
  syscallCost: SyscallCostProbe;
  /** IORING_FEAT_* names of a plain ring. */
  features: string[];
}

/** What this kernel's io_uring accepts; independent of a running engine. */
export function probeCapabilities(): CapabilityProbe;

// ---- Fault injection (issue 12's chaos panel; native/src/inject) ----

export type InjectionKind = 'cpuHog' | 'memoryPressure' | 'ioWqPunt' | 'bufferStarvation' | 'serverPause' | 'softirqLoad';
export interface InjectStartOptions {
  kind: InjectionKind;
  /** 1 … 60000; it ends by itself at the deadline (children exit, toggles expire). */
  durationMs: number;
  /** The engine's CPUs (server.numa.cpus ∪ load.cpus, else all online; [] = all online): hogs
   *  and load pin one child per CPU (memoryPressure: one reader per CPU, all in one cgroup). */
  cpus: number[];
}
/** detail: what runs where, e.g. "2 children on CPUs 0,1", memoryPressure adds its cgroup. */
export interface InjectStarted { id: number; kind: InjectionKind; pids: number[]; detail: string }
/** Thrown by injectStart: code 'INJECT_REFUSED'; message = reason + '; ' + fix. */
export interface InjectRefusedError extends Error {
  code: 'INJECT_REFUSED';
  /** What and why, one line. */
  reason: string;
  fix: string;
  /** Positive errno and its name, when a system call refused. */
  errno?: number;
  errnoCode?: string;
  /** The option at fault, for a bad argument ('options', 'kind', 'durationMs', 'cpus'). */
  field?: string;
}
/**
 * Starts one bounded fault:
 * - cpuHog: one child per CPU ("uring-lab-hog", pinned), busy until the deadline;
 * - memoryPressure: one child per CPU ("uring-lab-mempress", pinned), all in the memory cgroup
 *   `uring-lab-inject-<enginePid>-<id>` at the root of the memory hierarchy (v2 /sys/fs/cgroup,
 *   v1 /sys/fs/cgroup/memory), limit 64 MiB, reading a 512 MiB sparse O_TMPFILE in /var/tmp
 *   round and round so memcg reclaim runs continuously (clean page cache only). The cgroup is
 *   removed once the child is reaped; if the engine process dies it is left (empty) for the
 *   host to remove by name;
 * - softirqLoad: one child per CPU ("uring-lab-softirq", pinned) blasting small UDP datagrams
 *   at an unread loopback socket: NET_RX softirq on that CPU;
 * - serverPause / ioWqPunt / bufferStarvation: toggles on every worker of the running engine's
 *   server (pause; sends with IOSQE_ASYNC; consumed provided buffers withheld, then all handed
 *   back at the deadline). ioWqPunt and bufferStarvation need the io_uring server.
 * Task names are cut to 15 characters by the kernel: comm reads 'uring-lab-hog',
 * 'uring-lab-mempr', 'uring-lab-softi'.
 * Children die with the engine process (PR_SET_PDEATHSIG, tied to the calling thread: call it
 * from the JS thread). Throws InjectRefusedError: no engine running (server toggles), the epoll
 * server (ioWqPunt, bufferStarvation), no memory cgroup, /var/tmp on tmpfs, a bad argument.
 */
export function injectStart(options: InjectStartOptions): InjectStarted;
/** Ends every active injection now (kills and reaps children, removes cgroups, clears toggles). Idempotent. */
export function injectStopAll(): void;
/** Active injections (for tests and the engine's end-of-run report); pids: children still running. */
export function injectActive(): { id: number; kind: InjectionKind; pids: number[]; endsInMs: number }[];

// ---- eBPF probes (issue 9; the probes contract, /work/briefs/probes_contract.md) ----
// Kernel-time histograms use KERNEL_HISTOGRAM_LAYOUT: unit ns, 64 linear buckets, 5 sub-bucket
// bits, max exponent 36, 1056 buckets (native/src/probes/kernel_histogram.h).

export type ProbeName = 'uring_latency' | 'uring_calls' | 'runqueue' | 'sqpoll' | 'softirq' | 'tcp_events' | 'offcpu' | 'memory' | 'profile';

export interface ProbeAttachOptions {
  /** Thread group to watch: the engine process (process.pid in electron/engine/main.ts). */
  tgid: number;
  /** Probe names to attach; absent = all. */
  probes?: ProbeName[];
  /** tcp_events' channel: 'ringbuf' (default where the kernel has one) or 'perfbuf' (forces the
   *  perf-buffer fallback, for tests). A perf buffer needs CAP_PERFMON in this process. */
  eventChannel?: 'ringbuf' | 'perfbuf';
  /** uring_calls: count io_uring_enter in the kernel on its syscall tracepoint (default false).
   *  Opt-in because enabling any syscall tracepoint puts EVERY task's syscalls on the traced slow
   *  path; without it `uring.enters` is 0, `uring.entersSource` null and the engine's own count
   *  (snapshot server.enters) is the source, as uring_calls' status reason says. */
  syscallEnters?: boolean;
  /** profile: samples per second per CPU of the cpu-clock software event (default 49, at most
   *  1000); 0 leaves the profile probe out (no status, `profile` null). */
  profileHz?: number;
  /** offcpu: only blocks of the engine's lab threads at least this long (µs) are sent with
   *  their kernel stack (default 1000). */
  offCpuMinUs?: number;
  /** uring_latency's and softirq's per-request programs: the fraction of the time they are
   *  attached (one window per period — 100 ms, longer where attaching costs more, up to 2 s — at
   *  a random offset, attached and detached by a thread of the addon:
   *  native/src/probes/probe_sampling.h), PROBE_SAMPLING_MIN_DUTY (0.001)…1; absent or 1: attached all the time (the profile knob probes.perRequestDuty has its own default). */
  perRequestDuty?: number;
}

/** Which share of a read's interval the per-request programs were attached (their counts and
 *  histograms are of that time only). */
export interface NativePerRequestSampling {
  /** The requested duty (1: always attached). */
  duty: number;
  /** Since the previous read: its length, the attached time in it, and their ratio (≤ 1). */
  intervalNs: number; observedNs: number; observedShare: number;
  /** The load's requests completed inside the windows since the previous read (read just after
   *  each window opened and closed; an open window's so far): the per-request denominator of the
   *  observed counts. Fewer than requests × observedShare: the attached probes slow the requests
   *  they see. null at duty 1; windows while no run counts add nothing. */
  observedRequests: number | null;
  /** Windows closed since the previous read and their nominal length; null at duty 1. */
  windows: number | null; windowNs: number | null;
  /** The current period (one window each): ≥ 100 ms, longer where switching costs more than
   *  0.05 % of a CPU (up to 5 s); null at duty 1. */
  periodNs: number | null;
  /** CPU time the window thread spent attaching and detaching since the previous read (each
   *  switch patches the tracepoint's call sites: the cost of sampling in time itself). */
  switchCpuNs: number;
  /** Windows not opened since the previous read because a link could not be created, and why. */
  attachErrors: number; lastError: string | null;
}

export interface NativeProbeStatus {
  name: ProbeName;
  attached: boolean;
  /** Which program variant attached: 'tp_btf' | 'raw_tp' | 'tracepoint', or several joined by
   *  '+' ('tracepoint+tp_btf': uring_calls counts io_uring_enter on its syscall tracepoint);
   *  'perf_event' for profile (a perf_event program on cpu-clock events); null if none. fentry/kprobe are never used. */
  variant: string | null;
  /** Why it is not attached (first useful verifier/errno line), or a note when attached degraded; null otherwise. */
  reason: string | null;
  /** What would make it attach (capabilities, mount tracefs, kernel config), null when attached. */
  fix: string | null;
  /** 'in-process' (the engine had CAP_BPF+CAP_PERFMON or root) | 'helper' (fds from the privileged probe helper) | null. */
  loadedBy: 'in-process' | 'helper' | null;
}

export interface NativeKernelFrame {
  /** CLOCK_MONOTONIC ns when the read ended (the same clock the engine snapshot uses): no event
   *  or block in this frame ends later. */
  monotonicNs: number;
  /** The per-request probes' time sampling over this interval; null when none of them is attached. */
  perRequestSampling: NativePerRequestSampling | null;
  uring: {
    /** Requests submitted / completions posted on the SERVER's rings (rings whose submitter is a server
     *  worker thread `uring-srv-*` or its SQPOLL thread `iou-sqp-*`), this interval. */
    submits: number; completions: number;
    /** io_uring_enter syscalls by server threads (0 unless counted: see entersSource), and
     *  io_uring_cqring_wait events (waits for CQEs) of server threads. */
    enters: number; cqWaits: number;
    /** Where `enters` comes from: 'syscall_tracepoint' (syscalls:sys_enter_io_uring_enter) or
     *  'raw_sys_enter' (raw sys_enter filtered on the number, where tracefs is not readable), both
     *  only with probesAttach's syscallEnters; null: not counted in the kernel (the default), the
     *  engine's own count (server.enters) is the source. */
    entersSource: 'syscall_tracepoint' | 'raw_sys_enter' | null;
    /** io_uring_queue_async_work (punted to io-wq), io_uring_cqe_overflow, io_uring_short_write, io_uring_req_failed. */
    ioWqPunts: number; cqeOverflows: number; shortWrites: number; reqFailed: number;
    /** Fraction of request legs whose latency is timed (latencyNs, taskWorkLatencyNs, byOpcode), e.g.
     *  1/32; submits and completions are always exact. A leg runs from a submission (or, for a
     *  multishot request, from its previous completion) to the next completion; each 1/rate-th leg
     *  start per CPU is timed, whole. The histograms hold ≈ completions × rate samples. null when
     *  uring_latency is not attached. */
    latencySampleRate: number | null;
    /** In-kernel request latency, submission → completion, all opcodes (ns histogram, sparse), of the
     *  sampled legs (latencySampleRate). For multishot requests each completion after the first is
     *  timed from the previous completion of the same request; a request armed before the probes
     *  attached (a multishot recv) is timed from its completions on. */
    latencyNs: [number, number][];
    /** Task-work add → completion (ns), where task work was used, of the sampled legs. */
    taskWorkLatencyNs: [number, number][];
    /** Per opcode (only opcodes timed this interval): name as the kernel's BTF spells it without IORING_OP_
     *  (opcode 63 'OTHER' holds any opcode ≥ 63, none on 6.18); count = its timed (sampled) completions.
     *  Their histograms sum to latencyNs exactly. */
    byOpcode: { opcode: number; name: string; count: number; latencyNs: [number, number][] }[];
  };
  runqueue: {
    /** Wakeup (or preempted re-enqueue) → switch-in delay of the engine's threads (ns histogram, sparse). */
    latencyNs: [number, number][];
    count: number;
    /** Switch-outs while runnable (preemptions) of the engine's threads. */
    preemptions: number;
  };
  sqpoll: {
    /** On-CPU ns of the engine's `iou-sqp-*` threads this interval, and their wake-ups (sched_wakeup). */
    onCpuNs: number; wakeups: number;
  };
  softirq: {
    /** Softirq time (ns) and entries, all CPUs: NET_RX and NET_TX (the network path), plus NAPI polls.
     *  Entries and polls are exact; the times are estimates from a sample of the softirqs (timeSampleRate). */
    netRxNs: number; netTxNs: number; netRxCount: number; netTxCount: number; napiPolls: number;
    /** Fraction of NET_RX/NET_TX softirqs timed (each whole, per CPU every 1/rate-th), e.g. 1/8; each
     *  timed one counts 1/rate times in netRxNs/netTxNs. null when softirq is not attached. */
    timeSampleRate: number | null;
  };
  tcp: {
    retransmits: number;
    /** kfree_skb with a drop reason other than NOT_SPECIFIED/CONSUMED-style non-drops, on TCP,
     *  packets lost on the way: not `closeDrops`, not `duplicateDrops`. */
    drops: number;
    /** kfree_skb drops at a socket being closed or gone (QUEUE_PURGE, TCP_ABORT_ON_DATA, TCP_CLOSE, SOCKET_CLOSE: its queues purged at close, data after the application closed it; NO_SOCKET: a segment after its connection was reset or closed, or for a port nobody listens on): how connections end, every run's teardown makes them, so counted apart from `drops` and sent as no event. */
    closeDrops: number;
    /** kfree_skb drops of copies the receiver already had (TCP_OLD_DATA, TCP_OLD_SEQUENCE, TCP_OFOMERGE, TCP_OLD_ACK): what spurious retransmits send, not losses; counted apart from `drops` and sent as no event (the retransmits are). */
    duplicateDrops: number;
    /** Events the ring buffer (or perf buffer) could not take: counted, never silent. */
    lostEvents: number;
    /** At most 256 per frame (the rest counted in `truncated`): what happened, with its reason word. */
    events: { monotonicNs: number; kind: 'retransmit' | 'drop'; reason: string | null; sport: number; dport: number; state: string | null }[];
    truncated: number;
    /** 'ringbuf' | 'perfbuf' — which event channel is in use (null: tcp_events not attached, or
     *  its channel could not be opened here; its status says why). */
    channel: string | null;
  };
  /** BPF run-time stats (BPF_ENABLE_STATS) over this interval, per program; null when stats cannot be enabled. */
  overhead: { program: string; probe: ProbeName; runTimeNs: number; runCount: number }[] | null;
  /** Which tasks ran on the engine's CPUs instead of it (runqueue's sched_switch program), this
   *  interval; null when runqueue is not attached. competitors: the 16 largest by on-CPU time
   *  (ns, on CPUs an engine thread has run on since attach), neither the idle task nor the
   *  engine's own threads; preemptedEngine: times it was switched in right after an engine
   *  thread was preempted (still runnable); cpus: the CPUs it ran on. The rest summed in
   *  othersOnCpuNs. comm is the name at its last switch-out. */
  sched: {
    competitors: { pid: number; tgid: number; comm: string; onCpuNs: number; preemptedEngine: number; cpus: number[] }[];
    othersOnCpuNs: number;
  } | null;
  /** Reclaim and compaction of all tasks this interval (vmscan/compaction begin→end): time (ns)
   *  and count per kind, what the engine's threads spent of it, and the 8 tasks that spent the
   *  most (reclaim + compaction). null when memory is not attached. */
  memory: {
    directReclaimNs: number; directReclaimCount: number; memcgReclaimNs: number; memcgReclaimCount: number;
    compactionNs: number; compactionCount: number; engineReclaimNs: number;
    byTask: { pid: number; comm: string; reclaimNs: number }[];
  } | null;
  /** Blocks (switched out not runnable) of the engine's lab threads (uring-*, iou-*) of at least
   *  minUs that ended this interval: thread, time blocked (ns), the block's end (CLOCK_MONOTONIC
   *  ns, as monotonicNs) and the kernel stack it blocked in (bpf_get_task_stack at its switch-in:
   *  instruction pointers, lowercase hex without 0x, LEAF FIRST, the scheduler's own frames left
   *  out by the kernel). At most 256 per frame, the longest; the others (and what the ring
   *  buffer could not take) counted in truncated. null when offcpu is not attached. */
  offCpu: {
    minUs: number;
    events: { tid: number; comm: string; offNs: number; endMonotonicNs: number; kernelIps: string[] }[];
    truncated: number;
  } | null;
  /** On-CPU samples of the engine's threads this interval (cpu-clock at hz per CPU): per
   *  (thread, kernel stack, user stack) the sample count; IPs lowercase hex without 0x, leaf
   *  first; kernelIps empty for a sample in user mode, userIps empty for a kernel thread (iou-*).
   *  User stacks unwind by frame pointers (the addon is built with them). lost: samples with no
   *  stack at all, or beyond a full map, or beyond 1024 distinct stacks in one interval. null
   *  when profile is not attached. */
  profile: {
    hz: number;
    samples: { tid: number; comm: string; kernelIps: string[]; userIps: string[]; count: number }[];
    lost: number;
  } | null;
}

/** Loads and attaches (in-process when privileged, else through the probe helper). Never throws for a
 *  probe that cannot attach: its status says why. Replaces any probes already attached. Throws
 *  TypeError for bad options (tgid not a pid, an unknown probe name, a bad eventChannel).
 *  Environment: URING_LAB_PROBE_HELPER (the helper's path), URING_LAB_PROBE_FORCE_FALLBACK=1
 *  (test hook: only the raw_tp variants are tried; the status says so). */
export function probesAttach(options: ProbeAttachOptions): NativeProbeStatus[];
/** probesAttach with the loading and verifying on libuv's thread pool (~0.2 s for the nine probes
 *  here), so that the JS thread can work meanwhile. The options are checked (TypeError thrown at
 *  once) and the probes already attached detached before it returns. It rejects when probesDetach
 *  comes before it settles (what it loaded is closed). While it is in flight, probesAttach,
 *  probesAttachAsync and probesCheck throw; probesRead returns null. */
export function probesAttachAsync(options: ProbeAttachOptions): Promise<NativeProbeStatus[]>;
/** Reads and resets every per-CPU histogram/counter; drains the event channel. null when nothing is attached. */
export function probesRead(): NativeKernelFrame | null;
/** Detaches and frees every program, link and map (idempotent). Also happens when the process dies (fds close). */
export function probesDetach(): void;
/** Doctor: attaches each probe to nothing in particular (tgid 0 filter) for a moment and detaches; the statuses. */
export function probesCheck(): NativeProbeStatus[];

/** The privileged probe helper as probesAttach would use it (for the doctor): its path
 *  (URING_LAB_PROBE_HELPER; else resources/ in a package; else next to the addon), whether it is
 *  there and executable, whether its file capabilities hold cap_bpf,cap_perfmon+ep; reason and
 *  fix when it cannot help (null when it can). Only used when the engine itself lacks the
 *  capabilities. */
export function probeHelper(): { path: string; found: boolean; capabilities: boolean; reason: string | null; fix: string | null };

/** KERNEL_HISTOGRAM_LAYOUT as the probes record it (native/src/probes/kernel_histogram.h). */
export function kernelHistogramLayout(): {
  unit: 'ns'; linearBuckets: number; subBucketBits: number; maxExponent: number; bucketCount: number;
};
/** Bucket index the BPF programs record a time of `ns` nanoseconds in (the same kh_index()
 *  they are compiled with); ns an integer 0..2^53-1, else RangeError. */
export function kernelHistogramIndex(ns: number): number;

/** Absolute path of the loaded .node file. */
export const addonPath: string;
/** Sets process `pid`'s threads (0: this process) whose names start with none of
 *  `skipPrefixes` from SCHED_OTHER to SCHED_BATCH (`batch` true) or from SCHED_BATCH back to
 *  SCHED_OTHER; other policies are left alone. Returns how many threads it changed. While a run
 *  serves, the lab's bookkeeping threads (the engine's and its host's) run SCHED_BATCH so their
 *  wake-ups never preempt the server or the load generator. */
export function setLabThreadsBatch(pid: number, batch: boolean, skipPrefixes: string[]): number;
