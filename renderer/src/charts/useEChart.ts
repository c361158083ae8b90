/**
 * One ECharts instance bound to an element: created on mount with a static base option,
 * resized with its container (in the redraw's animation frame), disposed on unmount. Redraws
 * are coalesced to one per animation frame (the page's chart queue, drawScheduler.ts) and
 * merged (notMerge false) so only data changes; a redraw is applied and rendered in that
 * animation frame (ECharts' lazy update would process it in zrender's next frame and render it
 * in the one after: three frames of main-thread work for one redraw).
 */
import { onBeforeUnmount, onMounted, type Ref } from 'vue';
import { sameDeviceSize } from './chartCanvas';
import { chartDrawScheduler } from './drawScheduler';
import { echarts } from './echarts';

type ECharts = ReturnType<typeof echarts.init>;

export interface EChartHandle {
  /** Merges `option`; components listed in `replace` (e.g. ['series']) are replaced by id instead. */
  setOption(option: Record<string, unknown>, replace?: string[]): void;
  /** Requests a redraw on the next animation frame (repeated requests coalesce). */
  scheduleDraw(): void;
}

export function useEChart(el: Ref<HTMLElement | null>, baseOption: () => Record<string, unknown>, draw: () => void): EChartHandle {
  let chart: ECharts | null = null;
  let observer: ResizeObserver | null = null;
  /** The element's size as last seen; `resized`: it changed since the chart last took it. */
  let box = { width: 0, height: 0 };
  let resized = false;

  // In the page's one queue of chart redraws (drawScheduler.ts): an ECharts redraw is the
  // page's most expensive one (10–30 ms), and gets a frame of its own when the others filled it.
  const redraw = chartDrawScheduler().slot(() => {
    if (!chart) return;
    if (resized) {
      resized = false;
      chart.resize();
    }
    draw();
    chart.getZr().refreshImmediately();
  });

  const handle: EChartHandle = {
    setOption(option, replace) {
      chart?.setOption(option, { notMerge: false, lazyUpdate: false, silent: true, ...(replace ? { replaceMerge: replace } : {}) });
    },
    scheduleDraw() {
      if (chart) redraw.request();
    },
  };

  onMounted(() => {
    if (!el.value) return;
    chart = echarts.init(el.value, null, { renderer: 'canvas' });
    // zrender keeps requesting animation frames for 10 still frames after every update; with
    // no animations here one is enough (each extra frame is a full main-frame commit of the page).
    chart.getZr().setSleepAfterStill(1);
    chart.setOption(baseOption());
    box = { width: el.value.clientWidth, height: el.value.clientHeight };
    // A new size is taken in the next animation frame, with the redraw: a resize re-renders
    // the whole chart, which in the observer's callback would add to the frame whose layout
    // changed (at a run's end, the one that lays out its summary). Sub-pixel moves are no resize.
    observer = new ResizeObserver((entries) => {
      const rect = entries[entries.length - 1]!.contentRect;
      const next = { width: rect.width, height: rect.height };
      if (sameDeviceSize(box, next)) return;
      box = next;
      resized = true;
      handle.scheduleDraw();
    });
    observer.observe(el.value);
    draw();
  });

  onBeforeUnmount(() => {
    redraw.cancel();
    observer?.disconnect();
    observer = null;
    chart?.dispose();
    chart = null;
  });

  return handle;
}
