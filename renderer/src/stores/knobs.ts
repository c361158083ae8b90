/**
 * The knobs, generic over the catalogue (electron/contract/knobs.ts): the profile this
 * client's next run uses (the host's; while a run goes, the run's current one), the value of
 * each setKnob in flight by path, and per path what was requested and what the kernel applied.
 */
import { defineStore } from 'pinia';
import { shallowRef } from 'vue';
import type { LabErrorData, Profile, RejectedKnob } from '../../../electron/contract';
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

  /** Per path, the change on its way and the last value entered meanwhile (sent after it). */
  const lanes = new Map<string, { sending: Promise<void>; next: { value: unknown } | null }>();
  /** Changes of the whole profile on their way (a preset or saved profile applied, an import). */
  const wholeChanges = new Set<Promise<unknown>>();

  /**
   * Resolves once every knob change asked for so far has its answer (taken or refused). A
   * start sends the page's profile: read while a change was on its way, it was the profile
   * from before it, and the run went with the value the panel already showed replaced (CI
   * caught Start right after switching to epoll running io_uring).
   */
  async function settled(): Promise<void> {
    while (lanes.size || wholeChanges.size) await Promise.allSettled([...[...lanes.values()].map((l) => l.sending), ...wholeChanges]);
  }

  /** Counts `change` (a request that replaces this client's profile) until it is answered: settled() waits for it too. */
  function track<T>(change: Promise<T>): Promise<T> {
    wholeChanges.add(change);
    const done = () => wholeChanges.delete(change);
    change.then(done, done);
    return change;
  }

  /**
   * Changes one knob: for the next run while idle; during a run this page controls, the host
   * restarts the engine with it as a new phase. A value entered while the previous change of
   * the same knob is on its way is sent once that one is answered (the last such value wins):
   * dropped, "20" entered during the restart for "10" left the run on 10 with no word. One
   * change per knob at a time keeps the host's phases in the order the user entered them.
   */
  function setKnob(path: string, value: unknown): Promise<void> {
    setPending(path, value, true);
    const lane = lanes.get(path);
    if (lane) {
      lane.next = { value };
      return lane.sending;
    }
    const fresh = { sending: Promise.resolve(), next: null as { value: unknown } | null };
    lanes.set(path, fresh);
    fresh.sending = (async () => {
      let current: { value: unknown } | null = { value };
      while (current) {
        await sendKnob(path, current.value);
        current = fresh.next;
        fresh.next = null;
      }
      lanes.delete(path);
      setPending(path, undefined, false);
    })();
    return fresh.sending;
  }

  /** The banner's error each knob's last refused change put up (cleared by its next success). */
  const refusedChange = new Map<string, LabErrorData>();

  async function sendKnob(path: string, value: unknown): Promise<void> {
    const api = conn.api();
    if (!api) return;
    try {
      const asked = run.askStatus();
      run.applyStatus(await api.setKnob({ path, value }), asked);
      // The knob took a value now: its earlier refusal, still in the banner, is history (it
      // stayed up over the success, reading as if the value shown had been refused).
      const shown = refusedChange.get(path);
      refusedChange.delete(path);
      if (shown && errors.last === shown) errors.dismiss();
    } catch (err) {
      const data = errors.report(err);
      refusedChange.set(path, data);
      if (data.code === 'NOT_CONTROLLER') await run.refreshStatus();
    }
  }

  return { profile, pending, adoptProfile, isPending, requested, applied, refusals, setKnob, settled, track };
});
