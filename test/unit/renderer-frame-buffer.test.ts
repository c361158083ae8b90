import { createPinia, setActivePinia } from 'pinia';
import { describe, expect, it, vi } from 'vitest';
import { nextTick, watch } from 'vue';
import { FrameBuffer, RingBuffer } from '../../renderer/src/stores/frameBuffer';
import { READOUT_REFRESH_MS, useFramesStore } from '../../renderer/src/stores/frames';
import { runFrame } from './renderer-fixtures';

const frame = (runId: string, seq: number) =>
  runFrame({ runId, seq, tMs: (seq + 1) * 100, requests: 10, bytes: 100, errors: seq % 2, throughputRps: 100, histogram: [[70, 10]], loadBusyShare: 0.2 });

describe('RingBuffer', () => {
  it('keeps the newest `capacity` items in order', () => {
    const r = new RingBuffer<number>(3);
    expect(r.toArray()).toEqual([]);
    expect(r.push(1)).toBeUndefined();
    r.push(2);
    r.push(3);
    expect(r.push(4)).toBe(1);
    expect(r.push(5)).toBe(2);
    expect(r.length).toBe(3);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.at(0)).toBe(3);
    expect(r.at(-1)).toBe(5);
    expect(r.at(3)).toBeUndefined();
    expect(r.last()).toBe(5);
    r.clear();
    expect(r.length).toBe(0);
    expect(r.last()).toBeUndefined();
  });

  it('survives many wraps', () => {
    const r = new RingBuffer<number>(600);
    for (let i = 0; i < 10_000; i++) r.push(i);
    const a = r.toArray();
    expect(a).toHaveLength(600);
    expect(a[0]).toBe(9400);
    expect(a[599]).toBe(9999);
  });

  it('rejects a bad capacity', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});

describe('FrameBuffer', () => {
  it('buffers frames with their heatmap column and bumps the version', () => {
    const b = new FrameBuffer(4);
    const v0 = b.version.value;
    for (let i = 0; i < 6; i++) b.push(frame('a', i));
    expect(b.version.value).toBeGreaterThan(v0);
    expect(b.snapshot().map((x) => x.frame.seq)).toEqual([2, 3, 4, 5]);
    expect(b.snapshot()[0]!.column.total).toBe(10);
    expect(b.received).toBe(6);
    expect(b.totals).toEqual({ requests: 60, errors: 3, bytes: 600, timeouts: 0 });
    expect(b.latest.value?.seq).toBe(5);
  });

  it('drops duplicate / out-of-order frames', () => {
    const b = new FrameBuffer(10);
    expect(b.push(frame('a', 0))).toBe(true);
    expect(b.push(frame('a', 1))).toBe(true);
    expect(b.push(frame('a', 1))).toBe(false);
    expect(b.push(frame('a', 0))).toBe(false);
    expect(b.snapshot()).toHaveLength(2);
  });

  it('starts over when a frame of another run arrives, and on reset', () => {
    const b = new FrameBuffer(10);
    b.push(frame('a', 0));
    b.push(frame('a', 1));
    b.push(frame('b', 0));
    expect(b.runId).toBe('b');
    expect(b.snapshot().map((x) => x.frame.runId)).toEqual(['b']);
    expect(b.received).toBe(1);
    b.reset(null);
    expect(b.snapshot()).toEqual([]);
    expect(b.latest.value).toBeNull();
    expect(b.totals.requests).toBe(0);
    expect(b.tallies.size).toBe(0);
    expect(b.lastSeq).toBe(-1);
  });

  it('counts frames it never got, from seq 0 and across gaps', () => {
    const b = new FrameBuffer(10);
    b.push(frame('a', 3)); // joined late: 0..2 missing
    expect(b.missed.value).toBe(3);
    b.push(frame('a', 4));
    b.push(frame('a', 9)); // 5..8 missing
    expect(b.missed.value).toBe(7);
    expect(b.lastSeq).toBe(9);
    b.push(frame('b', 0));
    expect(b.missed.value).toBe(0);
  });

  it('keeps per-phase tallies of measured frames beyond the ring, warm-up left out', () => {
    const b = new FrameBuffer(2);
    b.push({ ...frame('a', 0), measuring: false });
    for (let i = 1; i <= 5; i++) b.push({ ...frame('a', i), phase: i <= 3 ? 0 : 1 });
    expect(b.snapshot()).toHaveLength(2);
    expect(b.tallies.get(0)!.frames).toBe(3);
    expect(b.tallies.get(0)!.stats()!.requests).toBe(30);
    expect(b.tallies.get(0)!.latency.total).toBe(30);
    expect(b.tallies.get(1)!.frames).toBe(2);
  });
});

describe('numeric readouts between chart frames', () => {
  it('refresh halfway between two frames, at most every READOUT_REFRESH_MS, and show the last frame once frames stop', async () => {
    vi.useFakeTimers();
    try {
      setActivePinia(createPinia());
      const frames = useFramesStore();
      const shown: { atMs: number; seq: number }[] = [];
      watch(
        () => frames.readout,
        (f) => f && shown.push({ atMs: Date.now() - start, seq: f.seq }),
      );
      const start = Date.now();
      // 3 s of frames every 100 ms (the engine's pace), the clock stepped 10 ms at a time.
      for (let t = 0; t < 3000; t += 10) {
        if (t % 100 === 0) {
          frames.buffer.push(frame('r1', t / 100));
          await nextTick();
        }
        vi.advanceTimersByTime(10);
        await nextTick();
      }
      const lastSeq = 29;
      vi.advanceTimersByTime(1000);
      await nextTick();
      expect(shown[0]).toEqual({ atMs: 0, seq: 0 }); // a run's first frame at once
      const later = shown.slice(1);
      // At most one frame interval lost per refresh to landing halfway between two frames.
      expect(later.length).toBeGreaterThanOrEqual(Math.floor(3000 / (READOUT_REFRESH_MS + 100)));
      // Every refresh while frames come lands 50 ms after one (never where a frame's charts draw)...
      for (const s of later.slice(0, -1)) expect(s.atMs % 100, `refresh at ${s.atMs} ms`).toBe(50);
      // ...no two closer than READOUT_REFRESH_MS...
      for (let i = 1; i < shown.length; i++) expect(shown[i]!.atMs - shown[i - 1]!.atMs).toBeGreaterThanOrEqual(READOUT_REFRESH_MS);
      // ...and the last frame shows once they stop.
      expect(frames.readout?.seq).toBe(lastSeq);
    } finally {
      vi.useRealTimers();
    }
  });
});
