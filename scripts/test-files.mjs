#!/usr/bin/env node
/**
 * The test files of `npm test`, in the two groups test/vitest.config.ts defines: the files that
 * hold on a shared machine two at a time (their runs are bounded in time, so two of them take the
 * wall time of one), then the files that measure the run itself one at a time. Both groups run
 * even when the first fails, so one `npm test` shows every failure; the exit code is the first
 * non-zero one. Arguments go to both vitest runs (`npm test -- -t 'SIGINT'`).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vitest = createRequire(import.meta.url).resolve('vitest/vitest.mjs');
const extra = process.argv.slice(2);
// With a filter (`npm test -- test/cli/veth.test.ts`) one group may have nothing to run.
if (extra.length > 0) extra.unshift('--passWithNoTests');
// Two, as measured (938 s against 1,176 s one at a time on the 2-vCPU VM CI uses): the gain is
// from runs of fixed length overlapping; each run's server and load already fill both CPUs, so
// more files at once would only stretch the CPU-bound parts (process starts, Chromium).
const groups = [
  { project: 'shares-the-machine', args: ['--fileParallelism', '--maxWorkers', '2', '--minWorkers', '1'] },
  { project: 'alone', args: [] },
];

let code = 0;
for (const group of groups) {
  process.stdout.write(`\nuring-lab tests, group "${group.project}"\n`);
  const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'test/vitest.config.ts', '--project', group.project, ...group.args, ...extra], { cwd: root, stdio: 'inherit' });
  const groupCode = r.status ?? 1;
  if (r.signal) process.stderr.write(`uring-lab tests: group "${group.project}" ended by ${r.signal}\n`);
  if (code === 0) code = groupCode;
}
process.exit(code);
