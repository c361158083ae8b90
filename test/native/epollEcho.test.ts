/**
 * The epoll baseline server (server.engine 'epoll'): the same echo contract as the io_uring
 * server, through the native load generator and through an independent Node client, with its
 * partial writes, lifecycle, CPU accounting and accept backoff.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);

const epoll = (over: Parameters<typeof config>[0] = {}) => config({ engine: 'epoll', ...over });
const fdCount = () => readdirSync('/proc/self/fd').length;
const taskCount = () => readdirSync('/proc/self/task').length;



describe('epoll echo through the native load generator', () => {
  for (const messageBytes of [1, 128, 4096, 65536]) {
    it(`echoes ${messageBytes}-byte messages intact over several connections`, async () => {
      const r = native.start(epoll({ load: { connections: 8, messageBytes, threads: 2 } }));
      // No io_uring on the server: nothing refused, no ring, the ring knobs as requested.
      expect(r.applied.server.engine).toBe('epoll');
      expect(r.refused).toEqual([]);
      expect(r.ring).toEqual({ flags: [], features: [], sqEntries: 0, cqEntries: 0 });
      expect(r.applied.server.taskrun).toBe(epoll().server.taskrun);
      expect(r.applied.server.ringEntries).toBe(256);
      await sleep(300);
      const s = native.snapshot()!;
      expect(s.activeConnections).toBe(8);
      const fin = native.stop()!;
      const requests = s.requests + fin.requests;
      expect(requests).toBeGreaterThan(0);
      // The load checks every echoed byte (memcmp); a mismatch would be an error.
      expect(s.errors + fin.errors).toBe(0);
      expect(s.serverErrors + fin.serverErrors).toBe(0);
      expect(histTotal(s.histogram)).toBe(s.requests);
      expect(s.bytes + fin.bytes).toBe(requests * messageBytes);
    });
  }

  it('reports ring knobs at their requested values: epoll has no ring that could refuse them', () => {
    const cfg = epoll({ sqpoll: { enabled: true, cpu: 4000, idleMs: 0 }, taskrun: 'coop', registeredRingFd: true, load: { connections: 1 } });
    // Every ring knob as requested (the catalogue's defaults for those not named here).
    const { rings: _rings, ...requested } = cfg.server;
    const r = native.start(cfg);
    expect(r.applied.server).toEqual({
      ...requested,
      engine: 'epoll',
      ringEntries: 256,
      sqpoll: { enabled: true, cpu: 4000, idleMs: 0 },
      taskrun: 'coop',
      registeredRingFd: true,
      bufferRing: { ...requested.bufferRing, size: 2048, count: 1024 },
    });
    expect(r.refused).toEqual([]);
    expect(native.stop()!.errors).toBe(0);
  });
});

describe('epoll echo to an independent Node client', () => {
  it('returns pipelined messages on one connection in order, byte for byte', async () => {
    const { port } = native.start(epoll({ load: { connections: 0 } }));
    const sock = await connectTo(port);
    try {
      for (const size of [1, 128, 4096, 65536]) {
        const payload = randomBytes(size);
        const echoed = readExactly(sock, size);
        sock.write(payload);
        expect((await echoed).equals(payload)).toBe(true);
      }
      const parts = Array.from({ length: 40 }, (_, i) => randomBytes([1, 128, 4096, 65536][i % 4]));
      const all = Buffer.concat(parts);
      const echoed = readExactly(sock, all.length);
      for (const p of parts) sock.write(p);
      expect((await echoed).equals(all)).toBe(true);
    } finally {
      sock.destroy();
    }
    await sleep(50);
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
    expect(fin.activeConnections).toBe(0);
  });

  it('finishes partial writes: 1 MiB messages to a client that reads slowly', async () => {
    const { port } = native.start(epoll({ load: { connections: 0 } }));
    const sock = await connectTo(port);
    try {
      // Eight 1 MiB messages back to back, more than loopback's socket buffers hold (one alone
      // fits: tcp_wmem grows to 4 MiB). Not reading for a while: the server's writes come up
      // short and then EAGAIN, it keeps the rest pending, stops reading and waits for
      // EPOLLOUT (seen with strace: short sendto, EAGAIN, EPOLL_CTL_MOD with and without EPOLLOUT).
      const payload = Buffer.concat(Array.from({ length: 8 }, () => randomBytes(1 << 20)));
      sock.pause();
      sock.write(payload);
      await sleep(300);
      const echoed = readExactly(sock, payload.length, { slow: 1, timeoutMs: 20_000 });
      sock.resume();
      expect((await echoed).equals(payload)).toBe(true);
      // The connection still works after the backlog drained.
      const again = randomBytes(4096);
      const echoed2 = readExactly(sock, again.length);
      sock.write(again);
      expect((await echoed2).equals(again)).toBe(true);
    } finally {
      sock.destroy();
    }
    expect(native.stop()!.serverErrors).toBe(0);
  });
});

describe('epoll server lifecycle and accounting', () => {
  it('100 start/stop cycles leave no file descriptors or threads behind', async () => {
    native.start(epoll({ load: { connections: 2 } }));
    native.stop();
    await sleep(50);
    const fds0 = fdCount();
    const tasks0 = taskCount();
    let requests = 0;
    for (let i = 0; i < 100; i++) {
      native.start(epoll({ load: { connections: 2, messageBytes: 64 }, maxDurationMs: 5000 }));
      const fin = native.stop()!;
      expect(fin.errors).toBe(0);
      requests += fin.requests;
    }
    expect(requests).toBeGreaterThan(0);
    expect(fdCount()).toBeLessThanOrEqual(fds0);
    const t0 = Date.now();
    while (taskCount() > tasks0 && Date.now() - t0 < 3000) await sleep(50);
    expect(taskCount()).toBeLessThanOrEqual(tasks0);
  }, 30_000);

  it('accounts the server thread\'s CPU', async () => {
    native.start(epoll({ load: { connections: 4, messageBytes: 128 } }));
    native.snapshot();
    const t0 = process.hrtime.bigint();
    await sleep(400);
    const s = native.snapshot()!;
    const wallNs = Number(process.hrtime.bigint() - t0);
    expect(s.requests).toBeGreaterThan(0);
    expect(s.serverCpuNs).toBeGreaterThan(0);
    // One thread, no helpers: never more than the wall time (plus clock-read slack).
    expect(s.serverCpuNs).toBeLessThan(wallNs * 1.1);
    expect(native.stop()!.serverCpuNs).toBeGreaterThanOrEqual(0);
  });

  it('backs off an accept refused with EMFILE instead of spinning on it', async () => {
    // As in limits.test.ts: a server-only engine in a child with 50 descriptors, 60 clients here.
    const addon = path.resolve(__dirname, '../../native');
    const cfg = JSON.stringify(epoll({ load: { connections: 0 }, maxDurationMs: 5000 }));
    const script = `const n = require(${JSON.stringify(addon)});
      const { port } = n.start(${cfg});
      console.log(JSON.stringify({ port }));
      process.stdin.once('data', () => {
        n.snapshot();
        setTimeout(() => {
          const s = n.snapshot();
          n.stop();
          console.log(JSON.stringify({ serverErrors: s.serverErrors, serverCpuNs: s.serverCpuNs }));
          process.exit(0);
        }, 500);
      });`;
    const child = spawn('bash', ['-c', 'ulimit -n 50 && exec "$0" -e "$1"', process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const line = async (k: number) => {
      const t0 = Date.now();
      while (out.split('\n').length <= k + 1) {
        if (Date.now() - t0 > 10_000) throw new Error('child did not answer');
        await sleep(20);
      }
      return JSON.parse(out.split('\n')[k]);
    };
    const socks: Socket[] = [];
    try {
      const { port } = await line(0);
      for (let i = 0; i < 60; i++) {
        socks.push(
          await new Promise<Socket>((resolve) => {
            const s = connect(port, '127.0.0.1', () => resolve(s));
            s.on('error', () => {});
          }),
        );
      }
      await sleep(50);
      child.stdin.write('go\n');
      const r = await line(1);
      // A 10 ms backoff allows ~50 refusals in 500 ms; a spin would make ~1e6.
      expect(r.serverErrors).toBeGreaterThan(0);
      expect(r.serverErrors).toBeLessThan(150);
      expect(r.serverCpuNs).toBeLessThan(0.2 * 500e6);
    } finally {
      for (const s of socks) s.destroy();
      child.kill();
    }
  });
});
