/**
 * Binds a heatmap (heatmapModel.ts + heatmapPainter.ts) to a canvas and the frame buffer:
 * repainted in an animation frame (the page's chart queue, drawScheduler.ts) when frames,
 * phases, the size or the colour-scale hold change; answers the pointer with the cell under it.
 * No chart library: one canvas, one bitmap, a few lines of text.
 */
import { onBeforeUnmount, onMounted, shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import type { Phase, Spike } from '../../../electron/contract';
import { sameMarkBoxes, spikeMarkBoxes, type SpikeMarkBox } from '../components/diagnose/causes';
import { formatInt, formatUs } from '../format/numbers';
import type { BufferedFrame, FrameBuffer } from '../stores/frameBuffer';
import { sameDeviceSize } from './chartCanvas';
import { chartDrawScheduler } from './drawScheduler';
import { heatScaleHeld } from './heatScale';
import { buildHeatmapModel, cellAt, type HeatmapModel } from './heatmapModel';
import { HEATMAP_PLOT, HeatmapPainter } from './heatmapPainter';
import type { CoarseColumn, LatencyRowLayout } from './latencyRows';
import { timeTickStep, timeWindow } from './timeAxis';

export interface HeatmapHover {
  left: number;
  top: number;
  lines: string[];
}

export interface HeatmapDrawn {
  /** Columns drawn (frames in the window) and those with data; cells painted. */
  frames: number;
  framesWithData: number;
  cells: number;
  /** Colour scale: top count, and whether it is held. */
  maxCount: number;
  held: boolean;
}

export interface HeatmapBinding {
  el: Ref<HTMLElement | null>;
  canvas: Ref<HTMLCanvasElement | null>;
  buffer: Readonly<Ref<FrameBuffer>>;
  phases: Ref<readonly Phase[]>;
  /** Which of the frame's folded histograms this heatmap draws. */
  select: (b: BufferedFrame) => CoarseColumn | null;
  layout: LatencyRowLayout;
  /** Percentile lines drawn (indexes into COLUMN_QUANTILES). */
  quantiles: readonly number[];
  /** What one count is, for the tooltip ("requests", "completions", "wake-ups"). */
  noun: string;
  /** Spikes to mark over the plot (issue 12); they change only when a run's report arrives. */
  spikes?: Readonly<Ref<readonly Spike[]>>;
}

/** Spike markers placed on the plot: boxes in px from the plot's left edge, and the plot's box in the panel. */
export interface HeatmapMarks {
  boxes: SpikeMarkBox[];
  plot: { left: number; top: number; width: number; height: number };
}

export function useHeatmapCanvas(b: HeatmapBinding): {
  drawn: ShallowRef<HeatmapDrawn>;
  hover: ShallowRef<HeatmapHover | null>;
  onPointer: (ev: PointerEvent) => void;
  onLeave: () => void;
  marks: ShallowRef<HeatmapMarks>;
} {
  const painter = new HeatmapPainter();
  const drawn = shallowRef<HeatmapDrawn>({ frames: 0, framesWithData: 0, cells: 0, maxCount: 0, held: false });
  const hover = shallowRef<HeatmapHover | null>(null);
  const marks = shallowRef<HeatmapMarks>({ boxes: [], plot: { left: 0, top: 0, width: 0, height: 0 } });
  let model: HeatmapModel | null = null;
  let plot = { left: 0, top: 0, width: 0, height: 0 };
  let heldMaxLog: number | null = null;
  let observer: ResizeObserver | null = null;
  /** The element's size, from the ResizeObserver: reading it while drawing would force a layout. */
  let size = { width: 0, height: 0 };

  function draw() {
    const canvas = b.canvas.value;
    if (!canvas) return;
    const items = b.buffer.value.snapshot();
    const columns = items.map((it) => ({ frame: it.frame, column: b.select(it) }));
    model = buildHeatmapModel(columns, b.layout, heldMaxLog);
    const frames = items.map((it) => it.frame);
    const win = timeWindow(frames);
    const { width, height } = size;
    const plotWidth = Math.max(0, width - HEATMAP_PLOT.left - HEATMAP_PLOT.right);
    plot = painter.paint(canvas, width, height, {
      model,
      window: win,
      tickStep: timeTickStep(win, plotWidth),
      phases: b.phases.value,
      quantiles: b.quantiles,
      capacity: b.buffer.value.ring.capacity,
    });
    placeMarks(win);
    const d = drawn.value;
    const held = heldMaxLog != null;
    if (d.frames !== model.frames || d.framesWithData !== model.columnsWithData || d.cells !== model.cellCount || d.maxCount !== model.maxCount || d.held !== held) {
      drawn.value = { frames: model.frames, framesWithData: model.columnsWithData, cells: model.cellCount, maxCount: model.maxCount, held };
    }
  }

  /** Markers follow the window and the size; no work at all while a run has no spikes (the live case). */
  function placeMarks(win: { min: number; max: number }) {
    const spikes = b.spikes?.value ?? [];
    const now = marks.value;
    if (!spikes.length && !now.boxes.length) return;
    const boxes = spikeMarkBoxes(spikes, win, plot.width);
    const moved = now.plot.left !== plot.left || now.plot.top !== plot.top || now.plot.width !== plot.width || now.plot.height !== plot.height;
    if (moved || !sameMarkBoxes(boxes, now.boxes)) marks.value = { boxes, plot: { ...plot } };
  }

  // Redrawn in an animation frame, in the page's one queue of chart redraws (drawScheduler.ts).
  const redraw = chartDrawScheduler().slot(draw);
  const schedule = () => redraw.request();

  watch([b.buffer, () => b.buffer.value.version.value, b.phases], schedule);
  if (b.spikes) watch(b.spikes, schedule);
  watch(heatScaleHeld, (hold) => {
    // Holding keeps the scale where it is now; releasing returns to the data's own maximum.
    heldMaxLog = hold ? (model?.maxLog ?? null) : null;
    schedule();
  });

  onMounted(() => {
    if (b.el.value) {
      size = { width: b.el.value.clientWidth, height: b.el.value.clientHeight };
      observer = new ResizeObserver((entries) => {
        const box = entries[entries.length - 1]!.contentRect;
        const next = { width: box.width, height: box.height };
        const resized = !sameDeviceSize(size, next);
        size = next;
        if (resized) schedule();
      });
      observer.observe(b.el.value);
    }
    draw();
  });
  onBeforeUnmount(() => {
    redraw.cancel();
    observer?.disconnect();
    observer = null;
  });

  function onPointer(ev: PointerEvent) {
    const host = b.el.value;
    if (!host || !model) return;
    const box = host.getBoundingClientRect();
    const cell = cellAt(model, ev.clientX - box.left - plot.left, ev.clientY - box.top - plot.top, plot.width, plot.height);
    if (!cell) {
      hover.value = null;
      return;
    }
    const left = ev.clientX - box.left;
    const top = ev.clientY - box.top;
    hover.value = {
      left: left + 14 + 190 > box.width ? left - 200 : left + 14,
      top: Math.max(0, top - 60),
      lines: [`t = ${cell.t.toFixed(1)} s`, `${formatUs(cell.lowerUs)} – ${formatUs(cell.upperUs)}`, `${formatInt(cell.count)} ${b.noun}`],
    };
  }

  return { drawn, hover, onPointer, onLeave: () => (hover.value = null), marks };
}
