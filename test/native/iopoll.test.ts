/**
 * server.iopoll: IORING_SETUP_IOPOLL on the server ring. The kernel accepts an IOPOLL ring but
 * refuses socket ops on it (EINVAL in the CQE), so the settled ring is given one recv on a
 * socketpair; refused, the ring is made again without IOPOLL and IOPOLL is reported refused.
 * On this machine that is what happens; the fake kernel of debugRingFallback shows the rest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeRefusal } from '../../native';
import { KNOBS, knobForSetting } from '../../electron/contract';
import { rejectedKnobs } from '../../electron/host/engine/adapter';
import { config, native, sleep, stopQuietly } from './engineHarness';

const EINVAL = 22;
const EPERM = 1;

afterEach(stopQuietly);

async function run(iopoll: boolean, messageBytes = 128) {
  const started = native.start(config({ iopoll, load: { connections: 8, messageBytes }, maxDurationMs: 5000 }));
  await sleep(300);
  const fin = native.stop()!;
  return { started, fin };
}

describe('server.iopoll on this kernel', () => {
  it('true: refused with EINVAL by the socket op, and the engine runs without it, echoes intact', async () => {
    for (const messageBytes of [128, 65536]) {
      const { started, fin } = await run(true, messageBytes);
      expect(started.applied.server.iopoll).toBe(false);
      expect(started.ring.flags).not.toContain('IOPOLL');
      expect(started.refused).toEqual([
        { setting: 'IOPOLL', cause: 'refused', errno: EINVAL, code: 'EINVAL', errnoText: 'Invalid argument', requested: true },
      ]);
      // The other settings are untouched: the default task-run mode still applies.
      expect(started.applied.server.taskrun).toBe(config().server.taskrun);
      expect(fin.errors).toBe(0);
      expect(fin.serverErrors).toBe(0);
      expect(fin.requests).toBeGreaterThan(0);
      expect(fin.bytes).toBe(fin.requests * messageBytes);
    }
  });

  it('false: not applied, nothing refused', async () => {
    const { started, fin } = await run(false);
    expect(started.applied.server.iopoll).toBe(false);
    expect(started.refused).toEqual([]);
    expect(started.ring.flags).not.toContain('IOPOLL');
    expect(fin.errors).toBe(0);
    expect(fin.requests).toBeGreaterThan(0);
  });

  it('startAsync finds out the same way (the ring is set up on the server thread)', async () => {
    const started = await native.startAsync(config({ iopoll: true, registeredRingFd: true, load: { connections: 2 } }));
    expect(started.applied.server.iopoll).toBe(false);
    expect(started.applied.server.registeredRingFd).toBe(true);
    expect(started.refused.map((x) => [x.setting, x.code])).toEqual([['IOPOLL', 'EINVAL']]);
    const fin = await native.stopAsync();
    expect(fin!.errors).toBe(0);
  });

  it('is type-checked like the other booleans', () => {
    const bad = config() as any;
    bad.server.iopoll = 1;
    expect(() => native.start(bad)).toThrow(/config\.server\.iopoll must be a boolean \(got number\)/);
  });

  it('the host puts the refusal on server.iopoll with the catalogue\'s words', () => {
    expect(knobForSetting('IOPOLL')?.path).toBe('server.iopoll');
    const started = native.start(config({ iopoll: true, load: { connections: 1 } }));
    const [knob, ...rest] = rejectedKnobs(started.refused);
    expect(rest).toEqual([]);
    expect(knob).toMatchObject({ knob: 'server.iopoll', requested: true, errno: EINVAL, code: 'EINVAL' });
    expect(knob.reason).toBe(`${KNOBS.server.iopoll.refusal!.refused.reason} (EINVAL: Invalid argument)`);
    expect(knob.fix).toBe(KNOBS.server.iopoll.refusal!.refused.fix);
  });
});

describe('server.iopoll through the ring setup fallback (fake kernel)', () => {
  const fallback = (over: Parameters<typeof config>[0], refusals: FakeRefusal[]) => native.debugRingFallback(config(over).server, refusals);

  it('setup takes IOPOLL, the socket op is refused: the ring is made again without it', () => {
    const r = fallback({ iopoll: true, taskrun: 'defer' }, []);
    expect(r.error).toBeNull();
    expect(r.attempts.map((a) => a.includes('IOPOLL'))).toEqual([true, false]);
    expect(r.ring.flags).not.toContain('IOPOLL');
    expect(r.ring.flags).toContain('DEFER_TASKRUN');
    expect(r.applied.iopoll).toBe(false);
    expect(r.refused).toEqual([
      { setting: 'IOPOLL', cause: 'refused', errno: EINVAL, code: 'EINVAL', errnoText: 'Invalid argument', requested: true },
    ]);
  });

  it('setup itself refuses IOPOLL: dropped by the fallback with setup\'s errno', () => {
    const r = fallback({ iopoll: true }, [{ flags: ['IOPOLL'], errno: EPERM }]);
    expect(r.error).toBeNull();
    expect(r.refused.map((x) => [x.setting, x.cause, x.code, x.requested])).toEqual([['IOPOLL', 'refused', 'EPERM', true]]);
    expect(r.applied.iopoll).toBe(false);
  });

  it('not requested: never attempted, never refused', () => {
    const r = fallback({ iopoll: false }, []);
    expect(r.attempts.flat()).not.toContain('IOPOLL');
    expect(r.refused).toEqual([]);
  });
});
