/**
 * `uring-lab doctor --json` on a machine set up otherwise than the default, checked against
 * what a run then does. tracefs is moved in a mount namespace of this test's own (root;
 * unshare from util-linux), so the machine's own mount is never touched.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './cliProcess';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-hostile-doctor-'));
const runtime = path.join(dir, 'rt');
mkdirSync(runtime);
const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data'), XDG_RUNTIME_DIR: runtime, URING_LAB_RUNS_DIR: path.join(dir, 'runs') };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Check { id: string; ok: boolean | null; value: string; reason: string; fix?: string }

/** The doctor's tracefs check with `setup` (a shell snippet) run first in a private mount namespace. */
function tracefsAfter(setup: string): Check | null {
  const script = `${setup} && exec "$0" "$1" doctor --json`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, CLI], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.error || (r.status !== 0 && /unshare/.test(r.stderr))) return null;
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { checks: Check[] }).checks.find((c) => c.id === 'tracefs')!;
}

describe('doctor: tracefs where the engine does not look', () => {
  it('tracefs mounted only at another path is not ok, and names the path and the mount that fixes it; unmounted is "not mounted"', (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip();
    const elsewhere = path.join(dir, 'trace');
    mkdirSync(elsewhere);
    const moved = tracefsAfter(`(umount /sys/kernel/tracing 2>/dev/null; true) && mount -t tracefs tracefs ${elsewhere}`);
    if (!moved) ctx.skip();
    // The engine reads /sys/kernel/tracing only (probe_loader.c): the run would say "tracefs not mounted".
    expect(moved!.ok).toBe(false);
    expect(moved!.value).toBe(`${elsewhere} (not /sys/kernel/tracing)`);
    expect(moved!.reason).toContain(`mounted at ${elsewhere}, but the probes look for it at /sys/kernel/tracing only`);
    expect(moved!.reason).not.toMatch(/cannot read/);
    expect(moved!.fix).toBe('mount -t tracefs tracefs /sys/kernel/tracing');

    const gone = tracefsAfter('(umount /sys/kernel/tracing 2>/dev/null; true) && (umount /sys/kernel/debug/tracing 2>/dev/null; true)');
    expect(gone!.ok).toBe(false);
    expect(gone!.value).toBe('not mounted');

    const standard = tracefsAfter('(mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing)');
    expect(standard!.ok).toBe(true);
    expect(standard!.value).toBe('/sys/kernel/tracing');
  }, 120_000);
});
