/**
 * The tuning profile (JSON, validated on import, versioned): its schema is derived from the
 * knob catalogue (knobs.ts), so a knob is declared once. Every key has a default, so `{}` plus
 * kind/schemaVersion is a valid profile.
 *
 * Schemas are strict: an unknown key is an error naming its path, because a typo in a
 * tuning profile (`sqpol.enabled`) that is silently ignored produces a wrong experiment.
 */
import { z } from 'zod';
import { KNOBS, schemaShape } from './knobs';

export const PROFILE_KIND = 'uring-lab/profile';
export const PROFILE_SCHEMA_VERSION = 1;

export const ProfileSchema = z.strictObject({
  kind: z.literal(PROFILE_KIND),
  schemaVersion: z.literal(PROFILE_SCHEMA_VERSION),
  ...schemaShape(KNOBS),
});
export type Profile = z.infer<typeof ProfileSchema>;
export type ProfileInput = z.input<typeof ProfileSchema>;
