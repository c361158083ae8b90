/**
 * The epoll baseline server (server.engine 'epoll'): the same echo contract as the io_uring
 * server, through the native load generator and through an independent Node client, with its
 * partial writes and CPU accounting (its start/stop cycles and accept back-off are checked
 * with the io_uring server's in lifecycle.test.ts and limits.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, sleep, stopQuietly } from './engineHarness';
import type { Socket } from 'node:net';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);

const epoll = (over: Parameters<typeof config>[0] = {}) => config({ engine: 'epoll', ...over });

/** Pauses the server thread for 300 ms, so what clients send meanwhile is queued before it
 *  looks. The pause starts once the server is woken: by an echo on `waker`. */
async function pauseServer(waker: Socket): Promise<void> {
  await sleep(50);
  expect(native.debugPauseServer(300)).toBe(true);
  const ping = readExactly(waker, 1);
  waker.write('x');
  await ping;
}

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
    const requested = cfg.server;
    const r = native.start(cfg);
    expect(r.applied.server).toEqual({
      ...requested,
      engine: 'epoll',
      ringEntries: 256,
      sqpoll: { enabled: true, cpu: 4000, idleMs: 0, shared: false },
      taskrun: 'coop',
      registeredRingFd: true,
      bufferRing: requested.bufferRing, // the catalogue's size, the harness's count
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
    // Counting, not speed: the server thread may see the close late on a stalled vCPU.
    for (let i = 0; i < 200 && native.snapshot()!.activeConnections > 0; i++) await sleep(10);
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
    expect(fin.activeConnections).toBe(0);
  });

  it('data and FIN queued together: every echo arrives, then the server closes (49 connections × 4 sizes)', async () => {
    // A short read ends a connection's turn (no recv until EAGAIN) unless the event says the
    // peer hung up: data and FIN that arrived together must still be read to the end, or the
    // server would hold the socket open with nothing left to wake it. The server is paused
    // while the clients send, so both are queued before it looks.
    const { port } = native.start(epoll({ load: { connections: 0 } }));
    const [waker, ...clients] = await Promise.all(Array.from({ length: 50 }, () => connectTo(port)));
    try {
      await pauseServer(waker!);
      const payloads = clients.map((_, i) => randomBytes([1, 128, 4096, 65536][i % 4]));
      const results = clients.map((sock, i) => {
        const closed = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`connection ${i}: the server never closed after the FIN`)), 10_000);
          sock.once('end', () => { clearTimeout(timer); resolve(); });
        });
        const echoed = readExactly(sock, payloads[i]!.length);
        sock.end(payloads[i]);
        return { echoed, closed };
      });
      for (const [i, r] of results.entries()) {
        expect((await r.echoed).equals(payloads[i]!)).toBe(true);
        clients[i]!.resume();
        await r.closed;
      }
    } finally {
      for (const sock of [waker!, ...clients]) sock.destroy();
    }
    await sleep(50);
    const fin = native.stop()!;
    expect(fin.serverErrors).toBe(0);
  });

  it('more than a turn of reads and the FIN queued together: the turn resumed from the ready list still reads to the EOF and closes', async () => {
    // A turn ends after 16 reads of 64 KiB; the rest is read when the ready list resumes the
    // connection, with no event of its own. The hang-up its event reported must still count
    // there: 1 MiB + 1000 B with a FIN came back whole and the server then held the socket
    // open. A 16 MiB receive buffer lets it all queue while the server is paused.
    const base = epoll().server;
    const { port } = native.start(epoll({ load: { connections: 0 }, socket: { ...base.socket, receiveBufferBytes: 16 << 20 } }));
    const [waker, client] = await Promise.all([connectTo(port), connectTo(port)]);
    try {
      await pauseServer(waker!);
      const payload = randomBytes(16 * 65536 + 1000);
      const closed = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the server never closed after the FIN')), 10_000);
        client!.once('end', () => { clearTimeout(timer); resolve(); });
      });
      const echoed = readExactly(client!, payload.length);
      client!.end(payload);
      expect((await echoed).equals(payload)).toBe(true);
      client!.resume();
      await closed;
    } finally {
      waker!.destroy();
      client!.destroy();
    }
    const fin = native.stop()!;
    expect(fin.serverErrors).toBe(0);
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

});
