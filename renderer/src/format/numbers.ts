/**
 * Number formatting for the lab's displays: every number carries its unit, latencies
 * switch µs → ms → s at sensible points, counts are grouped. Pure, no DOM.
 */

const EN = 'en-US';
const intFmt = new Intl.NumberFormat(EN, { maximumFractionDigits: 0 });

/** "1.50" → "1.5", "2.0" → "2": decimals without trailing zeros. */
export function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** Significant-digit formatting without exponent notation and without trailing zeros. */
function sig(value: number, digits: number): string {
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return trimZeros(value.toFixed(decimals));
}

/** A latency in microseconds for a readout: "3.2 µs", "87 µs", "1.24 ms", "2.5 s". */
export function formatUs(us: number | null | undefined): string {
  if (us == null || !Number.isFinite(us)) return '—';
  const a = Math.abs(us);
  // Kernel times (the probes' ns histograms) reach below a microsecond.
  if (a > 0 && a < 1) return `${Math.round(us * 1000)} ns`;
  if (a < 10) return `${trimZeros(us.toFixed(1))} µs`;
  if (a < 1000) return `${Math.round(us)} µs`;
  if (a < 1_000_000) return `${sig(us / 1000, 3)} ms`;
  return `${sig(us / 1_000_000, 3)} s`;
}

/** A latency for an axis tick: two significant digits, "16 µs", "1 ms", "4.1 ms", "1 s". */
export function formatUsAxis(us: number): string {
  if (!Number.isFinite(us)) return '';
  const a = Math.abs(us);
  if (a < 1000) return `${sig(us, a < 100 ? 2 : 3)} µs`;
  if (a < 1_000_000) return `${sig(us / 1000, a < 100_000 ? 2 : 3)} ms`;
  return `${sig(us / 1_000_000, 2)} s`;
}

/** A grouped integer: 123456 → "123,456". */
export function formatInt(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—';
  return intFmt.format(Math.round(n));
}

/** A compact count for axis ticks: 950, 1.2k, 125k, 1.5M. */
export function formatCompact(n: number): string {
  if (!Number.isFinite(n)) return '';
  const a = Math.abs(n);
  if (a < 1000) return sig(n, 3);
  if (a < 1_000_000) return `${sig(n / 1000, 3)}k`;
  if (a < 1_000_000_000) return `${sig(n / 1_000_000, 3)}M`;
  return `${sig(n / 1_000_000_000, 3)}G`;
}

/** A byte amount in decimal units (like network tools): "12.3 MB", with `suffix` ("/s"). */
function scaledBytes(n: number | null | undefined, suffix: string): string {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? Math.round(v) : sig(v, 3)} ${units[u]}${suffix}`;
}

/** Bytes per second: "12.3 MB/s". */
export function formatBytesPerSec(bps: number | null | undefined): string {
  return scaledBytes(bps, '/s');
}

/** Bytes: "512 B", "32.3 kB". */
export function formatBytes(bytes: number | null | undefined): string {
  return scaledBytes(bytes, '');
}

/** Nanoseconds: "850 ns", "12.5 µs". */
export function formatNs(ns: number | null | undefined): string {
  if (ns == null || !Number.isFinite(ns)) return '—';
  if (Math.abs(ns) < 1000) return `${Math.round(ns)} ns`;
  return formatUs(ns / 1000);
}

/** Elapsed run time: "0.0 s", "12.3 s", "4 m 05 s". */
export function formatElapsed(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  if (ms < 600_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.floor(ms / 1000);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m} m ${String(s).padStart(2, '0')} s`;
}

/** A percentage with one decimal: "3.1 %". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return '—';
  const pct = fraction * 100;
  // Below 0.1 %, two significant digits: a probe's CPU share or a sampled share of 0.04 % is
  // not "0.0 %" (which reads as none at all).
  if (pct !== 0 && Math.abs(pct) < 0.1) return `${Number(pct.toPrecision(2))} %`;
  return `${pct.toFixed(1)} %`;
}
