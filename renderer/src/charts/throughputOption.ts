/**
 * Throughput chart options: requests/s (left axis) and p99 latency (right axis, log) against
 * seconds since the run started; phase changes (knob changes) as labelled vertical lines,
 * warm-up as a shaded band. Pure (unit tested); useThroughputChart.ts draws them.
 */
import type { Phase, RunFrame } from '../../../electron/contract';
import { phaseLabel } from '../format/knobText';
import { formatCompact, formatInt, formatUs, formatUsAxis } from '../format/numbers';
import { axisStyle, CHART, tooltipBase } from './theme';

// ---- the short last frame of an engine instance ------------------------------------------

/**
 * The last frame of an engine instance (`final`: the run ended, or a phase change restarted
 * the engine) covers only the sliver of time until the engine stopped. Its rate is real but
 * measured over a few milliseconds, so one such frame can read 4× the steady rate. Frames
 * shorter than half the usual interval are drawn as separate markers and never set the
 * throughput axis; a marker above the axis sits on its top edge as an up-triangle.
 */
export function isShortFinalFrame(frame: Pick<RunFrame, 'final' | 'intervalMs'>, typicalIntervalMs: number): boolean {
  return frame.final && frame.intervalMs < typicalIntervalMs / 2;
}

/** The median interval of the frames that are not final (100 ms when there are none). */
export function typicalIntervalMs(frames: readonly Pick<RunFrame, 'final' | 'intervalMs'>[]): number {
  const intervals = frames.filter((f) => !f.final && f.intervalMs > 0).map((f) => f.intervalMs);
  if (!intervals.length) return 100;
  intervals.sort((a, b) => a - b);
  return intervals[Math.floor(intervals.length / 2)]!;
}

/** The smallest "nice" number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const decade = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * decade >= v * (1 - 1e-12)) return m * decade;
  return 10 * decade;
}

// ---- options -------------------------------------------------------------------------

/**
 * The chart's static option (axes, styles); the series data comes from buildThroughputUpdate.
 * `unit` is read when a tooltip shows: req/s, or IOPS for a storage run (its axis name is set
 * per redraw, buildThroughputUpdate).
 */
export function throughputBaseOption(unit: () => string = () => 'req/s'): Record<string, unknown> {
  return {
    animation: false,
    backgroundColor: 'transparent',
    textStyle: { fontFamily: 'inherit' },
    grid: { left: CHART.gridLeft, right: CHART.gridRight, top: 26, bottom: 26, outerBoundsMode: 'none' },
    tooltip: {
      ...tooltipBase,
      trigger: 'axis',
      axisPointer: { type: 'line', lineStyle: { color: '#46505d' } },
      formatter: (params: unknown) => {
        const list = (Array.isArray(params) ? params : [params]) as Array<{
          seriesId?: string;
          value?: [number, number];
          data?: ShortFinalPoint | [number, number];
          marker?: string;
        }>;
        const first = list[0];
        if (!first?.value) return '';
        const lines = [`<span style="color:${CHART.text}">t = ${first.value[0].toFixed(1)} s</span>`];
        for (const p of list) {
          if (!p.value) continue;
          if (p.seriesId === 'rps-short') {
            const d = p.data as ShortFinalPoint;
            lines.push(`${p.marker ?? ''}last frame of the engine: <b>${formatInt(d.rps)} ${unit()}</b> over ${formatInt(d.intervalMs)} ms (kept off the scale)`);
            continue;
          }
          const v = p.seriesId === 'p99' ? formatUs(p.value[1]) : `${formatInt(p.value[1])} ${unit()}`;
          lines.push(`${p.marker ?? ''}${p.seriesId === 'p99' ? 'p99' : 'throughput'} <b>${v}</b>`);
        }
        return lines.join('<br/>');
      },
    },
    xAxis: {
      ...axisStyle,
      type: 'value',
      min: 0,
      max: 10,
      splitLine: { show: false },
      // The ends sit half an interval beyond the first and last frames: labelled, they would
      // repeat their neighbour rounded ("0.1 s 0.1 s").
      axisLabel: { ...axisStyle.axisLabel, showMinLabel: false, showMaxLabel: false, formatter: (v: number) => `${Math.round(v * 10) / 10} s` },
    },
    yAxis: [
      {
        ...axisStyle,
        type: 'value',
        name: 'req/s',
        nameGap: 8,
        min: 0,
        axisLine: { show: false },
        axisLabel: { ...axisStyle.axisLabel, formatter: (v: number) => formatCompact(v) },
      },
      {
        ...axisStyle,
        type: 'log',
        logBase: 10,
        name: 'p99',
        nameGap: 8,
        axisLine: { show: false },
        splitLine: { show: false },
        axisLabel: { ...axisStyle.axisLabel, formatter: (v: number) => formatUsAxis(v) },
      },
    ],
    series: [
      {
        id: 'rps',
        name: 'throughput',
        type: 'line',
        yAxisIndex: 0,
        showSymbol: false,
        sampling: 'lttb',
        lineStyle: { width: 1.5, color: CHART.throughput },
        itemStyle: { color: CHART.throughput },
        areaStyle: { color: 'rgba(92, 184, 255, 0.08)' },
        data: [],
        markLine: { silent: true, symbol: 'none', data: [] },
        markArea: { silent: true, data: [] },
      },
      {
        // Short last frames of an engine instance (see isShortFinalFrame): markers, off the scale.
        id: 'rps-short',
        name: 'short last frame',
        type: 'line',
        yAxisIndex: 0,
        showSymbol: true,
        showAllSymbol: true,
        symbolSize: 7,
        lineStyle: { width: 0, opacity: 0 },
        itemStyle: { color: CHART.throughput },
        data: [],
      },
      {
        id: 'p99',
        name: 'p99 latency',
        type: 'line',
        yAxisIndex: 1,
        showSymbol: false,
        lineStyle: { width: 1, color: CHART.p99, type: [4, 3] },
        itemStyle: { color: CHART.p99 },
        data: [],
      },
    ],
  };
}

