/**
 * Tuning profiles: validation of imported files and of single knob changes (`--set a.b=c`,
 * the UI's toggles), with errors that name the field and say how to fix it. Nothing here
 * mutates the caller's profile: a refused change leaves what the user had untouched.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LabError, Profile, ProfileSchema, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../contract';

export function defaultProfile(): Profile {
  return ProfileSchema.parse({ kind: PROFILE_KIND, schemaVersion: PROFILE_SCHEMA_VERSION });
}

/** Validates untrusted profile JSON (a file, an IPC message). `source` prefixes the error. */
export function parseProfile(input: unknown, source = 'profile'): Profile {
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    const obj = input as Record<string, unknown>;
    if (obj.kind === undefined) {
      throw new LabError({ code: 'PROFILE_INVALID', field: 'kind', message: `${source}: missing "kind"`, fix: `add "kind": "${PROFILE_KIND}"` });
    }
    if (obj.schemaVersion !== undefined && obj.schemaVersion !== PROFILE_SCHEMA_VERSION) {
      throw new LabError({
        code: 'PROFILE_VERSION', field: 'schemaVersion',
        message: `${source}: schemaVersion ${JSON.stringify(obj.schemaVersion)} is not supported by this uring-lab`,
        fix: `this build reads schemaVersion ${PROFILE_SCHEMA_VERSION}; upgrade uring-lab or export the profile again`,
      });
    }
  }
  const result = ProfileSchema.safeParse(input);
  if (!result.success) throw issueToLabError(result.error.issues[0], source);
  return result.data;
}

export function loadProfileFile(path: string): Profile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new LabError({ code: 'PROFILE_UNREADABLE', field: 'profile', message: `cannot read profile ${path} (${code})`, fix: 'check the path passed to --profile' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LabError({ code: 'PROFILE_NOT_JSON', field: 'profile', message: `${path} is not valid JSON: ${(err as Error).message}`, fix: 'fix the JSON syntax (a profile is one JSON object)' });
  }
  return parseProfile(json, path);
}

/** Turns a `--set` value into JSON: `true`, `12`, `null`, `"x"` parse as JSON; anything else is a string. */
export function parseSetValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Parses `key.path=value` as given to `--set`. */
export function parseSetAssignment(assignment: string): { path: string; value: unknown } {
  const eq = assignment.indexOf('=');
  if (eq <= 0) {
    throw new LabError({ code: 'SET_SYNTAX', field: assignment, message: `--set "${assignment}" is not key.path=value`, fix: 'write it as e.g. --set server.sqpoll.enabled=true' });
  }
  return { path: assignment.slice(0, eq).trim(), value: parseSetValue(assignment.slice(eq + 1).trim()) };
}

/** Returns a new profile with `path` set to `value`, validated as a whole. */
export function withKnob(profile: Profile, path: string, value: unknown): Profile {
  const segments = path.split('.');
  if (segments.some((s) => s.length === 0)) {
    throw new LabError({ code: 'UNKNOWN_KEY', field: path, message: `"${path}" is not a profile key path`, fix: 'use dotted keys such as server.sqpoll.enabled' });
  }
  const next = structuredClone(profile) as Record<string, unknown>;
  let node: Record<string, unknown> = next;
  for (let i = 0; i < segments.length; i++) {
    const key = segments[i];
    const here = segments.slice(0, i + 1).join('.');
    if (!Object.prototype.hasOwnProperty.call(node, key)) {
      const parent = segments.slice(0, i).join('.');
      const known = Object.keys(node);
      const guess = closest(key, known);
      throw new LabError({
        code: 'UNKNOWN_KEY', field: here,
        message: `unknown profile key "${here}"`,
        fix: guess ? `did you mean "${[parent, guess].filter(Boolean).join('.')}"? keys${parent ? ` under ${parent}` : ''}: ${known.join(', ')}` : `keys${parent ? ` under ${parent}` : ''}: ${known.join(', ')}`,
      });
    }
    if (i === segments.length - 1) {
      const current = node[key];
      if (current !== null && typeof current === 'object') {
        throw new LabError({ code: 'NOT_A_LEAF', field: here, message: `"${here}" is a group of keys, not a value`, fix: `set one of: ${Object.keys(current as object).map((k) => `${here}.${k}`).join(', ')}` });
      }
      node[key] = value;
    } else {
      node = node[key] as Record<string, unknown>;
    }
  }
  if (path === 'kind' || path === 'schemaVersion') {
    throw new LabError({ code: 'READ_ONLY', field: path, message: `"${path}" identifies the file format and cannot be set`, fix: 'set a tuning key instead, e.g. server.sqpoll.enabled' });
  }
  const result = ProfileSchema.safeParse(next);
  if (!result.success) throw issueToLabError(result.error.issues[0], '--set', value);
  return result.data;
}

function issueToLabError(issue: z.core.$ZodIssue, source: string, given?: unknown): LabError {
  const path = issue.path.map(String).join('.') || '(profile)';
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path === '(profile)' ? k : `${path}.${k}`));
    return new LabError({ code: 'UNKNOWN_KEY', field: keys[0], message: `${source}: unknown key ${keys.map((k) => `"${k}"`).join(', ')}`, fix: 'remove it or check its spelling against the profile keys in DESIGN.md' });
  }
  const shown = given !== undefined ? ` (got ${JSON.stringify(given)})` : '';
  return new LabError({ code: 'INVALID_VALUE', field: path, message: `${source}: ${path}: ${issue.message}${shown}`, fix: fixFor(issue) });
}

function fixFor(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  switch (issue.code) {
    case 'invalid_type':
      return `give ${path} a ${issue.expected}`;
    case 'invalid_value':
      return `${path} takes one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `${path} must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `${path} must be at most ${String(issue.maximum)}`;
    case 'custom':
      return /power of two/.test(issue.message) ? `use a power of two such as ${path.endsWith('size') ? 2048 : 4096}` : `give ${path} a value that ${issue.message}`;
    default:
      return `correct ${path}`;
  }
}

function closest(word: string, candidates: string[]): string | undefined {
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
