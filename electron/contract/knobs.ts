/**
 * The knob catalogue: one row per tunable of a profile, and the only place a knob is
 * described. The profile schema (profile.ts), the engine configuration (the engine protocol
 * mirrors the profile's `server`/`load` paths), the mapping of kernel refusals back to knobs,
 * the UI's knob panel, phase labels, the CLI summary and the doctor's fixes all read it.
 *
 * Adding a knob is one row here plus the native code that applies it. A row says:
 *  - `schema`: the zod schema with its bounds and default (the default profile is the best
 *    general configuration this lab knows);
 *  - `label`, `help`, `unit`: how people see it;
 *  - `kernel`: the Linux version or capability it needs, where it needs one;
 *  - `applies`: `new-ring` (a change during a run restarts the engine as a new phase),
 *    `next-run` (takes effect when a run starts), `metadata` (no effect on the engine);
 *  - `engine`: whether the engine protocol carries it (at the same path as in the profile);
 *  - `settings`: the ring setup flags and setup steps the native core reports for it, so a
 *    refusal or a failed step is put back on the right knob;
 *  - `refusal`: words for each cause of a refusal (the errno's own words come from the
 *    binding, the one place an errno becomes words);
 *  - `engines`: the server engines it means something for (io_uring ring knobs do nothing
 *    for the epoll baseline).
 */
import { z } from 'zod';
import { INJECTION_KINDS, InjectionSchema, type Injection } from './diagnose';
import { formatCpuSequence } from './cpuList';
import { PER_REQUEST_DUTY_DEFAULT, PER_REQUEST_DUTY_MIN, PROFILE_HZ_DEFAULT } from './kernel';

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
const powerOfTwo = (min: number, max: number) =>
  z.number().int().min(min).max(max).refine(isPowerOfTwo, `must be a power of two (${min} … ${max})`)
    // The profile's JSON Schema (resources/profile.schema.json) says it as the list of powers.
    .meta({ enum: Array.from({ length: Math.log2(max) - Math.log2(min) + 1 }, (_, i) => min * 2 ** i) });

/** Ring knobs: the epoll server has no io_uring ring for them to act on. */
const IO_URING_ONLY = ['io_uring'] as const;

export type KnobUnit = 'bytes' | 'ms' | 's' | 'µs' | 'entries' | 'buffers' | 'connections' | 'threads' | 'CPU' | 'Hz';

/** Another knob's value in the profile being exported, by dotted path. */
export type KnobLookup = (path: string) => unknown;

/** A system setting a knob implies: a line of the tuned export, and a step of the shell export. */
export interface SystemSetting {
  /** `sysctl`: set by tuned and by the shell export (asking first); `cpu` (tuned's CPU plugin) and
   *  `bootloader` (the kernel command line): set by tuned, only hinted at by the shell export. */
  section: 'sysctl' | 'cpu' | 'bootloader';
  key: string;
  value: string;
  /** Why the knob implies it, in a few words (the comment on its line). */
  why: string;
  /** A floor, not a value: a machine already above it keeps its own (the shell export only
   *  ever raises it). A cap such as net.core.rmem_max set lower than it was would take room
   *  from every other program on the machine. */
  atLeast?: boolean;
}

/** How a knob reads in other tools' files (the profile exports, electron/host/profiles/export/). */
export interface KnobExports<V> {
  /** fio job options of the storage analogue (null: none in this profile); absent: fio has no word for the knob. */
  fio?(value: V, at: KnobLookup): { options?: Record<string, string | number>; note?: string } | null;
  /** The sysctls and kernel command-line settings the value implies (tuned export, shell export). */
  system?(value: V, at: KnobLookup): SystemSetting[];
}

export interface KnobRow<S extends z.ZodType = z.ZodType> {
  schema: S;
  label: string;
  help: string;
  unit?: KnobUnit;
  kernel?: string;
  applies: 'new-ring' | 'next-run' | 'metadata';
  engine: boolean;
  settings?: readonly string[];
  refusal?: Readonly<Record<string, { reason: string; fix: string }>>;
  /** Server engines the knob means something for (absent: all); with another engine a
   *  requested non-default value is reported refused, never shown as applied. */
  engines?: readonly ('io_uring' | 'epoll')[];
  /** Another knob's value this one means something only with (absent: always): otherwise a
   *  requested non-default value is reported refused (the lab's own NOT_APPLICABLE), never shown
   *  as applied — an SQPOLL thread's CPU without SQPOLL, an open-loop rate in a closed loop. */
  onlyWith?: OnlyWith;
  /** Why the engine can apply another value than the one asked without refusing it: said beside
   *  the change in a run's or `uring-lab server`'s warnings. */
  adjusted?: string;
  /** The capability of this machine the knob needs (probed by the doctor, electron/host/doctor.ts);
   *  where the doctor finds it missing, the UI disables the knob with the doctor's reason and fix. */
  needs?: KnobNeed;
  /** The workloads `needs` holds for (absent: all): IOPOLL needs sockets that poll only for the
   *  echo workload; on storage the run itself reports a device without poll queues. */
  needsFor?: readonly Workload[];
  /** The workloads the knob means something for (absent: all); the panel hides it for the others. */
  workloads?: readonly Workload[];
  /** Its fio options and implied system settings, for the exports; absent: none. */
  exports?: KnobExports<z.output<S>>;
  /** A panel of its own edits it, and the generic knob panel leaves it out: 'chaos' (the fault
   *  injections' schedule, renderer/src/components/diagnose/). */
  panel?: 'chaos';
}

/** The other knob's value a knob means something only with: equal to `value`, or a number of at
 *  least `atLeast` (shared SQPOLL needs a second ring to share the thread with). */
export type OnlyWith = { path: string; value: string | boolean } | { path: string; atLeast: number };

/** Whether `onlyWith` holds for the value `at` its path has (a profile's, requested). */
export function onlyWithHolds(onlyWith: OnlyWith | undefined, at: (path: string) => unknown): boolean {
  if (!onlyWith) return true;
  const v = at(onlyWith.path);
  return 'atLeast' in onlyWith ? typeof v === 'number' && v >= onlyWith.atLeast : v === onlyWith.value;
}

/** `server.sqpoll.enabled=true`, `server.rings >= 2`: the condition in words. */
export function onlyWithText(onlyWith: OnlyWith): string {
  return 'atLeast' in onlyWith ? `${onlyWith.path} >= ${onlyWith.atLeast}` : `${onlyWith.path}=${JSON.stringify(onlyWith.value)}`;
}

/** How to make `onlyWith` hold, for a refusal's fix. */
export function onlyWithFix(onlyWith: OnlyWith): string {
  return 'atLeast' in onlyWith ? `set ${onlyWith.path} to ${onlyWith.atLeast} or more` : `set ${onlyWith.path} to ${JSON.stringify(onlyWith.value)}`;
}

