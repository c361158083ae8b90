// `npm run bench:diagnose`: how well spike attribution finds and names the faults the lab injects.
//
// For each injection kind, N runs (`uring-lab run --json --inject KIND@3s:1s`, 1 s warm-up and
// 5 s measured by default), and N quiet runs (no injection), all interleaved round-robin so
// machine noise hits every kind alike. Per run the summary's spike report (RunSummary.spikes) is
// read; then:
//   recall     the injection's window (its real start/end) overlaps a found spike;
//   top-1      the spike overlapping it most has INJECTION_EXPECTED_CAUSE[kind] as its top cause;
//   confusion  injected kind → that spike's top cause ('missed' without a spike);
//   quiet      quiet runs with no spike labelled (top cause not unknown, confidence ≥ 0.5).
// Targets (issue 12): recall ≥ 90 %, top-1 ≥ 80 %, quiet ≥ 95 % clean, on an otherwise idle machine.
//
// --rediagnose FILE: no runs; the runs listed in FILE (a previous --out) are diagnosed again from
// their saved frames with the current rules (dist/), for tuning thresholds without re-running.
// --profile-overhead: no injections; pairs of runs with diagnose.profileHz at its default and 0, interleaved,
// server on CPU 0 and load on CPU 1, and the throughput difference per pair (median and range).
// Target ≤ 2 %.
//
//   npm run bench:diagnose -- [--runs N] [--kinds cpuHog,serverPause,…] [--seconds S] [--warmup S]
//                             [--at S] [--for S] [--set key=value]… [--out FILE] [--rediagnose FILE]
//                             [--profile-overhead [--pairs N]]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLabArgs, checkOut, forEachOption, writeOut } from './benchOptions.mjs';
import { exitWithChildrenOnSignal, spawnCollect } from './benchRun.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// URING_LAB_CLI: another build of the CLI (e.g. a copy of dist/ that a concurrent rebuild cannot pull away).
const cli = process.env.URING_LAB_CLI || path.join(root, 'dist/electron/cli.js');
const dist = path.dirname(cli);
const require = createRequire(import.meta.url);
const contract = require(path.join(dist, 'contract/index.js'));
const { diagnoseFrames, spikeParams } = require(path.join(dist, 'host/diagnose/report.js'));
const { RunStore } = require(path.join(dist, 'host/history/runStore.js'));

const USAGE = `npm run bench:diagnose -- [options]
  --runs N            runs per injection kind, and quiet runs (default 5)
  --kinds A,B         injection kinds (default all: ${contract.INJECTION_KINDS.join(',')})
  --seconds S         measured seconds per run (default 5)
  --warmup S          warm-up seconds (default 1)
  --at S --for S      the injection's start (s since the run started) and length (default 3 and 1)
  --set key=value     a knob for every run (repeatable), e.g. --set load.connections=16
  --out FILE          write every run's outcome as JSON (for --rediagnose)
  --rediagnose FILE   diagnose the runs of a previous --out again from their saved frames
  --k N --max-factor F  with --rediagnose: detection thresholds other than SPIKE_DEFAULTS
  --profile-overhead  throughput with diagnose.profileHz at its default vs 0 (interleaved pairs)
  --pairs N           pairs for --profile-overhead (default 6)`;

function fail(message) {
  console.error(`bench:diagnose: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv) {
  const o = { k: undefined, maxFactor: undefined, runs: 5, kinds: [...contract.INJECTION_KINDS], seconds: 5, warmup: 1, at: 3, for: 1, set: [], out: null, rediagnose: null, profileOverhead: false, pairs: 6 };
  forEachOption(argv, fail, (a, value, num) => {
    if (a === '--runs') o.runs = num(value(), true, 1);
    else if (a === '--kinds') {
      o.kinds = value().split(',').filter(Boolean);
      for (const k of o.kinds) if (!contract.INJECTION_KINDS.includes(k)) fail(`--kinds: unknown kind ${JSON.stringify(k)} (kinds: ${contract.INJECTION_KINDS.join(', ')})`);
    } else if (a === '--seconds') o.seconds = num(value(), false, 1);
    else if (a === '--warmup') o.warmup = num(value(), false, 0);
    else if (a === '--at') o.at = num(value(), false, 0);
    else if (a === '--for') o.for = num(value(), false, 0.01);
    else if (a === '--set') o.set.push(value());
    else if (a === '--out') o.out = checkOut(value(), fail);
    else if (a === '--rediagnose') o.rediagnose = path.resolve(value());
    else if (a === '--k') o.k = num(value(), false, 0.5);
    else if (a === '--max-factor') o.maxFactor = num(value(), false, 1);
    else if (a === '--profile-overhead') o.profileOverhead = true;
    else if (a === '--pairs') o.pairs = num(value(), true, 1);
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown option ${a}`);
  });
  if (!o.profileOverhead && !o.rediagnose && o.at + o.for > o.warmup + o.seconds) fail(`the injection (${o.at} s + ${o.for} s) ends after the run (${o.warmup + o.seconds} s)`);
  return o;
}

