/**
 * Profile files (`--profile FILE`): regular files only, at most MAX_PROFILE_BYTES, read from
 * the opened fd with that bound (a FIFO, /dev/zero or a /proc file never hangs or floods),
 * UTF-8 checked and JSON scanned before JSON.parse, then validated like any other profile.
 * Every failure is one bounded line naming the file.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, Stats } from 'node:fs';
import { LabError, Profile, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../../contract';
import { MAX_JSON_DEPTH } from '../jsonLimits';
import { lineColumn, scanJson } from './jsonScanner';
import { displayPath, showSource } from './messageText';
import { decodeUtf8 } from './utf8';
import { checkProfile, type CheckedProfile } from './validate';

/** Largest profile file read (a real one is well under 2 KiB). */
export const MAX_PROFILE_BYTES = 1 << 20;

/** Reads and validates a profile file (`--profile FILE`). Every failure is one bounded line. */
export function loadProfileFile(path: string): Profile {
  return checkProfileFile(path).profile;
}

/** loadProfileFile, saying also which older version the file was migrated from (migrate.ts). */
export function checkProfileFile(path: string): CheckedProfile {
  const shown = showSource(path);
  return checkProfileText(readProfileText(String(path), shown), shown);
}

/**
 * A profile from its JSON text (a file's, or an import's pasted or uploaded text): bounded,
 * scanned (line and column of a syntax error, duplicate keys, depth), then checked.
 */
export function checkProfileText(text: string, shown: string): CheckedProfile {
  if (text.length > MAX_PROFILE_BYTES) {
    throw new LabError({ code: 'PROFILE_INVALID', field: 'profile', message: `${shown}: is ${text.length} characters; a profile is at most 1 MiB`, fix: 'give a profile .json file (a profile is well under 2 KiB)' });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) {
    throw new LabError({ code: 'PROFILE_NOT_JSON', field: 'profile', message: `${shown}: is empty`, fix: `a profile is one JSON object, e.g. {"kind": "${PROFILE_KIND}", "schemaVersion": ${PROFILE_SCHEMA_VERSION}}` });
  }
  const scan = scanJson(text);
  if (!scan.ok) {
    const { line, column } = lineColumn(text, scan.offset);
    const where = `line ${line}, column ${column}`;
    if (scan.kind === 'syntax') {
      throw new LabError({ code: 'PROFILE_NOT_JSON', field: 'profile', message: `${shown}: not valid JSON at ${where}: ${scan.problem}`, fix: 'fix the JSON syntax (a profile is one JSON object, keys and strings in double quotes, no trailing commas)' });
    }
    if (scan.kind === 'depth') {
      throw new LabError({ code: 'PROFILE_INVALID', field: 'profile', message: `${shown}: nested more than ${MAX_JSON_DEPTH} levels deep at ${where}`, fix: 'a profile nests 3 levels (e.g. server.sqpoll.enabled); give a profile, not arbitrary JSON' });
    }
    throw new LabError({ code: 'PROFILE_INVALID', field: displayPath(scan.path), message: `${shown}: key "${displayPath(scan.path)}" appears twice (again at ${where})`, fix: 'keep one of them: JSON would silently use only the last' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // The scanner accepted it, so this is a limit of JSON.parse itself; say so without echoing the file.
    throw new LabError({ code: 'PROFILE_NOT_JSON', field: 'profile', message: `${shown}: could not be parsed as JSON (${err instanceof RangeError ? 'too deeply nested' : 'rejected by the JSON parser'})`, fix: 'give a profile .json file' });
  }
  return checkProfile(json, shown, scan.raws, 'json');
}

const FILE_TYPE_WORDS: Array<[(s: Stats) => boolean, string]> = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a FIFO (named pipe)'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isSymbolicLink(), 'a symbolic link'],
];

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a directory', ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long', EISDIR: 'it is a directory', EIO: 'input/output error',
  EMFILE: 'too many open files', ENFILE: 'too many open files', ENXIO: 'no such device or address',
  EOVERFLOW: 'the file is too large', ETXTBSY: 'the file is busy', EAGAIN: 'it would block',
  EINTR: 'interrupted', ENODEV: 'no such device', ESTALE: 'stale file handle',
  ERR_INVALID_ARG_VALUE: 'the path contains a NUL byte', ERR_INVALID_ARG_TYPE: 'the path is not text',
};

function unreadable(shown: string, what: string, fix = 'check the path; give a regular .json file'): LabError {
  return new LabError({ code: 'PROFILE_UNREADABLE', field: 'profile', message: `${shown}: ${what}`, fix });
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? 'EIO';
  const words = ERRNO_WORDS[code];
  return words ? `${code}: ${words}` : code;
}

function fileTypeWords(st: Stats): string {
  for (const [is, words] of FILE_TYPE_WORDS) if (is(st)) return words;
  return 'not a regular file';
}

/** The file's text, read from one fd with the size bound; BOM dropped; UTF-8 checked. */
function readProfileText(path: string, shown: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one;
    // O_NOCTTY: a terminal device never becomes our controlling terminal.
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    let what = `cannot open (${errnoText(err)})`;
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') {
      try { what = `is ${fileTypeWords(statSync(path))}, not a regular file`; } catch { /* keep the errno */ }
    }
    throw unreadable(shown, what);
  }
  try {
    let st: Stats;
    try { st = fstatSync(fd); } catch (err) { throw unreadable(shown, `cannot stat (${errnoText(err)})`); }
    if (!st.isFile()) throw unreadable(shown, `is ${fileTypeWords(st)}, not a regular file`, 'give a regular .json file');
    if (st.size > MAX_PROFILE_BYTES) {
      throw unreadable(shown, `is ${st.size} bytes; a profile is at most 1 MiB (${MAX_PROFILE_BYTES} bytes)`, 'give a profile .json file (a profile is well under 2 KiB)');
    }
    // Read with the bound, not the reported size: /proc files report 0 and files can grow.
    const buf = Buffer.allocUnsafe(MAX_PROFILE_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      let n: number;
      try { n = readSync(fd, buf, length, buf.length - length, null); } catch (err) { throw unreadable(shown, `cannot read (${errnoText(err)})`); }
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_PROFILE_BYTES) {
      throw unreadable(shown, `is more than 1 MiB (${MAX_PROFILE_BYTES} bytes)${st.size === 0 ? ' although it reports size 0' : ', it grew while being read'}; a profile is at most 1 MiB`, 'give a profile .json file (a profile is well under 2 KiB)');
    }
    if (length === 0) {
      throw new LabError({ code: 'PROFILE_NOT_JSON', field: 'profile', message: `${shown}: is empty`, fix: `a profile is one JSON object, e.g. {"kind": "${PROFILE_KIND}", "schemaVersion": ${PROFILE_SCHEMA_VERSION}}` });
    }
    return decodeUtf8(buf.subarray(0, length), shown);
  } finally {
    closeSync(fd);
  }
}
