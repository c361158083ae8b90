/**
 * Runs find each other through a per-user folder of active runs; a folder someone else could
 * write to is neither written nor read (no symlink games in a shared temp folder).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActiveRunRegistry, activeRunsDir } from '../../electron/host/run/contention';

describe('active run registry', () => {
  it('sees another live run registered in the same folder, and forgets dead ones', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-runs-'));
    const a = new ActiveRunRegistry(dir);
    const b = new ActiveRunRegistry(dir);
    writeFileSync(path.join(dir, '999999999-run-dead.json'), JSON.stringify({ pid: 999_999_999, runId: 'run-dead', startedAt: 'x' }));
    a.register('run-a', new Date().toISOString());
    b.register('run-b', new Date().toISOString());
    a.scan();
    expect(a.otherRuns().map((r) => r.runId)).toEqual(['run-b']);
    expect(readdirSync(dir)).not.toContain('999999999-run-dead.json');
    a.unregister();
    b.unregister();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a folder others can write to, and a link planted in its place', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-runs-'));
    const open = path.join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    writeFileSync(path.join(open, '1-run-x.json'), JSON.stringify({ pid: 1, runId: 'run-planted', startedAt: 'x' }));
    const r = new ActiveRunRegistry(open);
    r.register('run-mine', 'now');
    expect(r.otherRuns()).toEqual([]); // the planted entry was not read
    expect(r.unusable).toMatch(/open: .*not ours alone/); // and the summary will say no one looked
    expect(readdirSync(open)).toEqual(['1-run-x.json']); // and nothing was written there
    const target = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-target-'));
    const link = path.join(base, 'link');
    symlinkSync(target, link);
    new ActiveRunRegistry(link).register('run-mine', 'now');
    expect(readdirSync(target)).toEqual([]);
  });

  it('XDG_RUNTIME_DIR relative is ignored (the XDG rule): the same folder from every working directory', () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    try {
      process.env.XDG_RUNTIME_DIR = 'run/user';
      expect(activeRunsDir()).toBe(path.join(os.tmpdir(), `uring-lab-${process.getuid?.()}`, 'active-runs'));
      process.env.XDG_RUNTIME_DIR = '/run/user/7';
      expect(activeRunsDir()).toBe(path.join('/run/user/7', `uring-lab-${process.getuid?.()}`, 'active-runs'));
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  it('an unusable folder (XDG_RUNTIME_DIR a file) is reported, not taken for "no other run"', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-runs-'));
    const file = path.join(base, 'afile');
    writeFileSync(file, 'x');
    const r = new ActiveRunRegistry(path.join(file, 'uring-lab-0', 'active-runs'));
    r.register('run-mine', 'now');
    expect(r.otherRuns()).toEqual([]);
    expect(r.unusable).toMatch(/afile\/uring-lab-0\/active-runs: ENOTDIR/);
    const ok = new ActiveRunRegistry(mkdtempSync(path.join(os.tmpdir(), 'uring-lab-runs-')));
    ok.register('run-ok', 'now');
    expect(ok.unusable).toBeNull();
    ok.unregister();
  });
});
