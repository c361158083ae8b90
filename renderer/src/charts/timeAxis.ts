/**
 * The time axis every live chart shares (throughput and the three heatmaps): the same window
 * (first frame − ½ interval … last frame + ½ interval, so a frame's column is centred on its
 * end time), the same tick step for the same width, and phase-line labels laid out so they
 * never overprint each other or leave the plot. The charts stack in one column with the same
 * horizontal margins (theme CHART.gridLeft/gridRight), so equal inputs give ticks that line up.
 * Pure, no DOM.
 */

export interface TimeWindow {
  /** Seconds since the run started. */
  min: number;
  max: number;
}

/** The window of `frames` (tMs = end of the interval): 0…10 s before the first frame. */
export function timeWindow(frames: readonly { tMs: number; intervalMs: number }[]): TimeWindow {
  const first = frames[0];
  const last = frames[frames.length - 1];
  if (!first || !last) return { min: 0, max: 10 };
  const half = (first.intervalMs > 0 ? first.intervalMs : 100) / 2000;
  return { min: first.tMs / 1000 - half, max: last.tMs / 1000 + half };
}

/** Tick steps (s) the axis may use: readable multiples of a tenth, a second and a minute. */
const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** The smallest tick step that keeps ticks at least `minSpacingPx` apart across `widthPx`. */
export function timeTickStep(window: TimeWindow, widthPx: number, minSpacingPx = 72): number {
  const span = Math.max(1e-9, window.max - window.min);
  const maxTicks = Math.max(1, Math.floor(widthPx / minSpacingPx));
  for (const step of TICK_STEPS) if (span / step <= maxTicks) return step;
  return TICK_STEPS[TICK_STEPS.length - 1]!;
}

/** Tick values (s): multiples of `step` strictly inside the window (the ends are half-interval pads). */
export function timeTicks(window: TimeWindow, step: number): number[] {
  const out: number[] = [];
  // Integer multiples avoid 0.30000000000000004 labels.
  for (let k = Math.floor(window.min / step + 1e-9) + 1; k * step < window.max - 1e-9; k++) out.push(Math.round(k * step * 1000) / 1000);
  return out;
}

/** "12 s", "0.5 s", "2 m", "1 m 30 s". */
export function timeTickLabel(seconds: number): string {
  if (seconds < 60 || seconds % 60 !== 0) {
    if (seconds >= 120) return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
    return `${Math.round(seconds * 10) / 10} s`;
  }
  return `${seconds / 60} m`;
}

/** x (px, relative to the plot's left edge) of time `t`. */
export function timeToX(t: number, window: TimeWindow, widthPx: number): number {
  const span = window.max - window.min;
  return span > 0 ? ((t - window.min) / span) * widthPx : 0;
}

// ---- phase-line labels ---------------------------------------------------------------------

export interface PhaseMark {
  /** Line position, px from the plot's left edge. */
  x: number;
  text: string;
  /** Text width (px) as drawn. */
  width: number;
}

export interface PlacedLabel {
  /** Left edge of the text, px from the plot's left edge; null: not drawn (no room). */
  left: number | null;
  /** 0: the top lane, 1: the lane below it. */
  lane: number;
  /** The text drawn: the mark's, or shortened with an ellipsis to fit. */
  text: string;
}

/**
 * Places each phase line's label in the plot (width `plotWidth`): right of its line, or left of
 * it when that would run past the right edge; in the first of `lanes` lanes where it does not
 * touch another label (gap `gapPx`); never outside [0, plotWidth], so never over an axis.
 * A label that fits nowhere is shortened to its first word + "…" and tried again, then left
 * out (the line stays; the chart's tooltip and the phase table name it).
 */
export function layoutPhaseLabels(
  marks: readonly PhaseMark[],
  plotWidth: number,
  opts: { lanes?: number; gapPx?: number; padPx?: number; shortWidth?: (text: string) => number } = {},
): PlacedLabel[] {
  const { lanes = 2, gapPx = 6, padPx = 3 } = opts;
  const occupied: Array<Array<[number, number]>> = Array.from({ length: lanes }, () => []);
  const free = (lane: number, a: number, b: number) => occupied[lane]!.every(([l, r]) => b + gapPx <= l || a >= r + gapPx);
  const order = marks.map((m, i) => i).sort((i, j) => marks[i]!.x - marks[j]!.x);
  const out: PlacedLabel[] = marks.map((m) => ({ left: null, lane: 0, text: m.text }));
  for (const i of order) {
    const m = marks[i]!;
    const candidates: Array<{ text: string; width: number }> = [{ text: m.text, width: m.width }];
    const firstWord = m.text.split(/[ ,]/)[0] ?? '';
    if (opts.shortWidth && firstWord && firstWord !== m.text) {
      const short = `${firstWord}…`;
      candidates.push({ text: short, width: opts.shortWidth(short) });
    }
    placing: for (const c of candidates) {
      for (const left of [m.x + padPx, m.x - padPx - c.width]) {
        if (left < 0 || left + c.width > plotWidth) continue;
        for (let lane = 0; lane < lanes; lane++) {
          if (!free(lane, left, left + c.width)) continue;
          occupied[lane]!.push([left, left + c.width]);
          out[i] = { left, lane, text: c.text };
          break placing;
        }
      }
    }
  }
  return out;
}
