/**
 * server.registeredRingFd: the server ring's fd registered with the kernel right after setup
 * (io_uring_register_ring_fd, Linux 5.18). Applied for real on this kernel; refused through
 * the fake kernel of debugRingFallback (the same ring_setup code), since 6.18 never refuses it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeRefusal } from '../../native';
import { knobForSetting } from '../../electron/contract';
import { rejectedKnobs } from '../../electron/host/engine/adapter';
import { config, native, sleep, stopQuietly } from './engineHarness';

const EINVAL = 22;
const EPERM = 1;

afterEach(stopQuietly);

/** Runs a loaded engine for a moment and returns what start applied and refused, and the final snapshot. */
async function run(registeredRingFd: boolean, messageBytes: number) {
  const started = native.start(config({ registeredRingFd, load: { connections: 8, messageBytes }, maxDurationMs: 5000 }));
  await sleep(300);
  const fin = native.stop()!;
  return { started, fin };
}

describe('server.registeredRingFd on this kernel', () => {
  it('true: applied, nothing refused, and every echoed byte comes back intact', async () => {
    for (const messageBytes of [128, 65536]) {
      const { started, fin } = await run(true, messageBytes);
      expect(started.applied.server.registeredRingFd).toBe(true);
      expect(started.refused).toEqual([]);
      // The load compares every echoed byte with what it sent (a mismatch counts as an error).
      expect(fin.errors).toBe(0);
      expect(fin.serverErrors).toBe(0);
      expect(fin.requests).toBeGreaterThan(0);
      expect(fin.bytes).toBe(fin.requests * messageBytes);
    }
  });

  it('false: not applied, nothing refused, the engine echoes as before', async () => {
    const { started, fin } = await run(false, 128);
    expect(started.applied.server.registeredRingFd).toBe(false);
    expect(started.refused).toEqual([]);
    expect(fin.errors).toBe(0);
    expect(fin.requests).toBeGreaterThan(0);
  });

  it('startAsync applies it too (the ring is still set up on the server thread)', async () => {
    const started = await native.startAsync(config({ registeredRingFd: true, load: { connections: 2 } }));
    expect(started.applied.server.registeredRingFd).toBe(true);
    const fin = await native.stopAsync();
    expect(fin!.errors).toBe(0);
  });

  it('is type-checked like the other booleans', () => {
    const bad = config() as any;
    bad.server.registeredRingFd = 'true';
    expect(() => native.start(bad)).toThrow(TypeError);
    expect(() => native.start(bad)).toThrow(/config\.server\.registeredRingFd must be a boolean \(got string\)/);
    delete bad.server.registeredRingFd;
    expect(() => native.memoryNeeds(bad)).toThrow(/config\.server\.registeredRingFd must be a boolean \(got undefined\)/);
  });
});

describe('server.registeredRingFd refused (fake kernel)', () => {
  const fallback = (over: Parameters<typeof config>[0], refusals: FakeRefusal[]) => native.debugRingFallback(config(over).server, refusals);

  it('a kernel that refuses the registration: the ring runs without it, and the refusal is reported', () => {
    const r = fallback({ registeredRingFd: true, taskrun: 'defer' }, [{ flags: ['REGISTERED_RING_FD'], errno: EINVAL }]);
    expect(r.error).toBeNull();
    expect(r.applied.registeredRingFd).toBe(false);
    expect(r.refused).toEqual([
      { setting: 'REGISTERED_RING_FD', cause: 'refused', errno: EINVAL, code: 'EINVAL', errnoText: 'Invalid argument', requested: true },
    ]);
    // Not a setup flag: the ring's flags and setup attempts are untouched.
    expect(r.applied.taskrun).toBe('defer');
    expect(r.attempts).toHaveLength(1);
    expect(r.ring.flags).not.toContain('REGISTERED_RING_FD');
  });

  it('not requested: never attempted, never refused', () => {
    const r = fallback({ registeredRingFd: false }, [{ flags: ['REGISTERED_RING_FD'], errno: EINVAL }]);
    expect(r.applied.registeredRingFd).toBe(false);
    expect(r.refused).toEqual([]);
  });

  it('comes after the setup flags\' refusals, in the same list', () => {
    const r = fallback({ registeredRingFd: true, sqpoll: { enabled: true, cpu: null, idleMs: 10 }, taskrun: 'default' }, [
      { flags: ['SQPOLL'], errno: EPERM },
      { flags: ['REGISTERED_RING_FD'], errno: EINVAL },
    ]);
    expect(r.refused.map((x) => [x.setting, x.cause, x.code, x.requested])).toEqual([
      ['SQPOLL', 'refused', 'EPERM', true],
      ['REGISTERED_RING_FD', 'refused', 'EINVAL', true],
    ]);
    expect(r.applied.sqpoll.enabled).toBe(false);
    expect(r.applied.registeredRingFd).toBe(false);
  });

  it('the host puts the refusal on server.registeredRingFd with the catalogue\'s words', () => {
    expect(knobForSetting('REGISTERED_RING_FD')?.path).toBe('server.registeredRingFd');
    const r = fallback({ registeredRingFd: true }, [{ flags: ['REGISTERED_RING_FD'], errno: EINVAL }]);
    const [knob, ...rest] = rejectedKnobs(r.refused);
    expect(rest).toEqual([]);
    expect(knob.knob).toBe('server.registeredRingFd');
    expect(knob.requested).toBe(true);
    expect(knob.code).toBe('EINVAL');
    expect(knob.reason).toMatch(/Linux 5\.18.*\(EINVAL: Invalid argument\)$/);
    expect(knob.fix).toMatch(/server\.registeredRingFd to false/);
  });
});
