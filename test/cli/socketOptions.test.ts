/**
 * server.socket.* (TCP_CONGESTION, SO_RCVBUF, SO_SNDBUF on every worker's listener, inherited by
 * the sockets it accepts), checked where it counts: on the server's accepted connections, as
 * ss(8) reads them from the kernel (a tool that shares nothing with the lab), for both engines,
 * direct descriptors (no fd of their own to set options on) and several rings. A refusal names
 * its errno and leaves the kernel's default; values the kernel cannot take are exit 2.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { connectTo, readExactly } from '../native/socketClient';
import type { ServerSummary } from '../../electron/host/serverOnly';
import { CLI, expectOneErrorLine, runSummaryOf, startCli } from './cliProcess';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const ROOT = process.getuid?.() === 0;

const sysctl = (name: string) => readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
const words = (name: string) => sysctl(name).split(/\s+/).filter(Boolean);
const SYSTEM_DEFAULT = sysctl('net.ipv4.tcp_congestion_control');
// Another congestion control than the system's own, so "applied" cannot be the default by chance:
// reno is built into every kernel.
const OTHER = words('net.ipv4.tcp_available_congestion_control').find((n) => n !== SYSTEM_DEFAULT) ?? 'reno';

/** The server side of each established connection on `port`, as ss prints it (-i: info, -m: socket memory). */
function serverSockets(port: number): string[] {
  const out = execFileSync('ss', ['-tinmH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  // One header line per socket, its details on the indented line(s) after it.
  const sockets: string[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    if (/^\s/.test(line) && sockets.length) sockets[sockets.length - 1] += ` ${line.trim()}`;
    else sockets.push(line.trim());
  }
  return sockets;
}

async function echoOnce(sock: Socket, bytes: number): Promise<void> {
  const data = randomBytes(bytes);
  const echoed = readExactly(sock, data.length, { exact: false });
  sock.write(data);
  expect((await echoed).equals(data)).toBe(true);
}

function summaryOf(stdout: string): ServerSummary {
  const lines = stdout.trim().split('\n');
  expect(lines, stdout).toHaveLength(2);
  return JSON.parse(lines[1]) as ServerSummary;
}

/** Serves `connections` plain-socket clients (64 KiB echoed each) under `sets`; `check` sees their server sides while they are open. */
async function serveAndInspect(sets: string[], connections: number, check: (sockets: string[]) => void): Promise<ServerSummary> {
  const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', ...sets.flatMap((s) => ['--set', s])]);
  const { port } = JSON.parse(await cli.firstLine) as { port: number };
  const socks: Socket[] = [];
  try {
    for (let i = 0; i < connections; i++) socks.push(await connectTo(port));
    await Promise.all(socks.map((s) => echoOnce(s, 64 * 1024)));
    check(serverSockets(port));
  } finally {
    for (const s of socks) s.destroy();
    cli.child.kill('SIGTERM');
  }
  const r = await cli.done;
  expect(r.code, r.stderr).toBe(0);
  return summaryOf(r.stdout);
}

describe('server.socket', () => {
  const variants: Array<[string, string[]]> = [
    ['io_uring', ['server.engine=io_uring']],
    ['io_uring, direct descriptors (inherited: no fd to set them on)', ['server.engine=io_uring', 'server.directDescriptors=true']],
    ['epoll', ['server.engine=epoll']],
    ['io_uring, 2 rings (each listener)', ['server.engine=io_uring', 'server.rings=2']],
  ];
  for (const [name, sets] of variants) {
    it(`${name}: every accepted connection has the congestion control and the buffers asked for (ss), and the summary says so`, async () => {
      const summary = await serveAndInspect([
        ...sets, `server.socket.congestion=${OTHER}`, 'server.socket.receiveBufferBytes=262144', 'server.socket.sendBufferBytes=131072',
      ], 4, (sockets) => {
        expect(sockets, sockets.join('\n')).toHaveLength(4);
        for (const s of sockets) {
          expect(s).toMatch(new RegExp(`\\s${OTHER}(\\s|$)`));
          // The kernel doubles the value for its bookkeeping (socket(7)); ss shows what it holds.
          expect(s).toMatch(/skmem:\(r\d+,rb524288,t\d+,tb262144,/);
        }
      });
      expect(summary.applied.server.socket).toEqual({ congestion: OTHER, receiveBufferBytes: 262144, sendBufferBytes: 131072 });
      expect(summary.rejected).toEqual([]);
      expect(summary.connectionsServed).toBe(4);
    });
  }

  it('not asked for: the system default congestion control and autotuned buffers, reported as null', async () => {
    const summary = await serveAndInspect([], 1, (sockets) => {
      expect(sockets).toHaveLength(1);
      expect(sockets[0]).toMatch(new RegExp(`\\s${SYSTEM_DEFAULT}(\\s|$)`));
    });
    expect(summary.applied.server.socket).toEqual({ congestion: null, receiveBufferBytes: null, sendBufferBytes: null });
  });

  it('the text summaries of run and server say what the listeners held; nothing when nothing was set', () => {
    const sets = ['--set', `server.socket.congestion=${OTHER}`, '--set', 'server.socket.sendBufferBytes=65536'];
    const line = new RegExp(`^ {2}socket {7}congestion control ${OTHER}, send buffer 65,536 B \\(on every accepted connection\\)$`, 'm');
    const cli = (args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(cli(['server', '--port', '0', '--duration', '0.3', ...sets])).toMatch(line);
    expect(cli(['run', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--set', 'load.connections=2', ...sets])).toMatch(line);
    expect(cli(['server', '--port', '0', '--duration', '0.3'])).not.toMatch(/^ {2}socket /m);
  });

  it('a send buffer that cannot hold one echo is named in the warnings (each echo waits for delayed ACKs); one that can is not', () => {
    const run = (sendBuffer: number) => runSummaryOf({ code: 0, signal: null, stderr: '', stdout: execFileSync(process.execPath, [CLI, 'run', '--json', '--duration', '0.5',
      '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--set', 'load.connections=4', '--set', 'load.messageBytes=65536',
      '--set', `server.socket.sendBufferBytes=${sendBuffer}`], { encoding: 'utf8' }) });
    const small = run(16384);
    expect(small.applied.server.socket.sendBufferBytes).toBe(16384);
    expect(small.warnings).toContainEqual(expect.stringMatching(/^server\.socket\.sendBufferBytes 16,384 B cannot hold one 65,536 B echo .*delayed ACK/));
    const enough = run(65536);
    expect(enough.warnings.filter((w) => w.includes('sendBufferBytes'))).toEqual([]);
  });

  it('a buffer below the kernel\'s floor is raised to it: run and server both say so with that reason, not another knob\'s', () => {
    const sets = ['--set', 'server.socket.sendBufferBytes=1024', '--set', 'server.socket.receiveBufferBytes=1024'];
    const cli = (args: string[]) => execFileSync(process.execPath, [CLI, ...args, '--json', ...sets], { encoding: 'utf8' });
    const ran = runSummaryOf({ code: 0, signal: null, stderr: '', stdout: cli(['run', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--set', 'load.connections=2']) });
    const served = summaryOf(cli(['server', '--port', '0', '--duration', '0.3']));
    for (const summary of [ran, served]) {
      const { sendBufferBytes, receiveBufferBytes } = summary.applied.server.socket;
      expect(sendBufferBytes).toBeGreaterThan(1024);
      expect(receiveBufferBytes).toBeGreaterThan(1024);
      expect(summary.rejected).toEqual([]);
      const said = summary.warnings.filter((w) => w.startsWith('the engine set'));
      expect(said).toHaveLength(1);
      expect(said[0]).toContain(`server.socket.sendBufferBytes to ${sendBufferBytes} (asked 1024): the kernel raises SO_SNDBUF to its floor`);
      expect(said[0]).toContain(`server.socket.receiveBufferBytes to ${receiveBufferBytes} (asked 1024): the kernel raises SO_RCVBUF to its floor`);
      expect(said[0]).not.toMatch(/storage|queue depth/);
    }
  });

  it('a congestion control the kernel has no module for: refused with ENOENT, the reason and fix; the connections echo on the system default', async () => {
    const summary = await serveAndInspect(['server.socket.congestion=nosuchcc'], 2, (sockets) => {
      expect(sockets).toHaveLength(2);
      for (const s of sockets) expect(s).toMatch(new RegExp(`\\s${SYSTEM_DEFAULT}(\\s|$)`));
    });
    expect(summary.applied.server.socket.congestion).toBeNull();
    expect(summary.rejected).toEqual([expect.objectContaining({
      knob: 'server.socket.congestion', requested: 'nosuchcc', errno: 2, code: 'ENOENT',
      reason: expect.stringMatching(/refused this congestion control/), fix: expect.stringMatching(/uring-lab doctor/),
    })]);
  });

  it('values the kernel cannot take are bad input: one line naming the key and what it takes, exit 2, nothing started', () => {
    for (const [set, pattern] of [
      ['server.socket.congestion=Cubic!', /server\.socket\.congestion.*congestion control name/],
      ['server.socket.congestion=abcdefghijklmnop', /server\.socket\.congestion/],
      ['server.socket.receiveBufferBytes=100', /server\.socket\.receiveBufferBytes/],
      ['server.socket.sendBufferBytes=1073741824', /server\.socket\.sendBufferBytes/],
      ['server.socket.sendBufferBytes=lots', /server\.socket\.sendBufferBytes/],
    ] as const) {
      for (const verb of ['run', 'server']) {
        let code = 0;
        let stderr = '';
        try {
          execFileSync(process.execPath, [CLI, verb, '--duration', '0.2', '--set', set], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e: any) {
          code = e.status;
          stderr = e.stderr;
        }
        expect(code, `${verb} --set ${set}`).toBe(2);
        expectOneErrorLine(stderr, pattern);
      }
    }
    // The same values from a profile file: the same parser, the same one line.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-socket-profile-'));
    try {
      for (const [socket, pattern] of [
        [{ congestion: 'BBR!' }, /server\.socket\.congestion/],
        [{ receiveBufferBytes: 1 }, /server\.socket\.receiveBufferBytes/],
        [{ sendBufferBytes: '64k' }, /server\.socket\.sendBufferBytes/],
      ] as const) {
        const file = path.join(dir, 'p.json');
        writeFileSync(file, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, server: { socket } }));
        let code = 0;
        let stderr = '';
        try {
          execFileSync(process.execPath, [CLI, 'run', '--duration', '0.2', '--profile', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e: any) {
          code = e.status;
          stderr = e.stderr;
        }
        expect(code, JSON.stringify(socket)).toBe(2);
        expectOneErrorLine(stderr, pattern);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!SETPRIV || !ROOT)(`without CAP_NET_ADMIN (nobody): buffers above net.core.rmem_max / wmem_max are granted the cap and refused with EPERM, a congestion control outside the allowed list with EPERM; the run completes${SETPRIV && ROOT ? '' : ' (skipped: needs root and setpriv)'}`, () => {
    const rmem = Number(sysctl('net.core.rmem_max'));
    const wmem = Number(sysctl('net.core.wmem_max'));
    const allowed = words('net.ipv4.tcp_allowed_congestion_control');
    const notAllowed = words('net.ipv4.tcp_available_congestion_control').find((n) => !allowed.includes(n)) ?? null;
    const askRcv = Math.max(2 * rmem, 8192);
    const askSnd = Math.max(2 * wmem, 8192);
    const home = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-socket-'));
    chmodSync(home, 0o777);
    try {
      const out = execFileSync(SETPRIV!, ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI,
        'run', '--json', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--set', 'load.connections=2',
        '--set', `server.socket.receiveBufferBytes=${askRcv}`, '--set', `server.socket.sendBufferBytes=${askSnd}`,
        ...(notAllowed ? ['--set', `server.socket.congestion=${notAllowed}`] : [])], {
        encoding: 'utf8', timeout: 60_000,
        env: { ...process.env, HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home, URING_LAB_RUNS_DIR: path.join(home, 'runs') },
      });
      const summary = runSummaryOf({ code: 0, signal: null, stdout: out, stderr: '' });
      expect(summary.status).toBe('completed');
      expect(summary.requests).toBeGreaterThan(0);
      // What the kernel granted: the cap (it doubles what it is given, and ss would show twice this).
      expect(summary.applied.server.socket.receiveBufferBytes).toBe(rmem);
      expect(summary.applied.server.socket.sendBufferBytes).toBe(wmem);
      const byKnob = new Map(summary.rejected.map((r) => [r.knob, r]));
      expect(byKnob.get('server.socket.receiveBufferBytes')).toMatchObject({ requested: askRcv, code: 'EPERM', reason: expect.stringMatching(/net\.core\.rmem_max/) });
      expect(byKnob.get('server.socket.sendBufferBytes')).toMatchObject({ requested: askSnd, code: 'EPERM', reason: expect.stringMatching(/net\.core\.wmem_max/) });
      if (notAllowed) {
        expect(byKnob.get('server.socket.congestion')).toMatchObject({ requested: notAllowed, code: 'EPERM' });
        expect(summary.applied.server.socket.congestion).toBeNull();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
