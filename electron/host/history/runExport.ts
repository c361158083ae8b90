/**
 * A saved run as a file to take elsewhere: `json` (the meta and every frame, to load back or
 * analyse), `csv` (one row per frame with its main numbers, for a spreadsheet) and `md` (the
 * summary as Markdown, to paste into a ticket).
 */
import { connectionServiceWords, knobLabel, latencyText, oneLineText, serverLoopWords, storageRunWords, type ExportRunResult, type GetRunResult, type RejectedKnob, type RunExportFormat, type RunFrame, type RunStats } from '../../contract';
import { defaultProfile } from '../profiles';
import { knobChanges } from '../run/runRecord';

/** The CSV's columns: what each frame measured, in the frame's units. */
const CSV_COLUMNS: Array<[string, (f: RunFrame) => number | boolean | string]> = [
  ['seq', (f) => f.seq], ['phase', (f) => f.phase], ['tMs', (f) => f.tMs], ['intervalMs', (f) => f.intervalMs], ['measuring', (f) => f.measuring],
  ['requests', (f) => f.requests], ['bytes', (f) => f.bytes], ['errors', (f) => f.errors], ['mismatches', (f) => f.mismatches ?? ''], ['timeouts', (f) => f.timeouts ?? ''],
  // A frame with no request completed has no latency: an empty cell, not the empty histogram's 0.
  // So is the server's CPU in a frame without our server (a load against another's, storage).
  ['throughputRps', (f) => f.throughputRps], ['p50Us', (f) => latencyText(f.requests, f.latencyUs.p50, '')], ['p99Us', (f) => latencyText(f.requests, f.latencyUs.p99, '')],
  ['p99CorrectedUs', (f) => latencyText(f.requests, f.latencyUs.p99Corrected, '')], ['maxUs', (f) => latencyText(f.requests, f.latencyUs.max, '')], ['inFlight', (f) => f.inFlight],
  ['oldestInFlightUs', (f) => f.oldestInFlightUs], ['serverCpuNs', (f) => (f.server ? f.serverCpuNs : '')], ['loadCpuNs', (f) => f.loadCpuNs],
  ['loadBusyShare', (f) => f.loadBusyShare], ['final', (f) => f.final],
];

export function framesCsv(frames: RunFrame[]): string {
  const lines = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const frame of frames) lines.push(CSV_COLUMNS.map(([, value]) => String(value(frame))).join(','));
  return `${lines.join('\n')}\n`;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
/**
 * Text from a run (a profile name, a path, a warning) inside a Markdown table cell or line: as
 * text, whatever renders it. Only `|` was escaped, so a name or storage.path with
 * `<img src=x onerror=…>` reached a ticket renderer that allows HTML as markup, and `*`, `_`,
 * `[…](…)` as emphasis and links. HTML's three as entities, Markdown's punctuation with `\`.
 */
