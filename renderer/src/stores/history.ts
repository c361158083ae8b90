/**
 * Saved runs (the host's run history): the list, the run opened for replay, pin / delete /
 * export, and the two runs picked for comparison (kept in the layout store, which the A/B view
 * reads). Every answer is validated against the history contract at this edge.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { z } from 'zod';
import { LAB_METHODS, LabError, type LabApi, type LabErrorData, type LabMethod, type RunFrame } from '../../../electron/contract';
import { MAX_FRAMES_PER_GET, type GetRunResult, type RunExportFormat, type RunListRow } from '../../../electron/contract/history';
import { downloadText } from '../format/chartExport';
import { useConnectionStore } from './connection';
import { viewCalls } from './viewCalls';
import { useLayoutStore } from './layout';

/**
 * Calls a LabApi method and validates its answer with the method table's result schema (the
 * WebSocket client checks results only in development). A transport without the method (a
 * preload from another build) is refused in words instead of a TypeError.
 */
export async function callLab<M extends LabMethod>(
  api: LabApi,
  method: M,
  params: z.input<(typeof LAB_METHODS)[M]['params']>,
): Promise<z.output<(typeof LAB_METHODS)[M]['result']>> {
  const fn = (api as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') {
    throw new LabError({ code: 'UNSUPPORTED', message: `this lab host does not offer "${method}"`, fix: 'run the UI and the host from the same uring-lab version (restart `uring-lab serve` after an update)' });
  }
  const answer = await (fn as (p: unknown) => Promise<unknown>).call(api, params);
  const parsed = (LAB_METHODS[method].result as z.ZodType).safeParse(answer);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LabError({ code: 'PROTOCOL', message: `the host's answer to ${method} does not match the contract (${issue?.path.join('.') || '(root)'}: ${issue?.message})`, fix: 'run the UI and the host from the same uring-lab version' });
  }
  return parsed.data as z.output<(typeof LAB_METHODS)[M]['result']>;
}

/** Frames a replay holds at most (an hour at 10 frames/s); a longer run shows its first hour. */
export const REPLAY_MAX_FRAMES = 36_000;

/** A saved run opened for replay: its meta and its frames, as stored. */
export interface OpenedRun {
  runId: string;
  meta: GetRunResult['meta'];
  pinned: boolean;
  frames: RunFrame[];
  /** More frames are stored than the replay holds. */
  truncated: boolean;
  skippedLines: number;
}

