// `npm run bench:ab`: the A/B runner's false-positive rate and power, end to end.
//
// A/A: N whole experiments (`uring-lab ab P P --json`, each its own rounds, own seed) of one
// profile against itself; prints the share of `~` verdicts per metric (the target: ≥ 95 % for
// throughput; a verdict-level false positive needs p < 0.05 AND a CI past the ±2 % band).
// A/B: the same number of experiments where B offers half the open-loop rate of A; prints how
// often throughput came out `worse` (power) and the ratios.
//
//   npm run bench:ab -- [--trials N] [--rounds R] [--duration S]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithChildrenOnSignal, privateRunsDir, spawnCollect } from './benchRun.mjs';
import { forEachOption } from './benchOptions.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/electron/cli.js');
// The runs this bench saves stay out of the user's history (benchRun.mjs).
privateRunsDir('bench-ab');
// Interrupted: the experiment or run being measured stops before this bench removes its folders.
exitWithChildrenOnSignal();

const USAGE = 'npm run bench:ab -- [--trials N] [--rounds R] [--duration S]';

function fail(message) {
  console.error(`bench:ab: ${message}\n${USAGE}`);
  process.exit(2);
}

function options(argv) {
  const o = { trials: 20, rounds: 6, duration: 0.3 };
  forEachOption(argv, fail, (a, value, num) => {
    if (a === '--trials') o.trials = num(value(), true, 1);
    // uring-lab ab's own ranges (--rounds 1–1000, --duration 0.1–3600 s): refused here, not in every experiment.
    else if (a === '--rounds') o.rounds = num(value(), true, 1);
    else if (a === '--duration') o.duration = num(value(), false, 0.1);
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown option ${a}`);
  });
  if (o.rounds > 1000) fail(`--rounds ${o.rounds}: uring-lab ab takes 1 to 1000 rounds`);
  if (o.duration > 3600) fail(`--duration ${o.duration}: uring-lab ab measures 0.1 to 3600 s per arm-run`);
  return o;
}

const o = options(process.argv.slice(2));
const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-bench-ab-'));
// The profiles written here are only for this bench's experiments.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = (name, body) => {
  const f = path.join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name, ...body }));
  return f;
};
const same = file('same', { load: { connections: 8 } });
const full = file('open-4k', { load: { mode: 'open', rateRps: 4000, connections: 8 } });
const half = file('open-2k', { load: { mode: 'open', rateRps: 2000, connections: 8 } });

async function experiment(a, b, seed) {
  const r = await spawnCollect(process.execPath, [cli, 'ab', a, b, '--rounds', String(o.rounds), '--duration', String(o.duration), '--warmup', '0.1', '--seed', String(seed), '--json']);
  try {
    return JSON.parse(r.stdout);
  } catch {
    // One line, as the lab's own errors: an experiment without a report ends the bench.
    console.error(`\nbench:ab: uring-lab ab exited ${r.status ?? r.signal} without a report: ${(r.stderr.trim().split('\n')[0] || 'no output').slice(0, 300)}`);
    process.exit(1);
  }
}

const started = Date.now();
const tally = {};
for (let t = 0; t < o.trials; t++) {
  const report = await experiment(same, same, 1000 + t);
  for (const m of report.metrics) {
    tally[m.name] ??= { '~': 0, better: 0, worse: 0, insufficient: 0 };
    tally[m.name][m.verdict]++;
  }
  process.stderr.write(`\r  A/A ${t + 1}/${o.trials}`);
}
process.stderr.write('\n');
console.log(`A/A: ${o.trials} experiments × ${o.rounds} rounds × ${o.duration} s (same profile both sides)`);
for (const [name, v] of Object.entries(tally)) {
  console.log(`  ${name.padEnd(20)} ~ ${v['~']}/${o.trials} (${((100 * v['~']) / o.trials).toFixed(1)} %)  better ${v.better}  worse ${v.worse}  insufficient ${v.insufficient}`);
}
let detected = 0;
const ratios = [];
for (let t = 0; t < o.trials; t++) {
  const report = await experiment(full, half, 2000 + t);
  const tp = report.metrics.find((m) => m.name === 'throughputRps');
  if (tp.verdict === 'worse') detected++;
  ratios.push(tp.ratio);
  process.stderr.write(`\r  A/B ${t + 1}/${o.trials}`);
}
process.stderr.write('\n');
ratios.sort((x, y) => x - y);
console.log(`A/B (B offers half of A's 4,000 req/s open loop): throughput "worse" in ${detected}/${o.trials}; ratio min ${ratios[0].toFixed(3)} median ${ratios[Math.floor(ratios.length / 2)].toFixed(3)} max ${ratios[ratios.length - 1].toFixed(3)}`);
console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
