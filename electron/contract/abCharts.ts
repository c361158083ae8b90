/**
 * The A/B report's charts as SVG text, shared by the self-contained HTML report
 * (electron/host/ab/html.ts) and the A/B view (renderer), so both draw the same picture from
 * the same AbReport: the two arms' latency heatmaps on one shared colour scale and one time
 * axis (each arm's measured frames end to end, round after round), the pooled percentile
 * curves of A and B overlaid on an HdrHistogram-style axis, and per-round dots of a metric.
 * Pure string building (no DOM, no Node), every text escaped.
 */
import type { AbMetric, AbReport, AbRoundArm } from './ab';
import { histogramBucketLowerUs, LatencyHistogram } from './histogram';

export const AB_COLOURS = { a: '#5cb8ff', b: '#f2a85b', text: '#c9d1db', faint: '#9aa4b2', grid: '#2a313b', panel: '#141920' };
const HEAT = ['#6a5acd', '#4f86d6', '#2fa8a8', '#3fc482', '#9bd84f', '#f4e35a'];

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function fmt(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export const METRIC_LABEL: Record<AbMetric['name'], string> = {
  throughputRps: 'throughput (req/s)', p50Us: 'p50 (µs)', p99Us: 'p99 (µs)', p999Us: 'p99.9 (µs)',
  serverCpuNsPerReq: 'server CPU (ns/req)', loadCpuNsPerReq: 'load CPU (ns/req)',
};

/** Heatmap rows: quarter-octave latency bands from 1 µs up (the live view's rows). */
function rowOf(bucket: number): number {
  const us = Math.max(1, histogramBucketLowerUs(bucket));
  return Math.floor(Math.log2(us) * 4);
}

export function heatmapSvg(arm: 'a' | 'b', samples: readonly AbRoundArm[], shared: { maxCount: number; rows: [number, number] }, width: number): string {
  const frames = samples.filter((s) => s.arm === arm).sort((x, y) => x.round - y.round).flatMap((s) => s.frames.map(([, h]) => h));
  const height = 160;
  const [rowLo, rowHi] = shared.rows;
  const rowCount = Math.max(1, rowHi - rowLo + 1);
  const cw = frames.length ? (width - 60) / frames.length : 0;
  const rh = (height - 24) / rowCount;
  const cells: string[] = [];
  frames.forEach((h, x) => {
    const byRow = new Map<number, number>();
    for (const [i, c] of h) byRow.set(rowOf(i), (byRow.get(rowOf(i)) ?? 0) + c);
    for (const [row, count] of byRow) {
      const level = shared.maxCount > 1 ? Math.log(count) / Math.log(shared.maxCount) : 1;
      const colour = HEAT[Math.min(HEAT.length - 1, Math.floor(level * HEAT.length))];
      cells.push(`<rect x="${(56 + x * cw).toFixed(2)}" y="${(4 + (rowHi - row) * rh).toFixed(2)}" width="${Math.max(cw, 0.6).toFixed(2)}" height="${rh.toFixed(2)}" fill="${colour}"><title>${fmt(2 ** (row / 4), 0)} µs: ${count} requests</title></rect>`);
    }
  });
  const ticks: string[] = [];
  for (let row = rowLo; row <= rowHi; row += 4) {
    const y = 4 + (rowHi - row + 0.5) * rh;
    const us = 2 ** (row / 4);
    ticks.push(`<text x="50" y="${y.toFixed(1)}" text-anchor="end" class="axis">${us >= 1000 ? `${fmt(us / 1000, us >= 10_000 ? 0 : 1)} ms` : `${fmt(us)} µs`}</text>`);
  }
  return `<svg class="ab-chart" data-testid="ab-heatmap-${arm}" data-frames="${frames.length}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="latency heatmap of ${arm.toUpperCase()}">`
    + `<rect x="56" y="4" width="${width - 60}" height="${height - 24}" fill="${AB_COLOURS.panel}"/>${cells.join('')}${ticks.join('')}`
    + `<text x="56" y="${height - 6}" class="axis">${frames.length} frames of ${arm.toUpperCase()}, rounds in order (measured frames only)</text></svg>`;
}

export function percentileSvg(report: AbReport, width: number): string {
  const height = 200;
  const qs = [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999];
  const pooled = (arm: 'a' | 'b') => {
    const h = new LatencyHistogram();
    for (const s of report.samples) if (s.arm === arm && s.status === 'completed') h.add(s.histogram);
    return h;
  };
  const curves = { a: pooled('a'), b: pooled('b') };
  const xOf = (q: number) => 56 + ((Math.log10(1 / (1 - q)) - Math.log10(2)) / (3 - Math.log10(2))) * (width - 70);
  const values = (['a', 'b'] as const).flatMap((arm) => qs.map((q) => curves[arm].quantileUs(q))).filter((v) => v > 0);
  const maxV = Math.max(1, ...values);
  const yOf = (v: number) => 8 + (1 - Math.log10(Math.max(1, v)) / Math.log10(maxV * 1.2)) * (height - 36);
  const lines = (['a', 'b'] as const).map((arm) => {
    if (curves[arm].total === 0) return '';
    const pts = qs.map((q) => `${xOf(q).toFixed(1)},${yOf(curves[arm].quantileUs(q)).toFixed(1)}`).join(' ');
    return `<polyline points="${pts}" fill="none" stroke="${AB_COLOURS[arm]}" stroke-width="2" ${arm === 'b' ? 'stroke-dasharray="6 3"' : ''}/>`
      + qs.map((q) => `<circle cx="${xOf(q).toFixed(1)}" cy="${yOf(curves[arm].quantileUs(q)).toFixed(1)}" r="3" fill="${AB_COLOURS[arm]}"><title>${arm.toUpperCase()} p${q * 100}: ${curves[arm].quantileUs(q)} µs</title></circle>`).join('');
  }).join('');
  const xTicks = qs.map((q) => `<text x="${xOf(q).toFixed(1)}" y="${height - 8}" text-anchor="middle" class="axis">p${fmt(q * 100, q >= 0.995 ? 1 : 0)}</text>`).join('');
  const yTicks = [1, 10, 100, 1000, 10_000, 100_000].filter((v) => v <= maxV * 1.2).map((v) => `<text x="50" y="${yOf(v).toFixed(1)}" text-anchor="end" class="axis">${v >= 1000 ? `${v / 1000} ms` : `${v} µs`}</text><line x1="56" x2="${width - 14}" y1="${yOf(v).toFixed(1)}" y2="${yOf(v).toFixed(1)}" stroke="${AB_COLOURS.grid}"/>`).join('');
  return `<svg class="ab-chart" data-testid="ab-percentiles" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="pooled latency percentiles of A and B">${yTicks}${lines}${xTicks}</svg>`;
}

export function roundDotsSvg(metric: AbMetric): string {
  const width = 220;
  const height = 26;
  const all = [...metric.a.samples, ...metric.b.samples];
  if (!all.length) return '';
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const xOf = (v: number) => 6 + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (width - 12);
  const dots = (['a', 'b'] as const).map((arm) => metric[arm].samples.map((v) => `<circle cx="${xOf(v).toFixed(1)}" cy="${arm === 'a' ? 8 : 18}" r="3" fill="${AB_COLOURS[arm]}" fill-opacity="0.8"><title>${arm.toUpperCase()}: ${fmt(v, 1)}</title></circle>`).join('')).join('');
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="rounds of ${metric.name}">${dots}</svg>`;
}

export function badge(verdict: AbMetric['verdict']): string {
  const cls = verdict === 'better' ? 'good' : verdict === 'worse' ? 'bad' : verdict === '~' ? 'same' : 'none';
  return `<span class="badge ${cls}">${esc(verdict)}</span>`;
}


/** The colour scale and latency rows both heatmaps share: the largest cell count and row range over both arms. */
export function sharedHeatScale(report: AbReport): { maxCount: number; rows: [number, number] } {
  let maxCount = 1;
  let rowLo = Infinity;
  let rowHi = -Infinity;
  for (const s of report.samples) for (const [, h] of s.frames) {
    const byRow = new Map<number, number>();
    for (const [i, c] of h) byRow.set(rowOf(i), (byRow.get(rowOf(i)) ?? 0) + c);
    for (const [row, c] of byRow) { maxCount = Math.max(maxCount, c); rowLo = Math.min(rowLo, row); rowHi = Math.max(rowHi, row); }
  }
  return { maxCount, rows: [Number.isFinite(rowLo) ? rowLo : 0, Number.isFinite(rowHi) ? rowHi : 40] };
}
