/**
 * Tuning profiles: validation of imported files and of single knob changes (`--set a.b=c`,
 * the UI's toggles), with errors that name the field and say how to fix it. Nothing here
 * mutates the caller's profile: a refused change leaves what the user had untouched.
 *
 * Every way in is untrusted and bounded before anything walks it recursively:
 *   - files: regular files only, at most MAX_PROFILE_BYTES, read from the opened fd with
 *     that bound (a FIFO, /dev/zero or a /proc file never hangs or floods), UTF-8 checked,
 *     JSON scanned iteratively (syntax errors by line and column, duplicate keys, depth, and
 *     the literal text of numbers a double cannot hold exactly) before JSON.parse;
 *   - `--set`: at most MAX_SET_CHARS, key path at most MAX_KEY_PATH_CHARS / MAX_KEY_PATH_SEGMENTS;
 *   - every value (files, IPC/WebSocket profiles, --set, setKnob): assertJsonBounds before
 *     zod or structuredClone see it.
 * Error text is built here, never taken from zod: each message is one line that starts with
 * its source (the file, `--set`, `startRun.profile`), names the dotted field, says what the
 * field takes in words derived from the schema (so a new knob is described for free), and
 * quotes what was given, bounded and escaped.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, Stats } from 'node:fs';
import { z } from 'zod';
import { LabError, oneLineText, Profile, ProfileSchema, PROFILE_KIND, PROFILE_SCHEMA_VERSION, quoteValue } from '../contract';
import { assertJsonBounds, MAX_JSON_DEPTH } from './jsonLimits';

/** Largest profile file read (a real one is well under 2 KiB). */
export const MAX_PROFILE_BYTES = 1 << 20;
/** Longest `--set key.path=value` accepted. */
export const MAX_SET_CHARS = 4096;
/** Longest dotted key path, and most segments in one (profiles nest 3 deep). */
export const MAX_KEY_PATH_CHARS = 200;
export const MAX_KEY_PATH_SEGMENTS = 8;

/** Where a profile or a value came from; decides how the fix is phrased. */
type Style = 'set' | 'json' | 'value';
type Path = ReadonlyArray<PropertyKey>;

let cachedDefault: Profile | undefined;

export function defaultProfile(): Profile {
  return ProfileSchema.parse({ kind: PROFILE_KIND, schemaVersion: PROFILE_SCHEMA_VERSION });
}

function sharedDefault(): Profile {
  cachedDefault ??= defaultProfile();
  return cachedDefault;
}

// ---------------------------------------------------------------------------------------
// Whole profiles (files, IPC and WebSocket messages)
// ---------------------------------------------------------------------------------------

/** Validates untrusted profile JSON (a file, an IPC message). `source` prefixes the error. */
export function parseProfile(input: unknown, source = 'profile'): Profile {
  return validateProfile(input, sourceText(source), new Map(), 'json');
}

/**
 * @param raws literal text of numbers a double cannot hold exactly, by JSON.stringify(path)
 *             (only files have it: JSON.parse has already turned 1e400 into Infinity).
 */
function validateProfile(input: unknown, source: string, raws: Map<string, string>, style: Style): Profile {
  boundsOrThrow(input, source, '(profile)', 'PROFILE_INVALID');
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new LabError({
      code: 'PROFILE_INVALID', field: '(profile)',
      message: `${source}: a profile must be a JSON object (got ${describeGot(input, raws.get('[]'))})`,
      fix: `a profile is an object such as {"kind": "${PROFILE_KIND}", "schemaVersion": ${PROFILE_SCHEMA_VERSION}}`,
    });
  }
  const obj = input as Record<string, unknown>;
  if (!Object.hasOwn(obj, 'kind')) {
    throw new LabError({ code: 'PROFILE_INVALID', field: 'kind', message: `${source}: missing "kind"`, fix: `add "kind": "${PROFILE_KIND}"` });
  }
  if (obj.kind !== PROFILE_KIND) {
    throw new LabError({
      code: 'PROFILE_INVALID', field: 'kind',
      message: `${source}: kind must be "${PROFILE_KIND}" (got ${describeGot(obj.kind, raws.get('["kind"]'))})`,
      fix: `this is not a uring-lab profile; a profile starts {"kind": "${PROFILE_KIND}", "schemaVersion": ${PROFILE_SCHEMA_VERSION}, …}`,
    });
  }
  if (!Object.hasOwn(obj, 'schemaVersion')) {
    throw new LabError({ code: 'PROFILE_INVALID', field: 'schemaVersion', message: `${source}: missing "schemaVersion"`, fix: `add "schemaVersion": ${PROFILE_SCHEMA_VERSION}` });
  }
  const version = obj.schemaVersion;
  if (typeof version !== 'number') {
    throw new LabError({
      code: 'PROFILE_INVALID', field: 'schemaVersion',
      message: `${source}: schemaVersion must be the number ${PROFILE_SCHEMA_VERSION} (got ${describeGot(version)})`,
      fix: `write "schemaVersion": ${PROFILE_SCHEMA_VERSION} (a number, without quotes)`,
    });
  }
  if (version !== PROFILE_SCHEMA_VERSION) {
    throw new LabError({
      code: 'PROFILE_VERSION', field: 'schemaVersion',
      message: `${source}: schemaVersion ${describeGot(version, raws.get('["schemaVersion"]'))} is not supported by this uring-lab (it reads schemaVersion ${PROFILE_SCHEMA_VERSION})`,
      fix: `upgrade uring-lab, or export the profile again from this version`,
    });
  }
  const result = ProfileSchema.safeParse(input);
  if (!result.success) throw issuesToLabError(result.error.issues, source, style, input, raws);
  const inexact = firstInexactNumber(input);
  if (inexact) throw valueError(inexact, source, style, valueAt(input, inexact), raws.get(JSON.stringify(inexact)));
  return result.data;
}

