/**
 * Tuning profiles: validation of imported files and of single knob changes (`--set a.b=c`,
 * the UI's toggles), with errors that name the field and say how to fix it. Imported as
 * `host/profiles`; this file is the folder's public face, each concern lives in its own file:
 *   validate.ts        whole profiles (files, IPC and WebSocket messages)
 *   profileFile.ts     reading a profile file: regular, bounded, UTF-8 (utf8.ts), scanned JSON
 *   jsonScanner.ts     the iterative JSON scanner: line and column, duplicate keys, depth, raw numbers
 *   knobAssignment.ts  `--set key.path=value` and setKnob: one knob, checked, never in place
 *   setSyntax.ts       a `--set` value as typed, and a knob's default written back in that syntax
 *   refusals.ts        the error lines: source, field, what it takes, what was given, a fix
 *   schemaWords.ts     what a schema accepts, in words
 *   profileShape.ts    the schema, keys and default at a path (a knob's default from the catalogue)
 *   keySuggestions.ts  "did you mean" for keys and choices
 *   messageText.ts     untrusted text bounded and escaped for an error line
 *   migrate.ts         earlier schema versions (v0: flat keys) migrated forward; newer ones refused
 *   jsonSchema.ts      the JSON Schema shipped in resources/profile.schema.json
 *   presets.ts         the presets in resources/profiles/
 *   profileStore.ts    the user's saved profiles (atomic writes)
 *   profileApi.ts      the LabApi's profile methods
 *   export/            json, fio, tuned and shell exports, and the `uring-lab export` verb
 *
 * Every way in is untrusted and bounded before anything walks it recursively: files by
 * MAX_PROFILE_BYTES and the scanner, `--set` by MAX_SET_CHARS and the key path limits, and
 * every value (files, IPC/WebSocket profiles, --set, setKnob) by assertJsonBounds before zod or
 * structuredClone see it. Error text is built here, never taken from zod.
 */
export { defaultProfile, setValueAt, valueAt } from './profileShape';
export { parseProfile } from './validate';
export { checkProfileFile, checkProfileText, loadProfileFile, MAX_PROFILE_BYTES } from './profileFile';
export { firstInvalidUtf8 } from './utf8';
export { scanJson } from './jsonScanner';
export { parseSetAssignment, withKnob, MAX_SET_CHARS, MAX_KEY_PATH_CHARS, MAX_KEY_PATH_SEGMENTS } from './knobAssignment';
export { parseSetValue } from './setSyntax';
export { describeSchema, issueExpectation } from './schemaWords';
