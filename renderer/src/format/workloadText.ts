/**
 * What a run's numbers are called, from its workload and load mode: an echo run counts
 * requests (req/s), a storage run I/Os (IOPS); an open loop offers load.rateRps and measures
 * latency from each request's intended send time. Read from the profile the run applied (a
 * phase's `applied`, a summary's `applied`), else the one the next run uses. Pure, no DOM.
 */
import type { Profile, RunSummary, Workload } from '../../../electron/contract';

export interface ThroughputWords {
  workload: Workload;
  /** The throughput unit: "req/s" or "IOPS". */
  unit: string;
  /** What is counted: "requests" or "I/Os". */
  noun: string;
  /** One of them, after a slash ("CPU / req", "CPU / I/O"). */
  per: string;
}

const ECHO: ThroughputWords = { workload: 'echo', unit: 'req/s', noun: 'requests', per: 'req' };
const STORAGE: ThroughputWords = { workload: 'storage', unit: 'IOPS', noun: 'I/Os', per: 'I/O' };

/** The words for a run of `profile` (null: nothing known yet, the echo workload's words). */
export function throughputWords(profile: Pick<Profile, 'workload'> | null | undefined): ThroughputWords {
  return profile?.workload === 'storage' ? STORAGE : ECHO;
}

/** A summary's words: its `storage` part says storage even where `applied` is older. */
export function summaryWords(summary: Pick<RunSummary, 'storage' | 'applied'>): ThroughputWords {
  return summary.storage ? STORAGE : throughputWords(summary.applied);
}

/**
 * The rate an open loop offers (load.rateRps) for a run of `profile`, or null: a closed loop,
 * or a storage run (its jobs keep storage.queueDepth in flight, a closed loop of their own).
 */
export function offeredRate(profile: Pick<Profile, 'workload' | 'load'> | null | undefined): number | null {
  if (!profile || profile.workload === 'storage' || profile.load.mode !== 'open') return null;
  return profile.load.rateRps ?? null;
}

/** Why open-loop latency is honest, in one sentence (shown beside the offered rate). */
export const OPEN_LOOP_LATENCY = "open loop: latency is measured from each request's intended send time, so a stall shows as latency, not as a lower rate";