/** What a run does (the `workload` knob). */
export type Workload = 'echo' | 'storage';
/** Knobs of the echo server and its load generator: a storage run has no sockets. */
const ECHO_ONLY = ['echo'] as const;
/** The storage jobs' knobs: nothing of them exists in an echo run. */
const STORAGE_ONLY = ['storage'] as const;

/** Capabilities the doctor probes for knobs (the `needs` of a row). */
export type KnobNeed =
  | 'sqpoll' | 'attachWq' | 'multishot' | 'recvBundle' | 'incrementalBuffers' | 'sendZeroCopy' | 'registeredBuffers'
  | 'directDescriptors' | 'napi' | 'minWait' | 'hugepages' | 'iopollSockets' | 'numaNodes' | 'cpus';

/** A catalogue row; the identity function keeps each row's schema type for the profile type. */
function knob<S extends z.ZodType>(row: KnobRow<S>): KnobRow<S> {
  return row;
}

/** Text the exports write as UTF-8: an unpaired UTF-16 surrogate has no UTF-8 form (it became U+FFFD in them). */
const wellFormed = (t: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(t);

/** server.socket's SO_RCVBUF and SO_SNDBUF rows: one shape (set with *FORCE where permitted, else capped), their own words. */
function socketBufferKnob(b: { label: string; option: 'SO_RCVBUF' | 'SO_SNDBUF'; cap: 'net.core.rmem_max' | 'net.core.wmem_max'; help: string }) {
  return knob({
    workloads: ECHO_ONLY,
    // The kernel's floor is 2-5 KiB, so even a granted cap is at least 1024; 512 MiB is the most
    // it grants in full (it doubles the value in an int, capped at INT_MAX / 2).
    schema: z.number().int().min(1024).max(512 * 1024 * 1024).nullable().default(null),
    label: b.label, unit: 'bytes', help: b.help,
    kernel: `beyond ${b.cap}: CAP_NET_ADMIN (${b.option}FORCE)`, applies: 'new-ring', engine: true, settings: [b.option],
    adjusted: `the kernel raises ${b.option} to its floor (a few KiB: room for one packet and its bookkeeping); applied shows what it granted`,
    refusal: {
      refused: { reason: `the kernel granted less than asked: ${b.option} is capped at ${b.cap} without CAP_NET_ADMIN (${b.option}FORCE refused); applied shows what it granted`, fix: `raise the cap (sysctl ${b.cap}=BYTES), run as root, or ask for at most ${b.cap}` },
    },
    exports: {
      system: (v) => (v === null ? [] : [{ section: 'sysctl', key: b.cap, value: String(v), why: `at least: lets a process without CAP_NET_ADMIN set ${b.option} this large`, atLeast: true }]),
    },
  });
}

export const KNOBS = {
  name: knob({
    // Names reach terminals and window titles: no control characters (ANSI escapes, newlines).
    schema: z.string().min(1).max(200).refine((t) => !/[\u0000-\u001f\u007f-\u009f]/.test(t) && wellFormed(t), 'without control characters or unpaired surrogates').meta({ pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]*$' }).default('default'),
    label: 'Profile name', help: 'What this tuning profile is called in runs, exports and A/B reports.', applies: 'metadata', engine: false,
  }),
  description: knob({
    // A description may have lines and tabs, but no other control characters.
    schema: z.string().max(10_000).refine((t) => !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(t) && wellFormed(t), 'without control characters other than newlines and tabs, or unpaired surrogates').meta({ pattern: '^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$' }).default(''),
    label: 'Description', help: 'When to use this profile, in a sentence or two.', applies: 'metadata', engine: false,
  }),
  workload: knob({
    schema: z.enum(['echo', 'storage']).default('echo'),
    label: 'Workload', help: 'echo: a TCP echo server with a load generator on this machine; storage: fio-like jobs reading or writing storage.path (or a test file the lab creates and deletes) with the server ring knobs.', applies: 'next-run', engine: true,
    exports: { fio: (v) => (v === 'echo' ? { note: 'an echo profile: this job is the storage analogue of its server ring (storage.* at their values)' } : {}) },
  }),
  topology: knob({
    workloads: ECHO_ONLY,
    schema: z.enum(['loopback', 'veth']).default('loopback'),
    label: 'Topology', help: 'loopback: server and load on 127.0.0.1; veth: the server in a network namespace of its own, reached by the load over a veth pair (a /30 of 10.213.0.0/16; needs root or CAP_NET_ADMIN).',
    kernel: 'veth: root or CAP_NET_ADMIN, and iproute2', applies: 'next-run', engine: false,
  }),
  server: {
    engine: knob({
      schema: z.enum(['io_uring', 'epoll']).default('io_uring'),
      label: 'Server engine', help: 'io_uring: multishot accept and recv into a provided buffer ring; epoll: the baseline, edge-triggered epoll with non-blocking sockets (ring knobs do not apply).',
      applies: 'new-ring', engine: true,
      exports: {
        fio: (v) => (v === 'io_uring' ? { options: { ioengine: 'io_uring' } } : { options: { ioengine: 'psync' }, note: 'server.engine epoll: epoll has no meaning for files; psync (one blocking pread/pwrite per I/O) is the baseline without io_uring' }),
        system: () => [{ section: 'sysctl', key: 'kernel.io_uring_disabled', value: '0', why: 'io_uring for every process: the server rings and the load generator (Linux 6.6+)' }],
      },
    }),
    rings: knob({
      workloads: ECHO_ONLY,
      schema: z.number().int().min(1).max(64).default(1),
      label: 'Rings', unit: 'threads', help: 'Server worker threads, each with its own ring (or epoll set) and its own SO_REUSEPORT listener on the one port; the kernel spreads connections over them by a hash.',
      applies: 'new-ring', engine: true, settings: ['SERVER_THREAD'],
      exports: { fio: (v, at) => (at('workload') === 'echo' ? { options: { numjobs: v } } : null) },
    }),
    ringEntries: knob({
      engines: IO_URING_ONLY,
      schema: powerOfTwo(8, 32_768).default(4096),
      label: 'Ring entries', unit: 'entries', help: 'Submission queue entries of the server ring; the completion queue gets twice as many.',
      applies: 'new-ring', engine: true, settings: ['SERVER_RING_SETUP'],
      adjusted: 'a storage job\'s ring holds storage.queueDepth + 1 entries, and ring sizes are powers of two',
    }),
    sqpoll: {
      enabled: knob({
      engines: IO_URING_ONLY,
        schema: z.boolean().default(false),
        label: 'SQPOLL', help: 'A kernel thread polls the submission queue, so submitting needs no io_uring_enter call; it spins while busy and costs a CPU.',
        kernel: 'Linux 5.11 without CAP_SYS_ADMIN', applies: 'new-ring', engine: true, settings: ['SQPOLL'], needs: 'sqpoll',
        refusal: {
          refused: { reason: 'the kernel refused an SQPOLL ring', fix: 'set server.sqpoll.enabled to false, or run with CAP_SYS_NICE on kernels before 5.11' },
        },
        exports: { fio: (v) => (v ? { options: { sqthread_poll: 1 } } : {}) },
      }),
      cpu: knob({
      engines: IO_URING_ONLY,
        schema: z.number().int().min(0).max(4095).nullable().default(null),
        label: 'SQPOLL CPU', unit: 'CPU', help: 'CPU the SQPOLL thread is pinned to (IORING_SETUP_SQ_AFF); empty lets the scheduler choose.',
        applies: 'new-ring', engine: true, settings: ['SQ_AFF'], needs: 'sqpoll', onlyWith: { path: 'server.sqpoll.enabled', value: true },
        refusal: {
          refused: { reason: 'the kernel refused to pin the SQPOLL thread to that CPU', fix: 'pick a CPU this process may run on (see the doctor), or leave server.sqpoll.cpu empty' },
          moot_without_sqpoll: { reason: 'a CPU for the SQPOLL thread means nothing without SQPOLL', fix: 'enable server.sqpoll.enabled, or leave server.sqpoll.cpu empty' },
        },
        exports: {
          fio: (v, at) => (v !== null && at('server.sqpoll.enabled') === true ? { options: { sqthread_poll_cpu: v } } : {}),
          system: (v, at) => (v !== null && at('server.sqpoll.enabled') === true ? [{ section: 'bootloader', key: 'cmdline_sqpoll', value: `isolcpus=${v} nohz_full=${v}`, why: 'keeps other tasks and the timer tick off the CPU the SQPOLL thread spins on' }] : []),
        },
      }),
      idleMs: knob({
      engines: IO_URING_ONLY,
        schema: z.number().int().min(0).max(60_000).default(1000),
        label: 'SQPOLL idle', unit: 'ms', help: 'How long the SQPOLL thread spins without work before it sleeps; the kernel takes 0 as 1000.',
        applies: 'new-ring', engine: true, needs: 'sqpoll', onlyWith: { path: 'server.sqpoll.enabled', value: true },
        adjusted: 'the kernel takes an idle time of 0 as its default, 1000 ms',
      }),
      shared: knob({
        workloads: ECHO_ONLY,
        engines: IO_URING_ONLY,
        schema: z.boolean().default(false),
        label: 'Shared SQPOLL', help: "With several rings, one SQPOLL thread serves them all (IORING_SETUP_ATTACH_WQ to worker 0's ring) instead of one spinning thread per ring.",
        kernel: 'Linux 5.11', applies: 'new-ring', engine: true, settings: ['ATTACH_WQ'], needs: 'attachWq',
        // One ring has no other ring to attach: the thread it would share is its own.
        onlyWith: { path: 'server.rings', atLeast: 2 },
        refusal: {
          refused: { reason: "the kernel refused to attach a ring to worker 0's SQPOLL thread; that worker runs its own", fix: 'set server.sqpoll.shared to false' },
          moot_without_sqpoll: { reason: 'there is no SQPOLL thread to share: SQPOLL is off or was refused', fix: 'enable server.sqpoll.enabled, or set server.sqpoll.shared to false' },
        },
      }),
    },
    taskrun: knob({
      engines: IO_URING_ONLY,
      schema: z.enum(['defer', 'coop', 'default']).default('defer'),
      label: 'Task run', help: 'How completion work runs: defer (DEFER_TASKRUN, on the next wait), coop (COOP_TASKRUN, no IPI), or the kernel default (IPIs). The server ring is SINGLE_ISSUER in every mode (DEFER_TASKRUN needs it).',
      kernel: 'defer: Linux 6.1; coop: Linux 5.19', applies: 'new-ring', engine: true, settings: ['DEFER_TASKRUN', 'COOP_TASKRUN', 'SINGLE_ISSUER'],
      refusal: {
        conflicts_with_sqpoll: { reason: 'SQPOLL rings take neither DEFER_TASKRUN nor COOP_TASKRUN (the SQPOLL thread runs the task work)', fix: "set server.taskrun to 'default' when server.sqpoll.enabled is true" },
        refused: { reason: 'the kernel does not offer this task-run mode', fix: "use server.taskrun 'coop' before Linux 6.1, or 'default' before 5.19" },
      },
    }),
    registeredRingFd: knob({
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'Registered ring fd', help: "Registers the server ring's fd with the kernel (io_uring_register_ring_fd), so each io_uring_enter skips the fdget/fdput of the ring's file.",
      kernel: 'Linux 5.18', applies: 'new-ring', engine: true, settings: ['REGISTERED_RING_FD'],
      refusal: {
        refused: { reason: "the kernel refused to register the ring's fd (io_uring_register_ring_fd needs Linux 5.18)", fix: 'set server.registeredRingFd to false; the ring runs the same without it, one fdget/fdput per io_uring_enter dearer' },
      },
    }),
    iopoll: knob({
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'IOPOLL', help: 'Busy-polls completions instead of interrupts; only for O_DIRECT storage on devices with poll queues — sockets refuse it.',
      kernel: 'Linux 5.1; O_DIRECT storage on a device with poll queues', applies: 'new-ring', engine: true, settings: ['IOPOLL'], needs: 'iopollSockets', needsFor: ECHO_ONLY,
      refusal: {
        refused: { reason: 'IOPOLL rings poll block devices with poll queues; the kernel refuses socket operations on them', fix: 'leave server.iopoll off for the echo workload; for networks busy-poll with NAPI (server.napiBusyPollUs; Linux 6.9, not effective on lo)' },
        // The storage workload: the host names the device in the reason (electron/host/run/storage.ts).
        no_poll_queues: { reason: 'the device accepted the IOPOLL ring and then failed the first I/O (EOPNOTSUPP): it has no poll queues; the jobs ran interrupt-driven', fix: 'NVMe: boot with nvme.poll_queues=N on the kernel command line; virtio-blk and most other devices have none; else set server.iopoll to false' },
      },
      exports: { fio: (v) => (v ? { options: { hipri: 1 } } : {}) },
    }),
    multishot: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.boolean().default(true),
      label: 'Multishot recv', help: 'One recv request per connection keeps posting completions as data arrives; off: a one-shot recv is armed again after every completion (one more SQE each time).',
      kernel: 'Linux 6.0', applies: 'new-ring', engine: true, settings: ['MULTISHOT_RECV'], needs: 'multishot',
    }),
    recvOnReady: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      // On by default since 2026-12-07 (Intel guest, server CPU per request under
      // bench/echo_client, 5 interleaved rounds against the armed recv it replaced): 50 × 64 KiB
      // 0.83×, 1000 × 64 KiB 0.94×, 8 × 64 KiB 0.94×, 4 KiB 0.97–0.98×, 50 × 128 B 1.00×; one
      // connection × 128 B ~1.03× (10 pairs, 1.00–1.08: an enter more per request). README:
      // "Receiving on readiness".
      schema: z.boolean().default(true),
      label: 'Receive on readiness', help: 'A POLLIN poll per connection (multishot with server.multishot) says when data is there, and the server sends its recvs inline (MSG_DONTWAIT), about 64 KiB of them per trip, each echoed at the next (one whose socket holds more waits for the rest, up to 64 KiB, so a message goes in one send). Off: an armed recv that the kernel runs from task work, up to 20 connections before the server can echo the first (at 50 × 64 KiB that cost 1.2× the CPU per request). Costs a poll completion and a recv submission per request, and at one connection an enter more. Not with SQPOLL: the kernel thread runs armed recvs by itself.',
      kernel: 'Linux 6.0 (IORING_CQE_F_SOCK_NONEMPTY)', applies: 'new-ring', engine: true, settings: ['RECV_ON_READY'],
      refusal: {
        conflicts_with_sqpoll: { reason: 'with SQPOLL the kernel thread submits on its own time, so each recv sent on readiness would wait for it (a request would wait for the thread twice); the armed recv runs in the thread by itself', fix: 'set server.recvOnReady to false when server.sqpoll.enabled is true (it is off then anyway)' },
      },
    }),
    recvBundle: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'Recv bundles', help: 'One recv completion may fill several provided buffers in a row (IORING_RECVSEND_BUNDLE): a message larger than a buffer costs one CQE instead of one per buffer.',
      kernel: 'Linux 6.10', applies: 'new-ring', engine: true, settings: ['RECV_BUNDLE'], needs: 'recvBundle',
      refusal: {
        refused: { reason: 'this kernel has no recv bundles (IORING_FEAT_RECVSEND_BUNDLE is missing)', fix: 'set server.recvBundle to false, or run Linux 6.10 or later; larger bufferRing.size gets most of the gain' },
      },
    }),
    bufferRing: {
      size: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
        // Default 64 KiB with incremental consumption (below): a 64 KiB echo is one recv and one
        // send, and small messages share buffers instead of each taking a whole one. Measured
        // (engine CPU per request, interleaved, 2 vCPUs): vs the old 2 KiB × 4096 default,
        // 64 KiB × 8 conns ~38k → ~18–20k ns, 4 KiB unchanged or better, 128 B equal.
        schema: powerOfTwo(64, 1 << 20).default(65536),
        label: 'Buffer size', unit: 'bytes', help: 'Bytes per provided receive buffer; a message larger than this spans several buffers (with incremental buffers, small messages share one).',
        applies: 'new-ring', engine: true,
      }),
      count: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
        // Default 64 × 64 KiB = 4 MiB: 16–256 measured alike within noise at 8–1000 conns ×
        // 64 KiB, and 4 MiB is half the old pool. At 1000 × 64 KiB (64 MiB in flight) the
        // pool is oversubscribed: 0.04–0.14 ENOBUFS and 0.3–0.9 re-arms per request, 1.6–2.0
        // CQEs (the starved take one-shot turns). 1024 buffers (64 MiB) take those to 0 and 1.01
        // CQEs, yet server CPU per request stayed within noise (medians of 4 interleaved pairs
        // 21.1k vs 20.9k ns) and p99 alike, so the default does not pay 16× the memory for it.
        // Which buffers the kernel fills is hotFirst's business (below), not the count's.
        schema: powerOfTwo(1, 32_768).default(64),
        label: 'Buffers', unit: 'buffers', help: 'Provided buffers in the ring; too few for the connections in flight shows as ENOBUFS re-arms.',
        kernel: 'Linux 5.19 (provided-buffer rings)', applies: 'new-ring', engine: true, settings: ['BUF_RING_ALLOC', 'BUF_RING_REGISTER'],
      }),
      hugepages: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
        schema: z.boolean().default(false),
        label: 'Huge pages', help: 'Maps the provided-buffer pool on 2 MiB huge pages (MAP_HUGETLB): fewer TLB misses on a large pool; needs reserved huge pages.',
        kernel: 'reserved huge pages (vm.nr_hugepages)', applies: 'new-ring', engine: true, settings: ['HUGEPAGES'], needs: 'hugepages',
        refusal: {
          refused: { reason: 'no free huge pages for the buffer pool (MAP_HUGETLB failed)', fix: 'reserve some: sysctl vm.nr_hugepages=N (N × 2 MiB ≥ the pools: server.rings × bufferRing.count × size, each ring\'s pool rounded up to whole 2 MiB pages)' },
        },
        exports: {
          system: (v, at) => {
            if (!v) return [];
            // Each server worker maps its own pool, rounded up to whole 2 MiB pages (native/src/core/buffer_ring.c).
            const perRing = Math.ceil((Number(at('server.bufferRing.count')) * Number(at('server.bufferRing.size'))) / (2 << 20));
            return [{ section: 'sysctl', key: 'vm.nr_hugepages', value: String(perRing * Number(at('server.rings'))), why: `at least: ${String(at('server.rings'))} ring(s) × bufferRing.count × size on 2 MiB pages`, atLeast: true }];
          },
        },
      }),
      incremental: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
        // Default on (Linux 6.12; refused and reported elsewhere): what lets 64 KiB buffers serve
        // 128 B messages without 64 KiB of pool per message.
        schema: z.boolean().default(true),
        label: 'Incremental buffers', help: 'The kernel fills each provided buffer piece by piece across receives (IOU_PBUF_RING_INC), so large buffers serve small messages without wasting the pool; a buffer goes back once its last piece is echoed.',
        kernel: 'Linux 6.12', applies: 'new-ring', engine: true, settings: ['BUF_INCREMENTAL'], needs: 'incrementalBuffers',
        refusal: {
          refused: { reason: 'the kernel refused an incremental buffer ring (IOU_PBUF_RING_INC needs Linux 6.12); the ring runs with whole buffers', fix: 'set server.bufferRing.incremental to false, or run Linux 6.12 or later; with whole buffers keep bufferRing.size near the message size' },
        },
      }),
      hotFirst: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
        // The kernel takes buffers from the ring's head and returns go to its tail, so a full
        // ring always hands out the buffer returned longest ago, the coldest in the cache
        // (64 × 64 KiB is 4 MiB against a 1 MiB L2 here). perf at 1 × 64 KiB: the recv's copy
        // 7.6–9.8k ns/request with the whole pool in the ring, 4.2–6.2k hot first, the epoll
        // engine's 4.2–5.0k. On by default since recvOnReady is: a trip takes a few buffers
        // (buffersPeak 3–5 at 50 × 64 KiB), and hot first makes them the recently used ones.
        schema: z.boolean().default(true),
        label: 'Hot buffers first', help: 'The ring holds only as many free buffers as recent cycles used (twice the most one took; all of them once a connection waits for buffers), topped up with the most recently returned first, so received data lands in buffers still in the cache. Off: every free buffer in the ring, the one returned longest ago taken first; once the pool is larger than the CPU\'s last-level cache that one is cold (a 1 GiB pool measured 2.2× the server CPU per request), and the summary warns.',
        applies: 'new-ring', engine: true,
      }),
    },
    registeredBuffers: knob({
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'Registered buffers', help: 'Also registers the receive pool with the ring (io_uring_register_buffers); zero-copy sends of one piece then go out as fixed-buffer sends, with no page pinning per send. Pins the pool (RLIMIT_MEMLOCK).',
      kernel: 'Linux 5.1; fixed-buffer sends need sendZeroCopy (6.0)', applies: 'new-ring', engine: true, settings: ['REGISTERED_BUFFERS'], needs: 'registeredBuffers',
      refusal: {
        refused: { reason: 'the kernel refused to register the buffer pool (ENOMEM: over the locked-memory limit)', fix: 'raise ulimit -l above bufferRing.count × size (or run with CAP_IPC_LOCK), or set server.registeredBuffers to false' },
      },
      exports: { fio: (v) => (v ? { options: { fixedbufs: 1 } } : {}) },
    }),
    sendZeroCopy: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'Zero-copy send', help: 'Echoes with SEND_ZC/SENDMSG_ZC: the NIC reads the buffers in place and a notification returns them. On loopback the kernel copies anyway (frames count copied sends), so it only costs here. SEND_ZCs hold at most half the buffer pool; past that sends go copying (frames count them as past budget).',
      kernel: 'Linux 6.0 (usage reports 6.2)', applies: 'new-ring', engine: true, settings: ['SEND_ZC'], needs: 'sendZeroCopy',
      refusal: {
        refused: { reason: 'this kernel has no zero-copy send opcodes (IORING_OP_SEND_ZC / SENDMSG_ZC)', fix: 'set server.sendZeroCopy to false, or run Linux 6.1 or later' },
      },
    }),
    quietSends: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.boolean().default(true),
      label: 'Quiet sends', help: 'Sends go MSG_DONTWAIT | MSG_WAITALL with IOSQE_CQE_SKIP_SUCCESS: issued inline, each has ended when the enter that took it returns, and only one that fell short (socket full) posts a CQE. One CQE per request instead of two, and a lone connection waits in the enter that sends its echo (one enter per request instead of two). The kernel view then sees no SEND completions.',
      kernel: 'Linux 5.17 (IORING_FEAT_CQE_SKIP), checked by behaviour at start', applies: 'new-ring', engine: true, settings: ['QUIET_SENDS'],
      refusal: {
        refused: { reason: 'this kernel does not keep the quiet-send contract (a full socket must fail a MSG_DONTWAIT send at once, a short one must report its bytes, a whole one post no CQE): every send posts its CQE', fix: 'nothing to do: the server runs with plain sends; set server.quietSends to false to say so, or run Linux 6.1 or later' },
        conflicts_with_sqpoll: { reason: 'with SQPOLL the kernel thread submits on its own time, so a send that posts no CQE cannot be known to have ended', fix: 'set server.quietSends to false when server.sqpoll.enabled is true (it is off then anyway)' },
      },
    }),
    directDescriptors: knob({
      engines: IO_URING_ONLY,
      schema: z.boolean().default(false),
      label: 'Direct descriptors', help: 'Accepts straight into a registered file table (multishot accept direct) and names sockets by index (IOSQE_FIXED_FILE): no file reference taken and dropped per operation.',
      kernel: 'Linux 5.19', applies: 'new-ring', engine: true, settings: ['DIRECT_DESCRIPTORS'], needs: 'directDescriptors',
      refusal: {
        refused: { reason: 'the kernel refused a sparse registered file table (EMFILE: larger than RLIMIT_NOFILE)', fix: 'raise ulimit -n above load.connections + 1024, or set server.directDescriptors to false' },
      },
      exports: { fio: (v) => (v ? { options: { registerfiles: 1 } } : {}) },
    }),
    napiBusyPollUs: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.number().int().min(0).max(1_000_000).default(0),
      label: 'NAPI busy poll', unit: 'µs', help: "Registers NAPI busy polling on every server ring (IORING_REGISTER_NAPI): waits poll the NIC's queues this long instead of sleeping for an interrupt. No effect on lo (loopback has no NAPI), only on a NIC or veth; 0 is off.",
      kernel: 'Linux 6.9', applies: 'new-ring', engine: true, settings: ['NAPI'], needs: 'napi',
      refusal: {
        refused: { reason: 'the kernel refused IORING_REGISTER_NAPI (it needs Linux 6.9 with CONFIG_NET_RX_BUSY_POLL, and no IOPOLL ring)', fix: 'set server.napiBusyPollUs to 0' },
      },
      exports: {
        system: (v) => (v > 0 ? [
          { section: 'sysctl', key: 'net.core.busy_poll', value: String(v), why: 'busy-poll the NIC queue this many µs in poll/select/epoll waits' },
          { section: 'sysctl', key: 'net.core.busy_read', value: String(v), why: 'and in blocking socket reads, like the ring\'s NAPI wait' },
          { section: 'cpu', key: 'force_latency', value: 'cstate.id_no_zero:1|3', why: 'busy polling is for latency: no deep C-state exits on the polling CPUs (as tuned latency-performance)' },
        ] : []),
      },
    }),
    minWaitUs: knob({
      workloads: ECHO_ONLY,
      engines: IO_URING_ONLY,
      schema: z.number().int().min(0).max(1_000_000).default(0),
      label: 'Minimum wait', unit: 'µs', help: 'After a reap that gave 4 or more connections data (fewer than half of those open), the serve loop waits for a whole batch but returns once this long has passed with at least one (min_wait_usec): fewer io_uring_enter calls, up to this much latency added; with one or a few connections (8 or fewer), large echoes included, or connections starved of buffers the loop waits as without it; 0 is off.',
      kernel: 'Linux 6.12', applies: 'new-ring', engine: true, settings: ['MIN_WAIT'], needs: 'minWait',
      refusal: {
        refused: { reason: 'this kernel has no minimum wait (IORING_FEAT_MIN_TIMEOUT arrived in Linux 6.12)', fix: 'set server.minWaitUs to 0' },
      },
    }),
    numa: {
      node: knob({
        workloads: ECHO_ONLY,
        schema: z.number().int().min(0).max(1023).nullable().default(null),
        label: 'NUMA node', help: "Binds each server worker's memory (ring, buffers, connection state) to this node with set_mempolicy before first touch, and pins the workers to its CPUs unless NUMA CPUs are given; empty: no binding.",
        applies: 'new-ring', engine: true, settings: ['NUMA_NODE'], needs: 'numaNodes',
        refusal: {
          refused: { reason: "the kernel refused to bind the worker's memory to that node", fix: 'pick a node `uring-lab doctor` lists, or leave server.numa.node empty' },
        },
        exports: {
          // A storage run's jobs are not the server's workers: nothing of this in their job.
          fio: (v, at) => (at('workload') !== 'echo' ? null : v === null ? {} : { options: { numa_cpu_nodes: v, numa_mem_policy: `bind:${v}` } }),
          system: (v) => (v === null ? [] : [{ section: 'sysctl', key: 'kernel.numa_balancing', value: '0', why: 'no NUMA-balancing faults and migrations on the bound workers (as tuned network-latency)' }]),
        },
      }),
      cpus: knob({
        workloads: ECHO_ONLY,
        schema: z.array(z.number().int().min(0).max(4095)).min(1).max(256).nullable().default(null),
        label: 'NUMA CPUs', unit: 'CPU', help: 'Pins server worker i to CPU cpus[i mod n] before its ring exists (an SQPOLL thread copies the affinity of the thread that creates it); empty: not pinned.',
        applies: 'new-ring', engine: true, settings: ['NUMA_CPUS'], needs: 'cpus',
        refusal: {
          refused: { reason: 'the kernel refused to pin a worker to that CPU', fix: 'pick CPUs this process may run on (`uring-lab doctor`), or leave server.numa.cpus empty' },
        },
        // The server ring's pinning becomes the job's in an echo profile's storage analogue; a
        // storage profile's jobs are pinned by load.cpus.
        exports: { fio: (v, at) => (at('workload') !== 'echo' ? null : v === null ? {} : { options: { cpus_allowed: v.join(','), cpus_allowed_policy: 'split' } }) },
      }),
    },
    // Socket options of every worker's listener, set before listen() so the accepted sockets
    // inherit them: both engines, and direct descriptors (which have no fd to set them on).
    socket: {
      congestion: knob({
        workloads: ECHO_ONLY,
        // TCP_CA_NAME_MAX is 16 with its NUL; the names the kernel registers are lower case.
        schema: z.string().regex(/^[a-z0-9_-]{1,15}$/, 'a congestion control name: 1 to 15 of a-z, 0-9, _ and - (such as cubic, bbr, reno)').nullable().default(null),
        label: 'TCP congestion control', help: "The congestion control of the server's connections (TCP_CONGESTION on the listener, inherited by each accepted socket), for the echoes it sends: cubic, bbr, reno, dctcp …; empty: the system's net.ipv4.tcp_congestion_control. `uring-lab doctor` lists the ones this kernel has and allows.",
        kernel: 'a tcp_NAME module (root loads it on demand); outside net.ipv4.tcp_allowed_congestion_control needs CAP_NET_ADMIN', applies: 'new-ring', engine: true, settings: ['TCP_CONGESTION'],
        refusal: {
          refused: { reason: 'the kernel refused this congestion control (ENOENT: it has no tcp_NAME module; EPERM: the name is outside net.ipv4.tcp_allowed_congestion_control and the process lacks CAP_NET_ADMIN); the connections ran with the system default', fix: 'pick one `uring-lab doctor` lists as available (allowed, without root), load it (modprobe tcp_NAME), or leave server.socket.congestion unset (null, the system default)' },
        },
        exports: {
          system: (v) => (v === null ? [] : [{ section: 'sysctl', key: 'net.ipv4.tcp_congestion_control', value: v, why: 'the same congestion control for every new TCP connection of the machine' }]),
        },
      }),
      receiveBufferBytes: socketBufferKnob({
        label: 'Socket receive buffer', option: 'SO_RCVBUF', cap: 'net.core.rmem_max',
        help: "SO_RCVBUF of the server's connections (set on the listener before listen(), so the window scale of each handshake follows it): fixes the buffer and turns off the kernel's receive autotuning (net.ipv4.tcp_rmem); the kernel doubles it for bookkeeping and raises it to its floor of a few KiB. Empty: autotuned.",
      }),
      sendBufferBytes: socketBufferKnob({
        label: 'Socket send buffer', option: 'SO_SNDBUF', cap: 'net.core.wmem_max',
        help: "SO_SNDBUF of the server's connections (set on the listener, inherited by each accepted socket): fixes the buffer and turns off the kernel's send autotuning (net.ipv4.tcp_wmem); one that cannot hold an echo makes each wait for the peer's delayed ACKs. Empty: autotuned.",
      }),
    },
  },
  load: {
    mode: knob({
      workloads: ECHO_ONLY,
      schema: z.enum(['closed', 'open']).default('closed'),
      label: 'Load mode', help: 'closed: each connection keeps load.pipeline messages outstanding, sending the next when one comes back. open: load.rateRps requests per second on a fixed schedule (like wrk2), latency measured from each request\'s intended send time, so a stalled server shows as latency, not as a lower rate.',
      applies: 'new-ring', engine: true,
    }),
    pipeline: knob({
      workloads: ECHO_ONLY,
      schema: z.number().int().min(1).max(1024).default(1),
      label: 'Pipeline', help: 'Messages outstanding per connection (closed loop), or at most outstanding per connection (open loop: a request due while its connection has this many out waits, still timed from its intended send time). Echoes come back in order and every byte is checked.',
      applies: 'new-ring', engine: true,
    }),
    rateRps: knob({
      workloads: ECHO_ONLY,
      schema: z.number().min(1).max(10_000_000).nullable().default(null),
      label: 'Open-loop rate (requests/s)', help: 'Open loop only (required there): requests per second over all connections, request i of a thread intended at start + i / its share of the rate; empty for a closed loop.',
      applies: 'new-ring', engine: true, onlyWith: { path: 'load.mode', value: 'open' },
    }),
    cpus: knob({
      schema: z.array(z.number().int().min(0).max(4095)).min(1).max(64).nullable().default(null),
      label: 'Load CPUs', unit: 'CPU', help: 'Pins load thread i (a storage run: job i) to CPU cpus[i mod n] before its ring exists (keep the generator off the server\'s CPUs); while the run runs the lab\'s own threads (engine and host bookkeeping) keep off these CPUs where others are allowed; empty: not pinned.',
      applies: 'new-ring', engine: true, settings: ['LOAD_CPU'], needs: 'cpus',
      // A storage profile's jobs are fio's jobs; an echo load has no fio analogue.
      exports: { fio: (v, at) => (at('workload') !== 'storage' ? null : v === null ? {} : { options: { cpus_allowed: v.join(','), cpus_allowed_policy: 'split' } }) },
    }),
    timeoutMs: knob({
      workloads: ECHO_ONLY,
      schema: z.number().int().min(0).max(3_600_000).default(5000),
      label: 'Request timeout', unit: 'ms', help: 'A request unanswered this long after it was sent counts as a timeout (reported apart from errors) and its connection is abandoned, so a wedged server ends in a result instead of a hang; an open loop\'s queueing before the send is latency, not timeout. 0: never.',
      applies: 'new-ring', engine: true,
    }),
    connections: knob({
      workloads: ECHO_ONLY,
      schema: z.number().int().min(1).max(4096).default(50),
      label: 'Connections', unit: 'connections', help: 'Load connections, each with one message in flight.',
      applies: 'new-ring', engine: true, settings: ['LOAD_SOCKET', 'LOAD_CONNECT', 'FD_LIMIT'],
    }),
    messageBytes: knob({
      workloads: ECHO_ONLY,
      schema: z.number().int().min(1).max(1 << 20).default(128),
      label: 'Message size', unit: 'bytes', help: 'Bytes per echoed message; every byte is checked on its way back.',
      applies: 'new-ring', engine: true, settings: ['LOAD_ALLOC'],
    }),
    threads: knob({
      schema: z.number().int().min(1).max(64).default(1),
      label: 'Load threads', unit: 'threads', help: 'Load generator threads, each with its own ring and share of the connections.',
      applies: 'new-ring', engine: true, settings: ['LOAD_THREAD', 'LOAD_RING_SETUP'],
      exports: { fio: (v, at) => (at('workload') === 'storage' ? { options: { numjobs: v } } : null) },
    }),
  },
  storage: {
    // The storage workload (workload: 'storage'): fio's terms where fio has one (bs, rw, iodepth,
    // direct, size, filename), so an export to fio can translate them one to one.
    path: knob({
      workloads: STORAGE_ONLY,
      schema: z.string().min(1).max(4000).nullable().default(null),
      label: 'Storage path', help: "The file or block device the jobs read or write (fio's filename); unset (null, an empty field): a test file the lab creates in its data directory, fills with its pattern and deletes after the run. A file you name is read-only unless the pattern writes; a device needs storage.allowDevice.",
      applies: 'new-ring', engine: true, settings: ['STORAGE_OPEN', 'STORAGE_FILL', 'STORAGE_IO'],
      exports: { fio: (v) => (v === null ? { note: 'storage.path empty: fio makes a test file of its own per job in the current directory' } : { options: { filename: v.replace(/:/g, '\\:') } }) },
    }),
    fileSizeMiB: knob({
      workloads: STORAGE_ONLY,
      schema: z.number().int().min(1).max(1 << 20).default(1024),
      label: 'File size', help: "The region used, from offset 0 (fio's size): the lab's test file is made this large; a file or device you name is used up to this size and never extended.",
      applies: 'new-ring', engine: true,
      exports: { fio: (v) => ({ options: { size: `${v}M` } }) },
    }),
    blockBytes: knob({
      workloads: STORAGE_ONLY,
      schema: z.number().int().min(512).max(1 << 24).refine((n) => n % 512 === 0, 'must be a multiple of 512').meta({ multipleOf: 512 }).default(4096),
      label: 'Block size', unit: 'bytes', help: "Bytes per read or write (fio's bs); with O_DIRECT a multiple of the device's logical block size.",
      applies: 'new-ring', engine: true,
      exports: { fio: (v) => ({ options: { bs: v } }) },
    }),
    pattern: knob({
      workloads: STORAGE_ONLY,
      schema: z.enum(['randread', 'read', 'randwrite', 'write']).default('randread'),
      label: 'Pattern', help: "fio's rw: random or sequential reads or writes. Reads of the lab's test file are checked block by block; writes write the lab's pattern.",
      applies: 'new-ring', engine: true,
      exports: { fio: (v, at) => ({ options: { rw: v }, note: (v === 'write' || v === 'randwrite') && at('storage.path') !== null ? 'this job WRITES to its filename: fio, unlike uring-lab, does not refuse a mounted or swapped-on device' : undefined }) },
    }),
    queueDepth: knob({
      workloads: STORAGE_ONLY,
      schema: z.number().int().min(1).max(4096).default(32),
      label: 'Queue depth', unit: 'entries', help: "I/Os in flight per job (fio's iodepth); load.threads is the number of jobs (fio's numjobs), each with the whole queue depth.",
      applies: 'new-ring', engine: true,
      exports: { fio: (v) => ({ options: { iodepth: v } }) },
    }),
    submitBatch: knob({
      workloads: STORAGE_ONLY,
      schema: z.number().int().min(1).max(4096).default(1),
      label: 'Submit batch', unit: 'entries', help: "I/Os a job hands the kernel per io_uring_enter at most (fio's iodepth_batch_submit; above storage.queueDepth it is the queue depth). 1, fio's default: each I/O is submitted as soon as its slot is free. Larger batches take fewer system calls, but the block layer gets each batch as one plugged list: on a virtio disk, randread 4 KiB QD 32 with batches as large as the reap made them ran 15–18 % below fio (npm run bench:storage).",
      applies: 'new-ring', engine: true,
      exports: { fio: (v) => ({ options: { iodepth_batch_submit: v } }) },
    }),
    direct: knob({
      workloads: STORAGE_ONLY,
      schema: z.boolean().default(true),
      label: 'O_DIRECT', help: 'Opens the target with O_DIRECT, bypassing the page cache (fio direct=1); IOPOLL needs it.',
      applies: 'new-ring', engine: true,
      exports: { fio: (v) => ({ options: { direct: v ? 1 : 0 } }) },
    }),
    keep: knob({
      workloads: STORAGE_ONLY,
      schema: z.boolean().default(false),
      label: 'Keep test file', help: "Keeps the lab's test file after a run that started (renamed kept-<time>.dat in the lab's data directory, so the next run's clean-up of leftovers leaves it alone; the summary names it); a file you named is never deleted either way.",
      applies: 'next-run', engine: false,
    }),
    allowDevice: knob({
      workloads: STORAGE_ONLY,
      schema: z.boolean().default(false),
      label: 'Allow device', help: 'Lets storage.path name a block device; writes to a device that is mounted, swapped on or held by another device are still refused.',
      applies: 'new-ring', engine: false,
    }),
  },
  probes: {
    enabled: knob({
      schema: z.boolean().default(true),
      label: 'eBPF probes', help: 'Attach the eBPF probes (io_uring in-kernel latency and calls, run-queue latency, SQPOLL CPU, network softirqs, TCP retransmits and drops) to the engine while the lab runs; each frame carries their counts. Needs root or CAP_BPF+CAP_PERFMON (or the probe helper); a probe that cannot attach says why and the run goes on. Their measured cost is in the summary.',
      applies: 'next-run', engine: false,
    }),
    perRequest: knob({
      schema: z.boolean().default(true),
      label: 'Per-request probes', help: 'Also attach the probes that run on every request or packet: io_uring in-kernel latency per opcode and network softirq time. Attached all the time they cost over 1 µs of CPU per request (at 50 × 128 B: −25…−38 % throughput), so they are time-sampled: attached probes.perRequestDuty of the time, one short window per period at a random offset, and their counts and histograms say which share of the time they saw. Every probe together, time-sampled, measured −1.0…−1.6 % throughput and −1.0…+2.8 % p99 at 50 × 128 B (npm run bench:probes; README: eBPF probes). Compare runs with the same setting.',
      applies: 'next-run', engine: false,
    }),
    perRequestDuty: knob({
      schema: z.number().min(PER_REQUEST_DUTY_MIN).max(1).default(PER_REQUEST_DUTY_DEFAULT),
      label: 'Per-request duty', help: `The fraction of the time the per-request probes are attached (with probes.perRequest): one window per period (100 ms, longer where attaching costs more, up to 5 s: ~4.6 s in a 2-vCPU VM) at a random offset, so it never locks to a rhythm of the workload; detached, their tracepoints cost nothing. Their counts and latency histograms are of the observed time only, and the panels say which share that was. Default ${PER_REQUEST_DUTY_DEFAULT} (measured: npm run bench:probes -- --per-request --duty …; README: eBPF probes); 1: always attached (exact counts, over 1 µs of CPU per request).`,
      applies: 'next-run', engine: false,
    }),
  },
  diagnose: {
    profileHz: knob({
      schema: z.number().int().min(0).max(999).default(PROFILE_HZ_DEFAULT),
      label: 'Stack sampling', unit: 'Hz', help: `On-CPU stack samples per second per CPU of the engine's threads (a BPF program on the cpu-clock software event; with probes.enabled), folded per phase and per spike into flame graphs. Default ${PROFILE_HZ_DEFAULT} Hz, as BCC's profile: off the timer's beat, and ~60 % of 99 Hz's cost on the CPUs the run measures (a sample unwinds a kernel stack: 19–41 µs in this 2-vCPU VM; README: eBPF probes); raise it for more samples per spike (~${Math.round(PROFILE_HZ_DEFAULT / 10)} per busy CPU in a 100 ms frame). 0: off.`,
      applies: 'next-run', engine: false,
    }),
    offCpuMinUs: knob({
      schema: z.number().int().min(1).max(60_000_000).default(1000),
      label: 'Off-CPU threshold', unit: 'µs', help: 'Blocks of the engine\'s threads at least this long (not runnable: waiting, sleeping) are recorded with the kernel stack they blocked in (with probes.enabled); shorter ones are not, which keeps the probe cheap.',
      applies: 'next-run', engine: false,
    }),
    inject: knob({
      schema: z.array(InjectionSchema).max(64).superRefine(refuseOverlaps).default([]),
      label: 'Fault injections', panel: 'chaos',
      help: `Faults the lab injects into its own run to teach and to calibrate spike attribution, each at atMs (ms since the run started, warm-up included) for durationMs: ${INJECTION_KINDS.join(', ')}. Bounded and cleaned up on stop and on a crash. CLI: uring-lab run --inject cpuHog@4s:1s (repeatable; appended to these). One that the run does not reach is reported not applied; two of the same kind may not overlap.`,
      applies: 'next-run', engine: false,
    }),
  },
  duration: {
    warmupS: knob({
      schema: z.number().min(0).max(600).default(1),
      label: 'Warm-up', unit: 's', help: 'Seconds drawn but not counted, so caches, the scheduler and TCP settle first.',
      applies: 'next-run', engine: false,
      exports: { fio: (v) => ({ options: { ramp_time: `${Math.round(v * 1000)}ms` } }) },
    }),
    measureS: knob({
      schema: z.number().min(0.1).max(3600).default(10),
      label: 'Measured', unit: 's', help: 'Seconds counted in the summary after the warm-up; the run then stops by itself (the CLI, A/B rounds, and the app when its Duration choice is "Warm-up + measured, then stop"; by default the app runs until Stop).',
      applies: 'next-run', engine: false,
      exports: { fio: (v) => ({ options: { time_based: 1, runtime: `${Math.round(v * 1000)}ms` } }) },
    }),
  },
} as const;

