/**
 * The start window's faults (electron/engine/startFaults.ts): the read that zeroes the counters
 * after the native start must not drop errors (mismatched echoes among them), timeouts or server errors; they reach the first
 * frame (or the final one), once.
 */
import { describe, expect, it } from 'vitest';
import type { EngineSnapshot } from '../../native';
import { StartFaults } from '../../electron/engine/startFaults';

function snapshot(errors: number, timeouts: number, serverErrors: number, recv: number | null, mismatches = 0): EngineSnapshot {
  return {
    requests: 5, bytes: 640, errors, mismatches, timeouts, serverErrors,
    server: recv === null ? null : { errorsByOp: { accept: 1, recv, send: 0, other: 0 } },
  } as unknown as EngineSnapshot;
}

describe('StartFaults', () => {
  it('adds the baseline faults to the first snapshot only; requests and bytes are not carried', () => {
    const faults = new StartFaults(snapshot(7, 2, 3, 2, 4));
    const first = faults.into(snapshot(1, 0, 1, 1));
    expect([first.errors, first.mismatches, first.timeouts, first.serverErrors, first.requests, first.bytes]).toEqual([8, 4, 2, 4, 5, 640]);
    expect(first.server?.errorsByOp).toEqual({ accept: 2, recv: 3, send: 0, other: 0 });
    const second = faults.into(snapshot(1, 0, 1, 1));
    expect([second.errors, second.mismatches, second.timeouts, second.serverErrors]).toEqual([1, 0, 0, 1]);
  });

  it('a target run (no server counters), a clean start and no baseline leave snapshots as they are', () => {
    const target = new StartFaults(snapshot(4, 1, 0, null)).into(snapshot(0, 0, 0, null));
    expect([target.errors, target.timeouts, target.server]).toEqual([4, 1, null]);
    const clean = snapshot(2, 0, 0, 0);
    expect(new StartFaults(snapshot(0, 0, 0, 0)).into(clean)).toBe(clean);
    expect(new StartFaults(null).into(clean)).toBe(clean);
  });
});
