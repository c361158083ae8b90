/**
 * kernel.io_uring_disabled switched on for real (root; restored after each test, and this file
 * runs alone, so no other test's rings meet it): every verb that makes a ring, with either
 * engine (the epoll server's load makes rings too) and the storage workload, names the switch
 * and the sysctl that fixes it in one line, never a knob (it named server.ringEntries, and
 * load.threads for the epoll engine); the doctor says every ring capability and engine knob is
 * unknown for that reason, instead of "needs Linux 6.0" on a 6.18 kernel.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLI } from './cliProcess';

const SWITCH = '/proc/sys/kernel/io_uring_disabled';
const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-io-uring-disabled-'));
chmodSync(dir, 0o755);
const runtime = path.join(dir, 'rt');
mkdirSync(runtime, { mode: 0o777 });
const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'cfg'), XDG_RUNTIME_DIR: runtime, URING_LAB_RUNS_DIR: path.join(dir, 'runs') };
let before: string | null = null;
try { before = readFileSync(SWITCH, 'utf8').trim(); } catch { /* no switch on this kernel */ }
const restore = () => { if (before !== null) writeFileSync(SWITCH, before); };
afterEach(restore);
afterAll(() => { restore(); rmSync(dir, { recursive: true, force: true }); });

const lab = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });

describe('io_uring switched off by the kernel', () => {
  it('run (io_uring and epoll engines, storage), server and load: one line naming kernel.io_uring_disabled and its fix, no knob; doctor: unknown for that reason', (ctx) => {
    if (before === null || process.getuid?.() !== 0) ctx.skip('needs root and a kernel with kernel.io_uring_disabled (6.6+)');
    writeFileSync(SWITCH, '2');
    const verbs = [
      ['run', '--duration', '0.5', '--set', 'duration.warmupS=0'],
      ['run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'server.engine=epoll'],
      ['run', '--duration', '0.5', '--set', 'workload=storage', '--set', 'storage.fileSizeMiB=4', '--set', 'storage.direct=false'],
      ['server', '--duration', '0.5', '--port', '0'],
    ];
    for (const args of verbs) {
      const r = lab(...args);
      expect(r.status, args.join(' ')).toBe(1);
      const line = r.stderr.trim();
      expect(line.split('\n'), args.join(' ')).toHaveLength(1);
      expect(line).toBe('uring-lab: no io_uring ring could be made (EPERM): io_uring is disabled for every process on this machine (kernel.io_uring_disabled = 2); `sysctl -w kernel.io_uring_disabled=0` as root (and persist it in /etc/sysctl.d/)');
    }
    const doctor = lab('doctor', '--json');
    expect(doctor.status).toBe(0);
    const report = JSON.parse(doctor.stdout) as { capabilities: Array<{ id: string; available: boolean | null; reason: string; fix?: string }>; knobs: Array<{ path: string; available: boolean | null; reason?: string }> };
    const caps = report.capabilities.filter((c) => !['numaNodes', 'cpus', 'hugepages'].includes(c.id));
    expect(caps.length).toBeGreaterThan(8);
    for (const c of caps) {
      expect(c.available, c.id).toBeNull();
      expect(c.reason, c.id).toMatch(/^no io_uring ring could be made here \(EPERM: io_uring is disabled for every process on this machine \(kernel\.io_uring_disabled = 2\)\)/);
      expect(c.fix, c.id).toMatch(/sysctl -w kernel\.io_uring_disabled=0/);
    }
    for (const path of ['server.engine', 'server.ringEntries', 'server.taskrun', 'server.multishot', 'load.threads']) {
      const k = report.knobs.find((n) => n.path === path)!;
      expect(k.available, path).toBeNull();
      expect(k.reason, path).toMatch(/kernel\.io_uring_disabled = 2/);
    }
    expect(report.knobs.find((n) => n.path === 'name')!.available).toBe(true);
  }, 120_000);

  it('switch at 1 for an unprivileged user: the line says io_uring is limited to privileged processes, and how to get in', (ctx) => {
    if (before === null || process.getuid?.() !== 0) ctx.skip('needs root and a kernel with kernel.io_uring_disabled (6.6+)');
    if (spawnSync('setpriv', ['--version']).status !== 0) ctx.skip('setpriv (util-linux) is needed to run as another user');
    // The user's own folders, outside the tests' private temporary folder (which it may not enter).
    const home = mkdtempSync('/tmp/uring-lab-nobody-');
    try {
      chmodSync(home, 0o755);
      chownSync(home, 65534, 65534);
      writeFileSync(SWITCH, '1');
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false'],
        { env: { ...process.env, HOME: home, URING_LAB_RUNS_DIR: path.join(home, 'runs'), XDG_RUNTIME_DIR: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'cfg') }, encoding: 'utf8', timeout: 60_000 });
      checkLimited(r);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});

/** The one line of a run that io_uring_disabled = 1 keeps out. */
function checkLimited(r: { status: number | null; stderr: string }): void {
  {
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no io_uring ring could be made \(EPERM\): io_uring is limited to privileged processes.* \(kernel\.io_uring_disabled = 1\), and this one is neither; .*sysctl -w kernel\.io_uring_disabled=0/);
  }
}
