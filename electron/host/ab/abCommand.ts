/**
 * `uring-lab ab A.json B.json [--rounds N] [--duration S] [--warmup S] [--seed N] [--json]
 * [--out report.html]`: an A/B experiment headless. Progress on a terminal's stderr; the report
 * as text (or one JSON line with --json) on stdout; --out writes the self-contained HTML report
 * (temp file + rename, so an existing file is never left half-written).
 *
 * Exit codes as `run`'s: 0 completed; 1 failed (an arm could not run) or a shared machine;
 * 2 bad input (a profile, a flag); 130 interrupted by SIGINT/SIGTERM (the report of the rounds
 * done so far is still printed and written, with status "interrupted").
 */
import { existsSync } from 'node:fs';
import { checkOutFile, writeOutFile } from '../outFile';
import { checkFlagTokens, decimalFlag, flagParseError } from '../cliFlags';
import { takeOverSignals } from '../../earlySignals';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LabError, oneLineText, type Profile } from '../../contract';
import type { AbReport } from '../../contract/ab';
import { LabService } from '../labService';
import { loadProfileFile } from '../profiles';
import { AbStore } from './abStore';
import { abReportHtml } from './html';
import { AB_DEFAULT_DURATION_S, AB_DEFAULT_ROUNDS, checkArmsStartable, checkComparableArms, labArmRunner, startAbExperiment } from './runner';

export const AB_USAGE = `  uring-lab ab A.json B.json [--rounds N] [--duration S] [--warmup S] [--seed N] [--json] [--out report.html]
  uring-lab ab list [--json] | ab show ID [--json] | ab export ID --format json|html [--out FILE] | ab delete ID`;

export const AB_HELP = `  ab       an A/B experiment: N rounds (default ${AB_DEFAULT_ROUNDS}) of profile A and profile B, interleaved in
           randomised ABBA/BAAB blocks, each arm its own run (engine restarted, warm-up discarded,
           --duration seconds measured, default ${AB_DEFAULT_DURATION_S}); per metric the medians, B/A with a 95 %
           bootstrap CI (seeded: --seed makes it reproducible), a Mann–Whitney U p-value and a
           verdict (better / worse / ~ / insufficient, ±2 % noise band); --json prints the
           AbReport, --out writes a self-contained HTML report. Every experiment is saved
           beside the run history (URING_LAB_RUNS_DIR/experiments, after every arm: a host that
           dies leaves its finished rounds, marked interrupted); list, show, export or delete
           them by id`;

function input(field: string, message: string, fix: string): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', field, message, fix });
}

function numberFlag(name: string, raw: string | undefined, min: number, max: number, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const v = decimalFlag(raw);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw input(name, `ab: --${name} "${raw}" is not ${integer ? 'a whole number' : 'a number'} between ${min} and ${max}`, `give e.g. --${name} ${integer ? Math.max(min, 10) : 3}`);
  }
  return v;
}

/**
 * A profile without a name of its own is named after its file, made a valid profile name (1–200
 * characters, no control characters): a file called `\e[31m….json`, `.json` or 250 characters
 * long used to fail the report's own check as an internal error (exit 1) before the first arm.
 */
export function named(file: string, p: Profile, arm: 'A' | 'B'): Profile {
  if (p.name && p.name !== 'default') return p;
  const base = path.basename(file).replace(/\.json$/i, '')
    .replace(/[\u0000-\u001f\u007f-\u009f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '?');
  let name = '';
  for (const ch of base) {
    if (name.length + ch.length > 200) break;
    name += ch;
  }
  return { ...p, name: name || arm };
}

export interface AbCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  isTTY: boolean;
}