// ---------------------------------------------------------------------------------------
// Profile files
// ---------------------------------------------------------------------------------------

/** Reads and validates a profile file (`--profile FILE`). Every failure is one bounded line. */
export function loadProfileFile(path: string): Profile {
  const shown = showPath(path);
  const text = readProfileText(String(path), shown);
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
  return validateProfile(json, shown, scan.raws, 'json');
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

function decodeUtf8(bytes: Uint8Array, shown: string): string {
  try {
    // Default ignoreBOM: false, so a leading UTF-8 BOM is accepted and dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const shownBytes = Array.from(bytes.subarray(offset, offset + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const utf16 = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
    throw new LabError({
      code: 'PROFILE_NOT_JSON', field: 'profile',
      message: utf16
        ? `${shown}: is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8`
        : `${shown}: is not UTF-8 text: invalid byte sequence at byte offset ${offset} (bytes ${shownBytes})`,
      fix: 'save the profile as UTF-8 JSON',
    });
  }
}

/** Byte offset where the first byte sequence that is not well-formed UTF-8 starts. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < bytes.length && bytes[j] >= lo && bytes[j] <= hi;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) { i += 1; continue; }
    let need: number; let lo = 0x80; let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) { need = 2; lo = 0xa0; }
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) { need = 2; hi = 0x9f; }
    else if (b === 0xf0) { need = 3; lo = 0x90; }
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) { need = 3; hi = 0x8f; }
    else return i;
    if (!cont(i + 1, lo, hi)) return i;
    for (let k = 2; k <= need; k++) if (!cont(i + k)) return i;
    i += need + 1;
  }
  return bytes.length;
}

// ---------------------------------------------------------------------------------------
// An iterative JSON scanner: JSON.parse's own messages vary by Node version and quote the
// file's text (which may be /proc/self/environ); this one reports a line and column, refuses
// duplicate keys and excessive depth, and keeps the literal text of numbers a double cannot
// hold exactly (1e400, 12345678901234567890) so errors can quote what the user wrote.
// ---------------------------------------------------------------------------------------
type ScanResult =
  | { ok: true; raws: Map<string, string> }
  | { ok: false; kind: 'syntax' | 'depth' | 'duplicate'; offset: number; problem: string; path: Path };

interface Frame { type: 'object' | 'array'; index: number; key: string; keys: Set<string> | null }

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function scanJson(text: string): ScanResult {
  const raws = new Map<string, string>();
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  let expect: 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'after' = 'value';
  const pathOf = (): PropertyKey[] => stack.map((f) => (f.type === 'object' ? f.key : f.index));
  const fail = (kind: 'syntax' | 'depth' | 'duplicate', offset: number, problem: string, path: Path = []): ScanResult => ({ ok: false, kind, offset, problem, path });
  const unexpected = (at: number, wanted: string): ScanResult =>
    fail('syntax', at, `expected ${wanted}, found ${charWords(text, at)}`);
  /** End (exclusive) of the string starting at `at`, or a failure. */
  const stringEnd = (at: number): number | ScanResult => {
    let j = at + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c === 0x5c) {
        const e = text[j + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) return fail('syntax', j, 'a \\u escape needs four hex digits');
          j += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          j += 2;
        } else {
          return fail('syntax', j, `invalid escape ${e === undefined ? 'at the end of the file' : `"\\${oneLineText(e, 4)}"`} in a string`);
        }
        continue;
      }
      if (c < 0x20) return fail('syntax', j, `a control character (${oneLineText(text[j], 8)}) inside a string; write it escaped, e.g. \\n`);
      j++;
    }
    return fail('syntax', at, 'a string that never ends (missing closing ")');
  };

  for (;;) {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
    if (i >= n) {
      if (expect === 'after' && stack.length === 0) return { ok: true, raws };
      return fail('syntax', n, stack.length === 0 && expect === 'value' ? 'the file has no JSON value' : `unexpected end of the file (${stack.length} unclosed ${stack.length === 1 ? 'bracket' : 'brackets'})`);
    }
    const c = text[i];
    switch (expect) {
      case 'value':
      case 'valueOrEnd': {
        if (expect === 'valueOrEnd' && c === ']') { stack.pop(); i++; expect = 'after'; break; }
        if (c === '{' || c === '[') {
          if (stack.length + 1 > MAX_JSON_DEPTH) return fail('depth', i, 'too deep');
          stack.push({ type: c === '{' ? 'object' : 'array', index: 0, key: '', keys: c === '{' ? new Set() : null });
          i++;
          expect = c === '{' ? 'keyOrEnd' : 'valueOrEnd';
          break;
        }
        if (c === '"') {
          const end = stringEnd(i);
          if (typeof end !== 'number') return end;
          i = end; expect = 'after';
          break;
        }
        if (c === '-' || (c >= '0' && c <= '9')) {
          NUMBER_RE.lastIndex = i;
          const m = NUMBER_RE.exec(text);
          if (!m) return fail('syntax', i, `"-" must be followed by a digit`);
          const literal = m[0];
          const value = Number(literal);
          if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) raws.set(JSON.stringify(pathOf()), literal);
          i += literal.length; expect = 'after';
          break;
        }
        const word = c === 't' ? 'true' : c === 'f' ? 'false' : c === 'n' ? 'null' : '';
        if (word && text.startsWith(word, i)) { i += word.length; expect = 'after'; break; }
        if (c === ']' && expect === 'value' && stack[stack.length - 1]?.type === 'array') return fail('syntax', i, 'found "]" where a value should be (a trailing comma?)');
        return unexpected(i, 'a value (an object, array, string, number, true, false or null)');
      }
      case 'key':
      case 'keyOrEnd': {
        const top = stack[stack.length - 1];
        if (expect === 'keyOrEnd' && c === '}') { stack.pop(); i++; expect = 'after'; break; }
        if (c !== '"') {
          if (c === '}') return fail('syntax', i, 'found "}" where a key should be (a trailing comma?)');
          return unexpected(i, 'a key in double quotes');
        }
        const end = stringEnd(i);
        if (typeof end !== 'number') return end;
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys!.has(key)) return fail('duplicate', i, 'duplicate key', [...pathOf().slice(0, -1), key]);
        top.keys!.add(key);
        top.key = key;
        i = end; expect = 'colon';
        break;
      }
      case 'colon':
        if (c !== ':') return unexpected(i, '":" after the key');
        i++; expect = 'value';
        break;
      case 'after': {
        const top = stack[stack.length - 1];
        if (!top) return fail('syntax', i, `unexpected ${charWords(text, i)} after the end of the JSON value (one profile object per file)`);
        if (c === ',') { i++; if (top.type === 'array') { top.index++; expect = 'value'; } else expect = 'key'; break; }
        if ((c === '}' && top.type === 'object') || (c === ']' && top.type === 'array')) { stack.pop(); i++; expect = 'after'; break; }
        return unexpected(i, top.type === 'object' ? '"," or "}"' : '"," or "]"');
      }
    }
  }
}

