/**
 * `mkdir -p` that always ends. Node's own (fs.mkdirSync / fs.promises.mkdir with
 * `recursive: true`, Node 20) spins forever, deaf to signals, where the kernel answers ENOENT
 * for a child of a folder that exists: it takes ENOENT as "make the parent first", finds the
 * parent there, and tries the child again. procfs does exactly that, so XDG_RUNTIME_DIR=/proc,
 * URING_LAB_RUNS_DIR=/proc/x or --token-file /proc/x/token hung the lab at 100 % of a CPU.
 * Here each missing folder is made once, from the top down, and the first refusal is thrown with
 * its errno, as `mkdir -p` would.
 */
import { mkdirSync, statSync, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';

/** The folders from the nearest one that exists down to `dir`, top first; throws if something
 *  on the way is not a folder (EEXIST for `dir` itself, ENOTDIR above it, as Node's own). */
function missingFolders(dir: string, stat: (p: string) => { isDirectory(): boolean } | null): string[] {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let at = target; ; at = path.dirname(at)) {
    const found = stat(at);
    if (found) {
      if (!found.isDirectory()) throw notAFolder(at, at === target ? 'EEXIST' : 'ENOTDIR');
      break;
    }
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  return missing;
}

function notAFolder(at: string, code: 'EEXIST' | 'ENOTDIR'): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${code === 'EEXIST' ? 'file already exists' : 'not a directory'}, mkdir '${at}'`);
  err.code = code;
  err.syscall = 'mkdir';
  err.path = at;
  return err;
}

/** null where nothing is at `at` (ENOENT); any other error is thrown as it is. */
function statOrNull(at: string): Stats | null {
  try {
    return statSync(at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Makes `dir` and its missing parents (each with `mode`); a folder already there is fine. */
export function makeFolders(dir: string, mode = 0o777): void {
  for (const at of missingFolders(dir, statOrNull)) {
    try {
      mkdirSync(at, mode);
    } catch (err) {
      // Made meanwhile by someone else: fine if it is a folder.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statOrNull(at)?.isDirectory()) continue;
      throw err;
    }
  }
}

/** makeFolders off the event loop: the stat of a folder already there is its whole cost. */
export async function makeFoldersAsync(dir: string, mode = 0o777): Promise<void> {
  const target = path.resolve(dir);
  try {
    if ((await fsp.stat(target)).isDirectory()) return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  makeFolders(target, mode);
}
