/**
 * RunSummary.profiles: the on-CPU stack samples of the engine's threads summed per phase over the
 * measured frames, and the off-CPU blocks of the whole measured window by thread and kernel
 * stack (offcputime-style). Summed as frames come (bounded by the number of distinct stacks, not
 * the run's length); the summary keeps the heaviest PROFILE_TOP_STACKS per phase so a long run's
 * summary stays a few hundred kB at most.
 */
import { WORKER_THREAD_PREFIXES, type FoldedStack, type Profiles, type RunFrame } from '../../contract';

export const PROFILE_TOP_STACKS = 200;

/** Whether a folded stack's first frame (its thread) is one of the engine's worker threads. */
const isWorkerStack = (stack: string) => WORKER_THREAD_PREFIXES.some((p) => stack.startsWith(p));

/** The heaviest `limit` folded stacks, largest first (ties by name: a stable order). */
export function topStacks(counts: ReadonlyMap<string, number>, limit = PROFILE_TOP_STACKS): FoldedStack[] {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
}

/** Folded stacks of a set of frames, summed. */
export function foldedOf(frames: readonly RunFrame[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const f of frames) for (const [stack, n] of f.kernel?.profile?.folded ?? []) counts.set(stack, (counts.get(stack) ?? 0) + n);
  return counts;
}

export class ProfileAccumulator {
  private readonly phases = new Map<number, { samples: number; folded: Map<string, number> }>();
  private readonly offCpu = new Map<string, { thread: string; stack: string; ms: number }>();
  private hz = 0;
  private samples = 0;
  private lost = 0;
  private workerSamples = 0;
  private workerCpuNs = 0;
  private seen = false;

  /** Counts one measured frame. */
  add(frame: RunFrame): void {
    const profile = frame.kernel?.profile;
    if (profile) {
      this.seen = true;
      this.hz = profile.hz;
      this.samples += profile.samples;
      this.lost += profile.lost;
      const phase = this.phases.get(frame.phase) ?? { samples: 0, folded: new Map<string, number>() };
      phase.samples += profile.samples;
      for (const [stack, n] of profile.folded) {
        phase.folded.set(stack, (phase.folded.get(stack) ?? 0) + n);
        if (isWorkerStack(stack)) this.workerSamples += n;
      }
      this.phases.set(frame.phase, phase);
      this.workerCpuNs += frame.serverCpuNs + frame.loadCpuNs;
    }
    const off = frame.kernel?.offCpu;
    if (off) {
      this.seen = true;
      for (const e of off.events) {
        const key = `${e.comm}\u0000${e.stack}`;
        const block = this.offCpu.get(key) ?? { thread: e.comm, stack: e.stack, ms: 0 };
        block.ms += e.offMs;
        this.offCpu.set(key, block);
      }
    }
  }

  /** Null when no frame carried a profile or off-CPU data (profiling off or not attached). */
  profiles(): Profiles | null {
    if (!this.seen) return null;
    return {
      hz: this.hz,
      samples: this.samples,
      lostSamples: this.lost,
      sampledShare: this.workerCpuNs > 0 && this.hz > 0 ? Math.round((this.workerSamples / ((this.workerCpuNs / 1e9) * this.hz)) * 1000) / 1000 : null,
      phases: [...this.phases].sort((a, b) => a[0] - b[0]).map(([phase, p]) => ({ phase, samples: p.samples, folded: topStacks(p.folded) })),
      offCpu: [...this.offCpu.values()].sort((a, b) => b.ms - a.ms).slice(0, PROFILE_TOP_STACKS).map((b) => ({ ...b, ms: Math.round(b.ms * 1000) / 1000 })),
    };
  }
}
