/**
 * The profile read by path: the schema, the keys, the default and the value at a dotted path,
 * and every key path there is. A knob's default is read from its catalogue row; a group's
 * (`server.sqpoll`) is the default profile below it. Reads zod's definitions, never its
 * messages, so a knob added to the catalogue is navigated without code here.
 */
import type { z } from 'zod';
import { knobAt, Profile, ProfileSchema, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../../contract';
import type { Path } from './messageText';

export type AnySchema = z.core.$ZodType;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDef = any;

export function defaultProfile(): Profile {
  return ProfileSchema.parse({ kind: PROFILE_KIND, schemaVersion: PROFILE_SCHEMA_VERSION });
}

let cachedDefault: Profile | undefined;

function sharedDefault(): Profile {
  cachedDefault ??= defaultProfile();
  return cachedDefault;
}

export function defOf(schema: AnySchema): AnyDef {
  return (schema as unknown as { _zod: { def: AnyDef } })._zod.def;
}

/** The schema under default/prefault/optional/nullable/readonly/catch/pipe wrappers. */
export function unwrap(schema: AnySchema): { core: AnySchema; nullable: boolean } {
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

/** The keys of an object schema (a group of the profile), or undefined for a value. */
export function shapeOf(schema: AnySchema | undefined): Record<string, AnySchema> | undefined {
  if (!schema) return undefined;
  const def = defOf(unwrap(schema).core);
  return def.type === 'object' ? (def.shape as Record<string, AnySchema>) : undefined;
}

/** The schema of the value at `path` in a profile, or undefined when there is no such key. */
export function schemaAt(path: Path): AnySchema | undefined {
  let schema: AnySchema = ProfileSchema;
  for (const seg of path) {
    const shape = shapeOf(schema);
    if (!shape || typeof seg !== 'string' || !Object.hasOwn(shape, seg)) return undefined;
    schema = shape[seg];
  }
  return schema;
}

/** The default at `path`: a knob's from its catalogue row, a group's or a format key's from the default profile. */
export function defaultAt(path: Path): { found: boolean; value?: unknown } {
  if (path.length === 0 || path.some((seg) => typeof seg !== 'string')) return { found: false };
  // A key that itself contains a dot is a key of its own, never a knob's path.
  const row = path.some((seg) => (seg as string).includes('.')) ? undefined : knobAt(path.join('.'));
  if (row) return { found: true, value: (row.schema as z.ZodType).parse(undefined) };
  let node: unknown = sharedDefault();
  for (const seg of path as string[]) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, seg)) return { found: false };
    node = (node as Record<string, unknown>)[seg];
  }
  return { found: true, value: node };
}

/** The strings a schema accepts (an enum's or a literal's), for "did you mean" on a value. */
export function stringChoices(schema: AnySchema): string[] {
  const def = defOf(unwrap(schema).core);
  const values: unknown[] = def.type === 'enum' ? Object.values(def.entries) : def.type === 'literal' ? def.values : [];
  return values.filter((v): v is string => typeof v === 'string');
}

let cachedKeyPaths: string[][] | undefined;

/** Every key path of the profile schema (groups and values). */
export function allKeyPaths(): string[][] {
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

/** The value at `path` in an untrusted input (own keys only), or undefined. */
export function valueAt(input: unknown, path: Path): unknown {
  let node = input;
  for (const seg of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, seg)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg as string];
  }
  return node;
}

/** Sets the value at `path` in `root` in place, making the groups on the way where missing. */
export function setValueAt(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
