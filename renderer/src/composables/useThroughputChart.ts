/**
 * Throughput chart: requests/s (left axis) and p99 latency (right axis, log) against
 * seconds since the run started; phase changes (knob toggles) as labelled vertical lines,
 * warm-up as a shaded band. The option builders are pure (unit tested); the composable
 * wires them to an ECharts instance and the live frame buffer.
 */
import { watch, type Ref } from 'vue';
import type { Phase, Profile, RunFrame } from '../../../electron/contract';
import { formatCompact, formatInt, formatUs, formatUsAxis } from '../lab/format';
import type { FrameBuffer } from '../stores/frameBuffer';
import { CHART, tooltipBase } from './chartTheme';
import { useEChart } from './useEChart';

// ---- phase labels ----------------------------------------------------------------------

/** Profile flattened to dotted paths → value, for diffing phases. */
export function flattenProfile(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flattenProfile(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = value;
  return out;
}

const IGNORED_PATHS = new Set(['name', 'description', 'kind', 'schemaVersion']);

/** Short label for a knob change: "SQPOLL on", "ring 1024", "taskrun coop". */
export function knobLabel(path: string, value: unknown): string {
  switch (path) {
    case 'server.sqpoll.enabled':
      return `SQPOLL ${value ? 'on' : 'off'}`;
    case 'server.sqpoll.idleMs':
      return `SQPOLL idle ${String(value)} ms`;
    case 'server.sqpoll.cpu':
      return `SQPOLL cpu ${value === null ? 'any' : String(value)}`;
    case 'server.taskrun':
      return `taskrun ${String(value)}`;
    case 'server.ringEntries':
      return `ring ${String(value)}`;
    default: {
      const leaf = path.split('.').slice(-2).join('.');
      return `${leaf}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
    }
  }
}

/** What changed from `prev` to `cur`, plus any refused knob: "SQPOLL on", "SQPOLL on refused (EPERM)". */
export function phaseLabel(prev: Profile | undefined, cur: Phase): string {
  const parts: string[] = [];
  if (prev) {
    const a = flattenProfile(prev);
    const b = flattenProfile(cur.applied);
    for (const [path, value] of Object.entries(b)) {
      if (IGNORED_PATHS.has(path)) continue;
      if (JSON.stringify(a[path]) !== JSON.stringify(value)) parts.push(knobLabel(path, value));
    }
  }
  for (const r of cur.rejected) parts.push(`${knobLabel(r.knob, r.requested)} refused (${r.code})`);
  return parts.length ? parts.join(', ') : `phase ${cur.index}`;
}

// ---- options -------------------------------------------------------------------------

const axisCommon = {
  axisLine: { lineStyle: { color: CHART.axisLine } },
  axisTick: { lineStyle: { color: CHART.axisLine } },
  axisLabel: { color: CHART.text, fontFamily: CHART.sans, fontSize: 11 },
  splitLine: { lineStyle: { color: CHART.splitLine } },
  nameTextStyle: { color: CHART.text, fontSize: 11 },
};

/** The chart's static option (axes, styles); the series data comes from buildThroughputUpdate. */
export function throughputBaseOption(): Record<string, unknown> {
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
        const list = (Array.isArray(params) ? params : [params]) as Array<{ seriesId?: string; value?: [number, number]; marker?: string }>;
        const first = list[0];
        if (!first?.value) return '';
        const lines = [`<span style="color:${CHART.text}">t = ${first.value[0].toFixed(1)} s</span>`];
        for (const p of list) {
          if (!p.value) continue;
          const v = p.seriesId === 'p99' ? formatUs(p.value[1]) : `${formatInt(p.value[1])} req/s`;
          lines.push(`${p.marker ?? ''}${p.seriesId === 'p99' ? 'p99' : 'throughput'} <b>${v}</b>`);
        }
        return lines.join('<br/>');
      },
    },
    xAxis: {
      ...axisCommon,
      type: 'value',
      min: 0,
      max: 10,
      splitLine: { show: false },
      axisLabel: { ...axisCommon.axisLabel, formatter: (v: number) => `${Math.round(v * 10) / 10} s` },
    },
    yAxis: [
      {
        ...axisCommon,
        type: 'value',
        name: 'req/s',
        nameGap: 8,
        min: 0,
        axisLine: { show: false },
        axisLabel: { ...axisCommon.axisLabel, formatter: (v: number) => formatCompact(v) },
      },
      {
        ...axisCommon,
        type: 'log',
        logBase: 10,
        name: 'p99',
        nameGap: 8,
        axisLine: { show: false },
        splitLine: { show: false },
        axisLabel: { ...axisCommon.axisLabel, formatter: (v: number) => formatUsAxis(v) },
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
}

/**
 * The per-redraw option: series data, x range (aligned with the heatmap's columns: each
 * frame's point sits at its interval's end, ± half an interval of padding), phase lines.
 */
export function buildThroughputUpdate(frames: readonly RunFrame[], phases: readonly Phase[]): ThroughputUpdate {
  const rps: Array<[number, number]> = new Array(frames.length);
  const p99: Array<[number, number]> = new Array(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const t = f.tMs / 1000;
    rps[i] = [t, f.throughputRps];
    p99[i] = [t, Math.max(1, f.latencyUs.p99)]; // log axis: no zeros
  }
  const first = frames[0];
  const last = frames[frames.length - 1];
  const half = (first?.intervalMs ?? 100) / 2000;
  const min = first ? first.tMs / 1000 - half : 0;
  const max = last ? last.tMs / 1000 + half : 10;

  const byIndex = new Map(phases.map((p) => [p.index, p]));
  const lines = phases
    .filter((p) => p.index > 0 && p.atMs / 1000 >= min && p.atMs / 1000 <= max)
    .map((p) => ({
      xAxis: p.atMs / 1000,
      lineStyle: { color: CHART.phase, type: 'dashed', width: 1 },
      label: {
        formatter: phaseLabel(byIndex.get(p.index - 1)?.applied, p),
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
    option: {
      xAxis: { min, max },
      series: [
        { id: 'rps', data: rps, markLine: { data: lines }, markArea: { data: areas } },
        { id: 'p99', data: p99 },
      ],
    },
  };
}

// ---- composable ------------------------------------------------------------------------

/** Draws `buffer` into the chart in `el`, at most once per animation frame. Returns the drawn frame count. */
export function useThroughputChart(el: Ref<HTMLElement | null>, buffer: FrameBuffer, phases: Ref<readonly Phase[]>, drawn: Ref<number>): void {
  const chart = useEChart(el, throughputBaseOption, () => {
    const frames = buffer.snapshot().map((b) => b.frame);
    const update = buildThroughputUpdate(frames, phases.value);
    chart.setOption(update.option);
    drawn.value = update.frames;
  });
  watch([buffer.version, phases], () => chart.scheduleDraw());
}
