/**
 * The A/B report as one self-contained HTML file: inline SVG charts and inline CSS, the
 * AbReport JSON embedded (for scripts, and so the file is its own data), no script needed to
 * read it, no network, no app. It opens in any browser and can be attached to a ticket.
 *
 * Charts: the two arms' latency heatmaps on one shared colour scale and one time axis (each
 * arm's measured frames laid end to end, round after round); the pooled percentile curves of
 * A and B overlaid on an HdrHistogram-style axis (50 %, 90 %, 99 %, 99.9 % equally spaced);
 * per-round dots of every metric so the spread is seen; the metrics table with ratio, CI,
 * p-value and verdict badge; the knob differences.
 */
import type { AbMetric, AbReport } from '../../contract/ab';
import { AB_COLOURS, badge, esc, fmt, heatmapSvg, METRIC_LABEL, percentileSvg, roundDotsSvg, sharedHeatScale } from '../../contract/abCharts';
import { flameDiff, flameLayout, flameSvg } from '../../contract/flameGraph';
import { armProfiles } from './report';

/** Spikes per arm (issue 12): found and labelled over the counted rounds, and by top cause. */
export function spikesSection(report: AbReport): string {
  const s = report.spikes;
  if (!s || (s.a.rounds === 0 && s.b.rounds === 0)) return '';
  const causes = [...new Set([...Object.keys(s.a.byCause), ...Object.keys(s.b.byCause)])].sort();
  const row = (arm: 'a' | 'b') => {
    const x = s[arm];
    return `<tr><th class="${arm}">${arm.toUpperCase()}</th><td>${x.rounds}</td><td>${x.found}</td><td>${x.labelled}</td><td class="mono">${x.perRound.join(' ')}</td>`
      + `<td class="mono">${causes.map((c) => `${esc(c)} ${x.byCause[c] ?? 0}`).join(', ') || '—'}</td></tr>`;
  };
  return `<h2>Spikes (windows whose tail rose above the run's own baseline; labelled: a cause with confidence ≥ 0.5)</h2>
<table data-testid="ab-spikes"><thead><tr><th>arm</th><th>rounds</th><th>spikes</th><th>labelled</th><th>per round</th><th>by top cause</th></tr></thead><tbody>${row('a')}${row('b')}</tbody></table>`;
}

/** The differential flame graph B vs A (each side normalised to its own samples: red grew in B). */
export function flameSection(report: AbReport, width: number): string {
  const profiles = armProfiles(report.samples);
  if (!profiles) return '';
  const rects = flameLayout(flameDiff(profiles.a, profiles.b), { minWidth: 0.002 });
  // Inline in HTML an <svg> needs no namespace, and the report names no URL at all (it is
  // checked to reach nothing outside itself).
  const svg = flameSvg(rects, { width, title: `${report.b.profileName} vs ${report.a.profileName}` }).replace(' xmlns="http://www.w3.org/2000/svg"', '');
  return `<h2>Differential flame graph: on-CPU stacks of B against A (red: a larger share of B's samples, blue: smaller)</h2>
<div data-testid="ab-flame">${svg}</div>`;
}

/** The p-value the verdict tested: Holm-adjusted over the metrics (the raw one stays in the JSON). */
const pHeld = (m: AbMetric): number | null => m.pValueHolm ?? m.pValue;