const MD_HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const cell = (text: string) => oneLineText(text, 300).replace(/[&<>]/g, (c) => MD_HTML[c]!).replace(/[\\`*_[\]#|~]/g, '\\$&');
/** Text inside a code span: one line, no backtick to end the span early (HTML is literal there). */
const code = (text: string) => oneLineText(text, 200).replace(/`/g, "'");

function statsTable(stats: RunStats, storage = false): string[] {
  const l = stats.latencyUs;
  return [
    // A storage run counts I/Os: its throughput is IOPS (it read "req/s" in runs show and the export).
    storage ? '| IOPS | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | I/Os | errors | measured s |'
      : '| throughput (req/s) | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | requests | errors | measured s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${fmt(stats.throughputRps)} | ${[l.p50, l.p90, l.p99, l.p999, l.max].map((us) => latencyText(stats.requests, us)).join(' | ')} | ${fmt(stats.requests)} | ${fmt(stats.errors)} | ${fmt(stats.measuredS, 2)} |`,
  ];
}

/** `damaged`: the line that says the run's frames file was damaged or short (RunStore.damagedFramesLine), or null. */
export function runMarkdown(run: GetRunResult, damaged: string | null = null): string {
  const { meta } = run;
  const s = meta.summary;
  const lines = [`# uring-lab run ${meta.runId} — ${cell(meta.name)}`, ''];
  if (damaged) lines.push(`- **damaged frames**: ${cell(damaged)}`);
  lines.push(`- status: **${meta.status}**${s?.failure ? ` (${cell(s.failure.code)}: ${cell(s.failure.message)})` : ''}${meta.recovered ? ` — ${cell(meta.recovered.reason)}` : ''}`);
  // Every string of the meta is text from a file (a run folder someone sent): startedAt and
  // workload went out raw, escape sequences and HTML included, to the terminal of `runs show`.
  lines.push(`- started ${cell(meta.startedAt)}${meta.endedAt ? `, ended ${cell(meta.endedAt)}` : ', still going'}; workload ${cell(meta.workload)}${s ? `; kernel ${cell(s.kernel.release)}` : ''}`);
  if (run.pinned) lines.push('- pinned');
  lines.push('');
  if (s) {
    lines.push(...statsTable({ measuredS: s.measuredS, requests: s.requests, errors: s.errors, throughputRps: s.throughputRps, latencyUs: s.latencyUs, serverCpuNsPerReq: s.serverCpuNsPerReq, loadCpuNsPerReq: s.loadCpuNsPerReq }, !!s.storage));
    const storage = storageRunWords(s);
    if (storage) lines.push('', `Storage: ${cell(storage)}.`);
    lines.push('', `CPU per request: server ${s.serverCpuNsPerReq === null ? 'n/a' : `${fmt(s.serverCpuNsPerReq)} ns`}, load ${s.loadCpuNsPerReq === null ? 'n/a' : `${fmt(s.loadCpuNsPerReq)} ns`}; corrected p99 ${latencyText(s.requests, s.latencyCorrectedUs.p99)} µs; ${s.frames} frames.`);
    const loop = serverLoopWords(s);
    if (loop) lines.push('', `Server loop: ${loop.loop}; its CPU per request: ${loop.cpu}.`);
    if (s.perConnection) lines.push('', `Echoes per connection: ${connectionServiceWords(s.perConnection)}.`);
  } else if (meta.recovered) {
    lines.push('No summary: the lab process ended without closing the run. From the frames it saved (measured frames only):', '');
    lines.push(...statsTable(meta.recovered.stats, meta.workload === 'storage'));
    lines.push('', `${meta.recovered.frames} frames saved.`);
  } else {
    lines.push('The run is still going: no numbers yet.');
  }
  const applied = s?.applied ?? meta.phases[meta.phases.length - 1]?.applied ?? meta.profile;
  const changed = knobChanges(defaultProfile(), applied).filter((c) => c.path !== 'name' && !c.path.startsWith('description'));
  lines.push('', '## Knobs (as applied, where they differ from the defaults)', '');
  if (changed.length === 0) lines.push('All defaults.');
  for (const c of changed) lines.push(`- ${cell(knobLabel(c.path))} (\`${c.path}\`): ${cell(JSON.stringify(c.to))}`);
  // Every phase's refusals, not the last one's only: a knob refused in a middle phase (IOPOLL
  // asked for live, then set back) read as applied from the phase table alone. The same refusal
  // in several phases is one line naming them.
  const phases = s?.phases ?? meta.phases;
  const refusals = new Map<string, { r: RejectedKnob; phases: number[] }>();
  const note = (r: RejectedKnob, phase: number | null) => {
    const key = JSON.stringify([r.knob, r.requested, r.code]);
    const seen = refusals.get(key);
    if (!seen) refusals.set(key, { r, phases: phase === null ? [] : [phase] });
    else if (phase !== null && !seen.phases.includes(phase)) seen.phases.push(phase);
  };
  for (const p of phases) for (const r of p.rejected) note(r, p.index);
  // The summary's own list is the last phase's (a summary saved without phases has only it).
  const last = phases.at(-1)?.index ?? null;
  for (const r of s?.rejected ?? []) note(r, last);
  const rejected = [...refusals.values()];
  if (rejected.length) {
    lines.push('', '## Refused knobs (by the kernel, or not applicable)', '');
    const where = (at: number[]) => (phases.length > 1 ? ` (phase${at.length > 1 ? 's' : ''} ${at.join(', ')})` : '');
    for (const { r, phases: at } of rejected) lines.push(`- \`${code(r.knob)}\` = ${cell(JSON.stringify(r.requested))}${where(at)}: ${cell(r.code)} — ${cell(r.reason)}`);
  }
  if (s && s.phases.length > 1) {
    lines.push('', '## Phases', '', '| phase | changed | refused | req/s | p99 µs |', '|---:|---|---|---:|---:|');
    for (const p of s.phases) lines.push(`| ${p.index} | ${cell(p.changed.map((c) => `${c.path} ${JSON.stringify(c.from)}→${JSON.stringify(c.to)}`).join(', ') || 'start')} | ${cell(p.rejected.map((r) => `${r.knob} (${r.code})`).join(', ') || '—')} | ${fmt(p.stats.throughputRps)} | ${latencyText(p.stats.requests, p.stats.latencyUs.p99)} |`);
  }
  if (s?.warnings.length) {
    lines.push('', '## Warnings', '');
    for (const w of s.warnings) lines.push(`- ${cell(w)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `damaged`: the line that says the frames file was damaged or short, or null. The CLI prints it
 * on stderr; an export through the LabApi has only its file, so the file says it (md: a line at
 * the top, json: `damaged`): a download of a damaged run read as the whole run. CSV has no
 * comment syntax that tools agree on, so for every format the result carries it too (`damaged`)
 * and the window shows it beside the download.
 */
export function exportRun(run: GetRunResult, format: RunExportFormat, damaged: string | null = null): ExportRunResult {
  const id = run.meta.runId;
  switch (format) {
    case 'json':
      return { filename: `${id}.json`, mediaType: 'application/json', text: `${JSON.stringify({ kind: 'uring-lab/run', meta: run.meta, pinned: run.pinned, frames: run.frames, damaged })}\n`, damaged };
    case 'csv':
      return { filename: `${id}.csv`, mediaType: 'text/csv', text: framesCsv(run.frames), damaged };
    case 'md':
      return { filename: `${id}.md`, mediaType: 'text/markdown', text: runMarkdown(run, damaged), damaged };
  }
}