const opts = parseOptions(process.argv.slice(2));
// A private runtime dir (the "another run shares this machine" registry) and runs dir.
const runtimeDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-bench-diagnose-rt-'));
const runsDir = process.env.URING_LAB_RUNS_DIR || (opts.rediagnose ? '' : mkdtempSync(path.join(os.tmpdir(), 'uring-lab-bench-diagnose-runs-')));
const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, URING_LAB_RUNS_DIR: runsDir };
// The runs stay (--rediagnose reads them; their folder is printed); the registry dir goes, on an
// interruption too, after the run being measured has stopped.
process.on('exit', () => rmSync(runtimeDir, { recursive: true, force: true }));
exitWithChildrenOnSignal();

/** `uring-lab run`'s arguments: the bench's and the user's knobs, then `extra`. */
const runArgs = (extra) => [cli, 'run', '--json', '--duration', String(opts.seconds), '--set', `duration.warmupS=${opts.warmup}`, ...opts.set.flatMap((s) => ['--set', s]), ...extra];

// Server on CPU 0, load on CPU 1 (as bench:probes): unpinned, where the scheduler puts the two
// threads moves throughput by ±20 % from run to run, far more than --profile-overhead measures.
const profilePinning = os.cpus().length >= 2 && !opts.set.some((x) => x.startsWith('server.numa.cpus') || x.startsWith('load.cpus'))
  ? ['--set', 'server.numa.cpus=[0]', '--set', 'load.cpus=[1]'] : [];

// What every run will be given, checked as the CLI will check it, before the first run.
if (opts.profileOverhead) checkLabArgs(runArgs(['--set', 'diagnose.profileHz=0', ...profilePinning]), fail, 'each --profile-overhead run');
else if (!opts.rediagnose) checkLabArgs(runArgs([]), fail, 'each run');

/** One `uring-lab run --json`; resolves with its RunSummary (exit 1 with a summary still counts). */
async function runOnce(extra) {
  const r = await spawnCollect(process.execPath, runArgs(extra), { env });
  try { return JSON.parse(r.stdout); } catch { throw new Error(`run exited ${r.status ?? r.signal}: ${r.stderr.trim().split('\n')[0]}`); }
}

/** The spike overlapping [start, end) most, or null. */
function overlapping(report, start, end) {
  let best = null;
  let bestMs = 0;
  for (const s of report?.spikes ?? []) {
    const ms = Math.min(end, s.atMs + s.durationMs) - Math.max(start, s.atMs);
    if (ms > bestMs) { best = s; bestMs = ms; }
  }
  return best;
}

const labelled = (report) => (report?.spikes ?? []).filter((s) => s.causes[0].cause !== 'unknown' && s.causes[0].confidence >= report.params.labelConfidence);

/** What one run tells the calibration. */
function outcomeOf(kind, summary, report) {
  const base = { kind, runId: summary.runId, throughputRps: Math.round(summary.throughputRps), p99Us: summary.latencyUs.p99, spikes: report?.spikes.length ?? 0 };
  if (kind === 'quiet') {
    const l = labelled(report);
    return { ...base, labelled: l.length, labels: l.map((s) => `${s.causes[0].cause} ${s.causes[0].confidence} @${Math.round(s.atMs)}`) };
  }
  const inj = summary.injections?.[0];
  if (!inj?.applied) return { ...base, applied: false, refusal: inj?.refusal?.reason ?? 'not applied' };
  const start = inj.startedAtMs ?? inj.atMs;
  const end = inj.endedAtMs ?? start + inj.durationMs;
  const spike = overlapping(report, start, end);
  const top = spike?.causes[0] ?? null;
  return {
    ...base, applied: true, window: [Math.round(start), Math.round(end)],
    found: spike !== null, top: top?.cause ?? 'missed', confidence: top?.confidence ?? null,
    correct: top?.cause === contract.INJECTION_EXPECTED_CAUSE[kind],
    summary: top?.summary ?? null, spike: spike ? { atMs: Math.round(spike.atMs), durationMs: Math.round(spike.durationMs), tail: spike.tail, causes: spike.causes.map((c) => `${c.cause} ${c.confidence}`) } : null,
  };
}