function charWords(text: string, at: number): string {
  if (at >= text.length) return 'the end of the file';
  const cp = text.codePointAt(at)!;
  return `"${userText(String.fromCodePoint(cp), 12)}"`;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1; let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) { line++; lineStart = i + 1; }
  return { line, column: offset - lineStart + 1 };
}

// ---------------------------------------------------------------------------------------
// --set and the UI's setKnob
// ---------------------------------------------------------------------------------------

/** Turns a `--set` value into JSON: `true`, `12`, `null`, `"x"` parse as JSON; anything else is a string. */
export function parseSetValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Parses `key.path=value` as given to `--set`, and checks it against the knob's schema so an
 * error can quote exactly what was typed (`1e400`, `12345678901234567890`), which the parsed
 * number no longer can.
 */
export function parseSetAssignment(assignment: string): { path: string; value: unknown } {
  const text = String(assignment);
  const eq = text.indexOf('=');
  if (text.length > MAX_SET_CHARS) {
    const key = eq > 0 && eq <= MAX_KEY_PATH_CHARS ? text.slice(0, eq).trim() : '--set';
    throw new LabError({
      code: 'SET_SYNTAX', field: key,
      message: `--set: an assignment of ${text.length} characters; a --set is at most ${MAX_SET_CHARS} characters (key.path=value)`,
      fix: 'a knob takes a number, boolean, string or null, e.g. --set server.ringEntries=4096',
    });
  }
  if (eq <= 0) {
    throw new LabError({ code: 'SET_SYNTAX', field: text, message: `--set ${quoteValue(text)} is not key.path=value`, fix: 'write it as e.g. --set server.sqpoll.enabled=true' });
  }
  const path = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1).trim();
  const segments = resolveKnobPath(path, '--set');
  let value = parseSetValue(raw);
  // A free-text knob takes what was typed: `--set name=123` names the profile "123".
  if (typeof value !== 'string' && defOf(unwrap(schemaAt(segments)!).core).type === 'string') value = raw;
  checkKnobValue(segments, value, '--set', 'set', typeof value === 'string' ? undefined : raw);
  return { path, value };
}

