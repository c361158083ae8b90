/** The descriptors a run's eBPF probes hold in the engine process (its start's RLIMIT_NOFILE check where the limit kept them out, and the doctor). */
import os from 'node:os';

/**
 * The descriptors the eBPF probes hold in the engine process once attached: every probe's maps,
 * programs and links (91 with all of them on 6.18 with 2 CPUs: 39 maps, 30 programs, 19 links and
 * the ring buffer's epoll) and a perf event per CPU for the sampled ones. The start's
 * RLIMIT_NOFILE check counts them: without them `ulimit -n 157` (the limit the error asked for)
 * failed again, asking 234, then 237, while the probes took the rest.
 */
export function probeFdReserve(probesEnabled: boolean): number {
  return probesEnabled ? 100 + 4 * os.cpus().length : 0;
}

