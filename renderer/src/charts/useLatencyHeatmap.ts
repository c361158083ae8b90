/**
 * Binds the latency heatmap (heatmapOption.ts) to an ECharts instance and a frame buffer:
 * paints the cell bitmap at the grid's size and answers the pointer with the cell under it.
 */
import { shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import type { Phase } from '../../../electron/contract';
import { formatInt, formatUs } from '../format/numbers';
import type { FrameBuffer } from '../stores/frameBuffer';
import { buildHeatmapUpdate, cellAt, heatmapBaseOption, HEATMAP_GRID, rasterizeHeatmap, type HeatmapUpdate } from './heatmapOption';
import { useEChart } from './useEChart';

export interface HeatmapHover {
  left: number;
  top: number;
  lines: string[];
}

export function useLatencyHeatmap(
  el: Ref<HTMLElement | null>,
  buffer: Readonly<Ref<FrameBuffer>>,
  phases: Ref<readonly Phase[]>,
  drawn: Ref<{ frames: number; cells: number }>,
): { hover: ShallowRef<HeatmapHover | null>; onPointer: (ev: PointerEvent) => void; onLeave: () => void } {
  let last: HeatmapUpdate | null = null;
  let gridW = 0;
  let gridH = 0;
  const hover = shallowRef<HeatmapHover | null>(null);
  // Cell bitmap (frames × rows px) and two grid-sized canvases used in turn, so each redraw
  // hands ECharts a different image object (it repaints) without allocating a new canvas.
  const cellCanvas = document.createElement('canvas');
  const surfaces = [document.createElement('canvas'), document.createElement('canvas')];
  let turn = 0;

  function paint(update: HeatmapUpdate, w: number, h: number): HTMLCanvasElement {
    const dpr = window.devicePixelRatio || 1;
    const out = surfaces[(turn = 1 - turn)]!;
    const W = Math.max(1, Math.round(w * dpr));
    const H = Math.max(1, Math.round(h * dpr));
    if (out.width !== W || out.height !== H) {
      out.width = W;
      out.height = H;
    }
    const ctx = out.getContext('2d');
    if (!ctx) return out;
    ctx.clearRect(0, 0, W, H);
    if (!update.frames || !update.rows) return out;
    cellCanvas.width = update.frames;
    cellCanvas.height = update.rows;
    const cctx = cellCanvas.getContext('2d');
    if (!cctx) return out;
    cctx.putImageData(new ImageData(rasterizeHeatmap(update), update.frames, update.rows), 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cellCanvas, 0, 0, W, H);
    return out;
  }

  const chart = useEChart(el, heatmapBaseOption, () => {
    const host = el.value;
    if (!host) return;
    const update = buildHeatmapUpdate(buffer.value.snapshot(), phases.value);
    last = update;
    gridW = Math.max(0, host.clientWidth - HEATMAP_GRID.left - HEATMAP_GRID.right);
    gridH = Math.max(0, host.clientHeight - HEATMAP_GRID.top - HEATMAP_GRID.bottom);
    const canvas = paint(update, gridW, gridH);
    chart.setOption({
      ...update.option,
      graphic: {
        elements: [
          {
            id: 'cells',
            type: 'image',
            x: HEATMAP_GRID.left,
            y: HEATMAP_GRID.top,
            // above the grid's split lines, below the phase lines
            z: 2,
            silent: true,
            style: { image: canvas, width: gridW, height: gridH },
          },
        ],
      },
    });
    drawn.value = { frames: update.frames, cells: update.cells.length };
  });
  watch([buffer, () => buffer.value.version.value, phases], () => chart.scheduleDraw());

  function onPointer(ev: PointerEvent) {
    const host = el.value;
    if (!host || !last) return;
    const box = host.getBoundingClientRect();
    const px = ev.clientX - box.left - HEATMAP_GRID.left;
    const py = ev.clientY - box.top - HEATMAP_GRID.top;
    const cell = cellAt(last, px, py, gridW, gridH);
    if (!cell) {
      hover.value = null;
      return;
    }
    const left = ev.clientX - box.left;
    const top = ev.clientY - box.top;
    hover.value = {
      left: left + 14 + 190 > box.width ? left - 200 : left + 14,
      top: Math.max(0, top - 60),
      lines: [`t = ${cell.t} s`, `${formatUs(cell.lowerUs)} – ${formatUs(cell.upperUs)}`, `${formatInt(cell.count)} requests`],
    };
  }

  return { hover, onPointer, onLeave: () => (hover.value = null) };
}
