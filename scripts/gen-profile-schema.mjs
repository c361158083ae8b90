// Writes resources/profile.schema.json, the profile's JSON Schema, from the knob catalogue (via
// the built dist/: scripts/post-build.mjs runs it at the end of every `npm run build:main`). `--check` writes nothing and exits 1 when the
// shipped file differs from what the catalogue generates (test/unit/profileSchema.test.ts checks
// the same without a build).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { profileJsonSchemaText, PROFILE_SCHEMA_FILE } = require('../dist/electron/host/profiles/jsonSchema.js');
const target = fileURLToPath(new URL(`../${PROFILE_SCHEMA_FILE}`, import.meta.url));
const text = profileJsonSchemaText();
if (process.argv.includes('--check')) {
  let shipped = '';
  try { shipped = readFileSync(target, 'utf8'); } catch { /* missing: differs */ }
  if (shipped !== text) {
    console.error(`${PROFILE_SCHEMA_FILE} is out of date with the knob catalogue; run npm run gen:profile-schema`);
    process.exit(1);
  }
  console.log(`${PROFILE_SCHEMA_FILE} is up to date`);
} else {
  writeFileSync(target, text);
  console.log(`wrote ${PROFILE_SCHEMA_FILE} (${text.length} bytes)`);
}
