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
import { capabilitiesFrom, knobAvailability } from '../../electron/host/doctor';

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
    if (process.getuid?.() !== 0) ctx.skip('not root: cannot mount tracefs in a private mount namespace');
    const elsewhere = path.join(dir, 'trace');
    mkdirSync(elsewhere);
    // Only there: debugfs's automount (/sys/kernel/debug/tracing, wherever debugfs is mounted) goes too.
    const unmountBoth = '(umount /sys/kernel/tracing 2>/dev/null; true) && (umount /sys/kernel/debug/tracing 2>/dev/null; true)';
    const moved = tracefsAfter(`${unmountBoth} && mount -t tracefs tracefs ${elsewhere}`);
    if (!moved) ctx.skip('tracefs could not be moved in a private mount namespace (unshare or mount refused)');
    // The engine reads /sys/kernel/tracing only (probe_loader.c): the run would say "tracefs not mounted".
    expect(moved!.ok).toBe(false);
    expect(moved!.value).toBe(`${elsewhere} (not /sys/kernel/tracing)`);
    expect(moved!.reason).toContain(`mounted at ${elsewhere}, but the probes look for it at /sys/kernel/tracing only`);
    expect(moved!.reason).not.toMatch(/cannot read/);
    expect(moved!.fix).toBe('mount -t tracefs tracefs /sys/kernel/tracing');

    const gone = tracefsAfter(unmountBoth);
    expect(gone!.ok).toBe(false);
    expect(gone!.value).toBe('not mounted');

    // Mounted at two places, neither the one the engine reads: both are named.
    const debug = path.join(dir, 'debug');
    mkdirSync(debug);
    const twice = tracefsAfter(`${unmountBoth} && mount -t tracefs tracefs ${elsewhere} && mount -t tracefs tracefs ${debug}`);
    expect(twice!.ok).toBe(false);
    expect(twice!.value).toBe(`${elsewhere}, ${debug} (not /sys/kernel/tracing)`);
    expect(twice!.fix).toBe('mount -t tracefs tracefs /sys/kernel/tracing');

    const standard = tracefsAfter('(mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing)');
    expect(standard!.ok).toBe(true);
    expect(standard!.value).toBe('/sys/kernel/tracing');
  }, 120_000);
});

describe('doctor: huge pages against the pool a run maps', () => {
  it('fewer free pages than the default pool takes (1 of 2) is not available, with the count it needs; enough is', () => {
    // A run maps the whole pool with MAP_HUGETLB: with 1 free 2 MiB page of the 2 the default
    // 64 × 64 KiB pool takes, it was refused with ENOMEM while the doctor said available.
    const short = capabilitiesFrom(null, null, { total: 1, free: 1, sizeBytes: 2 << 20 }).find((c) => c.id === 'hugepages')!;
    expect(short.available).toBe(false);
    expect(short.reason).toMatch(/^1 free, but the default buffer pool needs [2-9]\d* per ring/);
    expect(short.fix).toMatch(/sysctl vm\.nr_hugepages=[2-9]/);
    const knob = knobAvailability(capabilitiesFrom(null, null, { total: 1, free: 1, sizeBytes: 2 << 20 })).find((k) => k.path === 'server.bufferRing.hugepages')!;
    expect(knob.available).toBe(false);
    const need = Number(/needs (\d+) per ring/.exec(short.reason!)![1]);
    const enough = capabilitiesFrom(null, null, { total: need, free: need, sizeBytes: 2 << 20 }).find((c) => c.id === 'hugepages')!;
    expect(enough.available).toBe(true);
  });
});
