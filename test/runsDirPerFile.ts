/**
 * One runs folder per test file. Every LabService and CLI a test starts saves its runs into
 * $URING_LAB_RUNS_DIR, and retention keeps at most 500 there (runStore.ts). With one folder for
 * the whole suite, the suite's runs added up to that bound, and a test that counts the runs it
 * saved saw the count stay at 500 as retention removed the oldest (labUi: "expected 500 to be
 * 501"). Per file, a count is the file's own. URING_LAB_TEST_RUNS_DIR still names one folder for
 * every file (a post-mortem of the whole suite's runs).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

if (!process.env.URING_LAB_TEST_RUNS_DIR) {
  process.env.URING_LAB_RUNS_DIR = mkdtempSync(path.join(process.env.URING_LAB_TEST_TMP ?? os.tmpdir(), 'runs-'));
}
