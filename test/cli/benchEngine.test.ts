/**
 * The independent baselines of `npm run bench:engine`: bench/echo_client (a plain-socket
 * closed-loop client) against bench/minimal_epoll_echo and against `uring-lab server`, for
 * real, checking every echoed byte. If the client could not see a corrupted echo, or the
 * minimal server lost bytes on partial writes, the bench's ratios would compare nonsense.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/electron/cli.js');

let dir = '';
let client = '';
let minimalServer = '';

interface ClientResult {
  conns: number; bytes: number; requests: number; throughputRps: number; measuredS: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number };
  offeredRps: number | null; backlogMax: number;
  mismatches: number; connectionsLost: number; connectionsOpen: number; connectionsIdle: number;
  perConnection: { min: number; max: number; jain: number } | null;
  clientCpuNs: number; serverCpuNs: number | null; serverCpuNsPerReq: number | null;
  serverCpu: { pid: number; ok: boolean; ns: number; source: string; threads: number }[];
}

function runClient(args: string[]): Promise<{ code: number | null; result: ClientResult; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(client, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, result: JSON.parse(stdout) as ClientResult, stderr });
      } catch {
        reject(new Error(`echo_client printed no JSON (exit ${code}): ${stderr}`));
      }
    });
  });
}

/** Starts a server that prints {"event":"listening","port","pid"} first; resolves with it and its later lines. */
function startListening(cmd: string, args: string[]): Promise<{ child: ChildProcess; port: number; pid: number; lines: string[]; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    let listening = false;
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`not listening after 10 s: ${stderr}`)); }, 10_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (listening) { lines.push(line); return; }
      const ev = JSON.parse(line);
      expect(ev.event).toBe('listening');
      listening = true;
      clearTimeout(timer);
      resolve({ child, port: ev.port, pid: ev.pid, lines, exited });
    });
    void exited.then((code) => { if (!listening) { clearTimeout(timer); reject(new Error(`exited ${code} before listening: ${stderr}`)); } });
  });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bench-engine-test-'));
  client = path.join(dir, 'echo_client');
  minimalServer = path.join(dir, 'minimal_epoll_echo');
  for (const [out, src] of [[client, 'echo_client.c'], [minimalServer, 'minimal_epoll_echo.c']]) {
    // -Werror: a warning in a benchmark's measuring code is a bug waiting to skew numbers.
    const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(ROOT, 'bench', src)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bench/echo_client against bench/minimal_epoll_echo', () => {
  it('echoes 4 connections × 1 KiB intact and measures both sides', async () => {
    const server = await startListening(minimalServer, ['--port', '0']);
    try {
      const { code, result } = await runClient(['--port', String(server.port), '--conns', '4', '--bytes', '1024', '--warmup', '0.2', '--duration', '1', '--server-pid', String(server.pid)]);
      expect(code).toBe(0);
      expect(result.mismatches).toBe(0);
      expect(result.connectionsLost).toBe(0);
      expect(result.connectionsOpen).toBe(4);
      expect(result.requests).toBeGreaterThan(100);
      expect(result.measuredS).toBeGreaterThan(0.9);
      expect(result.latencyUs.p50).toBeGreaterThan(0);
      expect(result.latencyUs.p99).toBeGreaterThanOrEqual(result.latencyUs.p50);
      expect(result.latencyUs.max).toBeGreaterThanOrEqual(result.latencyUs.p999);
      expect(result.clientCpuNs).toBeGreaterThan(0);
      // The server's CPU over the client's window, from its one thread's schedstat.
      expect(result.serverCpu).toEqual([expect.objectContaining({ pid: server.pid, ok: true, source: 'schedstat', threads: 1 })]);
      expect(result.serverCpuNs).toBeGreaterThan(0);
      // Echoes per connection: the fewest and the most bound the total; Jain's index lies
      // between 1/n (one connection got everything) and 1 (all alike).
      const per = result.perConnection!;
      expect(per.min).toBeLessThanOrEqual(per.max);
      expect(per.min * 4).toBeLessThanOrEqual(result.requests);
      expect(per.max * 4).toBeGreaterThanOrEqual(result.requests);
      expect(per.jain).toBeGreaterThanOrEqual(0.25);
      expect(per.jain).toBeLessThanOrEqual(1);
      // One connection: every echo is its own, and the index is exactly 1.
      const one = (await runClient(['--port', String(server.port), '--conns', '1', '--bytes', '1024', '--warmup', '0', '--duration', '0.3'])).result;
      expect(one.perConnection).toEqual({ min: one.requests, max: one.requests, jain: 1 });
    } finally {
      server.child.kill('SIGTERM');
    }
    // SIGTERM ends it cleanly, with its count of what it echoed.
    expect(await server.exited).toBe(0);
    expect(JSON.parse(server.lines.at(-1)!)).toMatchObject({ event: 'stopped' });
  });

  it('echoes 1 MiB messages intact through partial reads and writes', async () => {
    const server = await startListening(minimalServer, ['--port', '0']);
    try {
      const { code, result } = await runClient(['--port', String(server.port), '--conns', '4', '--bytes', String(1 << 20), '--warmup', '0', '--duration', '0.5']);
      expect(code).toBe(0);
      expect(result.mismatches).toBe(0);
      expect(result.connectionsLost).toBe(0);
      expect(result.requests).toBeGreaterThan(4);
      expect(result.serverCpuNs).toBeNull(); // no --server-pid given
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });
});

