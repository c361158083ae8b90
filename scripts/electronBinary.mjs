// Where Electron's binary is, without requiring the `electron` package: since Electron 42 its
// index.js downloads the binary on first require, which on a machine without outside network
// prints a download failure instead of answering "not installed".
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const electronDir = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'node_modules', 'electron');

/** The Electron executable's path, or null when it was never downloaded. */
export function findElectronBinary() {
  const pathFile = path.join(electronDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : 'electron';
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? path.join(electronDir, 'dist');
  const binary = path.join(dist, relative);
  return existsSync(binary) ? binary : null;
}
