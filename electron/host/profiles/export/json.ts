/**
 * `--format json`: the profile as a file another uring-lab imports — `$schema` (the shipped JSON
 * Schema, for editors), kind, schemaVersion, then every knob, defaults included. Full rather than
 * elided on purpose: a profile taken to production must run the same experiment under a later
 * uring-lab whose defaults have changed.
 */
import type { Profile } from '../../../contract';
import { PROFILE_SCHEMA_URL } from '../jsonSchema';

export function profileJson(profile: Profile): string {
  const { kind, schemaVersion, ...knobs } = profile;
  return `${JSON.stringify({ $schema: PROFILE_SCHEMA_URL, kind, schemaVersion, ...knobs }, null, 2)}\n`;
}
