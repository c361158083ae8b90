/**
 * Durable small-file writes (the run history, saved profiles, exports, A/B experiments): a
 * reader (another lab process, the next start after a crash) sees either the old content or
 * the new, never a torn file — the text goes to a temporary file in the same folder, is
 * fsynced, renamed over the target, and the folder is fsynced so the rename itself survives a
 * power cut.
 */
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let sequence = 0;

/** A temporary name unique per process and call: two processes rewriting one file never share it. */
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${++sequence}.tmp`);
}

export interface AtomicWriteOptions {
  /** The new file's mode (default 0o644). */
  mode?: number;
  /** false: link(2) instead of rename, so a taken name is refused (the call returns false),
   *  never replaced — two clients saving under one name at the same moment both stay whole. */
  replace?: boolean;
}

/** Writes `text` to `path` (see above). Returns false only when `replace` is false and the name is taken. */
export function writeFileAtomic(path: string, text: string, options: AtomicWriteOptions = {}): boolean {
  const temp = tempPath(path);
  const fd = openSync(temp, 'wx', options.mode ?? 0o644);
  try {
    try {
      const bytes = Buffer.from(text, 'utf8');
      // writeSync may write less than asked: loop until all of it is in.
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.replace ?? true) renameSync(temp, path);
    else {
      try {
        linkSync(temp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      } finally {
        unlinkSync(temp);
      }
    }
  } catch (err) {
    try { unlinkSync(temp); } catch { /* already renamed, unlinked, or never made */ }
    throw err;
  }
  syncDirectory(dirname(path));
  return true;
}

/** Makes a folder's entries (a rename, a new file) durable. */
export function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some filesystems refuse fsync on a directory; the rename is still atomic */ }
}

/**
 * The same, off the event loop (libuv's thread pool does the writes and fsyncs): a run's meta
 * is rewritten while the host is carrying frames and heartbeats, which a slow fsync must not stall.
 */
export async function writeFileAtomicAsync(path: string, text: string): Promise<void> {
  const temp = tempPath(path);
  try {
    const file = await open(temp, 'wx', 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  try {
    const dir = await open(dirname(path), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
  } catch { /* as in syncDirectory */ }
}