/** Two injections of the same kind at once would be one fault with two reports: refused, naming
 *  the later one (`diagnose.inject[i]`) and what to do. */
function refuseOverlaps(list: Injection[], ctx: z.RefinementCtx): void {
  list.forEach((b, j) => {
    const i = list.findIndex((a, k) => k < j && a.kind === b.kind && a.atMs < b.atMs + b.durationMs && b.atMs < a.atMs + a.durationMs);
    if (i < 0) return;
    const a = list[i]!;
    ctx.addIssue({
      code: 'custom', path: [j],
      message: `diagnose.inject[${j}] (${b.kind} at ${b.atMs} ms for ${b.durationMs} ms) overlaps diagnose.inject[${i}] (${a.kind} at ${a.atMs} ms for ${a.durationMs} ms)`,
      params: { field: `diagnose.inject[${j}]`, fix: `start it at ${a.atMs + a.durationMs} ms or later, or remove one of the two` },
    });
  });
}

export type KnobTree = { readonly [key: string]: KnobRow | KnobTree };

function isRow(node: KnobRow | KnobTree): node is KnobRow {
  return typeof (node as KnobRow).label === 'string' && (node as KnobRow).schema instanceof z.ZodType;
}

/** A catalogue row with its dotted profile path. */
export type KnobEntry = KnobRow & { path: string };

