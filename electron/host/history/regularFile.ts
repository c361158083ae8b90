/**
 * Reading the history's files without trusting what sits at their names. A FIFO named
 * meta.json, index.json or frames.jsonl blocked open(2) for good: `runs list` hung (SIGTERM
 * could not end it, the thread never returned), and in a host every list took one of libuv's
 * four threads for ever. A device or a folder, or a meta.json of gigabytes, is no better.
 * So every read opens with O_NONBLOCK (no effect on a regular file; a FIFO opens at once),
 * checks that it is a regular file and bounds its size.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** The flags every history read opens with. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** A file in the history that is not one it can read: its name says why (code ENOTREG or EFBIG). */
export class NotARegularFile extends Error {
  constructor(readonly path: string, readonly code: 'ENOTREG' | 'EFBIG', detail: string) {
    super(`${path} ${detail}`);
  }
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Opens `path` for reading; throws NotARegularFile when it is not a regular file (the fd is closed). */
export function openRegularSync(path: string): { fd: number; size: number } {
  const fd = openSync(path, READ_FLAGS);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new NotARegularFile(path, 'ENOTREG', `is ${kindOf(stat)}, not a file`);
    return { fd, size: stat.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The whole of a regular file of at most `maxBytes` as UTF-8 (errors as openRegularSync, EFBIG past the bound). */
export function readRegularFileSync(path: string, maxBytes: number): string {
  const { fd, size } = openRegularSync(path);
  try {
    if (size > maxBytes) throw new NotARegularFile(path, 'EFBIG', `is ${size} bytes, more than the ${maxBytes} bytes such a file can hold`);
    const buffer = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buffer, got, size - got, got);
      if (n <= 0) break;
      got += n;
    }
    return buffer.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The same off the event loop. */
export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  const file = await open(path, READ_FLAGS);
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new NotARegularFile(path, 'ENOTREG', `is ${kindOf(stat)}, not a file`);
    if (stat.size > maxBytes) throw new NotARegularFile(path, 'EFBIG', `is ${stat.size} bytes, more than the ${maxBytes} bytes such a file can hold`);
    const buffer = Buffer.allocUnsafe(stat.size);
    let got = 0;
    while (got < stat.size) {
      const { bytesRead } = await file.read(buffer, got, stat.size - got, got);
      if (bytesRead <= 0) break;
      got += bytesRead;
    }
    return buffer.subarray(0, got).toString('utf8');
  } finally {
    await file.close();
  }
}
