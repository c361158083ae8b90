/**
 * The profile's JSON Schema, generated from the zod schema (itself from the knob catalogue) and
 * shipped as resources/profile.schema.json, so editors validate and complete profile files:
 * each knob's label and help become its title and description. Exported JSON profiles name it
 * in `$schema`; imports accept and set aside a `$schema` key (validate.ts).
 *
 * scripts/gen-profile-schema.mjs writes the file (at every build, from scripts/post-build.mjs);
 * test/unit/profileSchema.test.ts fails when the shipped file and the catalogue drift apart.
 */
import { z } from 'zod';
import { knobEntries, PROFILE_KIND, PROFILE_SCHEMA_VERSION, ProfileSchema } from '../../contract';

/**
 * The schema's identity, versioned with schemaVersion. Not fetched by anything here: editors
 * map it to the shipped file (README, "Profiles") until it is published at this address.
 */
export const PROFILE_SCHEMA_URL = `https://uring-lab.dev/schemas/profile-v${PROFILE_SCHEMA_VERSION}.json`;
/** Where the generated schema is shipped, relative to the package root. */
export const PROFILE_SCHEMA_FILE = 'resources/profile.schema.json';

type JsonSchemaNode = { properties?: Record<string, JsonSchemaNode>; [key: string]: unknown };

/** The JSON Schema of a profile file (the input side: every key but kind/schemaVersion optional). */
export function profileJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ProfileSchema, { io: 'input', target: 'draft-2020-12' }) as JsonSchemaNode;
  const root: JsonSchemaNode = {
    $schema: generated.$schema,
    $id: PROFILE_SCHEMA_URL,
    title: `uring-lab tuning profile (schemaVersion ${PROFILE_SCHEMA_VERSION})`,
    description: `A uring-lab tuning profile: "kind": "${PROFILE_KIND}", "schemaVersion": ${PROFILE_SCHEMA_VERSION}, and any knobs; every knob left out takes its default. uring-lab run --profile FILE runs it.`,
    ...Object.fromEntries(Object.entries(generated).filter(([k]) => k !== '$schema')),
  };
  root.properties = {
    $schema: { type: 'string', description: 'The JSON Schema of this file (for editors); uring-lab sets it aside.' },
    ...root.properties,
  };
  for (const entry of knobEntries()) {
    const node = nodeAt(root, entry.path.split('.'));
    if (!node) throw new Error(`profile JSON Schema: no node for knob ${entry.path}`);
    const words = [entry.help];
    if (entry.unit) words.push(`Unit: ${entry.unit}.`);
    if (entry.kernel) words.push(`Needs: ${entry.kernel}.`);
    Object.assign(node, { title: entry.label, description: words.join(' ') });
  }
  return root;
}

/** The shipped file's exact text: two-space JSON and a final newline. */
export function profileJsonSchemaText(): string {
  return `${JSON.stringify(profileJsonSchema(), null, 2)}\n`;
}

function nodeAt(root: JsonSchemaNode, path: string[]): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = root;
  for (const key of path) node = node?.properties?.[key];
  return node;
}