/** Every row in catalogue order, with its path. */
export function knobEntries(tree: KnobTree = KNOBS, prefix = ''): KnobEntry[] {
  const entries: KnobEntry[] = [];
  for (const [key, node] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isRow(node)) entries.push({ ...node, path });
    else entries.push(...knobEntries(node, path));
  }
  return entries;
}

const BY_PATH = new Map(knobEntries().map((entry) => [entry.path, entry]));

/** The row of a dotted path, or undefined. */
export function knobAt(path: string): KnobEntry | undefined {
  return BY_PATH.get(path);
}

/** The row that owns a native setup flag or step (e.g. 'SQPOLL', 'BUF_RING_REGISTER'). */
export function knobForSetting(setting: string): KnobEntry | undefined {
  for (const entry of BY_PATH.values()) if (entry.settings?.includes(setting)) return entry;
  return undefined;
}

/** The label of a path for people ("SQPOLL"), falling back to the path itself. */
export function knobLabel(path: string): string {
  return BY_PATH.get(path)?.label ?? path;
}

/**
 * A knob that takes a list of CPUs (server.numa.cpus, load.cpus): `--set` and the knob panel
 * also take it as a CPU list typed as taskset -c takes one ("0-3,8"), shown the same way.
 */
export function isCpuListKnob(path: string): boolean {
  const row = BY_PATH.get(path);
  return row?.unit === 'CPU' && row.schema.safeParse([0]).success;
}