export async function abCommand(args: string[], io: AbCommandIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), isTTY: Boolean(process.stderr.isTTY) }): Promise<number> {
  // `ab list|show|export|delete`: the saved experiments (a profile file of that name wins).
  if (args[0] && SAVED_VERBS.includes(args[0]) && !existsSync(args[0])) return savedCommand(args[0], args.slice(1), io);
  let parsed;
  try {
    const options = {
      rounds: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    } as const;
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options, tokens: true });
    checkFlagTokens('ab', options, parsed.tokens);
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError('ab', args, err, 'see uring-lab ab --help');
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`Usage:\n${AB_USAGE}\n\n${AB_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 2) {
    throw input('profiles', `ab: needs exactly two profile files (A and B), got ${positionals.length}`, 'uring-lab ab A.json B.json (the same file twice is an A/A experiment)');
  }
  const rounds = numberFlag('rounds', values.rounds, 1, 1000, true) ?? AB_DEFAULT_ROUNDS;
  const durationS = numberFlag('duration', values.duration, 0.1, 3600, false) ?? AB_DEFAULT_DURATION_S;
  const warmupS = numberFlag('warmup', values.warmup, 0, 600, false);
  const seed = numberFlag('seed', values.seed, 0, 2 ** 31 - 1, true);
  const [fileA, fileB] = positionals;
  // Both profiles are read before anything runs: a bad B must not cost A's rounds.
  const a = named(fileA, loadProfileFile(fileA), 'A');
  const b = named(fileB, loadProfileFile(fileB), 'B');
  // Checked now: the report exists only after every round has run.
  const outPath = values.out === undefined ? null : checkOutFile(values.out, [fileA, fileB]);
  checkComparableArms(a, b);

  const lab = new LabService();
  // Its arms' runs and the experiment are saved in the history: a folder that cannot take them
  // is bad input now, not a report that points at runs nobody can find.
  // The experiment's own record too (URING_LAB_RUNS_DIR/experiments): unsaved, it was in no list.
  const store = new AbStore();
  try {
    lab.checkHistory();
    store.checkWritable();
    // Both arms pass every check `run` makes before its start (the same code), before any arm
    // runs: B over the memory budget, with a storage path that does not exist or an SQPOLL CPU
    // this machine lacks used to cost A's arm first, then end exit 1 with a failed record.
    await checkArmsStartable({ a, b, rounds, durationS, warmupS }, (p) => lab.checkStartable(p));
  } catch (err) { await lab.close(); throw err; }
  let finalNotSaved: string | null = null;
  let experiment: ReturnType<typeof startAbExperiment>;
  try {
    experiment = startAbExperiment({ a, b, rounds, durationS, warmupS, seed }, labArmRunner(lab), (p) => {
      if (!io.isTTY || values.json) return;
      const m = (arm: 'a' | 'b') => `${p.medians[arm].throughputRps === null ? '—' : Math.round(p.medians[arm].throughputRps!).toLocaleString('en-US')} req/s`;
      // After the last arm there is no next one: its round and arm are the last arm's, and
      // "next: round 2 A" named an arm-run that does not exist.
      const last = p.done >= p.total;
      io.stderr(`\r\x1b[K  ${p.done}/${p.total} arm-runs  ${last ? 'all done, making the report' : `next: round ${p.round + 1} ${p.arm.toUpperCase()}`}  A ${m('a')}  B ${m('b')}${last ? '' : `  ETA ${p.etaS} s`}`);
    }, (report, final) => {
      if (store.save(report, final)) return null;
      if (final) finalNotSaved = store.lastSaveError ?? 'unknown error';
      return finalNotSaved;
    });
  } catch (err) {
    // Refused before any arm (another lab run on this machine): nothing to wait for.
    await lab.close();
    throw err;
  }
  // Progress otherwise arrives when an arm-run ends: until then (--duration 30: over half a
  // minute) the terminal said nothing.
  if (io.isTTY && !values.json) io.stderr(`\r\x1b[K  0/${rounds * 2} arm-runs  the first is running (${durationS} s measured each)`);
  // Once the last arm has ended only the engine's shutdown and the report's output are left:
  // a first signal then waits for them (the report is printed and --out written, the exit code
  // stays the experiment's), as `run` does after its run ended. A second one exits at once, and
  // with the experiment's exit code where its report is known: 130 "without waiting for the
  // experiment to stop" read as an experiment cut short that had completed.
  let signals = 0;
  let ended = false;
  let finished: AbReport | null = null;
  let signalsAfterEnd = 0;
  const interrupt = (signal: NodeJS.Signals) => {
    if (ended) {
      const what = finished ? `experiment ${finished.experimentId} had already ended (${finished.status})` : 'the experiment had already ended';
      if (++signalsAfterEnd === 1) {
        io.stderr(`uring-lab: ${oneLineText(`${signal}: ${what}; finishing its report, the exit code stays the experiment's`, 400)}\n`);
        return;
      }
      const code = finished ? abExit(finished, finalNotSaved, store.dir).code : 1;
      if (signalsAfterEnd === 2) {
        // The experiment's record is written synchronously; its last arm's run is written off
        // the event loop: waited for (ms), or that run would be left `running` and recovered as
        // interrupted. Not the engine's shutdown or the prune of old runs.
        io.stderr(`uring-lab: ${oneLineText(`${signal} again: ${what}; exiting with its exit code ${code} once its runs are saved, without waiting for the lab to close`, 400)}\n`);
        void Promise.race([lab.runsSaved(), new Promise((r) => setTimeout(r, 2000).unref())]).then(() => process.exit(code));
        return;
      }
      process.exit(code); // a third: at once
    }
    if (++signals > 1) {
      io.stderr(`uring-lab: ${signal} again, exiting without waiting for the experiment to stop\n`);
      process.exit(130);
    }
    experiment.interrupt(`interrupted by ${signal}`);
  };
  const releaseSignals = takeOverSignals(interrupt);
  let report: AbReport;
  let decided: number | undefined;
  try {
    try {
      report = await experiment.report;
      finished = report;
    } finally {
      ended = true;
      await lab.close();
    }
    if (io.isTTY && !values.json) io.stderr('\n');
    if (outPath !== null) writeOutFile(values.out!, outPath, abReportHtml(report));
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatAbReport(report));
    const exit = abExit(report, finalNotSaved, store.dir);
    if (exit.line !== null) io.stderr(`uring-lab: ${exit.line}\n`);
    decided = exit.code;
    return exit.code;
  } finally {
    // Not released before the process ends: the report is out ~1.5 s before the event loop has
    // drained (the engine process's pipes close), and a signal there found no handler and was
    // Node's default action (killed, exit 130, no line) after a completed experiment. The late
    // handler keeps the decided exit code (earlySignals.ts).
    releaseSignals(decided);
  }
}

/** The experiment's exit code and its one stderr line (null with exit 0), by the run contract:
 *  130 interrupted, 1 failed or completed with errors, 0 completed cleanly. */
export function abExit(report: AbReport, finalNotSaved: string | null, storeDir: string): { code: number; line: string | null } {
  const id = report.experimentId;
  if (report.status === 'interrupted') {
    return { code: 130, line: `experiment ${id} ${oneLineText(report.failure?.message ?? 'interrupted', 400)}; ${report.rounds} rounds counted` };
  }
  if (report.status === 'failed') {
    return { code: 1, line: `experiment ${id} failed: ${oneLineText(report.failure?.message ?? 'unknown', 400)}` };
  }
  if (finalNotSaved !== null) {
    return { code: 1, line: `experiment ${id} could not be saved in ${oneLineText(storeDir, 160)} (${finalNotSaved}): the report printed above is its only copy; free the disk or fix the folder` };
  }
  // An arm-run that failed, or completed with errors, makes an experiment completed with errors
  // (exit 1, as for a run): its round is left out, or its numbers exclude the failed requests.
  // Only 2 failures in a row used to stop the experiment; fewer ended `completed`, exit 0.
  const failedArms = report.samples.filter((s) => s.status === 'failed');
  const erroredArms = report.samples.filter((s) => s.status === 'completed' && s.errors > 0);
  if (failedArms.length > 0 || erroredArms.length > 0) {
    const where = (s: AbReport['samples'][number]) => `round ${s.round + 1} ${s.arm.toUpperCase()}`;
    const parts: string[] = [];
    if (failedArms.length) parts.push(`${failedArms.length} of ${report.samples.length} arm-runs failed (${failedArms.map((s) => `${where(s)}: ${s.failure?.message ?? 'unknown'}`).join('; ')}) and their rounds are left out`);
    if (erroredArms.length) parts.push(`${erroredArms.length} completed with errors (${erroredArms.map((s) => `${where(s)}: ${s.errors}`).join(', ')}) that their numbers exclude`);
    return { code: 1, line: `experiment ${id} completed with ${report.rounds} of ${report.roundsRequested} rounds counted, but ${oneLineText(parts.join('; '), 400)}` };
  }
  if (report.machine.otherRuns > 0) {
    return { code: 1, line: `experiment ${id} shared this machine with another uring-lab run: its numbers are not its own; run one at a time` };
  }
  return { code: 0, line: null };
}

/** The report as text for a terminal. */
export function formatAbReport(r: AbReport): string {
  const f = (v: number | null, d = 0) => (v === null ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  // Every string of a report is text from a file (`ab show` of a record someone sent): escape
  // sequences went to the terminal as they were.
  const t = (text: string, max = 200) => oneLineText(text, max);
  const lines = [
    `A/B ${t(r.experimentId)}: A = ${t(r.a.profileName)}, B = ${t(r.b.profileName)} — ${t(r.status)}, ${r.rounds}/${r.roundsRequested} rounds, ${r.durationS} s each, order ${t(r.order)}, seed ${r.seed}`,
    '',
    `${'metric'.padEnd(20)}${'A'.padStart(12)}${'B'.padStart(12)}${'B/A'.padStart(8)}  ${'95 % CI'.padEnd(15)}${'p (Holm)'.padStart(9)}  verdict`,
  ];
  for (const m of r.metrics) {
    const ci = m.ci ? `${f(m.ci[0], 3)}–${f(m.ci[1], 3)}` : '—';
    // The p the verdict tested: Holm-adjusted over the metrics (the raw one is in --json as
    // pValue). A raw 0.012 beside `~` read as a contradiction of the stated rule.
    const held = m.pValueHolm ?? m.pValue;
    const p = held === null ? '—' : held < 0.001 ? '<0.001' : f(held, 3);
    lines.push(`${t(m.name).padEnd(20)}${f(m.a.median, 1).padStart(12)}${f(m.b.median, 1).padStart(12)}${(m.ratio === null ? '—' : f(m.ratio, 3)).padStart(8)}  ${ci.padEnd(15)}${p.padStart(9)}  ${m.verdict}`);
  }
  lines.push('', 'pooled percentiles (µs):');
  for (const p of r.percentiles) lines.push(`  p${String(p.percentile).padEnd(5)} A ${f(p.aUs).padStart(8)}  B ${f(p.bUs).padStart(8)}  B/A ${p.ratio === null ? '—' : f(p.ratio, 3)}${p.ci ? ` (${f(p.ci[0], 3)}–${f(p.ci[1], 3)})` : ''}`);
  if (r.knobDiff.length) {
    lines.push('', r.knobDiffBasis === 'requested' ? 'knobs that differ (requested, not applied: an arm never ran):' : 'knobs that differ (applied):');
    for (const d of r.knobDiff) lines.push(`  ${t(d.path)}: A ${t(JSON.stringify(d.a) ?? 'null')}  B ${t(JSON.stringify(d.b) ?? 'null')}`);
  }
  if (r.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of r.warnings) lines.push(`  - ${t(w, 600)}`);
  }
  return `${lines.join('\n')}\n`;
}

const SAVED_VERBS = ['list', 'show', 'export', 'delete'];


async function savedCommand(verb: string, args: string[], io: AbCommandIo): Promise<number> {
  let parsed;
  try {
    const options = { json: { type: 'boolean' }, format: { type: 'string' }, out: { type: 'string' } } as const;
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options, tokens: true });
    checkFlagTokens(`ab ${verb}`, options, parsed.tokens);
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError(`ab ${verb}`, args, err, 'see uring-lab ab --help', 'ab');
  }
  const { values, positionals } = parsed;
  const store = new AbStore();
  if (verb === 'list') {
    if (positionals.length) throw input('ab', `ab list takes no arguments, got "${positionals[0].slice(0, 60)}"`, 'uring-lab ab list [--json]');
    const { rows, unreadable } = store.rows();
    if (values.json) io.stdout(`${JSON.stringify({ experiments: rows, unreadable })}\n`);
    else if (!rows.length) io.stdout(`no saved A/B experiments${unreadable ? ` (${unreadable} files in ${store.dir} are not readable experiments, left as they are)` : ''}\n`);
    else {
      for (const r of rows) io.stdout(`${oneLineText(r.experimentId, 80)}  ${oneLineText(r.startedAt, 40)}  ${oneLineText(r.status, 20).padEnd(11)}  A=${oneLineText(r.a, 200)}  B=${oneLineText(r.b, 200)}  ${r.rounds}/${r.roundsRequested} rounds  throughput B/A ${r.throughput.ratio === null ? '—' : r.throughput.ratio.toFixed(3)} ${r.throughput.verdict}\n`);
      if (unreadable) io.stdout(`${unreadable} files in ${store.dir} are not readable experiments (left as they are; ab delete ID removes one)\n`);
    }
    return 0;
  }
  if (positionals.length !== 1) throw input('experimentId', `ab ${verb}: needs one experiment id`, `uring-lab ab ${verb} ab-… (uring-lab ab list shows them)`);
  const id = positionals[0];
  if (verb === 'show') {
    const { report, running } = store.get(id);
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : `${running ? '(still running: the rounds so far)\n' : ''}${formatAbReport(report)}`);
    return 0;
  }
  if (verb === 'export') {
    const format = values.format;
    if (format !== 'json' && format !== 'html') throw input('format', `ab export: --format must be json or html, got ${format === undefined ? 'nothing' : `"${format.slice(0, 40)}"`}`, 'add --format html (a self-contained report) or --format json (the AbReport)');
    const outPath = values.out === undefined ? null : checkOutFile(values.out);
    const text = store.export(id, format).text;
    if (outPath === null) io.stdout(text);
    else writeOutFile(values.out!, outPath, text);
    return 0;
  }
  store.delete(id);
  return 0;
}
