import { defineConfig } from 'vitest/config';
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Everything the tests write to a temporary folder goes into one folder per run, removed at the
// end (test/globalSetup.ts; URING_LAB_KEEP_TEST_TMP=1 keeps it for a post-mortem).
const testTmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-tests-'));
// Searchable by everyone (not listable): the tests that run the engine or the probe helper as
// `nobody` reach their own folders inside it, as they did straight under /tmp.
chmodSync(testTmp, 0o711);
process.env.URING_LAB_TEST_TMP = testTmp;
// Every LabService saves its runs (and A/B experiments): the tests' go to a folder of their own,
// never into the user's history ($XDG_DATA_HOME/uring-lab/runs); test/runsDirPerFile.ts then
// gives each test file a folder of its own. Tests that need another still pass runsDir or set
// URING_LAB_RUNS_DIR themselves.
const runsDir = process.env.URING_LAB_TEST_RUNS_DIR ?? mkdtempSync(path.join(testTmp, 'runs-'));

export default defineConfig({
  root: path.resolve(__dirname, '..'),
  test: {
    include: ['test/**/*.test.ts'],
    // Native load runs and the browser compete for the same two cores; one file at a time
    // keeps each run's numbers and timeouts honest.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    globalSetup: ['test/globalSetup.ts'],
    setupFiles: ['test/runsDirPerFile.ts'],
    env: { URING_LAB_RUNS_DIR: runsDir, TMPDIR: testTmp },
  },
});
