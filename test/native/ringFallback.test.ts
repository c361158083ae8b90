/**
 * The server ring's setup fallback, run for real (native/src/core/ring_setup.c) against a fake
 * kernel through the debugRingFallback test hook: which flag is dropped for which errno, in
 * which order, and what is reported as refused, without a kernel that refuses anything.
 */
import { describe, expect, it } from 'vitest';
import type { FakeRefusal } from '../../native';
import { config, native } from './engineHarness';

type Server = Parameters<typeof config>[0];
const run = (server: Server, refusals: FakeRefusal[]) => native.debugRingFallback(config(server).server, refusals);
const EINVAL = 22;
const EPERM = 1;
const sorted = (flags: string[]) => [...flags].sort();
const attempts = (r: ReturnType<typeof run>) => r.attempts.map(sorted);

describe('ring setup fallback (fake kernel)', () => {
  it('accepts the request in one attempt: the requested flags plus SUBMIT_ALL, CQSIZE and CLAMP', () => {
    const r = run({ taskrun: 'defer', ringEntries: 256 }, []);
    expect(r.error).toBeNull();
    expect(attempts(r)).toEqual([sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER', 'DEFER_TASKRUN'])]);
    expect(r.refused).toEqual([]);
    // Everything as requested (the catalogue's defaults for the knobs not named here).
    const requested = config({ taskrun: 'defer', ringEntries: 256 }).server;
    expect(r.applied).toEqual({
      ...requested,
      engine: 'io_uring',
      ringEntries: 256,
      sqpoll: { enabled: false, cpu: null, idleMs: 1000, shared: false },
      taskrun: 'defer',
      registeredRingFd: false,
      bufferRing: requested.bufferRing, // the catalogue's size, the harness's count
    });
    expect(r.ring.cqEntries).toBe(2 * r.ring.sqEntries);
  });

  it('suspects SQ_AFF before SQPOLL: a bad CPU costs only the pinning', () => {
    const r = run({ sqpoll: { enabled: true, cpu: 3, idleMs: 0 }, taskrun: 'default' }, [{ flags: ['SQ_AFF'], errno: EINVAL }]);
    expect(attempts(r)).toEqual([
      sorted(['SQPOLL', 'SQ_AFF', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
      // An EINVAL with SQPOLL may be the SQPOLL + SINGLE_ISSUER pair (some kernels): tried
      // without it first, and it stays since that did not help.
      sorted(['SQPOLL', 'SQ_AFF', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP']),
      sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
    ]);
    expect(r.ring.flags).toContain('SINGLE_ISSUER');
    expect(r.refused).toEqual([
      { setting: 'SQ_AFF', cause: 'refused', errno: EINVAL, code: 'EINVAL', errnoText: 'Invalid argument', requested: 3 },
    ]);
    // idleMs 0 with SQPOLL on is the kernel's 1000.
    expect(r.applied.sqpoll).toEqual({ enabled: true, cpu: null, idleMs: 1000, shared: false });
  });

  it('drops SQPOLL (after trying without SQ_AFF) when the kernel refuses it, and reports SQ_AFF moot', () => {
    const r = run({ sqpoll: { enabled: true, cpu: 1, idleMs: 10 }, taskrun: 'default' }, [{ flags: ['SQPOLL'], errno: EPERM }]);
    expect(attempts(r)).toEqual([
      sorted(['SQPOLL', 'SQ_AFF', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
      sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
      sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
    ]);
    expect(r.refused.map((x) => [x.setting, x.cause, x.code, x.requested])).toEqual([
      ['SQPOLL', 'refused', 'EPERM', true],
      ['SQ_AFF', 'moot_without_sqpoll', 'EPERM', 1],
    ]);
    expect(r.applied.sqpoll).toEqual({ enabled: false, cpu: null, idleMs: 10, shared: false });
  });

  it('drops the task-run mode on EINVAL with SQPOLL and keeps SINGLE_ISSUER where the kernel allows it', () => {
    const conflicts: FakeRefusal[] = [
      { flags: ['SQPOLL', 'DEFER_TASKRUN'], errno: EINVAL },
      { flags: ['SQPOLL', 'COOP_TASKRUN'], errno: EINVAL },
    ];
    const defer = run({ sqpoll: { enabled: true }, taskrun: 'defer' }, conflicts);
    expect(attempts(defer)).toEqual([
      sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER', 'DEFER_TASKRUN']),
      sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
    ]);
    expect(defer.refused.map((x) => [x.setting, x.cause, x.errno, x.requested])).toEqual([
      ['DEFER_TASKRUN', 'conflicts_with_sqpoll', EINVAL, 'defer'],
    ]);
    expect(defer.ring.flags).toEqual(expect.arrayContaining(['SQPOLL', 'SINGLE_ISSUER']));
    expect(defer.applied.taskrun).toBe('default');

    const coop = run({ sqpoll: { enabled: true }, taskrun: 'coop' }, conflicts);
    expect(attempts(coop)).toEqual([sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER', 'COOP_TASKRUN']), sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER'])]);
    expect(coop.refused.map((x) => [x.setting, x.cause, x.requested])).toEqual([['COOP_TASKRUN', 'conflicts_with_sqpoll', 'coop']]);
    expect(coop.applied.sqpoll.enabled).toBe(true);
  });

  it('drops SINGLE_ISSUER next, not SQPOLL, where the kernel refuses it with SQPOLL too', () => {
    const r = run({ sqpoll: { enabled: true }, taskrun: 'defer' }, [
      { flags: ['SQPOLL', 'DEFER_TASKRUN'], errno: EINVAL },
      { flags: ['SQPOLL', 'SINGLE_ISSUER'], errno: EINVAL },
    ]);
    expect(r.attempts).toHaveLength(3);
    expect(sorted(r.ring.flags)).toEqual(sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP']));
    expect(r.refused.map((x) => [x.setting, x.cause])).toEqual([
      ['DEFER_TASKRUN', 'conflicts_with_sqpoll'],
      ['SINGLE_ISSUER', 'conflicts_with_sqpoll'],
    ]);
  });

  it('brings the task-run mode back when SQPOLL itself is refused after the conflict', () => {
    const r = run({ sqpoll: { enabled: true }, taskrun: 'defer' }, [
      { flags: ['SQPOLL', 'DEFER_TASKRUN'], errno: EINVAL },
      { flags: ['SQPOLL'], errno: EPERM },
    ]);
    expect(r.error).toBeNull();
    expect(sorted(r.attempts.at(-1)!)).toEqual(sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER', 'DEFER_TASKRUN']));
    expect(r.refused.map((x) => [x.setting, x.cause, x.code])).toEqual([['SQPOLL', 'refused', 'EPERM']]);
    expect(r.applied.taskrun).toBe('defer');
    expect(r.applied.sqpoll.enabled).toBe(false);
  });

  it('a kernel without DEFER_TASKRUN (6.0) loses only DEFER_TASKRUN; one without SINGLE_ISSUER (5.19) loses both', () => {
    const noDefer = run({ taskrun: 'defer' }, [{ flags: ['DEFER_TASKRUN'], errno: EINVAL }]);
    expect(noDefer.refused.map((x) => [x.setting, x.cause])).toEqual([['DEFER_TASKRUN', 'refused']]);
    expect(noDefer.ring.flags).toContain('SINGLE_ISSUER');
    expect(noDefer.applied.taskrun).toBe('default');

    const noSingleIssuer = run({ taskrun: 'defer' }, [{ flags: ['SINGLE_ISSUER'], errno: EINVAL }]);
    // DEFER_TASKRUN alone is tried first (it is the more suspect flag), then the pair.
    expect(attempts(noSingleIssuer)).toEqual([
      sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER', 'DEFER_TASKRUN']),
      sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']),
      sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP']),
    ]);
    expect(noSingleIssuer.refused.map((x) => [x.setting, x.cause])).toEqual([
      ['SINGLE_ISSUER', 'refused'],
      ['DEFER_TASKRUN', 'needs_single_issuer'],
    ]);
  });

  it("drops SUBMIT_ALL and CQSIZE silently (they are the engine's, not settings)", () => {
    const r = run({ taskrun: 'default' }, [{ flags: ['SUBMIT_ALL'], errno: EINVAL }]);
    expect(r.refused).toEqual([]);
    expect(sorted(r.ring.flags)).toEqual(sorted(['CQSIZE', 'CLAMP', 'SINGLE_ISSUER']));
  });

  it('SINGLE_ISSUER is the engine\'s own flag in every task-run mode: kept with SQPOLL and taskrun default, dropped silently (SQPOLL stays) where the kernel refuses the pair or lacks it', () => {
    // The refusal's own fix (taskrun 'default' with SQPOLL) gives the same ring as the fallback from 'defer'.
    const fixed = run({ sqpoll: { enabled: true }, taskrun: 'default' }, [{ flags: ['SQPOLL', 'DEFER_TASKRUN'], errno: EINVAL }]);
    expect(attempts(fixed)).toEqual([sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER'])]);
    expect(fixed.refused).toEqual([]);
    const fellBack = run({ sqpoll: { enabled: true }, taskrun: 'defer' }, [{ flags: ['SQPOLL', 'DEFER_TASKRUN'], errno: EINVAL }]);
    expect(sorted(fellBack.ring.flags)).toEqual(sorted(fixed.ring.flags));

    const pair = run({ sqpoll: { enabled: true }, taskrun: 'default' }, [{ flags: ['SQPOLL', 'SINGLE_ISSUER'], errno: EINVAL }]);
    expect(attempts(pair)).toEqual([sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'SINGLE_ISSUER']), sorted(['SQPOLL', 'SUBMIT_ALL', 'CQSIZE', 'CLAMP'])]);
    expect(pair.refused).toEqual([]);
    expect(pair.applied.sqpoll.enabled).toBe(true);

    // 5.19 has COOP_TASKRUN but no SINGLE_ISSUER: COOP stays, nothing is refused that was asked for.
    const old = run({ taskrun: 'coop' }, [{ flags: ['SINGLE_ISSUER'], errno: EINVAL }]);
    expect(sorted(old.ring.flags)).toEqual(sorted(['SUBMIT_ALL', 'CQSIZE', 'CLAMP', 'COOP_TASKRUN']));
    expect(old.refused).toEqual([]);
    expect(old.applied.taskrun).toBe('coop');
  });

  it("fails with the plainest ring's errno when nothing is accepted", () => {
    const r = run({ taskrun: 'coop' }, [{ flags: [], errno: 12 }]);
    expect(r.error).toEqual({ errno: 12, code: 'ENOMEM', errnoText: 'Cannot allocate memory' });
    expect(r.attempts.at(-1)).toEqual([]);
  });

  it('validates its arguments, naming them', () => {
    const server: any = config().server;
    expect(() => native.debugRingFallback({ ...server, ringEntries: 'x' }, [])).toThrow(/request\.ringEntries must be a number/);
    expect(() => native.debugRingFallback(server, [{ flags: ['SQPOL'], errno: 22 }])).toThrow(/unknown ring setup flag 'SQPOL'/);
    expect(() => (native.debugRingFallback as any)(server)).toThrow(/refusals must be an array/);
  });
});
