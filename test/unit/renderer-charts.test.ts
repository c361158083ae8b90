import { describe, expect, it } from 'vitest';
import { HISTOGRAM_LAYOUT, type Phase, type RunFrame } from '../../electron/contract';
import {
  buildColorRamp,
  buildHeatmapUpdate,
  cellAt,
  heatColor,
  heatmapBaseOption,
  rampToRgba,
  rasterizeHeatmap,
  type HeatmapColumnInput,
} from '../../renderer/src/charts/heatmapOption';
import { LATENCY_ROWS, ROWS_PER_OCTAVE, rowAxisLabel, rowOfUs, toCoarseColumn, visibleRowRange } from '../../renderer/src/charts/latencyRows';
import {
  buildThroughputUpdate,
  isShortFinalFrame,
  niceCeil,
  throughputBaseOption,
  typicalIntervalMs,
  type ShortFinalPoint,
} from '../../renderer/src/charts/throughputOption';
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

describe('latency heatmap option', () => {
  it('emits one column per frame and only non-zero cells, with log colour values', () => {
    const frames = Array.from({ length: 20 }, (_, i) => frame(i));
    const u = buildHeatmapUpdate(columns(frames));
    expect(u.frames).toBe(20);
    // 100 and 105 µs share a row; 250 µs is another
    expect(u.cells).toHaveLength(40);
    expect(u.maxCount).toBe(900);
    const [x, y, logv, count] = u.cells[0]!;
    expect(x).toBe(0);
    expect(count).toBe(900);
    expect(logv).toBeCloseTo(Math.log10(900));
    expect(LATENCY_ROWS.rows[u.fromRow + y]!.lowerUs).toBeLessThanOrEqual(100);
    const xLabels = (u.option.xAxis as { data: string[] }).data;
    expect(xLabels[0]).toBe('0.1');
    expect(xLabels[19]).toBe('2.0');
    const yLabels = (u.option.yAxis as { data: string[] }).data;
    expect(yLabels.length).toBe(u.toRow - u.fromRow + 1);
    expect(u.rows).toBe(yLabels.length);
    expect(yLabels.map(rowAxisLabel)).toContain('128 µs');
    expect((u.option.visualMap as { max: number }).max).toBeCloseTo(Math.log10(900));
    expect(u.maxLog).toBeCloseTo(Math.log10(900));
    // the option only merges categories, colour range and phase lines: never the cells
    expect((u.option.series as Array<{ data?: unknown }>)[0]!.data).toBeUndefined();
  });

  it('handles no frames and frames without samples', () => {
    expect(buildHeatmapUpdate([]).cells).toHaveLength(0);
    const u = buildHeatmapUpdate(columns([frame(0, { histogram: [] })]));
    expect(u.frames).toBe(1);
    expect(u.cells).toHaveLength(0);
    expect((u.option.visualMap as { max: number }).max).toBe(1);
  });

  it('marks the first column of each new phase', () => {
    const frames = Array.from({ length: 10 }, (_, i) => frame(i, { phase: i < 6 ? 0 : 1 }));
    const u = buildHeatmapUpdate(columns(frames), [phase(0, 0, false), phase(1, 600, true)]);
    const series = (u.option.series as Array<{ markLine: { data: Array<{ xAxis: number }> } }>)[0]!;
    expect(series.markLine.data.map((d) => d.xAxis)).toEqual([6]);
  });

  it('has a base option with category axes, a log colour legend and no per-cell elements', () => {
    const base = heatmapBaseOption();
    expect((base.xAxis as { type: string }).type).toBe('category');
    expect((base.yAxis as { type: string }).type).toBe('category');
    expect((base.series as Array<{ type: string; data: unknown[] }>)[0]!).toMatchObject({ type: 'heatmap', data: [] });
    expect((base.visualMap as { inRange: { color: string[] } }).inRange.color.length).toBeGreaterThan(2);
    expect(base.animation).toBe(false);
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

  it('rasterizes one pixel per cell, row 0 at the bottom, empty cells transparent', () => {
    const rgba = rampToRgba(buildColorRamp(['#000000', '#ffffff'], 3)); // 0, 128, 255
    const px = rasterizeHeatmap(
      { frames: 3, rows: 2, maxLog: 2, cells: [[0, 0, 0, 1], [1, 1, 2, 100], [2, 0, 1, 10]] },
      rgba,
    );
    expect(px).toHaveLength(3 * 2 * 4);
    const pixel = (x: number, top: number) => [...px.slice((top * 3 + x) * 4, (top * 3 + x) * 4 + 4)];
    expect(pixel(0, 1)).toEqual([0, 0, 0, 255]); // cell (0, row 0) → bottom line
    expect(pixel(1, 0)).toEqual([255, 255, 255, 255]); // cell (1, row 1) → top line, max colour
    expect(pixel(2, 1)).toEqual([128, 128, 128, 255]);
    expect(pixel(0, 0)).toEqual([0, 0, 0, 0]); // empty
    expect(pixel(2, 0)).toEqual([0, 0, 0, 0]);
  });

  it('finds the cell under the pointer for the tooltip', () => {
    const frames = Array.from({ length: 4 }, (_, i) => frame(i));
    const u = buildHeatmapUpdate(columns(frames));
    const y = u.cells[0]![1];
    const hit = cellAt(u, 130, ((u.rows - 1 - y) + 0.5) * (200 / u.rows), 400, 200);
    expect(hit).toMatchObject({ t: '0.2', count: 900 });
    expect(hit!.lowerUs).toBeLessThanOrEqual(100);
    expect(hit!.upperUs).toBeGreaterThan(100);
    expect(cellAt(u, -1, 10, 400, 200)).toBeNull();
    expect(cellAt(u, 399, 1, 400, 200)).toMatchObject({ count: 0 });
  });
});

describe('throughput chart option', () => {
  it('plots req/s and p99 against seconds, padded by half an interval', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    const u = buildThroughputUpdate(frames, [phase(0, 0, false)]);
    expect(u.frames).toBe(30);
    const [rps, , p99] = u.option.series as Array<{ id: string; data: Array<[number, number]> }>;
    expect(rps!.id).toBe('rps');
    expect(rps!.data[0]).toEqual([0.1, 10_000]);
    expect(p99!.id).toBe('p99');
    expect(p99!.data[29]).toEqual([3, 250]);
    const x = u.option.xAxis as { min: number; max: number };
    expect(x.min).toBeCloseTo(0.05);
    expect(x.max).toBeCloseTo(3.05);
  });

  it('labels phase changes with the knob that changed', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    const phases = [phase(0, 0, false), phase(1, 1500, true), phase(2, 2500, false)];
    const u = buildThroughputUpdate(frames, phases);
    const rps = (u.option.series as Array<{ markLine: { data: Array<{ xAxis: number; label: { formatter: string } }> } }>)[0]!;
    expect(rps.markLine.data.map((d) => [d.xAxis, d.label.formatter])).toEqual([
      [1.5, 'SQPOLL on'],
      [2.5, 'SQPOLL off'],
    ]);
  });

  it('shades warm-up frames', () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(i));
    const u = buildThroughputUpdate(frames, []);
    const rps = (u.option.series as Array<{ markArea: { data: Array<[{ xAxis: number }, { xAxis: number }]> } }>)[0]!;
    expect(rps.markArea.data).toHaveLength(1);
    expect(rps.markArea.data[0]![1].xAxis).toBeCloseTo(1.05);
    const measured = buildThroughputUpdate(frames.slice(10), []);
    expect((measured.option.series as Array<{ markArea: { data: unknown[] } }>)[0]!.markArea.data).toHaveLength(0);
  });

  it('keeps p99 positive for the log axis and has an empty default', () => {
    const u = buildThroughputUpdate([frame(0, { latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 } })], []);
    expect((u.option.series as Array<{ id: string; data: Array<[number, number]> }>).find((x) => x.id === 'p99')!.data[0]![1]).toBe(1);
    expect(buildThroughputUpdate([], []).frames).toBe(0);
    const base = throughputBaseOption();
    expect((base.series as Array<{ id: string }>).map((s) => s.id)).toEqual(['rps', 'rps-short', 'p99']);
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
    const u = buildThroughputUpdate(frames, []);
    expect(u.rpsAxisMax).toBeGreaterThanOrEqual(102_000);
    expect(u.rpsAxisMax).toBeLessThan(150_000);
    expect(u.shortFinalFrames).toBe(1);
    const series = u.option.series as Array<{ id: string; data: unknown[] }>;
    const line = series.find((x) => x.id === 'rps')!.data as Array<[number, number]>;
    expect(line).toHaveLength(30);
    expect(Math.max(...line.map((p) => p[1]))).toBeLessThanOrEqual(u.rpsAxisMax);
    const markers = series.find((x) => x.id === 'rps-short')!.data as ShortFinalPoint[];
    expect(markers).toHaveLength(1);
    // drawn at the top edge as "off scale", its true rate kept for the tooltip
    expect(markers[0]).toMatchObject({ value: [3.007, u.rpsAxisMax], symbol: 'triangle', rps: 467_000, intervalMs: 7 });
    expect((u.option.yAxis as Array<{ max?: number }>)[0]!.max).toBe(u.rpsAxisMax);
  });

  it('keeps a final frame of full length on the line, and scales by short frames only when they are all there is', () => {
    const full = [...Array.from({ length: 10 }, (_, i) => frame(i)), frame(10, { final: true, intervalMs: 80, throughputRps: 12_000 })];
    const u = buildThroughputUpdate(full, []);
    expect(u.shortFinalFrames).toBe(0);
    expect(u.rpsAxisMax).toBeGreaterThanOrEqual(12_000);
    expect(isShortFinalFrame({ final: true, intervalMs: 49 }, 100)).toBe(true);
    expect(isShortFinalFrame({ final: false, intervalMs: 5 }, 100)).toBe(false);
    expect(typicalIntervalMs([{ final: false, intervalMs: 100 }, { final: false, intervalMs: 101 }, { final: true, intervalMs: 3 }])).toBe(101);
    const alone = buildThroughputUpdate([frame(0, { final: true, intervalMs: 5, throughputRps: 50_000 })], []);
    expect(alone.rpsAxisMax).toBeGreaterThanOrEqual(50_000);
    expect(niceCeil(102_000 * 1.05)).toBe(120_000);
    expect(niceCeil(1)).toBe(1);
    expect(niceCeil(0)).toBe(1);
  });
});
