/**
 * More server workers than CPUs to run them on: said in the run's and `uring-lab server`'s
 * warnings (the numbers then describe threads time-sharing CPUs), with the fix.
 */
import { describe, expect, it } from 'vitest';
import { oversubscribedRingsWarning } from '../../electron/contract';

const server = (rings: number, cpus: number[] | null = null) => ({ rings, numa: { cpus } });

describe('oversubscribedRingsWarning', () => {
  it('says nothing while each ring can have a CPU', () => {
    expect(oversubscribedRingsWarning(server(1), 2)).toBeNull();
    expect(oversubscribedRingsWarning(server(2), 2)).toBeNull();
    expect(oversubscribedRingsWarning(server(2, [0, 1]), 2)).toBeNull();
    // pinned to more CPUs than the process sees: the list decides, as it does for the workers
    expect(oversubscribedRingsWarning(server(4, [0, 1, 2, 3]), 2)).toBeNull();
  });

  it('names the rings, the CPUs and the fix past that, from the CPUs the engine may use', () => {
    expect(oversubscribedRingsWarning(server(64), 2)).toBe('server.rings = 64 worker threads on the 2 CPUs the engine may use: they took turns there, so the numbers describe 64 threads sharing 2 CPUs, not a CPU per ring; set server.rings to at most 2 for a CPU per ring');
    expect(oversubscribedRingsWarning(server(2), 1)).toMatch(/^server\.rings = 2 worker threads on the one CPU the engine may use: .* sharing a CPU, not a CPU per ring; set server\.rings to at most 1 for a CPU per ring$/);
  });

  it('from server.numa.cpus when set, each CPU counted once', () => {
    expect(oversubscribedRingsWarning(server(2, [0]), 2)).toBe('server.rings = 2 worker threads on the CPU of server.numa.cpus: they took turns there, so the numbers describe 2 threads sharing a CPU, not a CPU per ring; set server.rings to at most 1, or list more CPUs in server.numa.cpus for a CPU per ring');
    expect(oversubscribedRingsWarning(server(3, [1, 1, 0]), 8)).toMatch(/on the 2 CPUs of server\.numa\.cpus: .*at most 2, or list more CPUs/);
  });
});
