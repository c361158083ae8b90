/**
 * Binds the percentile plot (percentileOption.ts) to an ECharts instance and the per-phase rows.
 */
import { onBeforeUnmount, watch, type Ref } from 'vue';

/** Least time between two redraws of the percentile plot while frames stream in. */
export const PERCENTILE_REDRAW_MS = 500;
import { buildPercentileUpdate, percentileBaseOption, type PercentileCurveInput } from './percentileOption';
import { useEChart } from './useEChart';

/** Draws one percentile curve per phase of `phases` into the chart in `el`; `drawn` gets the curve count. */
export function usePercentileChart(el: Ref<HTMLElement | null>, phases: Ref<readonly PercentileCurveInput[]>, drawn: Ref<number>): void {
  const chart = useEChart(el, percentileBaseOption, () => {
    const update = buildPercentileUpdate(phases.value);
    // Series are replaced, not merged: a new run has fewer phases than the last one.
    chart.setOption(update.option, ['series']);
    drawn.value = update.curves;
  });
  // A per-phase cumulative curve moves slowly: redrawn at most every PERCENTILE_REDRAW_MS. The
  // rows change with the numeric readouts (phaseResults), so a redraw goes into the readouts'
  // animation frame, not one where the time charts draw; a change it skipped is drawn by the
  // next one, or by a trailing timer once changes stop (the last rows always drawn).
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const draw = () => {
    last = performance.now();
    chart.scheduleDraw();
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
  });
}
