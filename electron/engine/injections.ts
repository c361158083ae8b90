/**
 * Fault injection's schedule in the engine process (issue 12's chaos panel): each requested
 * injection starts at its atMs on the run's clock through the native addon (injectStart), ends
 * by itself after durationMs (the native side enforces the deadline), or at the engine's stop
 * (injectStopAll). What happened to each one goes to the host with every snapshot, so the host
 * holds the latest state even if the engine dies; it ends in RunSummary.injections.
 *
 * A phase change restarts the engine: the host sends the injections not yet begun again with
 * the run's time origin (runT0Ns), so the schedule stays on the run's clock across phases. An
 * injection running when its phase stops is ended there (its endedAtMs says when).
 */
import type { Injection, InjectionResult, InjectionKind } from '../contract/diagnose';

/** The native addon's fault-injection API (native/index.d.ts, "Fault injection"); optional
 *  because an addon built before it lacks the functions. */
export interface NativeInjectApi {
  injectStart?(options: { kind: InjectionKind; durationMs: number; cpus: number[] }): { id: number; kind: InjectionKind; pids: number[]; detail: string };
  injectStopAll?(): void;
  injectActive?(): { id: number; kind: InjectionKind; pids: number[]; endsInMs: number }[];
}

/** One requested injection with its place in the request (the profile's diagnose.inject order). */
export interface IndexedInjection { index: number; injection: Injection }
/** Its outcome, with the same index. */
export type IndexedInjectionResult = InjectionResult & { index: number };

/** What a run's engine start needs for issue 12 (the start message's `diagnose`). */
export interface DiagnoseRequest {
  /** On-CPU sampling rate (0: off) and off-CPU threshold, for probesAttach (when probes are on). */
  profileHz: number;
  offCpuMinUs: number;
  /** The injections not begun yet (all of them at the run's start). */
  injections: IndexedInjection[];
  /** CLOCK_MONOTONIC ns of the run's time origin; null at the run's first start (the engine's
   *  own baseline is the origin then, as it is the host's). */
  runT0Ns: number | null;
}

export const NOT_REACHED = { reason: 'the run ended before it was due', fix: 'schedule it before the run ends' } as const;
export const NO_NATIVE_INJECT = { reason: 'this build of the native addon has no fault injection', fix: 'rebuild it: npm run build:native' } as const;

/** The outcome of an injection that never started because the run ended first. */
export function notReached(index: number, injection: Injection): IndexedInjectionResult {
  return { index, ...injection, applied: false, startedAtMs: null, endedAtMs: null, detail: null, refusal: { ...NOT_REACHED } };
}

/** When the native deadline passed but the injection still shows active, look again this soon. */
const END_POLL_MS = 5;

export class InjectionSchedule {
  private readonly results = new Map<number, IndexedInjectionResult>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly requested: readonly IndexedInjection[],
    /** The engine's CPUs: hogs and extra traffic are pinned to them. */
    private readonly cpus: number[],
    private readonly native: NativeInjectApi,
    /** ms since the run started, now. */
    private readonly nowMs: () => number,
  ) {}

  /** Arms a timer per injection (one due already starts at once). */
  start(): void {
    for (const r of this.requested) this.beginAt(r);
  }

  /** A timer can fire up to a millisecond before its time on the run's clock (libuv counts
   *  whole ms from its cached loop time): one that is early waits again, so no injection ever
   *  starts before its atMs. */
  private beginAt(r: IndexedInjection): void {
    const delay = r.injection.atMs - this.nowMs();
    if (delay > 0) this.later(Math.ceil(delay), () => this.beginAt(r));
    else this.begin(r);
  }

  /** Ends what runs (its endedAtMs: now), drops what has not begun (reported by the host as
   *  not reached, or sent again at the next phase) and returns the outcomes so far. */
  stop(): IndexedInjectionResult[] {
    if (this.stopped) return this.outcomes();
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const now = this.nowMs();
    if ([...this.results.values()].some((r) => r.applied && r.endedAtMs === null)) {
      try { this.native.injectStopAll?.(); } catch { /* children die with PDEATHSIG anyway */ }
    }
    for (const r of this.results.values()) if (r.applied && r.endedAtMs === null) r.endedAtMs = now;
    return this.outcomes();
  }

  /** The outcomes of the injections that began or were refused, in request order. */
  outcomes(): IndexedInjectionResult[] {
    return [...this.results.values()].sort((a, b) => a.index - b.index).map((r) => ({ ...r, refusal: r.refusal && { ...r.refusal } }));
  }

  private later(ms: number, task: () => void): void {
    const timer = setTimeout(() => { this.timers.delete(timer); if (!this.stopped) task(); }, ms);
    this.timers.add(timer);
  }

  private begin({ index, injection }: IndexedInjection): void {
    const base = { index, ...injection };
    if (typeof this.native.injectStart !== 'function') {
      this.results.set(index, { ...base, applied: false, startedAtMs: null, endedAtMs: null, detail: null, refusal: { ...NO_NATIVE_INJECT } });
      return;
    }
    const startedAtMs = this.nowMs();
    try {
      const started = this.native.injectStart({ kind: injection.kind, durationMs: injection.durationMs, cpus: this.cpus });
      // The pids name what to look for (ps, /proc) while it runs; the toggles have none.
      const detail = started.pids.length > 0 ? `${started.detail}; pids ${started.pids.join(', ')}` : started.detail;
      this.results.set(index, { ...base, applied: true, startedAtMs, endedAtMs: null, detail, refusal: null });
      this.later(injection.durationMs, () => this.watchEnd(index, started.id));
    } catch (err) {
      // INJECT_REFUSED carries reason and fix apart (its message joins them).
      const e = err as { message?: string; reason?: string; fix?: string };
      this.results.set(index, {
        ...base, applied: false, startedAtMs: null, endedAtMs: null, detail: null,
        refusal: { reason: e.reason ?? e.message ?? String(err), fix: e.fix ?? 'run `uring-lab doctor`; see the injection\'s kind in the README (Fault injection)' },
      });
    }
  }

  /** Its deadline passed: it ended when the native side no longer lists it. */
  private watchEnd(index: number, id: number): void {
    const r = this.results.get(index);
    if (!r || r.endedAtMs !== null) return;
    let active = false;
    try { active = (this.native.injectActive?.() ?? []).some((a) => a.id === id); } catch { /* treat as ended */ }
    if (active) this.later(END_POLL_MS, () => this.watchEnd(index, id));
    else r.endedAtMs = this.nowMs();
  }
}

/** The start message's `diagnose` for a profile: the injections not begun yet (by request
 *  index) and the run's time origin (null at the run's first start). */
export function diagnoseRequestFor(
  diagnose: { profileHz: number; offCpuMinUs: number; inject: readonly Injection[] },
  begun: ReadonlySet<number>,
  runT0Ns: number | null,
): DiagnoseRequest {
  return {
    profileHz: diagnose.profileHz,
    offCpuMinUs: diagnose.offCpuMinUs,
    injections: diagnose.inject.map((injection, index) => ({ index, injection })).filter((r) => !begun.has(r.index)),
    runT0Ns,
  };
}
