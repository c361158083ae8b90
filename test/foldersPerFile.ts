/**
 * One runs folder per test file. Every LabService and CLI a test starts saves its runs into
 * $URING_LAB_RUNS_DIR, and retention keeps at most 500 there (runStore.ts). With one folder for
 * the whole suite, the suite's runs added up to that bound, and a test that counts the runs it
 * saved saw the count stay at 500 as retention removed the oldest (labUi: "expected 500 to be
 * 501"). Per file, a count is the file's own. URING_LAB_TEST_RUNS_DIR still names one folder for
 * every file (a post-mortem of the whole suite's runs).
 *
 * One runtime folder per test file too: the active-run registry lives there
 * (host/run/contention.ts), so the files that share the machine (test/vitest.config.ts) do not
 * take each other's runs for "another uring-lab run at the same time". A file that needs
 * another still sets XDG_RUNTIME_DIR itself.
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const testTmp = process.env.URING_LAB_TEST_TMP ?? os.tmpdir();
if (!process.env.URING_LAB_TEST_RUNS_DIR) {
  process.env.URING_LAB_RUNS_DIR = mkdtempSync(path.join(testTmp, 'runs-'));
}
const runtimeDir = mkdtempSync(path.join(testTmp, 'runtime-'));
chmodSync(runtimeDir, 0o700);
process.env.XDG_RUNTIME_DIR = runtimeDir;
