import { describe, expect, it } from 'vitest';
import { HISTOGRAM_LAYOUT, type Phase, type RunFrame } from '../../electron/contract';
import {
  buildColorRamp,
  buildHeatmapModel,
  cellAt,
  colourScaleTop,
  rasterizeColumns,
  shiftColumnsLeft,
  heatColor,
  rampToRgba,
  rasterizeHeatmap,
  type HeatmapColumnInput,
} from '../../renderer/src/charts/heatmapModel';
import { AXIS_LABEL_GAP_PX, placeAxisLabels, spreadLabels, strokeHairlines } from '../../renderer/src/charts/chartCanvas';
import { LATENCY_ROWS, ROWS_PER_OCTAVE, rowAxisLabel, rowOfUs, toCoarseColumn, visibleRowRange } from '../../renderer/src/charts/latencyRows';
import { buildThroughputModel, isShortFrame, nearestPoint, niceCeil, octaveAxis, rpsTicks, typicalIntervalMs } from '../../renderer/src/charts/throughputModel';
import { phaseLabel } from '../../renderer/src/format/knobText';
import { bucketOf, runFrame, sqpollPhase } from './renderer-fixtures';

const phase = (index: number, atMs: number, sqpoll: boolean, rejected: Phase['rejected'] = []) => sqpollPhase(index, sqpoll, { atMs, rejected });

const frame = (seq: number, opts: Partial<RunFrame> = {}): RunFrame =>
  runFrame({
    seq,
    tMs: (seq + 1) * 100,
    measuring: seq >= 10,
    requests: 1000,
    bytes: 256_000,
    throughputRps: 10_000 + seq,
    latencyUs: { p50: 100, p99: 250, max: 900, p99Corrected: 250 },
    histogram: [
      [bucketOf(100), 600],
      [bucketOf(105), 300],
      [bucketOf(250), 100],
    ],
    serverCpuNs: 1e6,
    loadCpuNs: 2e6,
    inFlight: 50,
    oldestInFlightUs: 300,
    loadBusyShare: 0.4,
    ...opts,
  });

const columns = (frames: RunFrame[]): HeatmapColumnInput[] => frames.map((f) => ({ frame: f, column: toCoarseColumn(f.histogram) }));

