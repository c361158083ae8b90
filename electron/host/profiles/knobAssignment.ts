/**
 * Single knob changes: `--set key.path=value` on the command line and the UI's setKnob. The
 * key path is bounded and checked against the profile's keys (with "did you mean"), the value
 * against the knob's own schema before the profile as a whole; the caller's profile is never
 * mutated, so a refused change leaves what the user had untouched.
 */
import type { z } from 'zod';
import { isCpuListKnob, LabError, Profile, ProfileSchema, quoteValue, typedCpuList } from '../../contract';
import { suggestKey } from './keySuggestions';
import { displayPath, showSource, userText, type Style } from './messageText';
import { defOf, schemaAt, setValueAt, shapeOf, unwrap } from './profileShape';
import { boundsOrThrow, issuesToLabError, refinementError, valueError } from './refusals';
import { describeSchema } from './schemaWords';
import { defaultAssignment, knobExample, parseSetValue } from './setSyntax';
import { firstInexactNumber } from './validate';

/** Longest `--set key.path=value` accepted. */
export const MAX_SET_CHARS = 4096;
/** Longest dotted key path, and most segments in one (profiles nest 3 deep). */
export const MAX_KEY_PATH_CHARS = 200;
export const MAX_KEY_PATH_SEGMENTS = 8;

const DOTTED_KEYS = 'use dotted keys such as server.sqpoll.enabled';

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
      fix: `a knob takes a number, boolean, string or null, e.g. ${defaultAssignment(['server', 'ringEntries'])}`,
    });
  }
  if (eq <= 0) {
    throw new LabError({ code: 'SET_SYNTAX', field: text, message: `--set ${quoteValue(text)} is not key.path=value`, fix: 'write it as e.g. --set server.sqpoll.enabled=true' });
  }
  const path = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1).trim();
  const segments = resolveKnobPath(path, '--set');
  let value = parseSetValue(raw);
  // A free-text knob takes what was typed: `--set name=123` names the profile "123". One that
  // may also be null (storage.path, server.socket.congestion) takes `null` as null, the way
  // every other nullable knob does and the way its own error line suggests.
  const knobSchema = schemaAt(segments) as z.ZodType;
  if (typeof value !== 'string' && defOf(unwrap(knobSchema).core).type === 'string'
    && !(value === null && knobSchema.safeParse(null).success)) value = raw;
  if (isCpuListKnob(displayPath(segments))) value = cpuListValue(segments, value);
  checkKnobValue(segments, value, '--set', 'set', typeof value === 'string' ? undefined : raw);
  return { path, value };
}

/**
 * `--set load.cpus=0-3,8` (and `=2`, one CPU) as the list [0,1,2,3,8]: the syntax taskset -c
 * takes and the doctor prints. A JSON array or null passes as it is, to the schema's check.
 */
function cpuListValue(segments: string[], value: unknown): unknown {
  const parsed = typedCpuList(value);
  if (!parsed) return value;
  const field = displayPath(segments);
  const typed = quoteValue(userText(String(value), 60));
  if (parsed.ok) {
    // Checked here so the line quotes the list as typed, not its expansion.
    if ((schemaAt(segments) as z.ZodType).safeParse(parsed.cpus).success) return parsed.cpus;
    throw new LabError({
      code: 'INVALID_VALUE', field,
      message: `--set: ${field} must be ${describeSchema(schemaAt(segments)!)} (got ${typed}: ${parsed.cpus.length === 1 ? 'CPU' : `${parsed.cpus.length} CPUs, the highest`} ${Math.max(...parsed.cpus)})`,
      fix: knobExample(segments, 'set'),
    });
  }
  throw new LabError({
    code: 'INVALID_VALUE', field,
    message: `--set: ${field} must be a CPU list such as 0-3,8 (or a JSON array [0,1,2,3,8]), or null (got ${typed}: ${parsed.reason})`,
    fix: knobExample(segments, 'set'),
  });
}

/**
 * Returns a new profile with `path` set to `value`, validated as a whole. `source` starts the
 * error line: `--set` for the command line (the default), e.g. `setKnob` for the UI.
 */
export function withKnob(profile: Profile, path: string, value: unknown, source = '--set'): Profile {
  const src = showSource(source);
  const style: Style = source === '--set' ? 'set' : 'value';
  const segments = resolveKnobPath(path, src);
  checkKnobValue(segments, value, src, style);
  const next = structuredClone(profile) as Record<string, unknown>;
  setValueAt(next, segments, value);
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
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: a key path of ${text.length} characters is not a profile key (at most ${MAX_KEY_PATH_CHARS})`, fix: DOTTED_KEYS });
  }
  const segments = text.split('.');
  if (segments.length > MAX_KEY_PATH_SEGMENTS) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: "${userText(text, 80)}" has ${segments.length} dotted parts; a profile key path has at most ${MAX_KEY_PATH_SEGMENTS}`, fix: DOTTED_KEYS });
  }
  if (segments.some((s) => s.length === 0)) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: text, message: `${source}: "${userText(text, 80)}" is not a profile key path`, fix: DOTTED_KEYS });
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
  if (!result.success) throw refinementError(result.error.issues, source) ?? valueError(segments, source, style, value, raw);
}
