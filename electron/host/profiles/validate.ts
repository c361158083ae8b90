/**
 * Whole profiles from anywhere untrusted (a file, an IPC or WebSocket message): bounded
 * before anything recursive sees them, identified (kind, schemaVersion), checked against the
 * schema derived from the knob catalogue, and refused with one line naming the field.
 */
import { LabError, Profile, ProfileSchema, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../../contract';
import { migrateProfile } from './migrate';
import { showSource, type Style } from './messageText';
import { valueAt } from './profileShape';
import { boundsOrThrow, describeGot, issuesToLabError, valueError, WHOLE_PROFILE } from './refusals';

/** Validates untrusted profile JSON (a file, an IPC message). `source` prefixes the error. */
export function parseProfile(input: unknown, source = 'profile'): Profile {
  return validateProfile(input, showSource(source), new Map(), 'json');
}

/**
 * @param raws literal text of numbers a double cannot hold exactly, by JSON.stringify(path)
 *             (only files have it: JSON.parse has already turned 1e400 into Infinity).
 */
export function validateProfile(input: unknown, source: string, raws: Map<string, string>, style: Style): Profile {
  return checkProfile(input, source, raws, style).profile;
}

/** What an import needs to say: the profile, and the version it was migrated from (null: none). */
export interface CheckedProfile {
  profile: Profile;
  migratedFrom: number | null;
}

/** validateProfile, after `$schema` is set aside and an older version migrated (migrate.ts). */
export function checkProfile(input: unknown, source: string, raws: Map<string, string>, style: Style): CheckedProfile {
  boundsOrThrow(input, source, WHOLE_PROFILE, 'PROFILE_INVALID');
  // `$schema` names the JSON Schema for editors (exported files carry it); it is no knob.
  if (input !== null && typeof input === 'object' && !Array.isArray(input) && Object.hasOwn(input, '$schema')) {
    const { $schema, ...rest } = input as Record<string, unknown>;
    if (typeof $schema !== 'string') {
      throw new LabError({ code: 'PROFILE_INVALID', field: '$schema', message: `${source}: $schema must be text, the JSON Schema's URL (got ${describeGot($schema)})`, fix: 'remove "$schema", or give the URL of the profile schema' });
    }
    input = rest;
  }
  const migrated = migrateProfile(input, source, raws);
  if (migrated.migratedFrom !== null) {
    // The old document's values were checked in its own keys; the new shape is checked as any.
    return { profile: checkCurrent(migrated.document, source, new Map(), style), migratedFrom: migrated.migratedFrom };
  }
  return { profile: checkCurrent(input, source, raws, style), migratedFrom: null };
}

function checkCurrent(input: unknown, source: string, raws: Map<string, string>, style: Style): Profile {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new LabError({
      code: 'PROFILE_INVALID', field: WHOLE_PROFILE,
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
      // Newer versions were refused by migrateProfile; what is left is older or not a version.
      fix: version === 0
        ? 'a schemaVersion 0 profile (uring-lab 0.x) has no "kind": remove "kind" to have it migrated, or write the file as schemaVersion 1'
        : `write "schemaVersion": ${PROFILE_SCHEMA_VERSION} (or 0 for a uring-lab 0.x file without "kind")`,
    });
  }
  const result = ProfileSchema.safeParse(input);
  if (!result.success) throw issuesToLabError(result.error.issues, source, style, input, raws);
  const inexact = firstInexactNumber(input);
  if (inexact) throw valueError(inexact, source, style, valueAt(input, inexact), raws.get(JSON.stringify(inexact)));
  return result.data;
}

/** Path of the first number a double cannot hold exactly (non-finite, or beyond 2^53). */
export function firstInexactNumber(value: unknown): PropertyKey[] | undefined {
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