describe('bench/echo_client checks every byte', () => {
  it('reports a server that corrupts one byte, and exits 1', async () => {
    // An echo server that flips one bit of the 3000th byte of every connection's stream.
    const server = net.createServer((sock) => {
      let offset = 0;
      sock.setNoDelay(true);
      sock.on('data', (chunk) => {
        const at = 3000 - offset;
        if (at >= 0 && at < chunk.length) chunk[at] ^= 0x01;
        offset += chunk.length;
        sock.write(chunk);
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { code, result } = await runClient(['--port', String(port), '--conns', '2', '--bytes', '1024', '--warmup', '0', '--duration', '0.5']);
      expect(code).toBe(1);
      expect(result.mismatches).toBe(2);
      // The corrupted connections are dropped (a byte stream cannot be resynchronised).
      expect(result.connectionsLost).toBe(2);
    } finally {
      server.close();
    }
  });
});

describe('bench/echo_client --rate: an open loop', () => {
  it('sends on its schedule and echoes intact', async () => {
    const server = await startListening(minimalServer, ['--port', '0']);
    try {
      // A stall of the VM (≥ 50 ms, seen at CI) at the window's edge moves messages in or out of
      // it by more than the 5 % asked: such a round is retried, up to 3 times. A client off its
      // schedule misses on every one of them.
      let { code, result } = await runClient(['--port', String(server.port), '--conns', '4', '--bytes', '128', '--warmup', '0.2', '--duration', '1', '--rate', '2000']);
      for (let retry = 0; retry < 2 && code === 0 && result.latencyUs.max >= 50_000; retry++) {
        ({ code, result } = await runClient(['--port', String(server.port), '--conns', '4', '--bytes', '128', '--warmup', '0.2', '--duration', '1', '--rate', '2000']));
      }
      expect(code).toBe(0);
      // The schedule, not the server, picks the connections of an open loop: no fairness figure.
      expect(result).toMatchObject({ mismatches: 0, connectionsLost: 0, offeredRps: 2000, perConnection: null });
      // A fixed schedule: the window holds its share of the due messages, whatever the server's speed.
      expect(result.throughputRps).toBeGreaterThan(1900);
      expect(result.throughputRps).toBeLessThan(2100);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('times each message from when it was due: a 300 ms stall of the server shows in full', async () => {
    // An echo server that holds every byte for the first 300 ms after the first arrives, then
    // echoes at once. A closed loop would see 2 slow requests; the open loop sees every message
    // that fell due meanwhile, each waiting for a connection and then for its echo.
    let heldUntil = 0;
    const held: Array<() => void> = [];
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      sock.on('data', (chunk) => {
        if (!heldUntil) {
          heldUntil = Date.now() + 300;
          setTimeout(() => { for (const release of held.splice(0)) release(); }, 300);
        }
        if (Date.now() < heldUntil) held.push(() => sock.write(chunk));
        else sock.write(chunk);
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { code, result } = await runClient(['--port', String(port), '--conns', '2', '--bytes', '64', '--warmup', '0', '--duration', '1', '--rate', '1000']);
      expect(code).toBe(0);
      expect(result.mismatches).toBe(0);
      // ~300 of ~1000 messages were due during the stall: the waiting ones queue behind the two
      // connections, and more than 10 % of all took over 100 ms.
      expect(result.backlogMax).toBeGreaterThan(200);
      expect(result.latencyUs.p90).toBeGreaterThan(100_000);
      expect(result.latencyUs.max).toBeGreaterThan(250_000);
    } finally {
      server.close();
    }
  });
});

describe('bench/echo_client against uring-lab server', () => {
  for (const engine of ['io_uring', 'epoll']) {
    it(`${engine}: echoes 4 connections × 1 KiB intact; the server's summary agrees`, async () => {
      const server = await startListening(process.execPath, [CLI, 'server', '--json', '--port', '0', '--duration', '20', '--set', `server.engine=${engine}`, '--set', 'load.messageBytes=1024']);
      let result: ClientResult;
      try {
        const r = await runClient(['--port', String(server.port), '--conns', '4', '--bytes', '1024', '--warmup', '0.2', '--duration', '1', '--server-pid', String(server.pid)]);
        expect(r.code).toBe(0);
        result = r.result;
      } finally {
        server.child.kill('SIGTERM');
      }
      expect(await server.exited).toBe(0);
      expect(result.mismatches).toBe(0);
      expect(result.connectionsLost).toBe(0);
      expect(result.requests).toBeGreaterThan(100);
      // The listening pid is the engine process that serves: its threads' CPU moved.
      expect(server.pid).not.toBe(server.child.pid);
      expect(result.serverCpu[0]).toMatchObject({ pid: server.pid, ok: true });
      expect(result.serverCpuNs).toBeGreaterThan(0);
      const summary = server.lines.map((l) => JSON.parse(l)).find((ev) => ev.event === 'summary');
      expect(summary).toMatchObject({ status: 'completed', port: server.port, pid: server.pid, messageBytes: 1024 });
      expect(summary.applied.server.engine).toBe(engine);
      // The server counted at least what the client measured (it also saw the warm-up).
      expect(summary.connectionsServed ?? 4).toBeGreaterThanOrEqual(4);
      if (summary.bytesEchoed !== null) expect(summary.bytesEchoed).toBeGreaterThanOrEqual(result.requests * 1024);
    });
  }

  /** 200 connections × 1 MiB from echo_client against `uring-lab server` with `sets`: every byte intact, none lost. */
  async function manyMegabyteEchoes(sets: string[], warmupS: number, durationS: number): Promise<ClientResult> {
    const server = await startListening(process.execPath, [CLI, 'server', '--json', '--port', '0', '--duration', '20', '--set', 'load.messageBytes=1048576', ...sets.flatMap((kv) => ['--set', kv])]);
    let result: ClientResult;
    try {
      const r = await runClient(['--port', String(server.port), '--conns', '200', '--bytes', '1048576', '--warmup', String(warmupS), '--duration', String(durationS)]);
      result = r.result;
      expect(r.code, r.stderr).toBe(0);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
    expect(result.mismatches).toBe(0);
    expect(result.connectionsLost).toBe(0);
    return result;
  }

  it('io_uring: a pool far smaller than the messages is shared in turn, so no connection goes without an echo (200 × 1 MiB over 64 × 4 KiB)', async () => {
    // Every connection that got buffers hit its cap (an eighth of the pool) within each
    // message, drained, and was re-armed at once, ahead of the ones waiting for buffers: those
    // got the pool only when the others happened to run dry. 23-44 of the 200 connections
    // completed no echo in a 1.5 s window (max 1.7-1.8 s); queued behind the waiting ones
    // instead, none (max 0.4-0.5 s), at the same throughput.
    const result = await manyMegabyteEchoes(['server.bufferRing.size=4096', 'server.bufferRing.count=64'], 0.3, 1.5);
    expect(result.connectionsIdle, `${result.connectionsIdle} of 200 connections completed no echo in ${result.measuredS} s (${result.requests} echoes)`).toBe(0);
    // And in even turns. A turn ends at the cap, so the first connection in line waits for at
    // most a cap's worth of buffers: waiting for a whole message's worth (the half of the pool a
    // multishot recv once took in a wake-up) gave the slowest 3-21 echoes against the fastest's
    // 37-52 in 3 s, Jain's index 0.88-0.91.
    expect(result.perConnection!.jain, JSON.stringify(result.perConnection)).toBeGreaterThanOrEqual(0.97);
  });

  it('io_uring: connections whose peers read fastest do not take the pool from the others (200 × 1 MiB over the default 64 × 64 KiB)', async () => {
    // 200 MiB in flight over a 4 MiB pool: every connection hits its cap (512 KiB) within each
    // message. One that drained before the cap's cancel landed was re-armed at once, ahead of
    // the ones waiting for buffers, which then ran the ring dry again. 12 runs of 4 s, pinned:
    // in 11 the fewest echoes per connection were under 0.45x the most (22-325 in the worst),
    // Jain's index 0.75-0.999, 6.6-29k ENOBUFS. Queued behind the waiting ones (18 runs): the
    // fewest 0.59-0.86x the most, Jain's index 0.991-0.9997, 2.1-6.5k ENOBUFS; here, unpinned
    // and 2.5 s, 0.55-0.88x and 0.9908-0.9998 (8 runs). The old order can also settle evenly,
    // so this catches it in most runs, not all.
    const per = (await manyMegabyteEchoes([], 0.5, 2.5)).perConnection!;
    expect(per.min, JSON.stringify(per)).toBeGreaterThanOrEqual(0.45 * per.max);
    expect(per.jain, JSON.stringify(per)).toBeGreaterThanOrEqual(0.97);
  });
});
