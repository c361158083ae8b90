// `npm run bench:ab`: the A/B runner's false-positive rate and power, end to end.
//
// A/A: N whole experiments (`uring-lab ab P P --json`, each its own rounds, own seed) of one
// profile against itself; prints the share of `~` verdicts per metric (the target: ≥ 95 % for
// throughput; a verdict-level false positive needs p < 0.05 AND a CI past the ±2 % band).
// A/B: the same number of experiments where B offers half the open-loop rate of A; prints how
// often throughput came out `worse` (power) and the ratios.
//
//   npm run bench:ab -- [--trials N] [--rounds R] [--duration S]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { privateRunsDir } from './benchRun.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/electron/cli.js');
// The runs this bench saves stay out of the user's history (benchRun.mjs).
privateRunsDir('bench-ab');

function options(argv) {
  const o = { trials: 20, rounds: 6, duration: 0.3 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--trials') { o.trials = Number(value); i++; } else if (flag === '--rounds') { o.rounds = Number(value); i++; } else if (flag === '--duration') { o.duration = Number(value); i++; } else {
      console.error(`bench:ab: unknown option ${flag}\nnpm run bench:ab -- [--trials N] [--rounds R] [--duration S]`);
      process.exit(2);
    }
  }
  for (const [k, v] of Object.entries(o)) if (!(v > 0)) { console.error(`bench:ab: --${k} must be > 0`); process.exit(2); }
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

function experiment(a, b, seed) {
  const r = spawnSync(process.execPath, [cli, 'ab', a, b, '--rounds', String(o.rounds), '--duration', String(o.duration), '--warmup', '0.1', '--seed', String(seed), '--json'], { encoding: 'utf8' });
  if (!r.stdout.trim()) throw new Error(`ab failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const started = Date.now();
const tally = {};
for (let t = 0; t < o.trials; t++) {
  const report = experiment(same, same, 1000 + t);
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
  const report = experiment(full, half, 2000 + t);
  const tp = report.metrics.find((m) => m.name === 'throughputRps');
  if (tp.verdict === 'worse') detected++;
  ratios.push(tp.ratio);
  process.stderr.write(`\r  A/B ${t + 1}/${o.trials}`);
}
process.stderr.write('\n');
ratios.sort((x, y) => x - y);
console.log(`A/B (B offers half of A's 4,000 req/s open loop): throughput "worse" in ${detected}/${o.trials}; ratio min ${ratios[0].toFixed(3)} median ${ratios[Math.floor(ratios.length / 2)].toFixed(3)} max ${ratios[ratios.length - 1].toFixed(3)}`);
console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
