/**
 * topology "veth" from real processes: `uring-lab run --set topology=veth` puts the echo server
 * in a network namespace of its own (uringlab-<CLI pid>) and the load reaches it over a veth
 * pair — the listener is seen inside the namespace on the server's address and the host end
 * of the pair carries the bytes — for both server engines; nothing of the run is left behind
 * after it stops, after the engine is killed (-9) mid-run, and after the CLI itself is killed
 * (-9), where the next veth run removes the leftover. Without CAP_NET_ADMIN: exit 2, one line.
 *
 * Needs root and iproute2 (ip, ss); skipped with the reason otherwise.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hasNetAdmin, vethRefusal } from '../../electron/host/run/veth';
import type { RunSummary } from '../../electron/contract';
import { CLI, runningRunOf, startCli } from './cliProcess';

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? null;
const SS = ['/usr/bin/ss', '/usr/sbin/ss', '/bin/ss', '/sbin/ss'].find((p) => existsSync(p)) ?? null;
const ETHTOOL = ['/usr/sbin/ethtool', '/sbin/ethtool', '/usr/bin/ethtool'].find((p) => existsSync(p)) ?? null;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const skipReason = process.getuid?.() !== 0 ? 'not root (veth needs CAP_NET_ADMIN)' : !IP ? 'ip (iproute2) is missing' : !SS ? 'ss (iproute2) is missing' : null;



function ip(args: string[]): string {
  return execFileSync(IP!, args, { encoding: 'utf8' });
}

const netnsOf = (pid: number) => `uringlab-${pid}`;
const hasNetns = (pid: number) => ip(['netns', 'list']).split('\n').some((l) => l.split(/\s+/)[0] === netnsOf(pid));
const labLinksOf = (pid: number) => ip(['-o', 'link', 'show']).split('\n').filter((l) => new RegExp(`^\\d+:\\s+uringl${pid}[hs][@:]`).test(l));

async function until<T>(what: string, probe: () => T | null | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The listener inside the run's namespace: "ADDR:PORT" once the engine listens there. */
function listenerIn(pid: number): string | null {
  if (!hasNetns(pid)) return null;
  try {
    const out = execFileSync(IP!, ['netns', 'exec', netnsOf(pid), SS!, '-Htln'], { encoding: 'utf8' });
    const m = /\s(10\.213\.\d+\.\d+:\d+)\s/.exec(out);
    return m ? m[1] : null;
  } catch {
    return null; // the namespace went between the two calls
  }
}

function hostEndBytes(pid: number): { rx: number; tx: number } {
  const [link] = JSON.parse(ip(['-j', '-s', 'link', 'show', 'dev', `uringl${pid}h`])) as { stats64: { rx: { bytes: number }; tx: { bytes: number } } }[];
  return { rx: link.stats64.rx.bytes, tx: link.stats64.tx.bytes };
}

/** Processes whose parent is `pid` (from /proc: no procps needed). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so after the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

function expectNothingLeft(pid: number): void {
  expect(hasNetns(pid), `${netnsOf(pid)} left behind`).toBe(false);
  expect(labLinksOf(pid), 'links left behind').toEqual([]);
}

/** A veth echo run end to end, checking while it runs that the traffic really crosses the pair. */
async function vethRun(engine: 'io_uring' | 'epoll'): Promise<void> {
  const { child, done } = startCli(['run', '--set', 'topology=veth', '--set', `server.engine=${engine}`, '--set', 'load.messageBytes=4096', '--duration', '1', '--json']);
  const pid = child.pid!;
  const listening = await until('the listener in the namespace', () => listenerIn(pid));
  // Bytes on the host end after traffic flowed: the load's requests out (tx), the echoes in (rx).
  await new Promise((r) => setTimeout(r, 400));
  const bytes = hostEndBytes(pid); // the run's warm-up and measured second are still going
  const r = await done;
  expect(r.code, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout) as RunSummary;
  expect(summary.status).toBe('completed');
  expect(summary.requests).toBeGreaterThan(0);
  expect(summary.errors).toBe(0);
  // GRO (veth's NAPI path) is turned on wherever ethtool is there to do it.
  expect(summary.topology).toMatchObject({ kind: 'veth', netns: netnsOf(pid), gro: ETHTOOL !== null });
  expect(listening).toMatch(new RegExp(`^${summary.topology!.serverAddress.replace(/\./g, '\\.')}:\\d+$`));
  expect(summary.topology!.loadAddress).toMatch(/^10\.213\.\d+\.\d+$/);
  expect(summary.topology!.loadAddress).not.toBe(summary.topology!.serverAddress);
  expect(bytes.tx).toBeGreaterThan(10_000);
  expect(bytes.rx).toBeGreaterThan(10_000);
  // The server's segments are counted in its namespace, at the veth's MTU: a 4 KiB echo at an
  // MSS of 1,448 (1,500 less IP, TCP and timestamp headers) is 3 data segments each way.
  const seg = summary.engine!.segments!;
  expect(seg, JSON.stringify(seg)).not.toBeNull();
  for (const data of [seg.dataOutPerReq, seg.dataInPerReq]) {
    expect(data, JSON.stringify(seg)).toBeGreaterThan(2.95);
    expect(data, JSON.stringify(seg)).toBeLessThan(3.05);
  }
  expectNothingLeft(pid);
}

