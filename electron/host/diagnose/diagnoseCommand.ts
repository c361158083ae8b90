/**
 * `uring-lab diagnose RUN_ID [--json] [--k N] [--max-factor F]`: the spike report of a saved run,
 * recomputed from its frames (so the detection can be re-tuned after the fact), one line per
 * spike, or with --json {report, profiles} (the diagnoseRun result). Reads the history directly:
 * no engine starts. Bad input (an unknown id or flag, a bad number) is one line naming it and the
 * fix, exit 2.
 */
import { parseArgs } from 'node:util';
import { LabError, MAX_FRAMES_PER_GET, oneLineText, type GetRunResult, type Profiles, type SpikeParams, type SpikeReport } from '../../contract';
import { checkFlagTokens, decimalFlag, flagParseError } from '../cliFlags';
import { RunStore, runStoreOptionsFromEnv } from '../history/runStore';
import { reportDamage } from '../history/runsVerb';
import { diagnoseFrames, spikeParams } from './report';

export const DIAGNOSE_USAGE = '  uring-lab diagnose RUN_ID [--json] [--k N] [--max-factor F]';
export const DIAGNOSE_HELP = `  diagnose the spikes of a saved run: windows whose p99 / p99.9 rose above the run's rolling
           baseline (median + k × MAD, default k 4) or whose max exceeded --max-factor × the
           usual max (default 4), each with its ranked causes (cpu-contention naming the tasks,
           irq-softirq, memory-reclaim, …) and the evidence; --json prints {report, profiles}`;

function usage(message: string, fix: string, field?: string): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', message, fix, field });
}

function numberFlag(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = decimalFlag(text);
  if (!Number.isFinite(value)) throw usage(`diagnose: --${name} ${JSON.stringify(oneLineText(text, 40))} is not a number`, `give --${name} a number, e.g. --${name} 4`, name);
  return value;
}

/** Diagnoses a saved run (the history's meta and frames). */
export function diagnoseRun(run: GetRunResult, given: { k?: number; maxFactor?: number } = {}): { report: SpikeReport | null; profiles: Profiles | null } {
  const params = spikeParams(given);
  return diagnoseFrames(run.meta.runId, run.frames, params, run.meta.summary?.injections ?? []);
}

/**
 * diagnoseRun (LabApi): a saved run read page by page (a page is bounded in bytes) and diagnosed.
 * `getPage` is the history's get (it waits for this process's own writes first).
 */
export async function diagnoseSavedRun(
  getPage: (page: { runId: string; fromSeq: number; limit: number }) => Promise<GetRunResult>,
  runId: string,
  given: Partial<Record<keyof SpikeParams, number>> = {},
): Promise<{ report: SpikeReport | null; profiles: Profiles | null }> {
  const params = spikeParams(given);
  const first = await getPage({ runId, fromSeq: 0, limit: MAX_FRAMES_PER_GET });
  const frames = [...first.frames];
  for (let next = first.nextSeq; next !== null;) {
    const page = await getPage({ runId, fromSeq: next, limit: MAX_FRAMES_PER_GET });
    frames.push(...page.frames);
    next = page.nextSeq !== null && page.nextSeq > next ? page.nextSeq : null;
  }
  return diagnoseFrames(runId, frames, params, first.meta.summary?.injections ?? []);
}

const fmt = (us: number) => (us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us).toLocaleString('en-US')} µs`);

export function formatSpikeReport(report: SpikeReport | null, runId: string, frames: number): string {
  if (!report) return `run ${runId}: no measured frames, nothing to diagnose (${frames} frames saved)\n`;
  const missing = (Object.entries(report.sources) as [string, boolean][]).filter(([, v]) => !v).map(([k]) => k);
  const base = report.baselines.map((b) => `phase ${b.phase} p99 ${fmt(b.p99Us)} (MAD ${fmt(b.p99MadUs)})`).join(', ');
  const lines = [
    `run ${runId}: ${report.spikes.length} spike${report.spikes.length === 1 ? '' : 's'}, ${report.labelled} labelled (confidence ≥ ${report.params.labelConfidence}); baseline ${base || 'none'}; k ${report.params.k}, max factor ${report.params.maxFactor}`,
  ];
  if (missing.length) lines.push(`  evidence missing: ${missing.join(', ')} (probes off or not attached: fewer causes can be seen)`);
  if (report.spikes.length) lines.push('   #  window (s)      tail                           cause              conf  why');
  for (const s of report.spikes) {
    const top = s.causes[0]!;
    const window = `${(s.atMs / 1000).toFixed(2)}–${((s.atMs + s.durationMs) / 1000).toFixed(2)}`;
    const tail = `${s.tail.metric} ${fmt(s.tail.valueUs)} (base ${fmt(s.tail.baselineUs)})`;
    const more = s.causes.length > 1 ? `; then ${s.causes.slice(1, 3).map((c) => `${c.cause} ${c.confidence.toFixed(2)}`).join(', ')}` : '';
    const injected = s.injected.length ? ` [injected: ${s.injected.map((i) => i.kind).join(', ')}]` : '';
    lines.push(oneLineText(`  ${String(s.id).padStart(2)}  ${window.padEnd(14)}  ${tail.padEnd(30)} ${top.cause.padEnd(18)} ${top.confidence.toFixed(2)}  ${top.summary}${more}${injected}`, 600));
  }
  return `${lines.join('\n')}\n`;
}

/** Runs `uring-lab diagnose ...`; returns the exit code (bad input throws an `input` LabError: exit 2). */
export async function diagnoseCommand(args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  let parsed;
  try {
    const options = { json: { type: 'boolean' }, k: { type: 'string' }, 'max-factor': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
    checkFlagTokens('diagnose', options, parsed.tokens);
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError('diagnose', args, err, 'uring-lab diagnose takes: RUN_ID [--json] [--k N] [--max-factor F]');
  }
  if (parsed.values.help) { out(`${DIAGNOSE_USAGE}\n${DIAGNOSE_HELP}\n`); return 0; }
  if (parsed.positionals.length !== 1) {
    throw usage(parsed.positionals.length === 0 ? 'diagnose: which run? the RUN_ID is missing' : `diagnose: one RUN_ID, got ${parsed.positionals.length}`,
      'uring-lab runs list shows the saved runs (and their ids)', 'RUN_ID');
  }
  const id = parsed.positionals[0]!;
  const given = { k: numberFlag('k', parsed.values.k), maxFactor: numberFlag('max-factor', parsed.values['max-factor']) };
  // Flags are checked before the run is read: a bad flag is named even for a bad id.
  try { spikeParams(given); } catch (err) {
    if (err instanceof LabError) {
      const flag = err.field === 'maxFactor' ? 'max-factor' : err.field;
      throw usage(`diagnose: --${flag}: ${err.message}`, `give --${flag} ${err.field === 'maxFactor' ? 'a factor between 1 and 1000, e.g. 4' : 'a number between 0.5 and 100, e.g. 4'}`, flag);
    }
    throw err;
  }
  const store = new RunStore(runStoreOptionsFromEnv());
  const run = store.getAll(id);
  const result = diagnoseRun(run, given);
  out(parsed.values.json ? `${JSON.stringify(result)}\n` : formatSpikeReport(result.report, id, run.frames.length));
  return reportDamage(store, run);
}