/** A value in a knob's unit, for a label or a summary line. */
export function formatKnobValue(path: string, value: unknown): string {
  const row = BY_PATH.get(path);
  if (value === null || value === undefined) return row?.unit === 'CPU' ? 'any' : 'none';
  if (Array.isArray(value) && value.every((v) => typeof v === 'number') && isCpuListKnob(path)) return formatCpuSequence(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number' && row?.unit) {
    // "Connections 50", not "Connections 50 connections": the label already names the unit.
    const labelSaysUnit = row.label.toLowerCase().split(' ').pop() === row.unit.toLowerCase();
    return labelSaysUnit ? value.toLocaleString('en-US') : `${value.toLocaleString('en-US')} ${row.unit === 'bytes' ? 'B' : row.unit}`;
  }
  return String(value);
}

// ---- the profile's schema, derived from the catalogue ---------------------------------

type ShapeOf<T> = { -readonly [K in keyof T]: T[K] extends KnobRow<infer S> ? S : z.ZodPrefault<z.ZodObject<ShapeOf<T[K]>, z.core.$strict>> };

/** Nested strict objects following the catalogue; every level defaults from `{}`. */
export function schemaShape<T extends KnobTree>(tree: T): ShapeOf<T> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, node] of Object.entries(tree)) {
    shape[key] = isRow(node) ? node.schema : z.strictObject(schemaShape(node)).prefault({});
  }
  return shape as ShapeOf<T>;
}
