/**
 * Binds the throughput chart (throughputModel.ts + throughputPainter.ts) to a canvas and the
 * frame buffer: repainted in an animation frame (the page's chart queue, drawScheduler.ts)
 * when frames, phases, the unit or the size change; the pointer reads out the nearest frame.
 */
import { onBeforeUnmount, onMounted, shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import type { Phase } from '../../../electron/contract';
import { formatInt, formatUs } from '../format/numbers';
import type { FrameBuffer } from '../stores/frameBuffer';
import { sameDeviceSize, type PlotRect } from './chartCanvas';
import { chartDrawScheduler } from './drawScheduler';
import { buildThroughputModel, nearestPoint, type ThroughputModel } from './throughputModel';
import { paintThroughput, THROUGHPUT_PLOT } from './throughputPainter';
import { timeToX } from './timeAxis';

export interface ChartHover {
  left: number;
  top: number;
  lines: string[];
}

/** Draws `buffer` into the canvas in `el` at most once per animation frame; `drawn` gets the frame count and axis top. */
export function useThroughputChart(
  el: Ref<HTMLElement | null>,
  canvas: Ref<HTMLCanvasElement | null>,
  buffer: Readonly<Ref<FrameBuffer>>,
  phases: Ref<readonly Phase[]>,
  drawn: Ref<{ frames: number; rpsAxisMax: number }>,
  /** The throughput unit: req/s, or IOPS for a storage run. */
  unit: Ref<string>,
): { hover: ShallowRef<ChartHover | null>; onPointer: (ev: PointerEvent) => void; onLeave: () => void } {
  let model: ThroughputModel | null = null;
  let plot: PlotRect = { left: 0, top: 0, width: 0, height: 0 };
  let observer: ResizeObserver | null = null;
  /** The element's size, from the ResizeObserver: reading it while drawing would force a layout. */
  let size = { width: 0, height: 0 };
  const hover = shallowRef<ChartHover | null>(null);

  function draw() {
    const c = canvas.value;
    if (!c) return;
    const frames = buffer.value.snapshot().map((b) => b.frame);
    model = buildThroughputModel(frames, phases.value, unit.value, Math.max(0, size.width - THROUGHPUT_PLOT.left - THROUGHPUT_PLOT.right));
    plot = paintThroughput(c, size.width, size.height, model);
    if (drawn.value.frames !== model.frames || drawn.value.rpsAxisMax !== model.rpsAxisMax) drawn.value = { frames: model.frames, rpsAxisMax: model.rpsAxisMax };
  }
  // Redrawn in an animation frame, in the page's one queue of chart redraws (drawScheduler.ts).
  const redraw = chartDrawScheduler().slot(draw);
  const schedule = () => redraw.request();
  watch([buffer, () => buffer.value.version.value, phases, unit], schedule);
  onMounted(() => {
    if (el.value) {
      size = { width: el.value.clientWidth, height: el.value.clientHeight };
      observer = new ResizeObserver((entries) => {
        const box = entries[entries.length - 1]!.contentRect;
        const next = { width: box.width, height: box.height };
        const resized = !sameDeviceSize(size, next);
        size = next;
        if (resized) schedule();
      });
      observer.observe(el.value);
    }
    draw();
  });
  onBeforeUnmount(() => {
    redraw.cancel();
    observer?.disconnect();
    observer = null;
  });

  function onPointer(ev: PointerEvent) {
    const host = el.value;
    if (!host || !model || !model.frames) return;
    const box = host.getBoundingClientRect();
    const px = ev.clientX - box.left - plot.left;
    if (px < 0 || px > plot.width) {
      hover.value = null;
      return;
    }
    const t = model.window.min + (px / Math.max(1, plot.width)) * (model.window.max - model.window.min);
    const i = nearestPoint(model, t);
    if (i === null) return;
    const [pt, p99] = model.p99[i]!;
    const rps = model.rps.find((r) => r[0] === pt)?.[1];
    const short = model.short.find((s) => s.t === pt);
    const left = plot.left + timeToX(pt, model.window, plot.width);
    hover.value = {
      left: left + 14 + 230 > box.width ? left - 240 : left + 14,
      top: 8,
      lines: [
        `t = ${pt.toFixed(1)} s`,
        short ? `${short.final ? 'last frame of the engine' : 'short frame'}: ${formatInt(short.rps)} ${model.unit} over ${formatInt(short.intervalMs)} ms (off the scale)` : `throughput ${formatInt(rps ?? 0)} ${model.unit}`,
        p99 === null ? 'p99 — (none completed in this frame)' : `p99 ${formatUs(p99)}`,
      ],
    };
  }
  return { hover, onPointer, onLeave: () => (hover.value = null) };
}