/**
 * Returns a new profile with `path` set to `value`, validated as a whole. `source` starts the
 * error line: `--set` for the command line (the default), e.g. `setKnob` for the UI.
 */
export function withKnob(profile: Profile, path: string, value: unknown, source = '--set'): Profile {
  const src = sourceText(source);
  const style: Style = source === '--set' ? 'set' : 'value';
  const segments = resolveKnobPath(path, src);
  checkKnobValue(segments, value, src, style);
  const next = structuredClone(profile) as Record<string, unknown>;
  let node = next;
  for (const key of segments.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[segments[segments.length - 1]] = value;
  const result = ProfileSchema.safeParse(next);
  if (!result.success) throw issuesToLabError(result.error.issues, src, style, next, new Map());
  return result.data;
}

/**
 * Checks a dotted key path against the profile's schema: bounded, known, a value (not a group
 * of keys), and not one of the format's identifying keys. Returns its segments.
 */
function resolveKnobPath(path: string, source: string): string[] {
  const text = String(path);
  if (text.length > MAX_KEY_PATH_CHARS) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: a key path of ${text.length} characters is not a profile key (at most ${MAX_KEY_PATH_CHARS})`, fix: 'use dotted keys such as server.sqpoll.enabled' });
  }
  const segments = text.split('.');
  if (segments.length > MAX_KEY_PATH_SEGMENTS) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: "${userText(text, 80)}" has ${segments.length} dotted parts; a profile key path has at most ${MAX_KEY_PATH_SEGMENTS}`, fix: 'use dotted keys such as server.sqpoll.enabled' });
  }
  if (segments.some((s) => s.length === 0)) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: "${userText(text, 80)}" is not a profile key path`, fix: 'use dotted keys such as server.sqpoll.enabled' });
  }
  let schema: z.core.$ZodType = ProfileSchema;
  for (let i = 0; i < segments.length; i++) {
    const shape = shapeOf(schema)!;
    const key = segments[i];
    const here = displayPath(segments.slice(0, i + 1));
    if (!Object.hasOwn(shape, key)) {
      const parent = segments.slice(0, i);
      const known = Object.keys(shape);
      const guess = suggestKey(parent, key);
      const listing = `keys${parent.length ? ` under ${displayPath(parent)}` : ''}: ${known.join(', ')}`;
      throw new LabError({
        code: 'UNKNOWN_KEY', field: here,
        message: `${source}: unknown profile key "${here}"`,
        fix: guess ? `did you mean "${guess}"? ${listing}` : listing,
      });
    }
    schema = shape[key];
    const sub = shapeOf(schema);
    if (i === segments.length - 1 && sub) {
      throw new LabError({ code: 'NOT_A_LEAF', field: here, message: `${source}: "${here}" is a group of keys, not a value`, fix: `set one of: ${Object.keys(sub).map((k) => `${here}.${k}`).join(', ')}` });
    }
    if (i < segments.length - 1 && !sub) {
      throw new LabError({ code: 'UNKNOWN_KEY', field: displayPath(segments), message: `${source}: unknown profile key "${displayPath(segments)}" ("${here}" is a value, it has no keys)`, fix: `set ${here} itself: ${knobExample(segments.slice(0, i + 1), source === '--set' ? 'set' : 'value')}` });
    }
  }
  if (text === 'kind' || text === 'schemaVersion') {
    throw new LabError({ code: 'READ_ONLY', field: text, message: `${source}: "${text}" identifies the file format and cannot be set`, fix: 'set a tuning key instead, e.g. server.sqpoll.enabled' });
  }
  return segments;
}

/** Bounds, exactness and the knob's own schema, before anything recursive sees `value`. */
function checkKnobValue(segments: string[], value: unknown, source: string, style: Style, raw?: string): void {
  boundsOrThrow(value, source, displayPath(segments), 'INVALID_VALUE');
  const leaf = schemaAt(segments);
  const inexact = firstInexactNumber(value);
  if (inexact) throw valueError(segments, source, style, value, raw);
  if (!leaf) return;
  const result = (leaf as z.ZodType).safeParse(value);
  if (!result.success) throw valueError(segments, source, style, value, raw);
}

// ---------------------------------------------------------------------------------------
// Errors in words
// ---------------------------------------------------------------------------------------

/** assertJsonBounds, with the error line starting at the source and naming the field. */
function boundsOrThrow(value: unknown, source: string, field: string, code: string): void {
  const label = field === '(profile)' ? source : `${source}: ${field}`;
  try {
    assertJsonBounds(value, label, code);
  } catch (err) {
    const e = LabError.from(err, code);
    const fix = field === '(profile)' ? 'a profile is one object nesting 3 levels (e.g. server.sqpoll.enabled) with about 40 keys' : e.fix;
    throw new LabError({ code: e.code, field, message: e.message, fix });
  }
}

/** The error for a set of zod issues: all unknown keys first (bounded), else the first value. */
function issuesToLabError(issues: z.core.$ZodIssue[], source: string, style: Style, input: unknown, raws: Map<string, string>): LabError {
  const unknown: PropertyKey[][] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') for (const k of issue.keys) unknown.push([...issue.path, k]);
  }
  if (unknown.length > 0) return unknownKeysError(unknown, source);
  const issue = issues[0];
  return valueError(issue.path, source, style, valueAt(input, issue.path), raws.get(JSON.stringify(issue.path)), issue);
}

const MAX_NAMED_KEYS = 3;

function unknownKeysError(paths: PropertyKey[][], source: string): LabError {
  const named = paths.slice(0, MAX_NAMED_KEYS).map((p) => {
    const parent = p.slice(0, -1);
    const key = String(p[p.length - 1]);
    let hint = '';
    if (key.includes('.') && schemaAt([...parent, ...key.split('.')])) {
      hint = ` (write it nested: ${key.split('.').map((k) => `"${userText(k, 20)}": {`).join(' ').replace(/\{$/, '…')})`;
    } else {
      const guess = suggestKey(parent, key);
      if (guess) hint = ` (did you mean "${guess}"?)`;
    }
    return `"${displayPath(p)}"${hint}`;
  });
  const more = paths.length > MAX_NAMED_KEYS ? ` (and ${paths.length - MAX_NAMED_KEYS} more)` : '';
  const first = paths[0];
  const parent = first.slice(0, -1);
  const known = Object.keys(shapeOf(schemaAt(parent) ?? ProfileSchema) ?? {});
  return new LabError({
    code: 'UNKNOWN_KEY', field: displayPath(first),
    message: `${source}: unknown ${paths.length === 1 ? 'key' : 'keys'} ${named.join(', ')}${more}`,
    fix: `remove ${paths.length === 1 ? 'it' : 'them'} or correct the spelling; keys ${parent.length ? `under ${displayPath(parent)}` : 'of a profile'}: ${known.join(', ')}`,
  });
}

/** `<source>: <field> must be <what the schema takes> (got <what was given>)`, with a fix. */
function valueError(path: Path, source: string, style: Style, given: unknown, raw?: string, issue?: z.core.$ZodIssue): LabError {
  const field = displayPath(path) || '(profile)';
  const schema = schemaAt(path);
  const expectation = schema ? describeSchema(schema) : issue ? issueExpectation(issue) : 'a valid value';
  const got = describeGot(given, raw);
  let fix: string;
  const def = defaultAt(path);
  if (def.found && def.value !== null && typeof def.value === 'object') {
    fix = `leave ${field} out for the defaults, or give an object such as ${quoteValue(def.value, 120)}`;
  } else if (def.found) {
    fix = knobExample(path, style);
  } else {
    fix = `give ${field} ${expectation}`;
  }
  const choices = schema ? stringChoices(schema) : [];
  if (typeof given === 'string' && choices.length > 0) {
    const guess = closest(given, choices);
    if (guess && guess !== given) fix = `did you mean "${guess}"? ${fix}`;
  }
  return new LabError({ code: 'INVALID_VALUE', field, message: `${source}: ${field} must be ${expectation} (got ${got})`, fix });
}

/** `e.g. --set server.ringEntries=4096 (the default)` or `e.g. 4096 (the default), or leave it out`. */
function knobExample(path: Path, style: Style): string {
  const field = displayPath(path);
  const def = defaultAt(path);
  if (!def.found) return `give ${field} a valid value`;
  if (style === 'set') {
    const v = def.value;
    const literal = typeof v === 'string' && parseSetValue(v) === v ? v : JSON.stringify(v);
    return `e.g. --set ${field}=${userText(literal, 60)} (the default)`;
  }
  if (style === 'value') return `e.g. ${quoteValue(def.value)} (the default)`;
  return `use e.g. ${quoteValue(def.value)} (the default), or leave ${userText(String(path[path.length - 1]), 40)} out`;
}

/** What was given, in words: `the string "1"`, `1e400`, `an array [1,2]`, `null`. */
function describeGot(value: unknown, raw?: string): string {
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `the string ${quote(value)}`;
  if (raw !== undefined) {
    const text = userText(raw, 60);
    if (Array.isArray(value)) return `an array ${text}`;
    if (value !== null && typeof value === 'object') return `an object ${text}`;
    return text;
  }
  if (value === undefined) return 'nothing';
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return numberText(value);
  if (Array.isArray(value)) return `an array ${quote(value)}`;
  if (typeof value === 'object') return `an object ${quote(value)}`;
  return `a ${typeof value}`;
}

// ---------------------------------------------------------------------------------------
// The schema, read as words (so a knob added to the contract is described without code here)
// ---------------------------------------------------------------------------------------
type AnySchema = z.core.$ZodType;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDef = any;

function defOf(schema: AnySchema): AnyDef {
  return (schema as unknown as { _zod: { def: AnyDef } })._zod.def;
}

/** The schema under default/prefault/optional/nullable/readonly/catch/pipe wrappers. */
function unwrap(schema: AnySchema): { core: AnySchema; nullable: boolean } {
  let core = schema;
  let nullable = false;
  for (let i = 0; i < 32; i++) {
    const def = defOf(core);
    if (def.type === 'nullable') { nullable = true; core = def.innerType; continue; }
    if (['default', 'prefault', 'optional', 'readonly', 'catch', 'nonoptional', 'success'].includes(def.type)) { core = def.innerType; continue; }
    if (def.type === 'pipe') { core = def.in; continue; }
    if (def.type === 'lazy') { core = def.getter(); continue; }
    break;
  }
  return { core, nullable };
}

function shapeOf(schema: AnySchema | undefined): Record<string, AnySchema> | undefined {
  if (!schema) return undefined;
  const def = defOf(unwrap(schema).core);
  return def.type === 'object' ? (def.shape as Record<string, AnySchema>) : undefined;
}

/** The schema of the value at `path` in a profile, or undefined when there is no such key. */
function schemaAt(path: Path): AnySchema | undefined {
  let schema: AnySchema = ProfileSchema;
  for (const seg of path) {
    const shape = shapeOf(schema);
    if (!shape || typeof seg !== 'string' || !Object.hasOwn(shape, seg)) return undefined;
    schema = shape[seg];
  }
  return schema;
}

function defaultAt(path: Path): { found: boolean; value?: unknown } {
  let node: unknown = sharedDefault();
  for (const seg of path) {
    if (node === null || typeof node !== 'object' || typeof seg !== 'string' || !Object.hasOwn(node, seg)) return { found: false };
    node = (node as Record<string, unknown>)[seg];
  }
  return { found: path.length > 0, value: node };
}

function stringChoices(schema: AnySchema): string[] {
  const def = defOf(unwrap(schema).core);
  const values: unknown[] = def.type === 'enum' ? Object.values(def.entries) : def.type === 'literal' ? def.values : [];
  return values.filter((v): v is string => typeof v === 'string');
}

/** 1e308 rather than JS's 1e+308, as a person (and JSON) writes it. */
const numberText = (n: number) => String(n).replace('e+', 'e');
const fmtNumber = numberText;

/** What a schema accepts, in words: `a power of two from 8 to 32768`, `one of "a", "b"`. */
export function describeSchema(schema: AnySchema): string {
  const { core, nullable } = unwrap(schema);
  const def = defOf(core);
  let words: string;
  switch (def.type) {
    case 'boolean': words = 'a boolean (true or false)'; break;
    case 'number': words = describeNumber(core); break;
    case 'string': words = describeString(core); break;
    case 'enum': words = describeChoices(Object.values(def.entries)); break;
    case 'literal': words = describeChoices(def.values); break;
    case 'null': words = 'null'; break;
    case 'object': words = `an object with the keys ${Object.keys(def.shape).join(', ')}`; break;
    case 'array': words = `an array of ${describeSchema(def.element)}`; break;
    case 'union': words = (def.options as AnySchema[]).map(describeSchema).join(', or '); break;
    default: words = typeWords(def.type);
  }
  return nullable && words !== 'null' ? `${words}, or null` : words;
}

function describeChoices(values: unknown[]): string {
  const show = (v: unknown) => (typeof v === 'number' ? `the number ${v}` : quoteValue(v));
  if (values.length === 1) return show(values[0]);
  return `one of ${values.map((v) => quoteValue(v)).join(', ')}`;
}

function describeNumber(core: AnySchema): string {
  const def = defOf(core);
  const bag = (core as unknown as { _zod: { bag?: Record<string, unknown> } })._zod.bag ?? {};
  let min: number | undefined; let minInclusive = true;
  let max: number | undefined; let maxInclusive = true;
  let whole = false;
  let multipleOf: number | undefined;
  let powerOfTwo = false;
  const extra: string[] = [];
  const tighterMin = (v: number, inclusive: boolean) => {
    if (min === undefined || v > min || (v === min && !inclusive)) { min = v; minInclusive = inclusive; }
  };
  const tighterMax = (v: number, inclusive: boolean) => {
    if (max === undefined || v < max || (v === max && !inclusive)) { max = v; maxInclusive = inclusive; }
  };
  for (const check of (def.checks ?? []) as AnySchema[]) {
    const c = defOf(check);
    switch (c.check) {
      case 'greater_than': tighterMin(c.value, c.inclusive); break;
      case 'less_than': tighterMax(c.value, c.inclusive); break;
      case 'multiple_of': multipleOf = c.value; break;
      case 'number_format': {
        if (/int/.test(c.format)) whole = true;
        const range = (z.core.util.NUMBER_FORMAT_RANGES as Record<string, [number, number]>)[c.format];
        if (range && c.format !== 'float64') { tighterMin(range[0], true); tighterMax(range[1], true); }
        break;
      }
      case 'custom':
        if (isPowerOfTwoCheck(c.fn)) powerOfTwo = true;
        else { const m = refinementMessage(c); if (m) extra.push(m); }
        break;
      default: break;
    }
  }
  // zod versions that fill the bag rather than keep check defs readable
  if (typeof bag.minimum === 'number') tighterMin(bag.minimum, true);
  if (typeof bag.maximum === 'number') tighterMax(bag.maximum, true);
  if (typeof bag.format === 'string' && /int/.test(bag.format)) whole = true;

  let words = powerOfTwo ? 'a power of two' : multipleOf !== undefined ? `a multiple of ${fmtNumber(multipleOf)}` : whole ? 'a whole number' : 'a number';
  if (min !== undefined && max !== undefined && minInclusive && maxInclusive) words += ` from ${fmtNumber(min)} to ${fmtNumber(max)}`;
  else {
    const parts: string[] = [];
    if (min !== undefined) parts.push(minInclusive ? `at least ${fmtNumber(min)}` : `greater than ${fmtNumber(min)}`);
    if (max !== undefined) parts.push(maxInclusive ? `at most ${fmtNumber(max)}` : `less than ${fmtNumber(max)}`);
    if (parts.length) words += ` ${parts.join(' and ')}`;
  }
  if (extra.length) words += ` (${extra.map((m) => userText(m, 80)).join('; ')})`;
  return words;
}

function describeString(core: AnySchema): string {
  const def = defOf(core);
  let min: number | undefined; let max: number | undefined;
  const formats: string[] = [];
  for (const check of (def.checks ?? []) as AnySchema[]) {
    const c = defOf(check);
    if (c.check === 'min_length') min = Math.max(min ?? 0, c.minimum);
    else if (c.check === 'max_length') max = Math.min(max ?? Infinity, c.maximum);
    else if (c.check === 'length_equals') { min = c.length; max = c.length; }
    else if (c.check === 'string_format') formats.push(c.format === 'regex' ? `matching ${String(c.pattern)}` : `in the ${c.format} format`);
    else if (c.check === 'custom') { const m = refinementMessage(c); if (m) formats.push(`(${m})`); }
  }
  let words = 'text';
  if (min !== undefined && max !== undefined) words += min === max ? ` of exactly ${min} characters` : ` of ${min} to ${max} characters`;
  else if (max !== undefined) words += ` of at most ${max} characters`;
  else if (min !== undefined && min > 0) words += ` of at least ${min} ${min === 1 ? 'character' : 'characters'}`;
  if (formats.length) words += ` ${formats.map((f) => userText(f, 80)).join(' ')}`;
  return words;
}

function typeWords(type: string): string {
  switch (type) {
    case 'boolean': return 'a boolean (true or false)';
    case 'number': return 'a number';
    case 'int': return 'a whole number';
    case 'string': return 'text';
    case 'object': return 'an object';
    case 'array': return 'an array';
    case 'null': return 'null';
    default: return `a ${userText(String(type), 30)} value`;
  }
}

/** A refinement that accepts exactly the powers of two (probed on values, not on its name). */
function isPowerOfTwoCheck(fn: unknown): boolean {
  if (typeof fn !== 'function') return false;
  const test = (n: number) => { try { return (fn as (v: number) => unknown)(n); } catch { return undefined; } };
  return [1, 2, 4, 8, 64, 1024, 4096, 32768].every((n) => test(n) === true)
    && [3, 5, 6, 12, 100, 1000, 4095].every((n) => test(n) === false);
}

function refinementMessage(def: AnyDef): string | undefined {
  try {
    const e = def.error;
    const r = typeof e === 'function' ? e({ code: 'custom', input: undefined, path: [] }) : e;
    const m = typeof r === 'string' ? r : r?.message;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What an issue says a field takes, in words, for when the schema at its path cannot be
 * found (every zod issue code has its own words; zod's default text never reaches a person).
 * Exported for tests.
 */
export function issueExpectation(issue: z.core.$ZodIssue): string {
  const unit = (origin: unknown) => (origin === 'string' ? ' characters' : origin === 'array' || origin === 'set' ? ' items' : origin === 'file' ? ' bytes' : '');
  switch (issue.code) {
    case 'invalid_type': return typeWords(issue.expected);
    case 'too_big': return `${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${unit(issue.origin)}`;
    case 'too_small': return `${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${unit(issue.origin)}`;
    case 'invalid_value': return describeChoices(issue.values);
    case 'invalid_format': return `text in the ${userText(String(issue.format), 30)} format`;
    case 'not_multiple_of': return `a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys': return 'an object without unknown keys';
    case 'invalid_union': return 'one of the accepted forms';
    case 'invalid_key': return 'an object with valid keys';
    case 'invalid_element': return 'a collection of valid values';
    case 'custom': return /^invalid input$/i.test(issue.message) ? 'a valid value' : userText(issue.message.replace(/^must be /, ''), 80);
    default: return 'a valid value';
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

/** Path of the first number a double cannot hold exactly (non-finite, or beyond 2^53). */
function firstInexactNumber(value: unknown): PropertyKey[] | undefined {
  const stack: Array<[unknown, PropertyKey[]]> = [[value, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'number') {
      if (!Number.isFinite(node) || Math.abs(node) > Number.MAX_SAFE_INTEGER) return path;
    } else if (node !== null && typeof node === 'object') {
      const entries = Array.isArray(node) ? node.map((v, i) => [i, v] as const) : Object.entries(node);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i][1], [...path, entries[i][0]]]);
    }
  }
  return undefined;
}

