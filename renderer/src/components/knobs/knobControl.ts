/**
 * How the knob panel draws the catalogue (electron/contract/knobs.ts), read from each row's
 * own zod schema, so a knob added to the catalogue appears with no edit here: a switch for a
 * boolean, a select for an enum, fixed text for a single literal (a knob with one possible
 * value today), a number input with the schema's bounds for a number, a text input for a string
 * (storage.path), a CPU list typed as taskset -c takes one for an array of CPU numbers
 * (server.numa.cpus, load.cpus); a nullable knob gets an "any"/"none" choice (an empty text is
 * null). Groups follow the catalogue tree (server, load, duration, …).
 */
import { z } from 'zod';
import { formatCpuSequence, KNOBS, knobEntries, parseCpuListText, type KnobEntry, type KnobTree } from '../../../../electron/contract';

export type KnobControl =
  | { kind: 'switch' }
  | { kind: 'select'; options: readonly unknown[] }
  | { kind: 'number'; min: number | null; max: number | null; integer: boolean }
  /** Free text (a path), up to the schema's maximum length. */
  | { kind: 'text'; maxLength: number | null }
  /** An array of CPU numbers, typed as "0-3,8" (the order kept: worker i goes to the i-th). */
  | { kind: 'cpuList'; maxItems: number | null; maxCpu: number | null }
  /** One possible value (a literal), or a schema the panel does not know: shown, not edited. */
  | { kind: 'fixed' };

export interface KnobControlSpec {
  control: KnobControl;
  /** The knob takes null ("any" CPU, "none"). */
  nullable: boolean;
}

function controlOf(schema: z.ZodType): KnobControl {
  if (schema instanceof z.ZodBoolean) return { kind: 'switch' };
  const choices = schema instanceof z.ZodLiteral ? [...schema.values] : schema instanceof z.ZodEnum ? [...schema.options] : null;
  if (choices) return choices.length > 1 ? { kind: 'select', options: choices } : { kind: 'fixed' };
  if (schema instanceof z.ZodNumber) return { kind: 'number', min: schema.minValue, max: schema.maxValue, integer: schema.isInt };
  if (schema instanceof z.ZodString) return { kind: 'text', maxLength: schema.maxLength };
  // The catalogue's only arrays of numbers are CPU pinning lists.
  if (schema instanceof z.ZodArray && schema.element instanceof z.ZodNumber) {
    const checks = (schema as unknown as { _zod: { def: { checks?: { _zod: { def: { check?: string; maximum?: number } } }[] } } })._zod.def.checks ?? [];
    const max = checks.map((c) => c._zod.def).find((d) => d.check === 'max_length')?.maximum;
    const maxCpu = schema.element.maxValue;
    return { kind: 'cpuList', maxItems: typeof max === 'number' ? max : null, maxCpu: maxCpu !== null && Number.isFinite(maxCpu) ? maxCpu : null };
  }
  return { kind: 'fixed' };
}

/** The control of a schema, seen through its default and nullable wrappers. */
export function knobControl(schema: z.ZodType): KnobControlSpec {
  let inner = schema;
  let nullable = false;
  for (;;) {
    if (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault) inner = inner.unwrap() as z.ZodType;
    else if (inner instanceof z.ZodNullable) {
      nullable = true;
      inner = inner.unwrap() as z.ZodType;
    } else break;
  }
  return { control: controlOf(inner), nullable };
}

export type KnobInput = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * What a number knob takes, as the fix of a refused value: "Rings takes a whole number from 1 to
 * 64" (the schema's own bounds), not the validator's "Too small: expected number to be >=1".
 */
function numberTakes(entry: Pick<KnobEntry, 'schema'> & Partial<Pick<KnobEntry, 'label'>>): string {
  const { control, nullable } = knobControl(entry.schema);
  let words = 'a number';
  if (control.kind === 'number') {
    const { min, max, integer } = control;
    const range = min !== null && max !== null && Number.isFinite(min) && Number.isFinite(max) ? ` from ${min} to ${max}`
      : min !== null && Number.isFinite(min) ? ` of at least ${min}` : max !== null && Number.isFinite(max) ? ` of at most ${max}` : '';
    words = `${integer ? 'a whole number' : 'a number'}${range}`;
  }
  return `${entry.label ?? 'this knob'} takes ${words}${nullable ? ', or empty for none' : ''}`;
}

