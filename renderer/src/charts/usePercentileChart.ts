/**
 * Binds the percentile plot (percentileOption.ts) to an ECharts instance and the per-phase rows.
 */
import { onBeforeUnmount, watch, type Ref } from 'vue';

/** Least time between two redraws of the percentile plot while frames stream in: every other
 *  readout refresh (a whole run's cumulative curve barely moves in a second, and each ECharts
 *  redraw is ~4 ms of the main thread plus its raster). */
export const PERCENTILE_REDRAW_MS = 1000;
/**
 * How long after the rows changed (with the readouts, halfway between two frames) the redraw
 * is requested: it gets an animation frame of its own, between the readouts' frame and the next
 * frame of the time charts. An ECharts redraw costs ~4 ms, 10–20 ms in a run's first seconds
 * (cold code, axes still moving); added to the readouts' re-layout and repaint, those were the
 * page's longest tasks while a run draws.
 */
export const PERCENTILE_OFFSET_MS = 25;
import { buildPercentileUpdate, percentileBaseOption, PERCENTILE_GRID, type PercentileCurveInput } from './percentileOption';
import { useEChart } from './useEChart';

/** Draws one percentile curve per phase of `phases` into the chart in `el`; `drawn` gets the curve count. */
export function usePercentileChart(el: Ref<HTMLElement | null>, phases: Ref<readonly PercentileCurveInput[]>, drawn: Ref<number>): void {
  const chart = useEChart(el, percentileBaseOption, () => {
    // Runs after a resize too (useEChart), so the labels are thinned for the new height.
    const plotHeight = el.value?.clientHeight ? el.value.clientHeight - PERCENTILE_GRID.top - PERCENTILE_GRID.bottom : Infinity;
    const update = buildPercentileUpdate(phases.value, plotHeight);
    // Series are replaced, not merged: a new run has fewer phases than the last one.
    chart.setOption(update.option, ['series']);
    drawn.value = update.curves;
  });
  // A per-phase cumulative curve moves slowly: redrawn at most every PERCENTILE_REDRAW_MS. The
  // rows change with the numeric readouts (phaseResults), halfway between two frames; the
  // redraw follows PERCENTILE_OFFSET_MS later, in an animation frame of its own (neither the
  // readouts' nor one where the time charts draw); a change it skipped is drawn by the next
  // one, or by a trailing timer once changes stop (the last rows always drawn).
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let offset: ReturnType<typeof setTimeout> | null = null;
  const draw = () => {
    last = performance.now();
    if (offset) return;
    offset = setTimeout(() => {
      offset = null;
      chart.scheduleDraw();
    }, PERCENTILE_OFFSET_MS);
  };
  watch(phases, () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (performance.now() - last >= PERCENTILE_REDRAW_MS) draw();
    else
      timer = setTimeout(() => {
        timer = null;
        draw();
      }, PERCENTILE_REDRAW_MS);
  });
  onBeforeUnmount(() => {
    if (timer) clearTimeout(timer);
    if (offset) clearTimeout(offset);
  });
}