describe.skipIf(skipReason !== null)(`topology veth${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('io_uring: an echo run across the namespace, nothing left after stop', async () => {
    await vethRun('io_uring');
  }, 60_000);

  it('epoll: an echo run across the namespace, nothing left after stop', async () => {
    await vethRun('epoll');
  }, 60_000);

  it('kill -9 of the engine mid-run: the run ends failed and the namespace and pair are gone', async () => {
    const { child, done } = startCli(['run', '--set', 'topology=veth', '--duration', '8', '--json']);
    const pid = child.pid!;
    await until('the listener in the namespace', () => listenerIn(pid));
    // Killed during its start the engine would fail the start (no run, no summary): kill it mid-run.
    await runningRunOf(pid);
    const [engine] = await until('the engine process', () => { const c = childrenOf(pid); return c.length ? c : null; });
    process.kill(engine, 'SIGKILL');
    const r = await done;
    expect(r.code, r.stderr).toBe(1);
    const summary = JSON.parse(r.stdout) as RunSummary;
    expect(summary.status).toBe('failed');
    expect(summary.topology?.kind).toBe('veth');
    expectNothingLeft(pid);
  }, 60_000);

  it('kill -9 of the CLI (a host crash): the next veth run removes the leftover', async () => {
    const crashed = startCli(['run', '--set', 'topology=veth', '--duration', '8', '--json']);
    const pid = crashed.child.pid!;
    await until('the listener in the namespace', () => listenerIn(pid));
    crashed.child.kill('SIGKILL');
    await crashed.done;
    // Left behind: nobody was there to remove it (another lab process may do it from now on).
    expect(hasNetns(pid) || labLinksOf(pid).length > 0).toBe(true);
    const next = startCli(['run', '--set', 'topology=veth', '--duration', '1', '--json']);
    const r = await next.done;
    expect(r.code, r.stderr).toBe(0);
    expectNothingLeft(pid);
    expectNothingLeft(next.child.pid!);
  }, 60_000);

  it.skipIf(!SETPRIV)(`without CAP_NET_ADMIN (nobody): exit 2, one line naming topology with the reason and fix${SETPRIV ? '' : ' (skipped: setpriv is missing)'}`, () => {
    // nobody's own run history: one it cannot write is refused first (exit 2 as well).
    const home = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-veth-nobody-'));
    chmodSync(home, 0o777);
    let r: ReturnType<typeof execFileSyncResult>;
    try {
      r = execFileSyncResult(SETPRIV!, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'run', '--set', 'topology=veth', '--duration', '1'], { URING_LAB_RUNS_DIR: path.join(home, 'runs'), XDG_DATA_HOME: home });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^uring-lab: topology "veth": .*needs root or CAP_NET_ADMIN.*; run as root \(or grant CAP_NET_ADMIN\), or set topology to loopback$/);
    expect(r.stdout).toBe('');
  }, 30_000);
});

describe('veth refusal (any user)', () => {
  it('uring-lab server --set topology=veth: exit 2, one line (it sets up no topology)', () => {
    const r = execFileSyncResult(process.execPath, [CLI, 'server', '--set', 'topology=veth', '--duration', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^uring-lab: topology "veth": uring-lab server listens on this host's network/);
  });

  it('reads CAP_NET_ADMIN from CapEff, and refuses without it or without ip', () => {
    expect(hasNetAdmin('CapEff:\t000001ffffffffff\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasNetAdmin('CapEff:\t0000000000001000\n')).toBe(true);
    expect(vethRefusal(false, '/usr/sbin/ip')?.toData()).toMatchObject({ kind: 'input', field: 'topology', code: 'TOPOLOGY_NEEDS_NET_ADMIN' });
    expect(vethRefusal(true, null)?.toData()).toMatchObject({ kind: 'input', field: 'topology', code: 'TOPOLOGY_NEEDS_IPROUTE2' });
    expect(vethRefusal(true, '/usr/sbin/ip')).toBeNull();
  });
});

function execFileSyncResult(file: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 25_000, env: { ...process.env, HOME: '/tmp', ...env } });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status: number | null; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
