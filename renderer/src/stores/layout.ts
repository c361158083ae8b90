/**
 * What the app remembers between sessions, in localStorage: the view that was open, the
 * profile last applied (a preset's id or a saved profile's name: the host keeps the profile
 * itself, per client), the History view's compare selection, and how long Start runs (until
 * stopped, or the profile's warm-up + measured time). Not the heatmaps' "hold colour
 * scale": a hold keeps the scale of the moment it began, which a reload does not have. Read once at start, validated (a value from another version is
 * dropped field by field, never fatal), written on every change.
 */
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';
import { z } from 'zod';
import { LAB_VIEWS, type LabView } from '../views/views';

export const LAYOUT_STORAGE_KEY = 'uring-lab.layout';

const VIEW_IDS = LAB_VIEWS.map((v) => v.id) as [LabView, ...LabView[]];
export const LastProfileSchema = z.object({ kind: z.enum(['preset', 'saved', 'imported']), name: z.string().max(200) });
export type LastProfile = z.infer<typeof LastProfileSchema>;

/** Each field parsed alone: one stale field does not lose the others. */
const FIELDS = {
  view: z.enum(VIEW_IDS),
  lastProfile: LastProfileSchema.nullable(),
  compare: z.array(z.string().max(100)).max(2),
  /** 'untilStopped': Start runs until Stop (at most UNTIL_STOPPED_LIMIT_S); 'profile': for the
   *  profile's duration.warmupS + measureS, like `uring-lab run`, then stops by itself. */
  runLength: z.enum(['untilStopped', 'profile']),
} as const;
export type LayoutState = { [K in keyof typeof FIELDS]: z.infer<(typeof FIELDS)[K]> };

export const DEFAULT_LAYOUT: LayoutState = { view: 'live', lastProfile: null, compare: [], runLength: 'untilStopped' };

/** The stored layout, each field valid or its default. */
export function readLayout(storage: Pick<Storage, 'getItem'> | null): LayoutState {
  const out: LayoutState = { ...DEFAULT_LAYOUT, compare: [] };
  let raw: unknown = null;
  try {
    raw = JSON.parse(storage?.getItem(LAYOUT_STORAGE_KEY) ?? 'null');
  } catch {
    return out;
  }
  if (!raw || typeof raw !== 'object') return out;
  for (const key of Object.keys(FIELDS) as (keyof LayoutState)[]) {
    const parsed = FIELDS[key].safeParse((raw as Record<string, unknown>)[key]);
    if (parsed.success) (out as Record<string, unknown>)[key] = parsed.data;
  }
  return out;
}

export function writeLayout(storage: Pick<Storage, 'setItem'> | null, state: LayoutState): void {
  try {
    storage?.setItem(LAYOUT_STORAGE_KEY, JSON.stringify(state));
  } catch {
    // Storage full or refused: the app works, it just will not remember.
  }
}

function localStorageOrNull(): Storage | null {
  try {
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null;
  }
}

export const useLayoutStore = defineStore('layout', () => {
  const storage = localStorageOrNull();
  const initial = readLayout(storage);
  const view = ref<LabView>(initial.view);
  const lastProfile = ref<LastProfile | null>(initial.lastProfile);

  /** Two saved runs picked in History for the A/B view (oldest pick first). */
  const compare = ref<string[]>(initial.compare);
  const runLength = ref<LayoutState['runLength']>(initial.runLength);

  watch(
    [view, lastProfile, compare, runLength],
    () => writeLayout(storage, { view: view.value, lastProfile: lastProfile.value, compare: compare.value, runLength: runLength.value }),
    { deep: true },
  );

  /** Picks or unpicks a run for comparison; a third pick drops the oldest. */
  function toggleCompare(runId: string): void {
    const list = compare.value.filter((id) => id !== runId);
    if (list.length === compare.value.length) list.push(runId);
    compare.value = list.slice(-2);
  }

  return { view, lastProfile, compare, runLength, toggleCompare };
});
