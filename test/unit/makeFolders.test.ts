/**
 * makeFolders, the lab's `mkdir -p`: Node's own recursive mkdir (Node 20) loops forever where
 * the kernel answers ENOENT for a child of a folder that exists (procfs), so each case runs in a
 * child process that is killed after 10 s: a regression fails here instead of hanging the suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const MODULE = path.join(__dirname, '../../dist/electron/host/makeFolders.js');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-folders-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** makeFolders (or its async form) in a child: 'ok' or the error's code. */
function make(dir: string, mode?: number, variant: 'makeFolders' | 'makeFoldersAsync' = 'makeFolders'): string {
  const script = `const m = require(${JSON.stringify(MODULE)});
    Promise.resolve().then(() => m.${variant}(${JSON.stringify(dir)}${mode === undefined ? '' : `, ${mode}`}))
      .then(() => console.log('ok'), (e) => console.log(e.code));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  expect(r.signal, `${variant}(${dir}) hung`).toBeNull();
  return r.stdout.trim();
}

describe('makeFolders', () => {
  it.each(['makeFolders', 'makeFoldersAsync'] as const)('%s: under /proc, ENOENT at once (Node\'s recursive mkdir spins there)', (variant) => {
    expect(make('/proc/uring-lab-nowhere', undefined, variant)).toBe('ENOENT');
    expect(make('/proc/uring-lab-nowhere/a/b', undefined, variant)).toBe('ENOENT');
    // What is there already is fine, as with mkdir -p.
    expect(make('/proc', undefined, variant)).toBe('ok');
  });

  it.each(['makeFolders', 'makeFoldersAsync'] as const)('%s: makes the missing parents with the mode; a file on the way is ENOTDIR, in its place EEXIST', (variant) => {
    const base = path.join(scratch, variant);
    const deep = path.join(base, 'a', 'b', 'c');
    expect(make(deep, 0o700, variant)).toBe('ok');
    for (const d of [base, path.join(base, 'a'), deep]) {
      expect(statSync(d).isDirectory()).toBe(true);
      expect(statSync(d).mode & 0o077).toBe(0);
    }
    expect(make(deep, 0o700, variant)).toBe('ok');
    const file = path.join(base, 'file');
    writeFileSync(file, 'x');
    expect(make(file, undefined, variant)).toBe('EEXIST');
    expect(make(path.join(file, 'below'), undefined, variant)).toBe('ENOTDIR');
  });
});
