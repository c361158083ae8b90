/**
 * HdrHistogram-style percentile plot options: latency (µs, log) against the percentile on a
 * 1/(1−p) log axis, so 90 %, 99 %, 99.9 % and 99.99 % get equal room and the tail is as
 * readable as the median. One curve per phase, from the phase's merged histogram.
 *
 * The curve maths and option builders are pure (unit tested); usePercentileChart.ts draws them.
 */
import type { LatencyHistogram } from '../../../electron/contract';
import { formatUs, trimZeros } from '../format/numbers';
import { AXIS_LABEL_GAP_PX } from './chartCanvas';
import { rowAxisLabel } from './latencyRows';
import { axisStyle, CHART, phaseColor, tooltipBase } from './theme';

/** Points per decade of 1/(1−p): 0 … 90 % gets ten, 90 … 99 % ten, and so on. */
export const PERCENTILE_STEPS_PER_DECADE = 10;

export interface PercentilePoint {
  /** 1/(1−p): 1 at the minimum (p = 0), 10 at p90, 100 at p99, 1000 at p99.9. */
  x: number;
  /** The quantile p in [0, 1]; 1 for the maximum. */
  percentile: number;
  /** The histogram's value at p (highest equivalent value of the bucket, as the summary reports). */
  valueUs: number;
}

/**
 * The curve of `counts`: its quantile at p = 1 − 10^(−k/steps) for every k while 1/(1−p) stays
 * below the sample count N (beyond that one sample cannot resolve the percentile), then the
 * maximum at x = N, where the rank ⌈p·N⌉ reaches the last sample.
 */
export function percentileCurve(counts: LatencyHistogram, stepsPerDecade = PERCENTILE_STEPS_PER_DECADE): PercentilePoint[] {
  const n = counts.total;
  if (!(n > 0)) return [];
  const points: PercentilePoint[] = [];
  for (let k = 0; ; k++) {
    // 1 − 10^(−k/steps) keeps the decade points exact (0.9, 0.99, 0.999 as literals), so they
    // match the summary's p90/p99/p99.9 bucket for bucket.
    const tail = 10 ** (-k / stepsPerDecade);
    const x = 1 / tail;
    if (x >= n) break;
    const percentile = 1 - tail;
    points.push({ x, percentile, valueUs: counts.quantileUs(percentile) });
  }
  points.push({ x: Math.max(1, n), percentile: 1, valueUs: counts.maxUs() });
  return points;
}

/** The percentile at axis position x = 1/(1−p), with as many decimals as the decade needs: "90 %", "99.9 %". */
export function percentileText(x: number): string {
  if (!(x > 1)) return '0 %';
  const decimals = Math.max(0, Math.min(6, Math.ceil(Math.log10(x) - 1e-9) - 1));
  return `${trimZeros((100 - 100 / x).toFixed(decimals))} %`;
}

// ---- options -------------------------------------------------------------------------

const axisCommon = { ...axisStyle, axisLabel: { ...axisStyle.axisLabel, hideOverlap: true } };

interface TooltipParam {
  seriesName?: string;
  /** [x, log2(µs), 1 for the max point, µs] */
  value?: [number, number, number, number];
  marker?: string;
}

/** The plot's margins inside the chart (CSS px): its height is the chart's less top and bottom. */
export const PERCENTILE_GRID = { left: 58, right: 18, top: 26, bottom: 30 } as const;

export function percentileBaseOption(): Record<string, unknown> {
  return {
    animation: false,
    backgroundColor: 'transparent',
    textStyle: { fontFamily: 'inherit' },
    grid: { ...PERCENTILE_GRID, outerBoundsMode: 'none' },
    tooltip: {
      ...tooltipBase,
      trigger: 'axis',
      axisPointer: { type: 'line', lineStyle: { color: '#46505d' } },
      formatter: (params: unknown) => {
        const list = (Array.isArray(params) ? params : [params]) as TooltipParam[];
        const first = list.find((p) => p.value);
        if (!first?.value) return '';
        const head = first.value[2] === 1 ? 'max' : `p = ${percentileText(first.value[0])}`;
        const lines = [`<span style="color:${CHART.text}">${head}</span>`];
        for (const p of list) if (p.value) lines.push(`${p.marker ?? ''}${p.seriesName ?? ''} <b>${formatUs(p.value[3])}</b>`);
        return lines.join('<br/>');
      },
    },
    xAxis: {
      ...axisCommon,
      type: 'log',
      logBase: 10,
      min: 1,
      max: 1000,
      // No axis name: its labels are percentiles ("90 %", "99.9 %"), and the name ECharts 6 put
      // after the axis's end was cut off by the chart's edge at every width.
      splitLine: { show: true, lineStyle: { color: CHART.splitLine } },
      axisLabel: { ...axisCommon.axisLabel, formatter: (v: number) => percentileText(v) },
    },
    // Latency on a log scale drawn as log2(µs) on a value axis: ECharts' own log axis picks
    // sparse, uneven ticks for base 2, this way every label is an octave we chose.
    yAxis: {
      ...axisCommon,
      type: 'value',
      name: 'latency',
      nameGap: 8,
      min: 4,
      max: 10,
      interval: 1,
      axisLine: { show: false },
      // Labelled like the heatmap's rows (1 ms, 4 ms, 16 ms …), so the two latency views read alike.
      axisLabel: { ...axisCommon.axisLabel, formatter: (v: number) => rowAxisLabel(2 ** v) },
    },
    series: [],
  };
}

