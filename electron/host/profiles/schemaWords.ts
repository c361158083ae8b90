/**
 * What a schema accepts, in words: `a power of two from 8 to 32768`, `one of "defer", "coop"`,
 * `text of 1 to 200 characters`. Read from zod's definitions (bounds, formats, refinements),
 * never from its messages, so a knob added to the catalogue is described for free and zod's
 * own wording never reaches a person.
 */
import { z } from 'zod';
import { quoteValue } from '../../contract';
import { userText, numberText } from './messageText';
import { AnyDef, AnySchema, defOf, unwrap } from './profileShape';

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
    case 'array': words = describeArray(core); break;
    case 'union': words = (def.options as AnySchema[]).map(describeSchema).join(', or '); break;
    default: words = typeWords(def.type);
  }
  return nullable && words !== 'null' ? `${words}, or null` : words;
}

/** `an array of 1 to 64 items, each a whole number from 0 to 4095`: its length bounds and what each item takes. */
function describeArray(core: AnySchema): string {
  const def = defOf(core);
  let min = 0; let max = Infinity;
  for (const check of (def.checks ?? []) as AnySchema[]) {
    const c = defOf(check);
    if (c.check === 'min_length') min = Math.max(min, c.minimum);
    else if (c.check === 'max_length') max = Math.min(max, c.maximum);
    else if (c.check === 'length_equals') { min = c.length; max = c.length; }
  }
  const count = min === max ? `exactly ${min}` : Number.isFinite(max) ? (min > 0 ? `${min} to ${max}` : `at most ${max}`) : min > 0 ? `at least ${min}` : '';
  const item = describeSchema(def.element as AnySchema);
  return count ? `an array of ${count} ${max === 1 ? 'item' : 'items'}, each ${item}` : `an array, each item ${item}`;
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

  let words = powerOfTwo ? 'a power of two' : multipleOf !== undefined ? `a multiple of ${numberText(multipleOf)}` : whole ? 'a whole number' : 'a number';
  if (min !== undefined && max !== undefined && minInclusive && maxInclusive) words += ` from ${numberText(min)} to ${numberText(max)}`;
  else {
    const parts: string[] = [];
    if (min !== undefined) parts.push(minInclusive ? `at least ${numberText(min)}` : `greater than ${numberText(min)}`);
    if (max !== undefined) parts.push(maxInclusive ? `at most ${numberText(max)}` : `less than ${numberText(max)}`);
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
    else if (c.check === 'string_format') {
      // A pattern's own words (RunIdSchema: "a run id (letters, digits, …)") say more than the regex.
      const own = refinementMessage(c);
      formats.push(own ? `(${own})` : c.format === 'regex' ? `matching ${String(c.pattern)}` : `in the ${c.format} format`);
    }
    else if (c.check === 'custom') { const m = refinementMessage(c); if (m) formats.push(`(${m})`); }
  }
  let words = 'text';
  if (min !== undefined && max !== undefined) words += min === max ? ` of exactly ${min} characters` : ` of ${min} to ${max} characters`;
  else if (max !== undefined) words += ` of at most ${max} characters`;
  else if (min !== undefined && min > 0) words += ` of at least ${min} ${min === 1 ? 'character' : 'characters'}`;
  if (formats.length) words += ` ${formats.map((f) => userText(f, 120)).join(' ')}`;
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
    // z.nonoptional's expected type: the field was missing.
    case 'nonoptional': return 'given (it is required)';
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
    case 'invalid_format':
      // zod's own text starts "Invalid"; anything else is the schema's words for the form.
      if (!/^invalid/i.test(issue.message)) return userText(issue.message, 80);
      return issue.format === 'regex' ? 'text of the accepted form' : `text in the ${userText(String(issue.format), 30)} format`;
    case 'not_multiple_of': return `a multiple of ${String(issue.divisor)}`;
    case 'unrecognized_keys': return 'an object without unknown keys';
    case 'invalid_union': return 'one of the accepted forms';
    case 'invalid_key': return 'an object with valid keys';
    case 'invalid_element': return 'a collection of valid values';
    case 'custom': return /^invalid input$/i.test(issue.message) ? 'a valid value' : userText(issue.message.replace(/^must be /, ''), 80);
    default: return 'a valid value';
  }
}
