/**
 * 1,000 connections, each with a message in flight, on both server engines: every connection
 * is accepted and served, every echoed byte checked by the load generator, nothing refused
 * for lack of descriptors or buffers. (The grid's CPU per request at 1,000 connections is a
 * benchmark number: `npm run bench:engine`.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

describe('1,000 connections', () => {
  for (const engine of ['io_uring', 'epoll'] as const) {
    for (const messageBytes of [128, 4096]) {
      it(`${engine}: serves 1,000 connections × ${messageBytes} B with every byte echoed intact`, async () => {
        const r = native.start(config({ engine, ringEntries: 4096, load: { connections: 1000, messageBytes, threads: 2 } }));
        expect(r.refused).toEqual([]);
        await sleep(200); // past connecting: the counters below are the steady state
        const early = native.snapshot()!;
        await sleep(500);
        const s = native.snapshot()!;
        expect(s.activeConnections).toBe(1000);
        expect(s.liveLoadConnections).toBe(1000);
        const fin = native.stop()!;
        expect(s.requests).toBeGreaterThan(1000);
        // No connection starved: each has one request in flight and it was sent less than
        // 0.4 s ago, though every connection's first request went out over 0.7 s ago, so
        // every one of them got echoes back during the window.
        expect(s.inFlight).toBeLessThanOrEqual(1000);
        expect(s.oldestInFlightUs).toBeLessThan(400_000);
        expect(s.errors + fin.errors).toBe(0);
        expect(s.serverErrors + fin.serverErrors).toBe(0);
        // Bytes and requests are separate counters, read a moment apart: only the whole run's totals must agree.
        const all = [early, s, fin];
        expect(all.reduce((n, x) => n + x.bytes, 0)).toBe(all.reduce((n, x) => n + x.requests, 0) * messageBytes);
      }, 30_000);
    }
  }
});