const pct = (n, d) => (d === 0 ? 'n/a' : `${((100 * n) / d).toFixed(0)} %`);

function printResults(outcomes) {
  const kinds = [...new Set(outcomes.map((o) => o.kind))].filter((k) => k !== 'quiet');
  const causes = contract.CAUSES;
  console.log('\nper kind                 applied  recall   top-1 (of applied)');
  let applied = 0, found = 0, correct = 0;
  for (const kind of kinds) {
    const rows = outcomes.filter((o) => o.kind === kind && o.applied);
    const f = rows.filter((o) => o.found).length;
    const c = rows.filter((o) => o.correct).length;
    applied += rows.length; found += f; correct += c;
    console.log(`  ${kind.padEnd(22)} ${String(rows.length).padStart(4)}   ${pct(f, rows.length).padStart(6)}   ${pct(c, rows.length).padStart(6)}   expected ${contract.INJECTION_EXPECTED_CAUSE[kind]}`);
  }
  console.log(`  ${'all'.padEnd(22)} ${String(applied).padStart(4)}   ${pct(found, applied).padStart(6)}   ${pct(correct, applied).padStart(6)}   (targets: recall ≥ 90 %, top-1 ≥ 80 %)`);
  const refused = outcomes.filter((o) => o.kind !== 'quiet' && !o.applied);
  for (const r of refused) console.log(`  not applied: ${r.kind} (${r.runId}): ${r.refusal}`);
  const used = causes.filter((c) => outcomes.some((o) => o.top === c));
  const cols = [...used, 'missed'];
  console.log(`\nconfusion (rows: injected kind → columns: top cause of the spike overlapping it)`);
  console.log(`  ${''.padEnd(18)} ${cols.map((c) => c.slice(0, 14).padStart(15)).join('')}`);
  for (const kind of kinds) {
    const rows = outcomes.filter((o) => o.kind === kind && o.applied);
    console.log(`  ${kind.padEnd(18)} ${cols.map((c) => String(rows.filter((o) => o.top === c).length).padStart(15)).join('')}`);
  }
  const quiet = outcomes.filter((o) => o.kind === 'quiet');
  if (quiet.length) {
    const clean = quiet.filter((o) => o.labelled === 0).length;
    console.log(`\nquiet runs: ${clean} of ${quiet.length} without a labelled spike (${pct(clean, quiet.length)}; target ≥ 95 %); spikes found (labelled or not) per run: ${quiet.map((o) => o.spikes).join(' ')}`);
    for (const o of quiet.filter((q) => q.labelled > 0)) console.log(`  ${o.runId}: ${o.labels.join('; ')}`);
  }
}

async function calibrate() {
  const outcomes = [];
  const plan = [];
  for (let r = 0; r < opts.runs; r++) for (const kind of [...opts.kinds, 'quiet']) plan.push(kind);
  const at = `${opts.at}s`;
  const length = `${opts.for}s`;
  console.log(`bench:diagnose: ${plan.length} runs of ${opts.warmup} + ${opts.seconds} s (${opts.kinds.join(', ')} at ${at} for ${length}, and quiet), runs in ${runsDir}`);
  for (const [i, kind] of plan.entries()) {
    let summary;
    try {
      summary = await runOnce(kind === 'quiet' ? [] : ['--inject', `${kind}@${at}:${length}`]);
    } catch (err) {
      console.log(`  ${String(i + 1).padStart(3)} ${kind.padEnd(17)} failed: ${err.message}`);
      continue;
    }
    const o = outcomeOf(kind, summary, summary.spikes);
    outcomes.push(o);
    console.log(`  ${String(i + 1).padStart(3)} ${kind.padEnd(17)} ${String(o.throughputRps).padStart(7)} req/s p99 ${String(o.p99Us).padStart(6)} µs  ${o.spikes} spikes  ${kind === 'quiet' ? `${o.labelled} labelled ${o.labels.join('; ')}` : !o.applied ? `not applied: ${o.refusal}` : `${o.top} ${o.confidence ?? ''} ${o.correct ? 'ok' : 'WRONG'}  ${o.summary ?? ''}`}`.slice(0, 260));
  }
  printResults(outcomes);
  if (opts.out) writeOut(opts.out, JSON.stringify({ runsDir, options: { ...opts, out: opts.out.path }, outcomes }, null, 1), 'bench:diagnose');
}

