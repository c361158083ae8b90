import { describe, expect, it } from 'vitest';
import { highestEquivalentUs, histogramBucketUpperUs, LatencyHistogram } from '../../electron/contract';
import {
  buildPercentileUpdate,
  latencyAxisRange,
  percentileBaseOption,
  percentileCurve,
  percentileText,
} from '../../renderer/src/charts/percentileOption';
import { AXIS_LABEL_GAP_PX } from '../../renderer/src/charts/chartCanvas';
import { bucketOf } from './renderer-fixtures';

/** 10 000 requests: 9 000 at 20 µs, 900 at 100 µs, 90 at 1 ms, 9 at 10 ms, 1 at 50 ms. */
function knownHistogram(): LatencyHistogram {
  return LatencyHistogram.from([
    [bucketOf(20), 9000],
    [bucketOf(100), 900],
    [bucketOf(1000), 90],
    [bucketOf(10_000), 9],
    [bucketOf(50_000), 1],
  ]);
}

describe('latency counts', () => {
  it('reports percentiles as the highest value of their bucket, like the host summary', () => {
    const h = knownHistogram();
    expect(h.total).toBe(10_000);
    expect(h.quantileUs(0)).toBe(20);
    expect(h.quantileUs(0.5)).toBe(20);
    expect(h.quantileUs(0.9)).toBe(20);
    expect(h.quantileUs(0.99)).toBe(highestEquivalentUs(bucketOf(100)));
    expect(h.quantileUs(0.999)).toBe(highestEquivalentUs(bucketOf(1000)));
    expect(h.quantileUs(0.9999)).toBe(highestEquivalentUs(bucketOf(10_000)));
    expect(h.maxUs()).toBe(histogramBucketUpperUs(bucketOf(50_000)) - 1);
    expect(h.maxUs()).toBeGreaterThanOrEqual(50_000);
    expect(new LatencyHistogram().quantileUs(0.99)).toBe(0);
    expect(new LatencyHistogram().maxUs()).toBe(0);
  });
});

