import { afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, quantileUs, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

const lowerUs = native.histogramLayout().lowerBoundsUs;

describe('round-trip timestamps', () => {
  it('round nanoseconds up to whole microseconds, never down', () => {
    expect(native.histogramIndexNs(0)).toBe(0);
    expect(native.histogramIndexNs(1)).toBe(1); // 1 ns is 1 µs, not 0
    expect(native.histogramIndexNs(999)).toBe(1);
    expect(native.histogramIndexNs(1000)).toBe(1);
    expect(native.histogramIndexNs(1001)).toBe(2);
    expect(native.histogramIndexNs(63_000)).toBe(63);
    expect(native.histogramIndexNs(63_001)).toBe(64);
    for (let i = 0; i < 2000; i++) {
      // Spread over 0 … 1 s deterministically (Knuth's multiplicative hash), so a failure replays.
      const ns = (i * 2654435761) % 1e9;
      expect(native.histogramIndexNs(ns)).toBe(native.histogramIndex(Math.ceil(ns / 1000)));
    }
  });

  it('no completed round trip lands in bucket 0 (every one takes more than 0 ns)', async () => {
    native.start(config({ load: { connections: 8, messageBytes: 1 } }));
    await sleep(300);
    const fin = native.stop()!;
    expect(fin.requests).toBeGreaterThan(0);
    expect(fin.histogram[0][0]).toBeGreaterThan(0);
    expect(fin.correctedHistogram[0][0]).toBeGreaterThan(0);
  });
});

describe('in-flight gauges', () => {
  it('count outstanding requests and age the oldest; a stalled server shows while it stalls', async () => {
    native.start(config({ load: { connections: 16, threads: 2 } }));
    await sleep(150);
    const s = native.snapshot()!;
    expect(s.liveLoadConnections).toBe(16);
    expect(s.inFlight).toBeGreaterThan(0);
    expect(s.inFlight).toBeLessThanOrEqual(16);
    expect(s.oldestInFlightUs).toBeGreaterThan(0);

    // While the server sleeps every connection waits on its echo, and the age grows.
    expect(native.debugPauseServer(400)).toBe(true);
    await sleep(200);
    const stalled = native.snapshot()!;
    expect(stalled.inFlight).toBe(16);
    expect(stalled.oldestInFlightUs).toBeGreaterThanOrEqual(100_000);
    expect(stalled.requests).toBeLessThan(s.requests); // hardly anything completes
    await sleep(300);

    // stop() reports what was in flight when the stop came, not the nothing after the drain.
    const fin = native.stop()!;
    expect(fin.liveLoadConnections).toBe(16);
    expect(fin.inFlight).toBeGreaterThan(0);
    expect(fin.inFlight).toBeLessThanOrEqual(16);
    expect(fin.running).toBe(false);
  });

  it('read 0 once the load threads have stopped by themselves', async () => {
    native.start(config({ load: { connections: 4 }, maxDurationMs: 200 }));
    const t0 = Date.now();
    let s = native.snapshot()!;
    while (s.running && Date.now() - t0 < 3000) {
      await sleep(25);
      s = native.snapshot()!;
    }
    await sleep(50);
    s = native.snapshot()!;
    expect(s.running).toBe(false);
    expect(s.inFlight).toBe(0);
    expect(s.oldestInFlightUs).toBe(0);
    expect(s.liveLoadConnections).toBe(0);
    const fin = native.stop()!;
    expect(fin.inFlight).toBe(0);
    expect(fin.oldestInFlightUs).toBe(0);
    expect(fin.liveLoadConnections).toBe(0);
  });
});

describe('per-load-thread CPU', () => {
  it('has one entry per load thread, sums to loadCpuNs and never exceeds the wall interval', async () => {
    const r = native.start(config({ load: { connections: 9, threads: 3 } }));
    expect(r.loadThreads).toBe(3);
    const s0 = native.snapshot()!;
    await sleep(300);
    const s1 = native.snapshot()!;
    const fin = native.stop()!;
    for (const s of [s0, s1, fin]) {
      expect(s.loadThreadCpuNs).toHaveLength(3);
      expect(s.loadThreadCpuNs.reduce((a, b) => a + b, 0)).toBe(s.loadCpuNs);
    }
    const wall = s1.monotonicNs - s0.monotonicNs;
    for (const ns of s1.loadThreadCpuNs) {
      expect(ns).toBeGreaterThan(0);
      // One thread cannot use more than the interval (small slack for the reads' spread).
      expect(ns).toBeLessThanOrEqual(wall * 1.02 + 2e6);
    }
    // Echo load threads have no helpers: their busy time is their CPU.
    expect(s1.loadThreadBusyNs).toEqual(s1.loadThreadCpuNs);
    // Server only: no load threads, an empty array.
    native.start(config({ load: { connections: 0 } }));
    expect(native.snapshot()!.loadThreadCpuNs).toEqual([]);
    expect(native.snapshot()!.loadThreadBusyNs).toEqual([]);
  });
});

describe('coordinated-omission-corrected histogram', () => {
  it('has the same layout and at least as many samples as the raw one', async () => {
    native.start(config({ load: { connections: 8, threads: 2 } }));
    await sleep(200);
    const fin = native.stop()!;
    expect(histTotal(fin.correctedHistogram)).toBeGreaterThanOrEqual(fin.requests);
    let last = -1;
    for (const [i, c] of fin.correctedHistogram) {
      expect(i).toBeGreaterThan(last);
      expect(i).toBeLessThan(736);
      expect(c).toBeGreaterThan(0);
      last = i;
    }
  });

  it('a server stall moves the corrected p99 near the stall while the raw p99 stays small', async () => {
    // Synthetic samples ≈ stall / E, real ones ≈ window × connections / E: with the window
    // mostly stall, the corrected tail holds whatever E is (this machine's load moves E a lot).
    const stallMs = 500;
    native.start(config({ load: { connections: 2, messageBytes: 128 } }));
    await sleep(150);
    native.snapshot(); // warm-up excluded: the window below holds the stall
    expect(native.debugPauseServer(stallMs)).toBe(true);
    await sleep(stallMs + 300);
    const fin = native.stop()!;

    // The closed loop saw the stall once per connection...
    const raw = fin.histogram;
    const slow = (h: typeof raw) => h.filter(([i]) => lowerUs[i] >= stallMs * 500).reduce((a, [, c]) => a + c, 0);
    expect(quantileUs(raw, 1)).toBeGreaterThanOrEqual(stallMs * 1000 * 0.8);
    expect(slow(raw)).toBeLessThanOrEqual(2);
    expect(quantileUs(raw, 0.99)).toBeLessThan(stallMs * 1000 * 0.1);
    // ...while the corrected counts re-weight the sends it omitted meanwhile.
    const corrected = fin.correctedHistogram;
    expect(slow(corrected)).toBeGreaterThan(10 * slow(raw));
    expect(quantileUs(corrected, 0.99)).toBeGreaterThanOrEqual(stallMs * 1000 * 0.5);
    expect(quantileUs(corrected, 1)).toBeLessThanOrEqual(quantileUs(raw, 1));
  });

  it('debugPauseServer validates its argument and is false when nothing runs', () => {
    expect(native.debugPauseServer(10)).toBe(false);
    expect(() => native.debugPauseServer(0)).toThrow(RangeError);
    expect(() => (native.debugPauseServer as any)('10')).toThrow(TypeError);
  });
});