/** The report as HTML text. */
export function abReportHtml(report: AbReport): string {
  const width = 900;
  const shared = sharedHeatScale(report);
  const rows = report.metrics.map((m) => `<tr data-metric="${m.name}"><th>${esc(METRIC_LABEL[m.name])}</th><td>${fmt(m.a.median, 1)}</td><td>${fmt(m.b.median, 1)}</td>`
    + `<td>${m.ratio === null ? '—' : fmt(m.ratio, 3)}</td><td>${m.ci ? `${fmt(m.ci[0], 3)} – ${fmt(m.ci[1], 3)}` : '—'}</td>`
    + `<td>${pHeld(m) === null ? '—' : pHeld(m)! < 0.001 ? '&lt;0.001' : fmt(pHeld(m)!, 3)}</td><td>${badge(m.verdict)}</td><td>${roundDotsSvg(m)}</td></tr>`).join('');
  const pct = report.percentiles.map((p) => `<tr><th>p${p.percentile}</th><td>${fmt(p.aUs)}</td><td>${fmt(p.bUs)}</td><td>${p.ratio === null ? '—' : fmt(p.ratio, 3)}</td><td>${p.ci ? `${fmt(p.ci[0], 3)} – ${fmt(p.ci[1], 3)}` : '—'}</td></tr>`).join('');
  // An arm that never ran has no applied knobs: the difference shown is the requested one.
  const requested = report.knobDiffBasis === 'requested';
  const diff = report.knobDiff.length
    ? report.knobDiff.map((d) => `<tr><th class="mono">${esc(d.path)}</th><td class="mono">${esc(JSON.stringify(d.a))}</td><td class="mono">${esc(JSON.stringify(d.b))}</td></tr>`).join('')
    : `<tr><td colspan="3">${requested ? 'none: A and B were asked for the same knobs' : 'none: A and B ran the same applied knobs'}</td></tr>`;
  const warnings = report.warnings.map((w) => `<li>${esc(w)}</li>`).join('');
  // The data rides along as JSON: `<` escaped so no string in it can close the script element.
  const data = JSON.stringify(report).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>uring-lab A/B: ${esc(report.a.profileName)} vs ${esc(report.b.profileName)}</title>
<style>
body { background: #0d1117; color: ${AB_COLOURS.text}; font: 14px system-ui, sans-serif; margin: 24px; max-width: 960px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; width: 100%; } th, td { padding: 5px 8px; border-bottom: 1px solid ${AB_COLOURS.grid}; text-align: right; }
th:first-child { text-align: left; } .mono { font-family: ui-monospace, monospace; text-align: left; }
.axis { fill: ${AB_COLOURS.faint}; font: 11px ui-monospace, monospace; }
.badge { padding: 1px 8px; border-radius: 9px; font-weight: 600; } .good { background: #1e5b3a; color: #c8f7dc; }
.bad { background: #6b2330; color: #ffd6dc; } .same { background: #2f3742; color: #e6ebf1; } .none { background: #3b3320; color: #f5e6b8; }
.a { color: ${AB_COLOURS.a}; } .b { color: ${AB_COLOURS.b}; } .faint { color: ${AB_COLOURS.faint}; }
.warn li { color: #f5d48a; }
</style></head><body>
<h1>A/B: <span class="a">A = ${esc(report.a.profileName)}</span> vs <span class="b">B = ${esc(report.b.profileName)}</span></h1>
<p class="faint">${esc(report.status)} · ${report.rounds} of ${report.roundsRequested} rounds counted · ${fmt(report.durationS, 1)} s measured per arm after ${fmt(report.warmupS, 1)} s warm-up ·
order ${esc(report.order)} · seed ${report.seed} · ${report.resamples} bootstrap resamples · noise band ±${fmt(report.noiseThreshold * 100, 1)} % · α ${report.alpha} ·
${esc(report.startedAt)} – ${esc(report.endedAt)}</p>
${report.failure ? `<p class="warn">${esc(report.failure.message)}</p>` : ''}
${warnings ? `<h2>Warnings</h2><ul class="warn">${warnings}</ul>` : ''}
<h2>Metrics (median of the rounds; ratio = B/A with its 95 % bootstrap CI; two-sided Mann–Whitney U, Holm-adjusted over the metrics as the verdict tests it)</h2>
<table data-testid="ab-metrics"><thead><tr><th>metric</th><th class="a">A</th><th class="b">B</th><th>B/A</th><th>95 % CI</th><th>p (Holm)</th><th>verdict</th><th>rounds (<span class="a">A</span>/<span class="b">B</span>)</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Latency heatmaps (shared colour scale: log of requests per cell)</h2>
<div><div class="a">A</div>${heatmapSvg('a', report.samples, shared, width)}</div>
<div><div class="b">B</div>${heatmapSvg('b', report.samples, shared, width)}</div>
<h2>Pooled percentiles (all measured requests of each arm; <span class="a">A solid</span>, <span class="b">B dashed</span>)</h2>
${percentileSvg(report, width)}
<table><thead><tr><th>percentile</th><th class="a">A (µs)</th><th class="b">B (µs)</th><th>B/A</th><th>95 % CI (rounds resampled)</th></tr></thead><tbody>${pct}</tbody></table>
${spikesSection(report)}
${flameSection(report, width)}
<h2>Knobs that differ (${requested ? 'as requested: an arm never ran' : 'as applied'})</h2>
<table><thead><tr><th>knob</th><th class="a">A</th><th class="b">B</th></tr></thead><tbody>${diff}</tbody></table>
<script type="application/json" id="ab-report">${data}</script>
</body></html>
`;
}