function valueAt(input: unknown, path: Path): unknown {
  let node = input;
  for (const seg of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, seg)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg as string];
  }
  return node;
}

/** Bidirectional-text controls reorder what a terminal shows; escape them like control chars. */
// eslint-disable-next-line no-misleading-character-class
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Untrusted text for a message: bidi controls and control characters escaped, bounded. */
function userText(text: string, max: number): string {
  return oneLineText(text.replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), max);
}

/** quoteValue, with bidi controls escaped too. */
function quote(value: unknown, max = 60): string {
  return userText(quoteValue(value, max), Number.MAX_SAFE_INTEGER);
}

/** A dotted path for a message or a `field`, each key escaped and bounded. */
function displayPath(path: Path): string {
  return userText(path.map((s) => userText(String(s), 60)).join('.'), 120);
}

/** The source that starts an error line (a file path keeps its tail, where its name is). */
function sourceText(source: string): string {
  return showPath(source);
}

function showPath(path: string): string {
  const text = userText(String(path), Number.MAX_SAFE_INTEGER);
  return text.length <= 100 ? text : `…${text.slice(-99)}`;
}

/**
 * The key the user probably meant: a sibling spelled alike (`sqpol` → `sqpoll`), else the
 * same key somewhere else in the profile (`ringEntries` at the top → `server.ringEntries`).
 */
