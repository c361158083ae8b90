/**
 * The eBPF probes' names and the reasons the lab gives for probes it leaves out, as plain
 * constants: the engine process uses them without the contract's zod schemas (kernel.ts
 * re-exports them beside the schemas).
 */

/** The probes, in the order the lab lists them. */
export const PROBE_NAMES = ['uring_latency', 'uring_calls', 'runqueue', 'sqpoll', 'softirq', 'tcp_events', 'offcpu', 'memory', 'profile'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

/** Reason of every probe of a run with `probes.enabled` false (the probes were not asked for). */
export const PROBES_DISABLED_REASON = 'disabled by probes.enabled';

/**
 * Probes that run on every request or packet (io_uring submissions and completions, network
 * softirqs): attached all the time, even sampling inside the programs, their tracepoints cost
 * over 1 µs of CPU per request at 50 × 128 B on loopback (−25…−38 % throughput, +45…+110 % p99:
 * npm run bench:probes -- --per-request --duty 1), which would distort the very numbers the lab
 * measures. So they are time-sampled (probes.perRequestDuty in kernel.ts): attached for one short
 * window per period, detached (free) the rest of the time, and every number they give says which
 * share of the time it saw. probes.perRequest turns them on or off; the other probes fire per
 * context switch, per wait or per rare event and stay attached.
 */
export const PER_REQUEST_PROBES: readonly ProbeName[] = ['uring_latency', 'softirq'];

export const PER_REQUEST_OFF_REASON = 'a per-request probe, off (probes.perRequest is false): it runs on every request or packet, so when on it is attached only for a sampled share of the time (probes.perRequestDuty)';

/**
 * Default on-CPU stack sampling rate (diagnose.profileHz), per CPU. 49 Hz as BCC's profile: off
 * the timer's beat like 99, at ~60 % of its cost on the very CPUs a run measures. Each sample
 * unwinds a kernel stack: 19–41 µs in this VM (a few µs on bare metal), which at 99 Hz on two
 * CPUs was 0.18–0.32 % of them against 0.14–0.19 % at 49, and the lab's threads shipped,
 * recorded and attributed twice the samples (README: eBPF probes). A 100 ms spike still gets ~5
 * samples per CPU; the knob goes up to 999 for more.
 */
export const PROFILE_HZ_DEFAULT = 49;