/** Text typed into a number knob as its value (empty: null where the knob takes it), checked against the row's schema. */
export function parseKnobNumber(entry: Pick<KnobEntry, 'schema'> & Partial<Pick<KnobEntry, 'label'>>, text: string): KnobInput {
  const trimmed = text.trim();
  const value = trimmed === '' ? (knobControl(entry.schema).nullable ? null : undefined) : Number(trimmed);
  if (value === undefined) return { ok: false, message: `a value is needed: ${numberTakes(entry)}` };
  const checked = entry.schema.safeParse(value);
  if (checked.success) return { ok: true, value: checked.data };
  // A refinement's own words (a power of two …) already say what it takes.
  const issue = checked.error.issues[0];
  return { ok: false, message: issue?.code === 'custom' ? issue.message : numberTakes(entry) };
}

/** Text typed into a text knob as its value (empty: null where the knob takes it), checked against the row's schema. */
export function parseKnobText(entry: Pick<KnobEntry, 'schema'>, text: string): KnobInput {
  const value = text === '' && knobControl(entry.schema).nullable ? null : text;
  const checked = entry.schema.safeParse(value);
  return checked.success ? { ok: true, value: checked.data } : { ok: false, message: checked.error.issues[0]?.message ?? 'not a valid value' };
}

/** A CPU list knob's value as it is typed and shown ("0-3,8"; empty for null). */
export function cpuListText(value: unknown): string {
  return Array.isArray(value) && value.every((v) => typeof v === 'number') ? formatCpuSequence(value) : '';
}

/**
 * Text typed into a CPU list knob ("0-3,8", "1,0"; empty: null where the knob takes it), checked
 * against the row's schema; a refusal says what the knob takes, never the validator's words.
 */
export function parseKnobCpuList(entry: Pick<KnobEntry, 'schema'> & Partial<Pick<KnobEntry, 'label'>>, text: string): KnobInput {
  const { control, nullable } = knobControl(entry.schema);
  const label = entry.label ?? 'this knob';
  const most = control.kind === 'cpuList' && control.maxItems !== null ? ` (at most ${control.maxItems})` : '';
  const takes = `${label} takes CPUs such as 0-3,8 or 1,0${most}${nullable ? ', or empty for any' : ''}`;
  if (text.trim() === '') return nullable ? { ok: true, value: null } : { ok: false, message: `a value is needed: ${takes}` };
  const parsed = parseCpuListText(text);
  if (!parsed.ok) return { ok: false, message: `${parsed.reason}: ${takes}` };
  const checked = entry.schema.safeParse(parsed.cpus);
  if (checked.success) return { ok: true, value: checked.data };
  const maxCpu = control.kind === 'cpuList' ? control.maxCpu : null;
  const big = maxCpu === null ? undefined : parsed.cpus.find((c) => c > maxCpu);
  return { ok: false, message: `${big !== undefined ? `CPU ${big} is beyond ${maxCpu}` : `${parsed.cpus.length} CPUs`}: ${takes}` };
}

/** Knob values compared as the panel means them: a CPU list by its CPUs, anything else as itself. */
export function sameKnobValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  return Object.is(a, b);
}

export interface KnobGroup {
  /** The catalogue's top-level key (server, load, …); top-level rows form `experiment`. */
  key: string;
  title: string;
  rows: KnobEntry[];
}

/** The catalogue's rows with an effect on a run, grouped by their top-level key, in catalogue order. */
export function knobGroups(tree: KnobTree = KNOBS): KnobGroup[] {
  const groups = new Map<string, KnobGroup>();
  for (const entry of knobEntries(tree)) {
    // Metadata has no effect on a run; a row with a panel of its own (diagnose.inject: the
    // chaos panel) is edited there, not as a generic control.
    if (entry.applies === 'metadata' || entry.panel) continue;
    const dot = entry.path.indexOf('.');
    const key = dot < 0 ? 'experiment' : entry.path.slice(0, dot);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { key, title: key[0]!.toUpperCase() + key.slice(1), rows: [] }));
    group.rows.push(entry);
  }
  return [...groups.values()];
}
