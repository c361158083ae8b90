/**
 * The per-phase results the phase table and the percentile plot draw: the summary's
 * `phases[].stats` once the shown run has ended, otherwise computed live from the frames
 * received (measured frames only). Recomputed with the other numeric readouts (frames.readout,
 * at most every READOUT_REFRESH_MS), so the numbers stay readable while frames stream in at
 * 10 Hz and every text readout changes in the same task: one re-layout and repaint of the page
 * per refresh instead of one per readout timer.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef, watch } from 'vue';
import type { RunSummary } from '../../../electron/contract';
import { useFramesStore } from './frames';
import { phaseRowsFromSummary, phaseRowsFromTallies, type PhaseRow, type PhaseRowsSource } from './phaseRows';
import { useRunStore } from './run';

export const usePhaseResultsStore = defineStore('phaseResults', () => {
  const run = useRunStore();
  const frames = useFramesStore();
  const rows = shallowRef<PhaseRow[]>([]);
  const source = ref<PhaseRowsSource>('live');
  /** Run the rows belong to (null: none yet). */
  const rowsRunId = ref<string | null>(null);
  let cached: { summary: RunSummary; rows: PhaseRow[] } | null = null;

  function refresh(): void {
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

  // Frames arrive through the throttled readout; run or summary switches show at once.
  watch([() => frames.readout, () => frames.buffer, () => run.summary, () => run.phases, () => run.runId, () => run.runLive], refresh);
  refresh();

  return { rows, source, rowsRunId, refresh };
});
