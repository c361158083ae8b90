/**
 * Exports of what the UI shows: a chart as PNG (ECharts' own getDataURL on the instance bound
 * to a chart element, so no chart component needs an export hook), the frames behind the
 * charts as CSV, and any text the host made (a run's or a profile's export) as a download.
 * The browser and the Electron window download the same way: an <a download> of a Blob.
 */
import { latencyText, type RunFrame } from '../../../electron/contract';
import { LATENCY_ROWS, type CoarseColumn, type LatencyRowLayout } from '../charts/latencyRows';
import { echarts } from '../charts/echarts';

/** One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\n') + '\n';
}

export const FRAMES_CSV_HEADER = [
  't_s', 'seq', 'phase', 'measuring', 'interval_ms', 'requests', 'throughput_rps', 'errors', 'mismatches', 'timeouts', 'bytes',
  'p50_us', 'p99_us', 'p99_corrected_us', 'max_us', 'in_flight', 'load_busy_share',
] as const;

/** The data of the throughput and latency charts: one row per frame, in seq order. */
export function framesCsv(frames: readonly RunFrame[]): string {
  return toCsv(
    FRAMES_CSV_HEADER,
    frames.map((f) => [
      (f.tMs / 1000).toFixed(3), f.seq, f.phase, f.measuring, f.intervalMs, f.requests, f.throughputRps, f.errors, f.mismatches ?? '', f.timeouts ?? '', f.bytes,
      // No request completed in the frame: no latency (empty cells), not the empty histogram's 0.
      ...[f.latencyUs.p50, f.latencyUs.p99, f.latencyUs.p99Corrected, f.latencyUs.max].map((us) => latencyText(f.requests, us, '')), f.inFlight, f.loadBusyShare,
    ]),
  );
}

export const HEATMAP_CSV_HEADER = ['t_s', 'seq', 'phase', 'row_lower_us', 'row_upper_us', 'requests'] as const;

/** The heatmap's cells as drawn: one row per non-empty (frame, ¼-octave row) pair. */
export function heatmapCsv(columns: readonly { frame: RunFrame; column: CoarseColumn }[], layout: LatencyRowLayout = LATENCY_ROWS): string {
  const rows: unknown[][] = [];
  for (const { frame, column } of columns) {
    for (const [row, count] of column.cells) {
      const r = layout.rows[row];
      if (r) rows.push([(frame.tMs / 1000).toFixed(3), frame.seq, frame.phase, r.lowerUs, r.upperUs, count]);
    }
  }
  return toCsv(HEATMAP_CSV_HEADER, rows);
}

/** A file name from free text (a run id, a chart title): letters, digits, . _ - only. */
export function safeFileName(text: string, fallback = 'export'): string {
  const cleaned = text.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 80);
  return cleaned || fallback;
}

/** Saves `href` (a blob: or data: URL) as `filename` through a temporary <a download>. */
export function downloadHref(filename: string, href: string, doc: Document = document): void {
  const a = doc.createElement('a');
  a.href = href;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  doc.body.appendChild(a);
  a.click();
  a.remove();
}

/** Saves text as a file (the host's exports, the CSVs). */
export function downloadText(filename: string, mediaType: string, text: string, doc: Document = document): void {
  const url = URL.createObjectURL(new Blob([text], { type: mediaType }));
  try {
    downloadHref(filename, url, doc);
  } finally {
    // The click has started the download; the URL is not needed after this task.
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}

/** A chart on the page: its panel's title and the element it is drawn in (an ECharts host or a canvas). */
export interface ExportableChart {
  title: string;
  el: HTMLElement;
}

/**
 * The charts under `root`: every `.chart-panel` of the live and replay views holds `.chart`
 * elements, each an ECharts instance's host or a <canvas> (the heatmaps paint their own);
 * a chart's title is its panel's heading.
 */
export function findCharts(root: ParentNode): ExportableChart[] {
  const out: ExportableChart[] = [];
  for (const panel of Array.from(root.querySelectorAll<HTMLElement>('.chart-panel'))) {
    // A heading with a long and a short form (one shown per width) is named by the long one:
    // its whole text read "Latency by percentilePercentiles".
    const h2 = panel.querySelector('h2');
    const title = (h2?.querySelector('.title-long') ?? h2)?.textContent?.trim() || 'chart';
    for (const el of Array.from(panel.querySelectorAll<HTMLElement>('.chart'))) {
      if (el instanceof HTMLCanvasElement ? el.width > 0 && el.height > 0 : echarts.getInstanceByDom(el)) out.push({ title, el });
    }
  }
  return out;
}

/**
 * The chart as a PNG data URL on the page's background (a transparent PNG reads badly on a
 * white page): ECharts renders its own at 2×; a canvas is copied at its backing-store size.
 */
export function chartPng(el: HTMLElement, background = '#0e1116'): string | null {
  if (el instanceof HTMLCanvasElement) {
    const out = el.ownerDocument.createElement('canvas');
    out.width = el.width;
    out.height = el.height;
    const ctx = out.getContext('2d');
    if (!ctx) return null;
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(el, 0, 0);
    return out.toDataURL('image/png');
  }
  const chart = echarts.getInstanceByDom(el);
  return chart ? chart.getDataURL({ type: 'png', pixelRatio: 2, backgroundColor: background }) : null;
}
