/**
 * Where the lab keeps what it owns on disk, and the one check every path it is told to write
 * goes through: its data folder ($XDG_DATA_HOME/uring-lab: saved profiles, the storage
 * workload's test files) and the run history (URING_LAB_RUNS_DIR, by default inside the data).
 * A user's `--out FILE` or a writing storage run's `storage.path` that lands in there would
 * overwrite saved runs or profiles, so both are refused (outFile.ts, run/storage.ts).
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, realpathSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { LabError, oneLineText } from '../contract';
import { makeFolders } from './makeFolders';

/** The lab's data directory: $XDG_DATA_HOME/uring-lab, else ~/.local/share/uring-lab. */
export function labDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(base, 'uring-lab');
}

/** The run history's folder: URING_LAB_RUNS_DIR (absolute, or one line naming it), else inside the data. */
export function runsDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const dirText = env.URING_LAB_RUNS_DIR;
  if (dirText !== undefined && dirText !== '' && !isAbsolute(dirText)) {
    throw new LabError({ code: 'USAGE', kind: 'input', field: 'URING_LAB_RUNS_DIR', message: `URING_LAB_RUNS_DIR=${oneLineText(dirText, 80)} is not an absolute path`, fix: 'give an absolute folder, e.g. /var/tmp/uring-lab-runs, or unset it' });
  }
  return dirText ? dirText : join(labDataDir(env), 'runs');
}

/** A path with its symlinks resolved as far as they exist (the file itself may not yet). */
export function realPathOf(path: string): string {
  const abs = resolve(path);
  try { return realpathSync(abs); } catch { /* not there (yet): its folder decides */ }
  const folder = dirname(abs);
  if (folder === abs) return abs;
  return join(realPathOf(folder), relative(folder, abs));
}

const inside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * The lab-owned folder `path` lies in (symlinks resolved on both sides), or null. A bad
 * URING_LAB_RUNS_DIR is left to the verbs that use it; the data folder still counts.
 */
export function labOwnedDirHolding(path: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = [labDataDir(env)];
  try { dirs.push(runsDirFromEnv(env)); } catch { /* reported where the history is used */ }
  const real = realPathOf(path);
  for (const dir of dirs) {
    const realDir = realPathOf(dir);
    if (inside(realDir, real)) return realDir;
  }
  return null;
}

/** Bytes the write check writes (and removes): two pages, about what a run writes before its
 *  first frames (its meta, the end note's reserved room). Not a forecast of the run's size: a
 *  disk that fills mid-run is said in the summary and the exit code. */
const WRITE_CHECK_BYTES = 8 * 1024;

/**
 * Throws the one-line input error (field URING_LAB_RUNS_DIR) when `dir` cannot take what the lab
 * saves there (not a folder, not writable, a read-only mount or an immutable folder): checked
 * with a real write before anything starts, as root passes access(W_OK) on those.
 * `what`: what cannot be saved ("runs", "A/B experiments"); `fix`: the way out.
 */
export function refuseUnwritableFolder(dir: string, what: string, fix: string): void {
  try {
    makeFolders(dir);
    const probe = mkdtempSync(join(dir, '.write-check-'));
    try {
      // Data, not only a name: a full tmpfs makes folders and empty files (no data blocks) but no
      // bytes, so the run went ahead and was reported under an id that was never saved. What a
      // run writes before its first frame (its meta, the end note's reserved room) fits in this.
      const file = join(probe, 'check');
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, Buffer.alloc(WRITE_CHECK_BYTES));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
        rmSync(file, { force: true });
      }
    } finally {
      rmdirSync(probe);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const full = code === 'ENOSPC' || code === 'EDQUOT';
    throw new LabError({
      code: 'RUNS_DIR', kind: 'input', field: 'URING_LAB_RUNS_DIR',
      message: `${what} cannot be saved in ${oneLineText(dir, 160)} (${code === 'ENOTDIR' || code === 'EEXIST' ? 'it is not a folder' : full ? `${code}: its filesystem is full` : code}); nothing was started`,
      fix: full ? `free space there, or ${fix}` : fix,
    });
  }
}
