import { defineConfig } from 'vitest/config';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Every LabService saves its runs (and A/B experiments): the tests' go to a folder of their own,
// never into the user's history ($XDG_DATA_HOME/uring-lab/runs). Tests that need a folder of
// their own still pass runsDir or set URING_LAB_RUNS_DIR themselves.
const runsDir = process.env.URING_LAB_TEST_RUNS_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'uring-lab-test-runs-'));

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
    env: { URING_LAB_RUNS_DIR: runsDir },
  },
});