export interface PercentileCurveInput {
  index: number;
  latency: LatencyHistogram;
}

export interface PercentileUpdate {
  option: Record<string, unknown>;
  /** Curves drawn (phases with at least one measured request). */
  curves: number;
  /** Right end of the percentile axis, 1/(1−p). */
  xMax: number;
  /** Latency axis range (µs): whole octaves around every curve, at least two. */
  yMin: number;
  yMax: number;
}

/**
 * The latency axis: from the octave below the lowest value to the octave above the highest,
 * at least two octaves, so a 100 µs – 50 ms curve fills the plot instead of being flattened
 * into a 1 µs – 1 s range.
 */
export function latencyAxisRange(lowUs: number, highUs: number): { yMin: number; yMax: number } {
  if (!(highUs >= lowUs) || !Number.isFinite(highUs)) return { yMin: 16, yMax: 1024 };
  let lo = Math.floor(Math.log2(Math.max(1, lowUs)) + 1e-9);
  let hi = Math.ceil(Math.log2(Math.max(1, highUs)) - 1e-9);
  if (hi <= lo) hi = lo + 1;
  if (hi - lo < 2) lo = Math.max(0, hi - 2);
  if (hi - lo < 2) hi = lo + 2;
  return { yMin: 2 ** lo, yMax: 2 ** hi };
}

/**
 * One line per phase with samples; the x axis reaches the decade of the largest sample count (at
 * least 99.9 %). The latency axis is labelled every 1, 2, 4 … octaves: as few as leave
 * AXIS_LABEL_GAP_PX between labels on a plot `plotHeightPx` tall (ECharts' hideOverlap does
 * not thin this value axis: 9 octaves on a 75 px plot overprinted each other).
 */
export function buildPercentileUpdate(phases: readonly PercentileCurveInput[], plotHeightPx = Infinity): PercentileUpdate {
  let largest = 1;
  let low = Infinity;
  let high = -Infinity;
  const series = [];
  for (const ph of phases) {
    const points = percentileCurve(ph.latency);
    if (!points.length) continue;
    largest = Math.max(largest, ph.latency.total);
    low = Math.min(low, Math.max(1, points[0]!.valueUs));
    high = Math.max(high, Math.max(1, points[points.length - 1]!.valueUs));
    series.push({
      id: `phase-${ph.index}`,
      name: `phase ${ph.index}`,
      type: 'line',
      showSymbol: false,
      // The histogram is a step function of p: each value holds until the next bucket.
      step: 'end',
      lineStyle: { width: 1.6, color: phaseColor(ph.index) },
      itemStyle: { color: phaseColor(ph.index) },
      // [x, log2 of the latency (≥ 1 µs: a log scale has no zero), 1 for the max point, latency µs]
      data: points.map((p) => [p.x, Math.log2(Math.max(1, p.valueUs)), p.percentile === 1 ? 1 : 0, p.valueUs]),
    });
  }
  const xMax = 10 ** Math.max(3, Math.ceil(Math.log10(largest) - 1e-9));
  const range = latencyAxisRange(low, high);
  const from = Math.log2(range.yMin);
  const octaves = Math.log2(range.yMax) - from;
  let interval = octaves <= 8 ? 1 : octaves <= 16 ? 2 : 4;
  while (interval < octaves && plotHeightPx / Math.ceil(octaves / interval) < AXIS_LABEL_GAP_PX) interval *= 2;
  // The top goes up to a whole interval, so the last label is not squeezed against its neighbour.
  const to = from + Math.ceil(octaves / interval) * interval;
  return {
    curves: series.length,
    xMax,
    yMin: range.yMin,
    yMax: 2 ** to,
    option: { xAxis: { max: xMax }, yAxis: { min: from, max: to, interval }, series },
  };
}
