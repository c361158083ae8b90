/**
 * The error lines of profile validation. Each is one line that starts with its source (the
 * file, `--set`, `startRun.profile`), names the dotted field, says what the field takes in
 * words derived from the schema, quotes what was given (bounded and escaped), and ends with a
 * fix. zod's issues decide which field is at fault; their text never reaches a person.
 */
import type { z } from 'zod';
import { LabError, ProfileSchema, quoteValue } from '../../contract';
import { assertJsonBounds } from '../jsonLimits';
import { closest, suggestKey } from './keySuggestions';
import { displayPath, numberText, quote, userText, type Path, type Style } from './messageText';
import { defaultAt, schemaAt, shapeOf, stringChoices, valueAt } from './profileShape';
import { describeSchema, issueExpectation } from './schemaWords';
import { knobExample } from './setSyntax';

/** The field of a whole profile, for errors about the profile itself. */
export const WHOLE_PROFILE = '(profile)';

/** assertJsonBounds, with the error line starting at the source and naming the field. */
export function boundsOrThrow(value: unknown, source: string, field: string, code: string): void {
  const label = field === WHOLE_PROFILE ? source : `${source}: ${field}`;
  try {
    assertJsonBounds(value, label, code);
  } catch (err) {
    const e = LabError.from(err, code);
    const fix = field === WHOLE_PROFILE ? 'a profile is one object nesting 3 levels (e.g. server.sqpoll.enabled) with a few dozen keys' : e.fix;
    throw new LabError({ code: e.code, field, message: e.message, fix });
  }
}

/** The error for a set of zod issues: all unknown keys first (bounded), else the first value. */
export function issuesToLabError(issues: z.core.$ZodIssue[], source: string, style: Style, input: unknown, raws: Map<string, string>): LabError {
  const unknown: PropertyKey[][] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') for (const k of issue.keys) unknown.push([...issue.path, k]);
  }
  if (unknown.length > 0) return unknownKeysError(unknown, source);
  const issue = issues[0];
  const own = refinementError(issues, source);
  if (own) return own;
  return valueError(issue.path, source, style, valueAt(input, issue.path), raws.get(JSON.stringify(issue.path)), issue);
}

/** A refinement that carries its own words (params.fix; a rule across items such as
 *  overlapping injections) says them: the schema's generic "must be" would not. */
export function refinementError(issues: z.core.$ZodIssue[], source: string): LabError | null {
  const paramsOf = (i: z.core.$ZodIssue) => (i.code === 'custom' ? (i as z.core.$ZodIssueCustom).params as { field?: string; fix?: string } | undefined : undefined);
  const issue = issues.find((i) => typeof paramsOf(i)?.fix === 'string');
  if (!issue) return null;
  const own = paramsOf(issue) as { field?: string; fix: string };
  return new LabError({ code: 'INVALID_VALUE', kind: 'input', field: own.field ?? issue.path.join('.'), message: `${source}: ${issue.message}`, fix: own.fix });
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
export function valueError(path: Path, source: string, style: Style, given: unknown, raw?: string, issue?: z.core.$ZodIssue): LabError {
  const field = displayPath(path) || WHOLE_PROFILE;
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

/** What was given, in words: `the string "1"`, `1e400`, `an array [1,2]`, `null`. */
export function describeGot(value: unknown, raw?: string): string {
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