export interface ThroughputUpdate {
  option: Record<string, unknown>;
  /** Frames drawn (points per series). */
  frames: number;
  /** Top of the throughput axis (req/s), set by the full-length frames only. */
  rpsAxisMax: number;
  /** Short last frames drawn as markers instead of on the line. */
  shortFinalFrames: number;
}

/** A marker for a short last frame: its true rate and interval ride along for the tooltip. */
export interface ShortFinalPoint {
  value: [number, number];
  symbol: string;
  rps: number;
  intervalMs: number;
}

/**
 * The per-redraw option: series data, x range (aligned with the heatmap's columns: each
 * frame's point sits at its interval's end, ± half an interval of padding), phase lines.
 */
export function buildThroughputUpdate(frames: readonly RunFrame[], phases: readonly Phase[], unit = 'req/s'): ThroughputUpdate {
  const typical = typicalIntervalMs(frames);
  const rps: Array<[number, number]> = [];
  const short: RunFrame[] = [];
  const p99: Array<[number, number]> = new Array(frames.length);
  let rpsMax = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const t = f.tMs / 1000;
    if (isShortFinalFrame(f, typical)) short.push(f);
    else {
      rps.push([t, f.throughputRps]);
      if (f.throughputRps > rpsMax) rpsMax = f.throughputRps;
    }
    p99[i] = [t, Math.max(1, f.latencyUs.p99)]; // log axis: no zeros
  }
  // Only short frames so far (a run that ended at once): they are all there is to scale by.
  if (!rps.length) for (const f of short) rpsMax = Math.max(rpsMax, f.throughputRps);
  const rpsAxisMax = niceCeil(rpsMax * 1.05);
  const shortPoints: ShortFinalPoint[] = short.map((f) => ({
    value: [f.tMs / 1000, Math.min(f.throughputRps, rpsAxisMax)],
    symbol: f.throughputRps > rpsAxisMax ? 'triangle' : 'emptyCircle',
    rps: f.throughputRps,
    intervalMs: f.intervalMs,
  }));
  const first = frames[0];
  const last = frames[frames.length - 1];
  const half = (first?.intervalMs ?? 100) / 2000;
  const min = first ? first.tMs / 1000 - half : 0;
  const max = last ? last.tMs / 1000 + half : 10;

  const lines = phases
    .filter((p) => p.index > 0 && p.atMs / 1000 >= min && p.atMs / 1000 <= max)
    .map((p) => ({
      xAxis: p.atMs / 1000,
      lineStyle: { color: CHART.phase, type: 'dashed', width: 1 },
      label: {
        formatter: phaseLabel(p),
        position: 'end',
        distance: 3,
        color: CHART.phase,
        fontSize: 11,
        fontFamily: CHART.sans,
      },
    }));

  // Warm-up: from the first frame to the last frame not yet measuring.
  let warmEnd = -1;
  for (let i = 0; i < frames.length && !frames[i]!.measuring; i++) warmEnd = i;
  const warmTo = warmEnd >= 0 ? frames[warmEnd]!.tMs / 1000 + half : min;
  // Label the band only while it is wide enough to hold the word.
  const labelWarmup = max > min && (warmTo - min) / (max - min) > 0.07;
  const areas =
    warmEnd >= 0
      ? [
          [
            {
              xAxis: min,
              itemStyle: { color: CHART.warmup },
              label: { show: labelWarmup, formatter: 'warm-up', color: CHART.text, fontSize: 10, position: 'insideBottom' },
            },
            { xAxis: warmTo },
          ],
        ]
      : [];

  return {
    frames: frames.length,
    rpsAxisMax,
    shortFinalFrames: short.length,
    option: {
      xAxis: { min, max },
      yAxis: [{ max: rpsAxisMax, name: unit }, {}],
      series: [
        { id: 'rps', data: rps, markLine: { data: lines }, markArea: { data: areas } },
        { id: 'rps-short', data: shortPoints },
        { id: 'p99', data: p99 },
      ],
    },
  };
}