function suggestKey(parent: Path, key: string): string | undefined {
  const siblings = Object.keys(shapeOf(schemaAt(parent)) ?? {});
  const near = closest(key, siblings);
  if (near) return displayPath([...parent, near]);
  const elsewhere = allKeyPaths().filter((p) => p[p.length - 1].toLowerCase() === key.toLowerCase());
  if (elsewhere.length === 1) return displayPath(elsewhere[0]);
  const close = allKeyPaths().filter((p) => closest(key, [p[p.length - 1]]) !== undefined && p[p.length - 1].length > 3);
  return close.length === 1 ? displayPath(close[0]) : undefined;
}

let cachedKeyPaths: string[][] | undefined;

/** Every key path of the profile schema (groups and values). */
function allKeyPaths(): string[][] {
  if (cachedKeyPaths) return cachedKeyPaths;
  const out: string[][] = [];
  const stack: Array<[AnySchema, string[]]> = [[ProfileSchema, []]];
  while (stack.length > 0) {
    const [schema, path] = stack.pop()!;
    for (const [k, sub] of Object.entries(shapeOf(schema) ?? {})) {
      out.push([...path, k]);
      stack.push([sub, [...path, k]]);
    }
  }
  cachedKeyPaths = out;
  return out;
}

function closest(word: string, candidates: string[]): string | undefined {
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
