/**
 * connectionEchoes(): the echoes each load connection completed, counted from the same
 * completions as the snapshots' `requests`, in connection order; final after a stop, replaced
 * by the next start, null where no echo load ran. A server that serves one connection slowly
 * must show that connection, and only that one, behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Socket } from 'node:net';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0);

describe('connectionEchoes', () => {
  it('counts every completed echo once, per connection, across load threads', async () => {
    await native.startAsync(config({ load: { connections: 7, threads: 2, messageBytes: 512 } }));
    let requests = native.snapshot()!.requests;
    await sleep(300);
    requests += native.snapshot()!.requests;
    const live = native.connectionEchoes()!;
    expect(live.counts).toBeInstanceOf(Float64Array);
    expect(live.counts.length).toBe(7);
    // As that snapshot read them, each thread's right after its histogram: what the snapshots
    // counted, plus the completions between the two reads (none unless this thread was
    // descheduled there, so no upper bound is asserted), less at most one a load thread (one
    // whose histogram count was read before its count per connection was stored); every
    // connection was served.
    expect(sum(live.counts)).toBeGreaterThanOrEqual(requests - 2);
    await sleep(50);
    // Not read again until the next snapshot.
    expect(Array.from(native.connectionEchoes()!.counts)).toEqual(Array.from(live.counts));
    for (const c of live.counts) expect(c).toBeGreaterThan(0);
    const final = (await native.stopAsync())!;
    requests += final.requests;
    const after = native.connectionEchoes()!;
    // Every thread has exited: the counts are final and equal the snapshots' requests exactly.
    expect(after.run).toBe(live.run);
    expect(sum(after.counts)).toBe(requests);
    for (let i = 0; i < 7; i++) expect(after.counts[i]).toBeGreaterThanOrEqual(live.counts[i]);
    // Still there, unchanged, until the next start.
    expect(Array.from(native.connectionEchoes()!.counts)).toEqual(Array.from(after.counts));

    await native.startAsync(config({ load: { connections: 3 } }));
    const next = native.connectionEchoes()!;
    expect(next.run).toBe(after.run + 1);
    expect(next.counts.length).toBe(3);
    await native.stopAsync();
  });

  it('shows the one connection a server serves slowly, and only that one, behind', async () => {
    // An echo server (Node sockets in this process) that holds every echo of the first
    // connection it accepted for 20 ms. One load thread connects in connection order, so that
    // is the load's connection 0.
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      const slow = sockets.length === 0;
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.on('data', (chunk) => { if (slow) setTimeout(() => socket.write(chunk), 20); else socket.write(chunk); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      await native.startAsync({ ...config({ load: { connections: 4, threads: 1, messageBytes: 64 } }), target: { host: '127.0.0.1', port } });
      await sleep(600);
      await native.stopAsync();
      const { counts } = native.connectionEchoes()!;
      const others = Array.from(counts).slice(1);
      // ~30 echoes at 20 ms each in 600 ms, against thousands on the others.
      expect(counts[0]).toBeGreaterThan(0);
      expect(counts[0]).toBeLessThan(60);
      for (const c of others) expect(c).toBeGreaterThan(10 * counts[0]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('is null while nothing counts echoes: a server alone', async () => {
    await native.startAsync(config({ load: { connections: 0 } }));
    expect(native.connectionEchoes()).toBeNull();
    await native.stopAsync();
    expect(native.connectionEchoes()).toBeNull();
  });
});
