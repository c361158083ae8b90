// After tsc: make the CLI entry executable so the `uring-lab` bin runs directly, and bundle
// the Electron preload into one file (a sandboxed preload can require nothing but 'electron').
import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

chmodSync(new URL('../dist/electron/cli.js', import.meta.url), 0o755);
await build({
  entryPoints: [fileURLToPath(new URL('../electron/preload.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('../dist/electron/preload.js', import.meta.url)),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['electron'],
  logLevel: 'warning',
});
// resources/profile.schema.json follows the knob catalogue at every build (test/unit/profileSchema.test.ts checks it).
await import('./gen-profile-schema.mjs');
