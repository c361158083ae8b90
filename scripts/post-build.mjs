// After tsc: make the CLI entry executable so the `uring-lab` bin runs directly.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/electron/cli.js', import.meta.url), 0o755);
