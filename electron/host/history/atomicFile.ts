/**
 * Durable small-file writes for the run history: a reader (another lab process, the next
 * start after a crash) sees either the old content or the new, never a torn file — the
 * text goes to a temporary file in the same folder, is fsynced, renamed over the target,
 * and the folder is fsynced so the rename itself survives a power cut.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let sequence = 0;

export function writeFileAtomic(path: string, text: string): void {
  // Unique per process and call: two processes rewriting the same meta never share a temp file.
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${++sequence}.tmp`);
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  syncDirectory(dirname(path));
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
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${++sequence}.tmp`);
  try {
    const file = await open(temp, 'w', 0o644);
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
