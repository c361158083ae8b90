/**
 * The per-phase results the phase table and the percentile plot draw: the summary's
 * `phases[].stats` once the shown run has ended, otherwise computed live from the frames
 * received (measured frames only). Recomputed at most four times a second, so the numbers
 * stay readable while frames stream in at 10 Hz.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef, watch } from 'vue';
import type { RunSummary } from '../../../electron/contract';
import { useFramesStore } from './frames';
import { phaseRowsFromSummary, phaseRowsFromTallies, type PhaseRow, type PhaseRowsSource } from './phaseRows';
import { useRunStore } from './run';

export const PHASE_RESULTS_REFRESH_MS = 250;

export const usePhaseResultsStore = defineStore('phaseResults', () => {
  const run = useRunStore();
  const frames = useFramesStore();
  const rows = shallowRef<PhaseRow[]>([]);
  const source = ref<PhaseRowsSource>('live');
  /** Run the rows belong to (null: none yet). */
  const rowsRunId = ref<string | null>(null);
  let cached: { summary: RunSummary; rows: PhaseRow[] } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastAt = -Infinity;

  function refresh(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    lastAt = Date.now();
    const summary = run.summary;
    const buffer = frames.buffer;
    // The shown run's summary when it has one; its live frames while it goes (or if it vanished);
    // with no run shown (page just opened), the host's last summary.
    if (summary && (summary.runId === run.runId || (!run.runId && !run.runLive))) {
      if (cached?.summary !== summary) cached = { summary, rows: phaseRowsFromSummary(summary) };
      rows.value = cached.rows;
      source.value = 'summary';
      rowsRunId.value = summary.runId;
    } else if (run.runId && buffer.runId === run.runId) {
      rows.value = phaseRowsFromTallies(run.phases, buffer.tallies);
      source.value = 'live';
      rowsRunId.value = run.runId;
    } else {
      rows.value = [];
      source.value = 'live';
      rowsRunId.value = run.runId;
    }
  }

  function schedule(): void {
    if (timer) return;
    const wait = Math.max(0, lastAt + PHASE_RESULTS_REFRESH_MS - Date.now());
    timer = setTimeout(refresh, wait);
  }

  watch(
    [() => frames.buffer.version.value, () => run.summary, () => run.phases, () => run.runId, () => run.runLive],
    // Run or summary switches show at once; frame-by-frame updates are throttled.
    (now, before) => (now[1] !== before[1] || now[3] !== before[3] || now[4] !== before[4] ? refresh() : schedule()),
  );
  refresh();

  return { rows, source, rowsRunId, refresh };
});
