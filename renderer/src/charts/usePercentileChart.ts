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
  // A per-phase cumulative curve moves slowly: redrawn at most every PERCENTILE_REDRAW_MS
  // (the last change always drawn), which keeps its chart's full re-layout off most frames.
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  watch(phases, () => {
    if (timer) return;
    const wait = Math.max(0, last + PERCENTILE_REDRAW_MS - performance.now());
    timer = setTimeout(() => {
      timer = null;
      last = performance.now();
      chart.scheduleDraw();
    }, wait);
  });
  onBeforeUnmount(() => {
    if (timer) clearTimeout(timer);
  });
}