describe('percentile curve', () => {
  it("puts every point on the histogram's quantile at p = 1 − 1/x, ending at the max", () => {
    const h = knownHistogram();
    const curve = percentileCurve(h);
    const inner = curve.slice(0, -1);
    for (const p of inner) {
      expect(p.x).toBeCloseTo(1 / (1 - p.percentile), 6);
      expect(p.valueUs).toBe(h.quantileUs(p.percentile));
    }
    // ten points per decade from 0 % up to (not reaching) 1/(1−p) = N
    expect(inner).toHaveLength(40);
    expect(inner[0]).toEqual({ x: 1, percentile: 0, valueUs: 20 });
    const last = curve[curve.length - 1]!;
    expect(last).toEqual({ x: 10_000, percentile: 1, valueUs: h.maxUs() });
    // the values never decrease along the curve
    for (let i = 1; i < curve.length; i++) expect(curve[i]!.valueUs).toBeGreaterThanOrEqual(curve[i - 1]!.valueUs);
  });

  it('hits p90, p99 and p99.9 exactly at x = 10, 100, 1000 (the summary percentiles)', () => {
    const h = knownHistogram();
    const at = (x: number) => percentileCurve(h).find((p) => Math.abs(p.x - x) < 1e-6)!;
    expect(at(10).percentile).toBe(0.9);
    expect(at(10).valueUs).toBe(h.quantileUs(0.9));
    expect(at(100).percentile).toBe(0.99);
    expect(at(100).valueUs).toBe(h.quantileUs(0.99));
    expect(at(1000).percentile).toBe(0.999);
    expect(at(1000).valueUs).toBe(h.quantileUs(0.999));
  });

  it('has no points for an empty histogram and only the max for one sample', () => {
    expect(percentileCurve(new LatencyHistogram())).toEqual([]);
    const one = LatencyHistogram.from([[bucketOf(42), 1]]);
    expect(percentileCurve(one)).toEqual([{ x: 1, percentile: 1, valueUs: 42 }]);
  });

  it('labels the 1/(1−p) axis in percent', () => {
    expect([1, 10, 100, 1000, 10_000, 100_000].map(percentileText)).toEqual(['0 %', '90 %', '99 %', '99.9 %', '99.99 %', '99.999 %']);
    expect(percentileText(10 ** 1.5)).toBe('96.8 %');
    type Axis = { type: string; min: number; axisLabel: { formatter: (v: number) => string } };
    const base = percentileBaseOption() as { xAxis: Axis; yAxis: Axis };
    expect(base.xAxis.type).toBe('log');
    expect(base.xAxis.min).toBe(1);
    expect(base.xAxis.axisLabel.formatter(1000)).toBe('99.9 %');
    // latency is plotted as log2(µs): the labels are the octaves
    expect(base.yAxis.type).toBe('value');
    expect([6, 10, 12, 20].map(base.yAxis.axisLabel.formatter)).toEqual(['64 µs', '1 ms', '4 ms', '1 s']);
  });

  it('draws one curve per phase with samples, reaching the decade of the largest count', () => {
    const u = buildPercentileUpdate([
      { index: 0, latency: knownHistogram() },
      { index: 1, latency: LatencyHistogram.from([[bucketOf(30), 500]]) },
      { index: 2, latency: new LatencyHistogram() }, // warming up: no curve
    ]);
    expect(u.curves).toBe(2);
    const series = u.option.series as Array<{ id: string; data: Array<[number, number, number, number]>; lineStyle: { color: string } }>;
    expect(series.map((s) => s.id)).toEqual(['phase-0', 'phase-1']);
    expect(series[0]!.lineStyle.color).not.toBe(series[1]!.lineStyle.color);
    expect(u.xMax).toBe(10_000);
    expect((u.option.xAxis as { max: number }).max).toBe(10_000);
    // points are [x, log2 µs, max flag, µs]: the curve's own values, on a log2 scale
    const h = knownHistogram();
    expect(series[0]!.data.map((d) => d[3])).toEqual(percentileCurve(h).map((p) => p.valueUs));
    expect(series[0]!.data.map((d) => d[1])).toEqual(percentileCurve(h).map((p) => Math.log2(p.valueUs)));
    expect(series[0]!.data[series[0]!.data.length - 1]![2]).toBe(1);
    // latencies below 1 µs sit at 1 µs (log2 = 0): a log scale has no zero
    const subMicro = buildPercentileUpdate([{ index: 0, latency: LatencyHistogram.from([[0, 10]]) }]).option.series as typeof series;
    expect(subMicro[0]!.data[0]).toEqual([1, 0, 0, 0]);
    expect(subMicro[0]!.data[subMicro[0]!.data.length - 1]).toEqual([10, 0, 1, 0]);
    expect(buildPercentileUpdate([]).xMax).toBe(1000);
  });

  it('sets the latency axis to whole octaves around the curves, not ECharts’ wider rounding', () => {
    const u = buildPercentileUpdate([{ index: 0, latency: knownHistogram() }]);
    expect(u.yMin).toBe(16); // the minimum is 20 µs
    expect(u.yMax).toBe(65_536); // the max is ~50 ms
    expect(u.option.yAxis).toEqual({ min: 4, max: 16, interval: 2 }); // 12 octaves: a label every second one
    // 11 octaves at a label every two: the top rounds up to a whole step
    const odd = buildPercentileUpdate([{ index: 0, latency: LatencyHistogram.from([[bucketOf(70), 5], [bucketOf(100_000), 1]]) }]);
    expect(odd.option.yAxis).toEqual({ min: 6, max: 18, interval: 2 });
    expect(odd.yMax).toBe(2 ** 18);
    expect(latencyAxisRange(100, 110)).toEqual({ yMin: 32, yMax: 128 }); // at least two octaves
    // A short plot gets fewer labels: never closer than AXIS_LABEL_GAP_PX (64 µs … 16 ms, 8
    // octaves, on the 75 px plot seen at 1024×700, overprinted each other one per octave).
    const wide = LatencyHistogram.from([[bucketOf(70), 5], [bucketOf(15_000), 1]]);
    expect(buildPercentileUpdate([{ index: 0, latency: wide }]).option.yAxis).toEqual({ min: 6, max: 14, interval: 1 });
    for (const [height, interval] of [[200, 1], [104, 1], [75, 2], [40, 4], [20, 8], [5, 8]] as const) {
      const y = buildPercentileUpdate([{ index: 0, latency: wide }], height).option.yAxis as { min: number; max: number; interval: number };
      expect(y.interval, `${height} px`).toBe(interval);
      const labels = (y.max - y.min) / y.interval;
      if (labels > 1) expect(height / labels).toBeGreaterThanOrEqual(AXIS_LABEL_GAP_PX);
    }
    expect(latencyAxisRange(1, 1)).toEqual({ yMin: 1, yMax: 4 });
    expect(latencyAxisRange(64, 256)).toEqual({ yMin: 64, yMax: 256 });
    expect(latencyAxisRange(Infinity, -Infinity)).toEqual({ yMin: 16, yMax: 1024 });
  });
});