/** The saved runs of a previous --out, diagnosed again with the current rules. */
function rediagnose() {
  let previous;
  try {
    previous = JSON.parse(readFileSync(opts.rediagnose, 'utf8'));
    if (typeof previous?.runsDir !== 'string' || !Array.isArray(previous?.outcomes)) throw new Error('it has no runsDir and outcomes');
  } catch (err) {
    fail(`--rediagnose ${opts.rediagnose}: not a bench:diagnose --out file (${err.code ?? err.message}); give the --out of an earlier bench:diagnose`);
  }
  const store = new RunStore({ dir: previous.runsDir });
  const outcomes = [];
  for (const o of previous.outcomes) {
    const run = store.getAll(o.runId);
    const summary = run.meta.summary;
    const { report } = diagnoseFrames(o.runId, run.frames, spikeParams({ k: opts.k, maxFactor: opts.maxFactor }), summary?.injections ?? []);
    const n = outcomeOf(o.kind, summary, report);
    if (o.kind !== 'quiet' && n.applied) console.log(`  ${o.kind.padEnd(17)} ${n.top} ${n.confidence ?? ''} ${n.correct ? 'ok' : 'WRONG'}  ${n.spike?.causes.join(', ') ?? ''} | ${n.summary ?? ''}`.slice(0, 300));
    else if (o.kind === 'quiet' && n.labelled) console.log(`  quiet ${n.runId}: ${n.labels.join('; ')}`);
    outcomes.push(n);
  }
  printResults(outcomes);
}

async function profileOverhead() {
  const HZ = contract.PROFILE_HZ_DEFAULT;
  const rows = [];
  const bpf = [];
  const pinned = profilePinning;
  console.log(`bench:diagnose --profile-overhead: ${opts.pairs} pairs of ${opts.warmup} + ${opts.seconds} s runs, profileHz ${HZ} and 0 interleaved (ABBA)`);
  for (let i = 0; i < opts.pairs; i++) {
    const order = i % 2 === 0 ? [HZ, 0] : [0, HZ];
    const pair = {};
    for (const hz of order) {
      const s = await runOnce(['--set', `diagnose.profileHz=${hz}`, ...pinned]);
      pair[hz] = s.throughputRps;
      if (hz === HZ) {
        pair.samples = s.profiles?.samples ?? 0;
        // The profile probe's own in-kernel cost (BPF run-time stats): a number noise does not move.
        pair.bpf = s.probes?.find((p) => p.name === 'profile')?.overhead ?? null;
      }
    }
    const delta = (pair[HZ] - pair[0]) / pair[0];
    rows.push(delta);
    if (pair.bpf) bpf.push(pair.bpf);
    console.log(`  pair ${i + 1}: on ${Math.round(pair[HZ])} req/s (${pair.samples} samples${pair.bpf ? `, BPF ${Math.round(pair.bpf.nsPerEvent)} ns/sample, ${(100 * pair.bpf.cpuShare).toFixed(4)} % of the CPUs` : ''}), off ${Math.round(pair[0])} req/s: ${(100 * delta).toFixed(2)} %`);
  }
  if (bpf.length) {
    const shares = bpf.map((b) => b.cpuShare).sort((a, b) => a - b);
    console.log(`profile probe in the kernel (BPF run-time stats): median ${(100 * shares[shares.length >> 1]).toFixed(4)} % of the machine's CPU time`);
  }
  const sorted = [...rows].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[sorted.length >> 1] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(`throughput with profiling on vs off: median ${(100 * median).toFixed(2)} %, range ${(100 * sorted[0]).toFixed(2)} … ${(100 * sorted[sorted.length - 1]).toFixed(2)} % over ${rows.length} pairs (target: cost ≤ 2 %)`);
}

if (opts.rediagnose) rediagnose();
else if (opts.profileOverhead) await profileOverhead();
else await calibrate();
