/**
 * The knobs, generic over the catalogue (electron/contract/knobs.ts): the profile this
 * client's next run uses (the host's; while a run goes, the run's current one), the value of
 * each setKnob in flight by path, and per path what was requested and what the kernel applied.
 */
import { defineStore } from 'pinia';
import { shallowRef } from 'vue';
import type { Profile, RejectedKnob } from '../../../electron/contract';
import { useConnectionStore } from './connection';
import { useErrorStore } from './errors';
import { useRunStore } from './run';

/** The value at a dotted path of a profile (undefined where there is none). */
export function valueAtPath(profile: Profile | null | undefined, path: string): unknown {
  let node: unknown = profile;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

export const useKnobsStore = defineStore('knobs', () => {
  const conn = useConnectionStore();
  const errors = useErrorStore();
  const run = useRunStore();
  /** The host's profile for this client: what the next run uses (and, while running, what was last requested). */
  const profile = shallowRef<Profile | null>(null);
  /** Values of setKnob requests in flight, by path (a value may be null: "any"). */
  const pending = shallowRef<ReadonlyMap<string, unknown>>(new Map());

  function adoptProfile(next: Profile): void {
    profile.value = next;
  }

  function isPending(path: string): boolean {
    return pending.value.has(path);
  }

  /** What the user asked for: the value in flight, else the host's profile. */
  function requested(path: string): unknown {
    return pending.value.has(path) ? pending.value.get(path) : valueAtPath(profile.value, path);
  }

  /** What the kernel applied in the current (or last) phase; null before any run. */
  function applied(path: string): unknown {
    const phase = run.phase;
    return phase ? valueAtPath(phase.applied, path) : null;
  }

  /** The refusals of `path` in the phase in effect (errno, reason, fix). */
  function refusals(path: string): RejectedKnob[] {
    return run.rejected.filter((r) => r.knob === path);
  }

  function setPending(path: string, value: unknown, inFlight: boolean): void {
    const next = new Map(pending.value);
    if (inFlight) next.set(path, value);
    else next.delete(path);
    pending.value = next;
  }

  /** The setKnob requests on their way (settled() waits for them). */
  const inFlight = new Set<Promise<void>>();

  /**
   * Resolves once every knob change sent so far has its answer (taken or refused). A start
   * sends the page's profile: read while a change was on its way, it was the profile from
   * before it, and the run went with the value the panel already showed replaced (CI caught
   * Start right after switching to epoll running io_uring).
   */
  async function settled(): Promise<void> {
    while (inFlight.size) await Promise.allSettled([...inFlight]);
  }

  /**
   * Changes one knob: for the next run while idle; during a run this page controls, the host
   * restarts the engine with it as a new phase.
   */
  function setKnob(path: string, value: unknown): Promise<void> {
    const change = sendKnob(path, value);
    inFlight.add(change);
    void change.finally(() => inFlight.delete(change));
    return change;
  }

  async function sendKnob(path: string, value: unknown): Promise<void> {
    const api = conn.api();
    if (!api) return;
    setPending(path, value, true);
    try {
      const asked = run.askStatus();
      run.applyStatus(await api.setKnob({ path, value }), asked);
    } catch (err) {
      if (errors.report(err).code === 'NOT_CONTROLLER') await run.refreshStatus();
    } finally {
      setPending(path, value, false);
    }
  }

  return { profile, pending, adoptProfile, isPending, requested, applied, refusals, setKnob, settled };
});
