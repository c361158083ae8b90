/**
 * The shipped JSON Schema (resources/profile.schema.json) is what the catalogue generates — so it
 * cannot drift — and it says what the zod schema says: an editor validating with it accepts the
 * presets and the JSON exports, and refuses what the lab refuses (unknown keys, out-of-range
 * and non-power-of-two values, wrong types). Imports accept the `$schema` the exports carry.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
// ajv: electron-builder's dependency, in the lockfile; here only as an independent JSON Schema validator.
import Ajv2020 from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import { LabError, PROFILE_KIND } from '../../electron/contract';
import { defaultProfile, parseProfile } from '../../electron/host/profiles';
import { exportProfile } from '../../electron/host/profiles/export';
import { PROFILE_SCHEMA_FILE, PROFILE_SCHEMA_URL, profileJsonSchema, profileJsonSchemaText } from '../../electron/host/profiles/jsonSchema';
import { presetsDir } from '../../electron/host/profiles/presets';

const ROOT = path.join(__dirname, '../..');
const K = { kind: PROFILE_KIND, schemaVersion: 1 };

describe('profile JSON Schema', () => {
  it('the shipped file is the one the knob catalogue generates (npm run gen:profile-schema after a knob change)', () => {
    expect(readFileSync(path.join(ROOT, PROFILE_SCHEMA_FILE), 'utf8')).toBe(profileJsonSchemaText());
  });

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(profileJsonSchema());

  it('accepts every preset and every JSON export, with its $schema', () => {
    for (const f of readdirSync(presetsDir()).filter((n) => n.endsWith('.json'))) {
      const json = JSON.parse(readFileSync(path.join(presetsDir(), f), 'utf8'));
      expect(validate(json), `${f}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      const exported = JSON.parse(exportProfile(parseProfile(json), 'json').text);
      expect(exported.$schema).toBe(PROFILE_SCHEMA_URL);
      expect(validate(exported), `${f} exported: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it('refuses what the lab refuses', () => {
    const refused: Array<[string, unknown]> = [
      ['unknown key', { ...K, server: { sqpol: { enabled: true } } }],
      ['not a power of two', { ...K, server: { ringEntries: 1000 } }],
      ['out of range', { ...K, load: { connections: 0 } }],
      ['wrong type', { ...K, server: { sqpoll: { enabled: 'yes' } } }],
      ['not a multiple of 512', { ...K, storage: { blockBytes: 1000 } }],
      ['a control character in the name', { ...K, name: 'a\u001b[2Jb' }],
      ['no kind', { schemaVersion: 1 }],
      ['another version', { ...K, schemaVersion: 2 }],
      ['a choice that is not one', { ...K, server: { taskrun: 'deferred' } }],
    ];
    for (const [why, doc] of refused) {
      expect(validate(doc), why).toBe(false);
      expect(() => parseProfile(doc), why).toThrow(LabError);
    }
  });

  it("gives each knob its catalogue label and help as title and description (for editors' completion)", () => {
    const schema = profileJsonSchema() as { properties: Record<string, { properties?: Record<string, { title?: string; description?: string }> }> };
    const sqpoll = (schema.properties.server.properties!.sqpoll as { properties: Record<string, { title: string; description: string }> }).properties.enabled;
    expect(sqpoll.title).toBe('SQPOLL');
    expect(sqpoll.description).toMatch(/kernel thread polls the submission queue.*Needs: Linux 5\.11/);
  });

  it('imports accept $schema (an exported file reads back as the same profile) and refuse a $schema that is not text', () => {
    const profile = parseProfile({ ...K, server: { sqpoll: { enabled: true } } });
    expect(parseProfile(JSON.parse(exportProfile(profile, 'json').text))).toEqual(profile);
    expect(parseProfile({ $schema: 'https://example.org/any.json', ...K })).toEqual(defaultProfile());
    let err: unknown;
    try { parseProfile({ $schema: 1, ...K }); } catch (e) { err = e; }
    expect((err as LabError).field).toBe('$schema');
  });
});
