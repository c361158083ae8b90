/**
 * The engine's frame clock (electron/engine/frameClock.ts): a tick right after a late one takes
 * no frame, so no frame but an engine's last is shorter than half the interval.
 */
import { describe, expect, it } from 'vitest';
import { FrameClock } from '../../electron/engine/frameClock';

const MS = 1e6;

/** The frames' lengths (ms) for ticks at `ticksMs`, each frame ending `readMs` after its tick. */
function frameLengths(ticksMs: number[], readMs: (tick: number) => number): number[] {
  const clock = new FrameClock(100, 0);
  const lengths: number[] = [];
  let last = 0;
  for (const [i, t] of ticksMs.entries()) {
    if (!clock.due(t * MS)) continue;
    const end = t + readMs(i);
    clock.taken(end * MS);
    lengths.push(end - last);
    last = end;
  }
  return lengths;
}

describe('frame clock', () => {
  it('skips the on-schedule tick that follows a late frame, and keeps every other tick', () => {
    // Seen live: the first tick's read took 95.5 ms, so its frame ended at 195.5 ms and the
    // timer's next tick (scheduled from the first tick's start) came at 200 ms.
    const lengths = frameLengths([100, 200, 300, 400, 500], (i) => (i === 0 ? 95.5 : 0.5));
    expect(lengths).toEqual([195.5, 105, 100, 100]);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(50);
  });

  it('takes a frame at every tick of a steady timer, and at a tick half an interval late', () => {
    expect(frameLengths([100, 200, 300], () => 0)).toEqual([100, 100, 100]);
    const clock = new FrameClock(100, 0);
    expect(clock.due(49.9 * MS)).toBe(false);
    expect(clock.due(50 * MS)).toBe(true);
  });
});
