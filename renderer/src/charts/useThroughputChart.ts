/**
 * Binds the throughput chart (throughputOption.ts) to an ECharts instance and a frame buffer:
 * redrawn at most once per animation frame, when frames or phases change.
 */
import { watch, type Ref } from 'vue';
import type { Phase } from '../../../electron/contract';
import type { FrameBuffer } from '../stores/frameBuffer';
import { buildThroughputUpdate, throughputBaseOption } from './throughputOption';
import { useEChart } from './useEChart';

/** Draws `buffer` into the chart in `el`, at most once per animation frame; `drawn` gets the frame count and axis top. */
export function useThroughputChart(
  el: Ref<HTMLElement | null>,
  buffer: Readonly<Ref<FrameBuffer>>,
  phases: Ref<readonly Phase[]>,
  drawn: Ref<{ frames: number; rpsAxisMax: number }>,
  /** The throughput unit: req/s, or IOPS for a storage run. */
  unit: Ref<string>,
): void {
  const chart = useEChart(el, () => throughputBaseOption(() => unit.value), () => {
    const frames = buffer.value.snapshot().map((b) => b.frame);
    const update = buildThroughputUpdate(frames, phases.value, unit.value);
    chart.setOption(update.option);
    drawn.value = { frames: update.frames, rpsAxisMax: update.rpsAxisMax };
  });
  watch([buffer, () => buffer.value.version.value, phases, unit], () => chart.scheduleDraw());
}
