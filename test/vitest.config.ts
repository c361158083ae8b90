import { configDefaults, defineConfig } from 'vitest/config';
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Everything the tests write to a temporary folder goes into one folder per run, removed at the
// end (test/globalSetup.ts; URING_LAB_KEEP_TEST_TMP=1 keeps it for a post-mortem).
// Vitest loads this file once for the run and again for each project (`extends: true`): the
// first load makes the folder and the others take it (held on globalThis, which the loads share;
// each made its own before, and the two the teardown did not know were left in /tmp).
const shared = globalThis as { uringLabTestTmp?: string; uringLabTestRunsDir?: string };
const testTmp = (shared.uringLabTestTmp ??= mkdtempSync(path.join(os.tmpdir(), 'uring-lab-tests-')));
// Searchable by everyone (not listable): the tests that run the engine or the probe helper as
// `nobody` reach their own folders inside it, as they did straight under /tmp.
chmodSync(testTmp, 0o711);
process.env.URING_LAB_TEST_TMP = testTmp;
// Every LabService saves its runs (and A/B experiments): the tests' go to a folder of their own,
// never into the user's history ($XDG_DATA_HOME/uring-lab/runs); test/foldersPerFile.ts then
// gives each test file a folder of its own. Tests that need another still pass runsDir or set
// URING_LAB_RUNS_DIR themselves.
const runsDir = process.env.URING_LAB_TEST_RUNS_DIR ?? (shared.uringLabTestRunsDir ??= mkdtempSync(path.join(testTmp, 'runs-')));

/**
 * The files whose checks measure the run itself: rates held within a few per cent, segments and
 * completions per request, attribution of a stall or an injected fault to its cause, A/A
 * statistics, CPU shares, scheduling. A second file's runs on the two CPUs would move what they
 * measure (veth's 3 segments per 4 KiB echo read 2.94 beside another file), so they run one at a
 * time, after the others. Every other file checks outcomes that hold on a shared machine (bytes
 * echoed intact, exit codes, refusals, saved runs, UI frames) and runs two at a time.
 */
const RUNS_ALONE = [
  'test/native/openLoop.test.ts', 'test/cli/openLoop.test.ts',
  'test/native/tcpSegments.test.ts', 'test/cli/veth.test.ts', 'test/native/sendPath.test.ts', 'test/native/recvPath.test.ts',
  'test/native/measurement.test.ts', 'test/cli/measurementHonesty.test.ts', 'test/cli/benchEngine.test.ts', 'test/cli/loadVerb.test.ts',
  'test/native/probes.test.ts', 'test/cli/probes.test.ts', 'test/native/probeSampling.test.ts', 'test/native/diagProbes.test.ts',
  'test/native/workers.test.ts', 'test/cli/starvationRecovery.test.ts', 'test/cli/ownThreads.test.ts',
  'test/native/inject.test.ts', 'test/cli/inject.test.ts', 'test/cli/diagnose.test.ts', 'test/e2e/diagnose.test.ts',
  'test/cli/abVerb.test.ts',
  // Switches kernel.io_uring_disabled for the whole machine while it runs.
  'test/cli/ioUringDisabled.test.ts',
  // Fake engines' 20 ms frames and the lab's 400 ms request timeouts, which are wall time: beside
  // another file one of the 512 orderings (16 labs at once in one event loop) ended 'failed'.
  // (Its late joiner's gap, frames neither in memory nor read back yet, was the lab's: fixed.)
  'test/unit/runLifecycle.test.ts',
];

export default defineConfig({
  root: path.resolve(__dirname, '..'),
  test: {
    // One file at a time unless asked: `npm test` (scripts/test-files.mjs) runs the project
    // "shares-the-machine" two files at a time, then "alone" one at a time. A plain
    // `vitest run --config test/vitest.config.ts` stays serial, so it is right without the script.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    globalSetup: ['test/globalSetup.ts'],
    setupFiles: ['test/foldersPerFile.ts'],
    env: { URING_LAB_RUNS_DIR: runsDir, TMPDIR: testTmp },
    projects: [
      { extends: true, test: { name: 'shares-the-machine', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...RUNS_ALONE] } },
      // After the other group (a plain run does that group first, then this one).
      { extends: true, test: { name: 'alone', include: RUNS_ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
});