export const useHistoryStore = defineStore('history', () => {
  const conn = useConnectionStore();
  const layout = useLayoutStore();
  const runs = shallowRef<RunListRow[]>([]);
  const total = ref(0);
  const unreadable = ref(0);
  const loading = ref(false);
  const loaded = ref(false);
  /** The last list call failed (its failure is shown): the view says the list is unknown, not
   *  "Loading…" for ever beside the error, nor "0 saved". */
  const listFailed = ref(false);
  /** Why the last list / pin / delete / export failed (shown in the view). */
  const failure = shallowRef<LabErrorData | null>(null);
  const opened = shallowRef<OpenedRun | null>(null);
  const opening = ref<string | null>(null);

  /** Saved runs beyond the newest page listed (the view says so: they were silently missing). */
  const unlisted = computed(() => Math.max(0, total.value - runs.value.length));

  /** The runs picked for comparison that are still listed. */
  const compare = computed(() => layout.compare);

  const { api: apiOrThrow, guarded } = viewCalls(() => conn.api(), failure);

  async function refresh(): Promise<void> {
    if (loading.value) return;
    loading.value = true;
    let listed = false;
    await guarded(async () => {
      const res = await callLab(apiOrThrow(), 'listRuns', { limit: 1000, offset: 0 });
      runs.value = res.runs;
      total.value = res.total;
      unreadable.value = res.unreadable;
      loaded.value = true;
      listed = true;
    });
    listFailed.value = !listed;
    loading.value = false;
  }

  /** Loads a saved run (every frame, paged) for replay. */
  async function open(runId: string): Promise<void> {
    opening.value = runId;
    await guarded(async () => {
      const api = apiOrThrow();
      // As few pages as the host allows (it may answer fewer frames than asked: nextSeq says where to go on).
      let res = await callLab(api, 'getRun', { runId, limit: Math.min(REPLAY_MAX_FRAMES, MAX_FRAMES_PER_GET) });
      const first = res;
      const frames = [...res.frames];
      let skippedLines = res.skippedLines;
      while (res.nextSeq !== null && frames.length < REPLAY_MAX_FRAMES) {
        res = await callLab(api, 'getRun', { runId, fromSeq: res.nextSeq, limit: Math.min(REPLAY_MAX_FRAMES - frames.length, MAX_FRAMES_PER_GET) });
        frames.push(...res.frames);
        skippedLines += res.skippedLines;
      }
      if (opening.value !== runId) return; // another run was asked for meanwhile
      opened.value = { runId, meta: first.meta, pinned: first.pinned, frames, truncated: res.nextSeq !== null, skippedLines };
    });
    if (opening.value === runId) opening.value = null;
    afterFailure();
  }

  function close(): void {
    opened.value = null;
    opening.value = null;
  }

  function pinned(runId: string, pin: boolean): void {
    runs.value = runs.value.map((r) => (r.runId === runId ? { ...r, pinned: pin } : r));
    if (opened.value?.runId === runId) opened.value = { ...opened.value, pinned: pin };
  }

  function deleted(runId: string): void {
    if (!runs.value.some((r) => r.runId === runId)) return;
    runs.value = runs.value.filter((r) => r.runId !== runId);
    total.value = Math.max(0, total.value - 1);
    if (opened.value?.runId === runId) close();
    if (layout.compare.includes(runId)) layout.toggleCompare(runId);
  }

  /** A run this window lists is gone (another window or `uring-lab runs delete` took it): the
   *  list is read again, so the row does not stay behind its RUN_UNKNOWN error. */
  function afterFailure(): void {
    const why = failure.value;
    if (why?.code !== 'RUN_UNKNOWN') return;
    // The list read again clears the failure; the user still sees why their click did nothing.
    void refresh().then(() => { if (!failure.value) failure.value = why; });
  }

  async function pin(runId: string, pin: boolean): Promise<void> {
    const res = await guarded(() => callLab(apiOrThrow(), 'pinRun', { runId, pinned: pin }));
    if (!res) return afterFailure();
    pinned(res.runId, res.pinned);
  }

  async function remove(runId: string): Promise<void> {
    const res = await guarded(() => callLab(apiOrThrow(), 'deleteRun', { runId }));
    if (!res) return afterFailure();
    deleted(runId);
  }

  /** Another window deleted or (un)pinned a saved run (the host's historyChanged event). */
  function handleChange(event: { runId: string; deleted: boolean; pinned: boolean | null }): void {
    if (event.deleted) deleted(event.runId);
    else if (event.pinned !== null) pinned(event.runId, event.pinned);
  }

  /** What the last export's file does not cover (its run's frames file was damaged or short), or null. */
  const exportWarning = shallowRef<string | null>(null);

  /** The host's export of a saved run, downloaded as the file it names. */
  async function exportRun(runId: string, format: RunExportFormat): Promise<void> {
    exportWarning.value = null;
    const res = await guarded(() => callLab(apiOrThrow(), 'exportRun', { runId, format }));
    if (!res) return afterFailure();
    downloadText(res.filename, res.mediaType, res.text);
    exportWarning.value = res.damaged ? `${res.filename}: ${res.damaged}` : null;
  }

  return { runs, total, unlisted, unreadable, loading, loaded, listFailed, failure, exportWarning, opened, opening, compare, refresh, open, close, pin, remove, exportRun, handleChange, toggleCompare: layout.toggleCompare };
});