describe('latency rows', () => {
  it('maps every fine bucket to a row, monotonically', () => {
    const { bucketToRow, rows } = LATENCY_ROWS;
    expect(bucketToRow.length).toBe(HISTOGRAM_LAYOUT.bucketCount);
    for (let b = 1; b < bucketToRow.length; b++) expect(bucketToRow[b]!).toBeGreaterThanOrEqual(bucketToRow[b - 1]!);
    expect(bucketToRow[bucketToRow.length - 1]).toBe(rows.length - 1);
    // rows tile the buckets without gaps
    for (let r = 1; r < rows.length; r++) expect(rows[r]!.firstBucket).toBe(rows[r - 1]!.lastBucket + 1);
  });

  it('has 4 rows per octave above 8 µs, each at most a quarter octave (plus one fine bucket) wide', () => {
    const octave = (lo: number) => LATENCY_ROWS.rows.filter((r) => r.lowerUs >= lo && r.lowerUs < lo * 2);
    for (const lo of [16, 64, 1024, 2 ** 20]) expect(octave(lo)).toHaveLength(ROWS_PER_OCTAVE);
    for (const r of LATENCY_ROWS.rows.filter((x) => x.lowerUs >= 64)) {
      expect(Math.log2(r.upperUs / r.lowerUs)).toBeLessThanOrEqual(0.25 + 0.05);
    }
  });

  it('starts octave rows exactly at powers of two and labels them readably', () => {
    const starts = LATENCY_ROWS.rows.filter((r) => r.octaveStart).map((r) => r.lowerUs);
    expect(starts.slice(0, 8)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect(rowAxisLabel(16)).toBe('16 µs');
    expect(rowAxisLabel(512)).toBe('512 µs');
    expect(rowAxisLabel(1024)).toBe('1 ms');
    expect(rowAxisLabel(4096)).toBe('4 ms');
    expect(rowAxisLabel(16384)).toBe('16 ms');
    expect(rowAxisLabel(2 ** 20)).toBe('1 s');
    expect(rowAxisLabel(0)).toBe('<1 µs');
  });

  it('folds a sparse histogram into coarse rows, keeping the total', () => {
    const col = toCoarseColumn([
      [bucketOf(100), 5],
      [bucketOf(101), 7],
      [bucketOf(1000), 2],
    ]);
    expect(col.total).toBe(14);
    expect(col.cells).toEqual([
      [rowOfUs(100), 12],
      [rowOfUs(1000), 2],
    ]);
    expect(col.minRow).toBe(rowOfUs(100));
    expect(col.maxRow).toBe(rowOfUs(1000));
    expect(toCoarseColumn([]).minRow).toBe(-1);
  });

  it('crops the visible range to the data, octave aligned, at least two octaves', () => {
    const r = visibleRowRange(rowOfUs(100), rowOfUs(300));
    expect(LATENCY_ROWS.rows[r.from]!.lowerUs).toBe(64);
    expect(LATENCY_ROWS.rows[r.to]!.upperUs).toBe(512);
    const narrow = visibleRowRange(rowOfUs(70), rowOfUs(72));
    const rows = LATENCY_ROWS.rows;
    expect(Math.log2(rows[narrow.to]!.upperUs / rows[narrow.from]!.lowerUs)).toBeGreaterThanOrEqual(2);
    const empty = visibleRowRange(-1, -1);
    expect(rows[empty.from]!.lowerUs).toBe(8);
    expect(rows[empty.to]!.upperUs).toBe(1024);
  });
});

describe('latency heatmap model', () => {
  it('emits one column per frame and only non-zero cells, with log colour values', () => {
    const frames = Array.from({ length: 20 }, (_, i) => frame(i));
    const u = buildHeatmapModel(columns(frames));
    expect(u.frames).toBe(20);
    expect(u.columnsWithData).toBe(20);
    // 100 and 105 µs share a row; 250 µs is another
    expect(u.cellCount).toBe(40);
    expect(u.maxCount).toBe(900);
    const [row, count] = u.columns[0]!.cells[0]!;
    expect(count).toBe(900);
    expect(row).toBeGreaterThanOrEqual(u.fromRow);
    expect(LATENCY_ROWS.rows[row]!.lowerUs).toBeLessThanOrEqual(100);
    expect(u.times[0]).toBeCloseTo(0.1);
    expect(u.times[19]).toBeCloseTo(2.0);
    expect(u.rows).toBe(u.toRow - u.fromRow + 1);
    expect(LATENCY_ROWS.rows.slice(u.fromRow, u.toRow + 1).map((r) => r.label)).toContain('128 µs');
    // the colour scale's top: log10 of the largest count, rounded up to a twentieth of a decade
    expect(u.maxLog).toBeCloseTo(3);
  });

  it('handles no frames and frames without samples', () => {
    expect(buildHeatmapModel([]).cellCount).toBe(0);
    const u = buildHeatmapModel(columns([frame(0, { histogram: [] })]));
    expect(u.frames).toBe(1);
    expect(u.cellCount).toBe(0);
    expect(u.maxLog).toBe(1);
  });

  it('holds the colour scale when asked, whatever the data', () => {
    const frames = Array.from({ length: 5 }, (_, i) => frame(i));
    expect(buildHeatmapModel(columns(frames), LATENCY_ROWS, 5).maxLog).toBe(5);
    expect(buildHeatmapModel(columns(frames), LATENCY_ROWS, null).maxLog).toBeCloseTo(3);
  });

  it('draws the p50 / p99 / p99.9 lines through the rows of the frame\'s own percentiles', () => {
    const frames = Array.from({ length: 4 }, (_, i) => frame(i));
    const u = buildHeatmapModel(columns(frames));
    const [p50, p99, p999] = u.quantileRows;
    // 900 of 1000 samples at 100–105 µs: p50 in that row; p99 and p99.9 at 250 µs
    const rowOf = (us: number) => rowOfUs(us) - u.fromRow;
    expect(Math.floor(p50![0]!)).toBe(rowOf(100));
    expect(Math.floor(p99![0]!)).toBe(rowOf(250));
    expect(Math.floor(p999![0]!)).toBe(rowOf(250));
    // a frame without samples leaves a gap in the line
    const gap = buildHeatmapModel(columns([frame(0), frame(1, { histogram: [] })]));
    expect(Number.isNaN(gap.quantileRows[0]![1]!)).toBe(true);
  });
});

describe('vertical axis labels', () => {
  const plot = (height: number) => ({ left: 64, top: 18, width: 800, height });
  /** Ticks evenly spread from the plot's bottom edge to its top edge, as a log axis puts its octaves. */
  const edgeToEdge = (n: number, p: ReturnType<typeof plot>) =>
    Array.from({ length: n }, (_, i) => ({ y: p.top + p.height - (i * p.height) / (n - 1), i }));

  it('never draws two labels closer than the gap, measured where they are drawn (moved off the edges)', () => {
    // The class: every short chart, every tick count, both edge policies.
    for (let height = 8; height <= 200; height++) {
      const p = plot(height);
      for (let n = 2; n <= 12; n++) {
        for (const top of ['clamp', 'drop'] as const) {
          const placed = placeAxisLabels(edgeToEdge(n, p), p, { top });
          for (let k = 1; k < placed.length; k++) expect(placed[k - 1]!.labelY - placed[k]!.labelY).toBeGreaterThanOrEqual(AXIS_LABEL_GAP_PX);
          if (height >= 10) {
            for (const l of placed) {
              expect(l.labelY).toBeGreaterThanOrEqual(p.top + 5);
              expect(l.labelY).toBeLessThanOrEqual(p.top + p.height - 5);
            }
          }
          // evenly thinned: every k-th tick from the bottom
          if (placed.length > 2) {
            const k = placed[1]!.i - placed[0]!.i;
            expect(placed.every((l, j) => l.i === placed[0]!.i + j * k)).toBe(true);
          }
          if (top === 'drop') for (const l of placed) expect(l.y - p.top).toBeGreaterThanOrEqual(5);
          // the lowest label is always kept: the axis says where it starts
          if (height >= 10) expect(placed[0]!.i).toBe(0);
        }
      }
    }
  });

  it('the throughput chart at 1024×700: 512 µs … 8 ms on a 55 px plot no longer stacks 8 ms on 4 ms', () => {
    // Seen in Chromium: both labels passed the old spacing check by their tick positions
    // (13.75 px apart), then the top one was moved 5 px down onto its neighbour.
    const p = plot(55);
    const axis = octaveAxis([600, 7000]);
    expect(axis.ticks).toEqual([512, 1024, 2048, 4096, 8192]);
    const l2 = (us: number) => Math.log2(us);
    const y = (us: number) => p.top + p.height - ((l2(us) - l2(axis.min)) / (l2(axis.max) - l2(axis.min))) * p.height;
    const placed = placeAxisLabels(axis.ticks.map((v) => ({ y: y(v), v })), p);
    expect(placed.map((l) => l.v)).toEqual([512, 2048, 8192]);
    expect(placed[2]!.labelY).toBe(p.top + 5);
    // tall enough, every octave is labelled, in tick order from the bottom
    const tall = plot(120);
    expect(placeAxisLabels(axis.ticks.map((v) => ({ y: tall.top + tall.height - ((l2(v) - 9) / 4) * tall.height, v })), tall).map((l) => l.v)).toEqual(axis.ticks);
  });

  it('line-end labels (p50, p99, p99.9) sit by their lines, apart and inside the plot, on any chart height', () => {
    for (let height = 10; height <= 150; height += 7) {
      const p = plot(height);
      const bottom = p.top + p.height;
      // Lines ending anywhere, close together or on top of one another.
      for (const ends of [[0.2, 0.5, 0.9], [0.5, 0.5, 0.5], [0, 0, 1], [1, 0.98, 0.96], [0.3, 0.31]]) {
        const items = ends.map((f, i) => ({ y: bottom - f * p.height, i }));
        const placed = spreadLabels(items, p);
        expect(placed.length).toBeGreaterThan(0);
        // the first-listed lines are the ones kept when not all fit
        expect(placed.map((l) => l.i).sort()).toEqual(items.slice(0, placed.length).map((l) => l.i));
        for (let k = 1; k < placed.length; k++) expect(placed[k]!.labelY - placed[k - 1]!.labelY).toBeGreaterThanOrEqual(AXIS_LABEL_GAP_PX - 1 - 1e-9);
        for (const l of placed) {
          expect(l.labelY).toBeGreaterThanOrEqual(p.top + 5 - 1e-9);
          expect(l.labelY).toBeLessThanOrEqual(bottom - 5 + 1e-9);
        }
        if (placed.length === items.length && height >= 60 && ends[0] === 0.2) {
          // room enough: each exactly at its line
          expect(placed.map((l) => l.labelY)).toEqual(items.map((l) => l.y).sort((a, b) => a - b));
        }
      }
    }
  });

  it('leaves out ticks outside the plot', () => {
    const p = plot(100);
    expect(placeAxisLabels([{ y: p.top - 3 }, { y: p.top + p.height + 2 }, { y: p.top + 50 }], p).map((l) => l.y)).toEqual([p.top + 50]);
  });
});

describe('heatmap painter', () => {
  it('ramps colours like visualMap and clamps to the scale', () => {
    const ramp = buildColorRamp(['#000000', '#ff0000', '#ffffff'], 5);
    expect(ramp).toEqual(['rgb(0,0,0)', 'rgb(128,0,0)', 'rgb(255,0,0)', 'rgb(255,128,128)', 'rgb(255,255,255)']);
    expect(heatColor(0, 2, ramp)).toBe('rgb(0,0,0)');
    expect(heatColor(2, 2, ramp)).toBe('rgb(255,255,255)');
    expect(heatColor(9, 2, ramp)).toBe('rgb(255,255,255)');
    expect(heatColor(1, 0, ramp)).toBe('rgb(0,0,0)');
    expect([...rampToRgba(['rgb(1,2,3)', 'rgb(255,0,9)'])]).toEqual([1, 2, 3, 255, 255, 0, 9, 255]);
  });

  it('rasterizes one pixel per cell by log10 count, row 0 at the bottom, empty cells transparent', () => {
    const rgba = rampToRgba(buildColorRamp(['#000000', '#ffffff'], 3)); // 0, 128, 255
    const col = (cells: Array<[number, number]>) => ({ cells, minRow: 0, maxRow: 1, total: 0, maxCount: 0, quantilesUs: [], quantileRows: [] });
    // fromRow 5: rows 5 and 6 drawn; counts 1 (log 0), 100 (log 2 = max), 10 (log 1)
    const px = rasterizeHeatmap({ frames: 3, rows: 2, maxLog: 2, fromRow: 5, columns: [col([[5, 1]]), col([[6, 100], [9, 4]]), col([[5, 10]])] }, rgba);
    expect(px).toHaveLength(3 * 2 * 4);
    const pixel = (x: number, top: number) => [...px.slice((top * 3 + x) * 4, (top * 3 + x) * 4 + 4)];
    expect(pixel(0, 1)).toEqual([0, 0, 0, 255]); // cell (0, row 5) → bottom line
    expect(pixel(1, 0)).toEqual([255, 255, 255, 255]); // cell (1, row 6) → top line, max colour
    expect(pixel(2, 1)).toEqual([128, 128, 128, 255]);
    expect(pixel(0, 0)).toEqual([0, 0, 0, 0]); // empty
    expect(pixel(2, 0)).toEqual([0, 0, 0, 0]);
    // a reused buffer is cleared first; rows outside the range (row 9) are not drawn
    const again = rasterizeHeatmap({ frames: 3, rows: 2, maxLog: 2, fromRow: 5, columns: [null, null, null] }, rgba, px);
    expect(again).toBe(px);
    expect([...again].every((b) => b === 0)).toBe(true);
  });

  it('slides a full window by shifting the bitmap and painting only the new column: the same pixels as a full repaint', () => {
    const all = Array.from({ length: 12 }, (_, i) =>
      frame(i, { histogram: [[bucketOf(100 + i * 7), 20 - (i % 5)], [bucketOf(250), 1 + (i % 3)]] }),
    );
    const before = buildHeatmapModel(columns(all.slice(0, 10)));
    const after = buildHeatmapModel(columns(all.slice(2, 12)));
    expect([after.fromRow, after.rows, after.maxLog]).toEqual([before.fromRow, before.rows, before.maxLog]);
    const px = rasterizeHeatmap(before);
    shiftColumnsLeft(px, before.frames, before.rows, 2);
    rasterizeColumns(after, px, after.frames - 2, after.frames);
    expect([...px]).toEqual([...rasterizeHeatmap(after)]);
  });

  it('grows and slides a window inside a bitmap with room for the whole window: the same pixels as a full repaint, the spare columns transparent', () => {
    const all = Array.from({ length: 12 }, (_, i) =>
      frame(i, { histogram: [[bucketOf(100 + i * 7), 20 - (i % 5)], [bucketOf(250), 1 + (i % 3)]] }),
    );
    const stride = 12;
    const first = buildHeatmapModel(columns(all.slice(0, 8)));
    const grown = buildHeatmapModel(columns(all.slice(0, 10)));
    const slid = buildHeatmapModel(columns(all.slice(2, 12)));
    for (const m of [grown, slid]) expect([m.fromRow, m.rows, m.maxLog]).toEqual([first.fromRow, first.rows, first.maxLog]);
    // The first 10 columns of each stride-wide row are the frames-wide bitmap's row; the rest is empty.
    const narrow = rasterizeHeatmap(grown);
    const wide = rasterizeHeatmap(grown, undefined, undefined, stride);
    expect(wide).toHaveLength(stride * grown.rows * 4);
    for (let r = 0; r < grown.rows; r++) {
      expect([...wide.slice(r * stride * 4, (r * stride + 10) * 4)]).toEqual([...narrow.slice(r * 10 * 4, (r + 1) * 10 * 4)]);
      expect([...wide.slice((r * stride + 10) * 4, (r + 1) * stride * 4)].every((b) => b === 0)).toBe(true);
    }
    // Grown by two frames: only the two new columns rasterized.
    const px = rasterizeHeatmap(first, undefined, undefined, stride);
    rasterizeColumns(grown, px, 8, 10, undefined, stride);
    expect([...px]).toEqual([...wide]);
    // Then slid by two: shifted and the two new columns rasterized.
    shiftColumnsLeft(px, slid.frames, slid.rows, 2, stride);
    rasterizeColumns(slid, px, 8, 10, undefined, stride);
    expect([...px]).toEqual([...rasterizeHeatmap(slid, undefined, undefined, stride)]);
  });

  it('strokes lines as one-device-pixel hairlines (the fast path of software raster), one pass per device pixel of width', () => {
    // A 2D context that records each stroke's line width and vertical device offset.
    const fake = (dpr: number) => {
      let t = { a: dpr, b: 0, c: 0, d: dpr, e: 0, f: 0 };
      const strokes: { lineWidth: number; f: number }[] = [];
      const ctx = {
        lineWidth: 7,
        getTransform: () => ({ ...t }),
        setTransform: (...args: unknown[]) => {
          t = typeof args[0] === 'object' ? { ...(args[0] as typeof t) } : { a: args[0], b: args[1], c: args[2], d: args[3], e: args[4], f: args[5] } as typeof t;
        },
        stroke: () => strokes.push({ lineWidth: ctx.lineWidth, f: t.f }),
      };
      return { ctx, strokes, transform: () => t };
    };
    const path = {} as Path2D;
    const at1 = fake(1);
    strokeHairlines(at1.ctx as unknown as CanvasRenderingContext2D, path, 1.25);
    expect(at1.strokes).toEqual([{ lineWidth: 1, f: 0 }]);
    const wide = fake(1);
    strokeHairlines(wide.ctx as unknown as CanvasRenderingContext2D, path, 1.5);
    expect(wide.strokes).toEqual([{ lineWidth: 1, f: -0.5 }, { lineWidth: 1, f: 0.5 }]);
    const hidpi = fake(2);
    strokeHairlines(hidpi.ctx as unknown as CanvasRenderingContext2D, path, 1.5);
    expect(hidpi.strokes.map((s) => s.lineWidth)).toEqual([0.5, 0.5, 0.5]); // 3 device px, each 1 device px wide
    expect(hidpi.strokes.map((s) => s.f)).toEqual([-1, 0, 1]);
    expect(hidpi.transform()).toEqual({ a: 2, b: 0, c: 0, d: 2, e: 0, f: 0 }); // the transform comes back
  });

  it('moves the colour scale in twentieths of a decade', () => {
    expect(colourScaleTop(900)).toBe(3);
    expect(colourScaleTop(1000)).toBe(3);
    expect(colourScaleTop(1001)).toBe(3.05);
    expect(colourScaleTop(0)).toBe(1);
  });

  it('finds the cell under the pointer for the tooltip', () => {
    const frames = Array.from({ length: 4 }, (_, i) => frame(i));
    const u = buildHeatmapModel(columns(frames));
    const y = u.columns[0]!.cells[0]![0] - u.fromRow;
    const hit = cellAt(u, 130, ((u.rows - 1 - y) + 0.5) * (200 / u.rows), 400, 200);
    expect(hit).toMatchObject({ count: 900 });
    expect(hit!.t).toBeCloseTo(0.2);
    expect(hit!.lowerUs).toBeLessThanOrEqual(100);
    expect(hit!.upperUs).toBeGreaterThan(100);
    expect(cellAt(u, -1, 10, 400, 200)).toBeNull();
    expect(cellAt(u, 399, 1, 400, 200)).toMatchObject({ count: 0 });
  });
});

describe('throughput chart model', () => {
  it('plots req/s and p99 against seconds, padded by half an interval, on the shared ticks', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    const u = buildThroughputModel(frames, [phase(0, 0, false)], 'req/s', 600);
    expect(u.frames).toBe(30);
    expect(u.rps[0]).toEqual([0.1, 10_000]);
    expect(u.p99[29]).toEqual([3, 250]);
    expect(u.window.min).toBeCloseTo(0.05);
    expect(u.window.max).toBeCloseTo(3.05);
    expect(u.ticks).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(u.rpsTicks[0]).toBe(0);
    expect(u.rpsTicks[u.rpsTicks.length - 1]).toBeLessThanOrEqual(u.rpsAxisMax);
    expect(rpsTicks(120_000)).toEqual([0, 30_000, 60_000, 90_000, 120_000]);
    expect(nearestPoint(u, 0.74)).toBe(6);
    expect(nearestPoint(u, 99)).toBe(29);
  });

  it('labels phase changes with the knob that changed', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    const phases = [phase(0, 0, false), phase(1, 1500, true), phase(2, 2500, false)];
    const u = buildThroughputModel(frames, phases);
    expect(u.phaseLines).toEqual([
      { t: 1.5, text: 'SQPOLL on' },
      { t: 2.5, text: 'SQPOLL off' },
    ]);
  });

  it('shades warm-up frames', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    expect(buildThroughputModel(frames, []).warmupTo).toBeCloseTo(1.05);
    expect(buildThroughputModel(frames.slice(10), []).warmupTo).toBeNull();
  });

  it('breaks the p99 line where no request completed (a stall), and scales its axis by the frames that had latencies', () => {
    const frames = Array.from({ length: 12 }, (_, i) => frame(i));
    // Frames 4–6: nothing completed (their histograms are empty, percentiles 0); 8 the same.
    for (const i of [4, 5, 6, 8]) frames[i] = frame(i, { requests: 0, throughputRps: 0, histogram: [], latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 } });
    const u = buildThroughputModel(frames, []);
    expect(u.p99.map((p) => p[1])).toEqual([250, 250, 250, 250, null, null, null, 250, null, 250, 250, 250]);
    expect(u.p99Axis.min).toBeGreaterThanOrEqual(64);
    expect(u.p99Axis.max).toBeGreaterThanOrEqual(250);
    // Still one point per frame for the readout under the pointer.
    expect(nearestPoint(u, 0.5)).toBe(4);
    // Nothing completed anywhere: no line, the default axis.
    const none = buildThroughputModel([frame(0, { requests: 0, latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 } })], []);
    expect(none.p99).toEqual([[0.1, null]]);
    expect(none.p99Axis).toMatchObject({ min: 16, max: 1024 });
  });

  it('keeps p99 positive for the log axis and has an empty default', () => {
    const u = buildThroughputModel([frame(0, { latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 } })], []);
    expect(u.p99[0]![1]).toBe(1);
    expect(buildThroughputModel([], []).frames).toBe(0);
  });

  it('names changed and refused knobs in phase labels', () => {
    const refused = phase(1, 1000, false, [
      { knob: 'server.sqpoll.enabled', requested: true, errno: 1, code: 'EPERM', reason: 'needs CAP_SYS_NICE' },
    ]);
    refused.changed = [{ path: 'server.sqpoll.enabled', from: false, to: true }];
    expect(phaseLabel(refused)).toBe('SQPOLL on refused (EPERM)');
    expect(phaseLabel({ ...phase(1, 0, false), changed: [] })).toBe('phase 1');
    const taskrun = { ...phase(2, 0, false), changed: [{ path: 'server.taskrun', from: 'defer', to: 'coop' }] };
    expect(phaseLabel(taskrun)).toBe('Task run coop');
  });

  it('keeps a short last frame of an engine off the throughput scale', () => {
    // A steady ~100k req/s, then the final frame of the engine: 7 ms whose rate reads 467k req/s.
    const frames = Array.from({ length: 30 }, (_, i) => frame(i, { throughputRps: 100_000 + (i % 3) * 1000, measuring: true }));
    frames.push(frame(30, { tMs: 3007, intervalMs: 7, final: true, requests: 3269, throughputRps: 467_000 }));
    const u = buildThroughputModel(frames, []);
    expect(u.rpsAxisMax).toBeGreaterThanOrEqual(102_000);
    expect(u.rpsAxisMax).toBeLessThan(150_000);
    expect(u.shortFrames).toBe(1);
    expect(u.rps).toHaveLength(30);
    expect(Math.max(...u.rps.map((p) => p[1]))).toBeLessThanOrEqual(u.rpsAxisMax);
    expect(u.short).toHaveLength(1);
    // drawn at the top edge as "off scale", its true rate kept for the readout
    expect(u.short[0]).toEqual({ t: 3.007, y: u.rpsAxisMax, offScale: true, rps: 467_000, intervalMs: 7, final: true });
  });

  it('keeps a short frame mid-run (a tick right after a late one) off the throughput scale too', () => {
    // Seen live: warm-up frames of 195.5 ms and then 8.5 ms, the second reading 3.0M req/s beside ~180k.
    const frames = Array.from({ length: 30 }, (_, i) => frame(i, { throughputRps: 180_000 + (i % 3) * 1000 }));
    frames[1] = frame(1, { tMs: 195.5, intervalMs: 195.5, throughputRps: 170_000, measuring: false });
    frames[2] = frame(2, { tMs: 204, intervalMs: 8.5, requests: 25_638, throughputRps: 3_016_281, measuring: false });
    const u = buildThroughputModel(frames, []);
    expect(u.shortFrames).toBe(1);
    expect(u.rpsAxisMax).toBeLessThan(250_000);
    expect(u.short[0]).toMatchObject({ t: 0.204, offScale: true, rps: 3_016_281, final: false });
    // Its p99 stays on the p99 line: a latency is not a rate over the frame.
    expect(u.p99).toHaveLength(30);
  });

  it('keeps a final frame of full length on the line, and scales by short frames only when they are all there is', () => {
    const full = [...Array.from({ length: 10 }, (_, i) => frame(i)), frame(10, { final: true, intervalMs: 80, throughputRps: 12_000 })];
    const u = buildThroughputModel(full, []);
    expect(u.shortFrames).toBe(0);
    expect(u.rpsAxisMax).toBeGreaterThanOrEqual(12_000);
    expect(isShortFrame({ intervalMs: 49 }, 100)).toBe(true);
    expect(isShortFrame({ intervalMs: 5 }, 100)).toBe(true);
    expect(isShortFrame({ intervalMs: 51 }, 100)).toBe(false);
    expect(typicalIntervalMs([{ final: false, intervalMs: 100 }, { final: false, intervalMs: 101 }, { final: true, intervalMs: 3 }])).toBe(101);
    const alone = buildThroughputModel([frame(0, { final: true, intervalMs: 5, throughputRps: 50_000 })], []);
    expect(alone.rpsAxisMax).toBeGreaterThanOrEqual(50_000);
    expect(niceCeil(102_000 * 1.05)).toBe(120_000);
    expect(niceCeil(1)).toBe(1);
    expect(niceCeil(0)).toBe(1);
  });
});
