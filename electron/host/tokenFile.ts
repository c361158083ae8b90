/**
 * The browser host's access token, kept in a file (`uring-lab serve --token-file PATH`) so a
 * restarted host keeps its URL and an open tab reconnects by itself. The token is the only
 * thing between another local user and the lab, so the file must be this user's alone: a
 * file others can read (or a symlink someone could point elsewhere) is refused, not used.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync, readSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LabError } from '../contract';
import { makeFolders } from './makeFolders';

/** A token is 32–128 hex characters (a new one is 32 random bytes, 64 characters). */
const TOKEN = /^[0-9a-fA-F]{32,128}$/;
/** Longer than any token file with its newline: anything bigger is not one. */
const MAX_FILE_BYTES = 256;
/** Never "remove it": the path may be any file the user gave by mistake. */
const NOT_A_TOKEN_FIX = 'give --token-file a path of its own (a missing file is created with a new token)';

/**
 * The token in `file`, or a fresh one written there (created with O_EXCL, mode 0600) when the
 * file does not exist. Throws LabError naming the fix when the file is not a regular file of
 * this user's, is open to group or others, or does not hold a token.
 */
export function loadOrCreateToken(file: string): string {
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = readToken(file);
    if (existing !== null) return existing;
    const created = createToken(file);
    if (created !== null) return created;
    // Another process created it between our read and our create: read theirs.
  }
  throw tokenError(file, 'appeared and vanished while it was being read', 'check what else is writing that file');
}

/** The token in `file`, or null when there is no such file. */
function readToken(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw tokenError(file, 'is a symbolic link', `use the real file's path, or remove the link: rm ${shellQuote(file)}`);
    throw tokenError(file, `cannot be read (${code ?? String(err)})`, `check its permissions: chmod 600 ${shellQuote(file)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw tokenError(file, 'is not a regular file', 'give --token-file the path of a file (it is created if missing)');
    // What the file holds is checked before who may read it: advice to chmod (or remove) a
    // file is only given for a real token file, never for, say, /etc/passwd given by mistake.
    if (stat.size > MAX_FILE_BYTES) throw tokenError(file, `does not hold a token (${stat.size} bytes)`, NOT_A_TOKEN_FIX);
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    let length: number;
    try {
      length = readSync(fd, buffer, 0, buffer.length, 0);
    } catch (err) {
      // A regular file the kernel will not read (/proc/self/mem: EIO; a file on a failing
      // disk): nothing there is a token the user could recover, so the fix is another path.
      throw tokenError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, NOT_A_TOKEN_FIX);
    }
    const text = buffer.subarray(0, length).toString('utf8').trim();
    if (!TOKEN.test(text)) throw tokenError(file, 'does not hold a token (32–128 hex characters)', NOT_A_TOKEN_FIX);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw tokenError(file, `belongs to uid ${stat.uid}, not to you (uid ${uid})`, `use a token file of your own, or chown it: chown ${uid} ${shellQuote(file)}`);
    }
    if ((stat.mode & 0o077) !== 0) {
      throw tokenError(file, `is open to other users (mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')})`, `chmod 600 ${shellQuote(file)}`);
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

/** Writes a fresh token to `file` (which must not exist); null when it appeared meanwhile. */
function createToken(file: string): string | null {
  const dir = path.dirname(file);
  try {
    makeFolders(dir, 0o700);
  } catch (err) {
    throw tokenError(file, `cannot be created: its directory cannot be made (${(err as NodeJS.ErrnoException).code ?? String(err)})`, `create ${shellQuote(dir)} or pick another --token-file`);
  }
  const token = randomBytes(32).toString('hex');
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return null;
    throw tokenError(file, `cannot be created (${code ?? String(err)})`, `check that ${shellQuote(dir)} is writable by you, or pick another --token-file`);
  }
  try {
    // The umask may have taken bits away, never added them; make it exactly 0600 regardless.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } catch (err) {
    // A full disk (ENOSPC) or a failing one (EIO): the file is ours, just made and empty or
    // cut short; left there, the next start would refuse it as "does not hold a token".
    closeSync(fd);
    fd = -1;
    try { unlinkSync(file); } catch { /* gone already: nothing to clean */ }
    throw tokenError(file, `could not be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); nothing was left there`, `free space on ${shellQuote(dir)}'s disk, or pick another --token-file`);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return token;
}

function tokenError(file: string, problem: string, fix: string): LabError {
  return new LabError({ code: 'TOKEN_FILE', field: 'token-file', message: `token file ${file} ${problem}`, fix });
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./~+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
