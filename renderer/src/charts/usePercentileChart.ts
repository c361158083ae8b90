/**
 * Binds the percentile plot (percentileOption.ts) to an ECharts instance and the per-phase rows.
 */
import { watch, type Ref } from 'vue';
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
  watch(phases, () => chart.scheduleDraw());
}
