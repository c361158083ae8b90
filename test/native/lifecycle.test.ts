import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type * as Native from '../../native';
import { config, native, sleep, stopQuietly, type EngineConfig } from './engineHarness';

const fdCount = () => readdirSync('/proc/self/fd').length;
const taskCount = () => readdirSync('/proc/self/task').length;
/** Resident memory of this process (statm's second field, in pages). */
const rssBytes = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;

/** No more descriptors or threads than the baseline (kernel io_uring threads exit asynchronously). */
async function expectNoLeaks(fds0: number, tasks0: number): Promise<void> {
  expect(fdCount()).toBeLessThanOrEqual(fds0);
  const t0 = Date.now();
  while (taskCount() > tasks0 && Date.now() - t0 < 3000) await sleep(50);
  expect(taskCount()).toBeLessThanOrEqual(tasks0);
}

afterEach(stopQuietly);

describe('start/stop lifecycle', () => {
  it('stop() and snapshot() return null when nothing runs; stop() is idempotent', () => {
    expect(native.stop()).toBeNull();
    expect(native.snapshot()).toBeNull();
    native.start(config({ load: { connections: 1 } }));
    expect(native.stop()).not.toBeNull();
    expect(native.stop()).toBeNull();
  });

  it('refuses a second start while running', () => {
    native.start(config({ load: { connections: 1 } }));
    expect(() => native.start(config())).toThrow(/engine already running: call stop\(\) first/);
    expect(native.stop()).not.toBeNull();
  });

  /**
   * Starts and stops the engine 200 times with cycleConfig(i) (after one warm-up start with
   * warmConfig, so lazily created Node/libuv descriptors are in the baseline): every cycle
   * error-free, some requests served, and no descriptor or thread left behind.
   */
  async function cyclesLeaveNothing(warmConfig: EngineConfig, cycleConfig: (i: number) => EngineConfig): Promise<void> {
    native.start(warmConfig);
    native.stop();
    await sleep(50);
    const fds0 = fdCount();
    const tasks0 = taskCount();
    let requests = 0;
    for (let i = 0; i < 200; i++) {
      native.start(cycleConfig(i));
      const fin = native.stop()!;
      expect(fin.errors).toBe(0);
      requests += fin.requests;
    }
    expect(requests).toBeGreaterThan(0);
    await expectNoLeaks(fds0, tasks0);
  }

  it('200 start/stop cycles leave no file descriptors or threads behind', async () => {
    await cyclesLeaveNothing(config({ load: { connections: 2 } }), (i) => {
      // Every fourth cycle with SQPOLL, so its kernel thread comes and goes too; every third
      // receiving on readiness (its polls are cancelled with the connections).
      const sqpoll = i % 4 === 3;
      return config({
        recvOnReady: i % 3 === 1,
        ringEntries: 64,
        sqpoll: { enabled: sqpoll, idleMs: 10 },
        taskrun: sqpoll ? 'default' : 'defer',
        bufferRing: { count: 64 },
        load: { connections: 2, messageBytes: 64 },
        maxDurationMs: 5000,
      });
    });
  }, 30_000);

  it('200 start/stop cycles with 2 rings (some with a shared SQPOLL thread, some epoll) leave nothing behind', async () => {
    await cyclesLeaveNothing(config({ rings: 2, load: { connections: 2 } }), (i) => {
      const sqpoll = i % 4 === 3;
      return config({
        engine: i % 8 === 5 ? 'epoll' : 'io_uring',
        recvOnReady: i % 3 === 1,
        rings: 2,
        ringEntries: 64,
        sqpoll: { enabled: sqpoll, shared: sqpoll, idleMs: 10 },
        taskrun: sqpoll ? 'default' : 'defer',
        bufferRing: { count: 64 },
        load: { connections: 4, messageBytes: 64 },
        maxDurationMs: 5000,
      });
    });
  }, 60_000);

  it('a failed start with several rings stops every worker: nothing left, and the engine starts again', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const fds0 = fdCount();
    const tasks0 = taskCount();
    try {
      expect(() => native.start(config({ rings: 4, port }))).toThrow(expect.objectContaining({ code: 'EADDRINUSE', step: 'SERVER_BIND' }));
    } finally {
      blocker.close();
    }
    expect(native.stop()).toBeNull();
    await expectNoLeaks(fds0, tasks0);
    native.start(config({ rings: 4, load: { connections: 8 } }));
    expect(native.stop()!.errors).toBe(0);
  });

  it('100 epoll start/stop cycles leave no file descriptors or threads behind', async () => {
    native.start(config({ engine: 'epoll', load: { connections: 2 } }));
    native.stop();
    await sleep(50);
    const fds0 = fdCount();
    const tasks0 = taskCount();
    let requests = 0;
    for (let i = 0; i < 100; i++) {
      native.start(config({ engine: 'epoll', load: { connections: 2, messageBytes: 64 }, maxDurationMs: 5000 }));
      const fin = native.stop()!;
      expect(fin.errors).toBe(0);
      requests += fin.requests;
    }
    expect(requests).toBeGreaterThan(0);
    await expectNoLeaks(fds0, tasks0);
  }, 30_000);

  it('a failed start (bind, buffer ring) throws a one-line error and cleans up', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const fds0 = fdCount();
    const tasks0 = taskCount();
    try {
      let err: any;
      try {
        native.start(config({ port }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('EADDRINUSE');
      expect(err.errno).toBe(98);
      expect(err.step).toBe('SERVER_BIND');
      expect(err.message).toMatch(new RegExp(`bind 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`));
      expect(err.message).not.toMatch(/\n/);
    } finally {
      blocker.close();
    }

    // Not a power of two: the kernel refuses to register the buffer ring.
    let err: any;
    try {
      native.start(config({ bufferRing: { count: 3 } }));
    } catch (e) {
      err = e;
    }
    expect(err?.code).toBe('EINVAL');
    expect(err?.errno).toBe(22);
    expect(err?.step).toBe('BUF_RING_REGISTER');

    expect(native.stop()).toBeNull(); // nothing left running
    expect(fdCount()).toBeLessThanOrEqual(fds0);
    const t0 = Date.now();
    while (taskCount() > tasks0 && Date.now() - t0 < 3000) await sleep(50);
    expect(taskCount()).toBeLessThanOrEqual(tasks0);
    // And the engine still starts afterwards.
    native.start(config({ load: { connections: 1 } }));
    expect(native.stop()!.errors).toBe(0);
  });
});

describe('calling off a start', () => {
  // 1,024 connections × 1 MiB: 2 GiB of load buffers to touch and a thousand connects, seconds
  // of set-up here. A stop or an interrupt in that time waited all of it.
  const large = () => config({ load: { connections: 1024, messageBytes: 1 << 20 }, maxDurationMs: 60_000 });

  it('cancelStart() mid-set-up: the start rejects at START_CANCELLED within a second, and leaves nothing behind', async () => {
    native.start(config({ load: { connections: 1 } }));
    native.stop(); // lazily made Node/libuv descriptors and threads into the baseline
    const fds0 = fdCount();
    const tasks0 = taskCount();
    const rss0 = rssBytes();
    expect(native.cancelStart()).toBe(false); // nothing starting

    const t0 = Date.now();
    const start = native.startAsync(large());
    const outcome = start.then(() => null, (e: Native.EngineStartError) => e);
    await sleep(300);
    expect(native.cancelStart()).toBe(true);
    const calledOffAt = Date.now();
    const err = await outcome;
    const unwoundMs = Date.now() - calledOffAt;
    // Had the set-up finished within 300 ms there would be nothing to call off: it takes seconds.
    expect(err, `the start finished in ${calledOffAt - t0} ms before it was called off`).not.toBeNull();
    expect(err!.step).toBe('START_CANCELLED');
    expect(err!.code).toBe('ECANCELED');
    expect(err!.message).toMatch(/^the start was called off while it set up/);
    expect(unwoundMs).toBeLessThan(3000);

    expect(native.snapshot()).toBeNull();
    expect(native.stop()).toBeNull(); // nothing left running
    await expectNoLeaks(fds0, tasks0);
    // The buffers it had touched are given back (300 ms of set-up touch hundreds of MiB).
    expect(rssBytes() - rss0).toBeLessThan(64 * 2 ** 20);
    expect(native.cancelStart()).toBe(false);
    // The flag is the called-off start's alone: the next start runs.
    native.start(config({ load: { connections: 2 } }));
    await sleep(100);
    expect(native.stop()!.errors).toBe(0);
  }, 60_000);
});

describe('config validation', () => {
  const bad: Array<[string, (c: any) => void, RegExp]> = [
    ['bufferRing.count not a number', (c) => (c.server.bufferRing.count = '4096'), /config\.server\.bufferRing\.count must be a number \(got string\)/],
    ['maxDurationMs missing', (c) => delete c.maxDurationMs, /config\.maxDurationMs must be a number \(got undefined\)/],
    ['sqpoll.enabled not a boolean', (c) => (c.server.sqpoll.enabled = 1), /config\.server\.sqpoll\.enabled must be a boolean/],
    ['sqpoll.cpu a string', (c) => (c.server.sqpoll.cpu = '1'), /config\.server\.sqpoll\.cpu must be a number or null/],
    ['taskrun unknown', (c) => (c.server.taskrun = 'fast'), /config\.server\.taskrun must be 'defer', 'coop' or 'default'/],
    ['load missing', (c) => delete c.load, /config\.load must be an object \(got undefined\)/],
    ['load.messageBytes fractional', (c) => (c.load.messageBytes = 1.5), /config\.load\.messageBytes must be an integer/],
    ['socket missing', (c) => delete c.server.socket, /config\.server\.socket must be an object \(got undefined\)/],
    ['socket.congestion a number', (c) => (c.server.socket.congestion = 1), /config\.server\.socket\.congestion must be a congestion control name or null \(got number\)/],
    ['socket.receiveBufferBytes a string', (c) => (c.server.socket.receiveBufferBytes = '65536'), /config\.server\.socket\.receiveBufferBytes must be a number of bytes or null \(got string\)/],
    ['socket.sendBufferBytes fractional', (c) => (c.server.socket.sendBufferBytes = 65536.5), /config\.server\.socket\.sendBufferBytes must be an integer/],
  ];
  for (const [name, mutate, message] of bad) {
    it(`throws TypeError when ${name}`, () => {
      const c: any = config();
      mutate(c);
      expect(() => native.start(c)).toThrow(TypeError);
      expect(() => native.start(c)).toThrow(message);
      expect(native.stop()).toBeNull();
    });
  }

  it('throws RangeError naming the field for out-of-range values', () => {
    const c: any = config();
    c.load.threads = 0;
    expect(() => native.start(c)).toThrow(RangeError);
    expect(() => native.start(c)).toThrow(/config\.load\.threads must be between 1 and 64/);
    // A congestion control name the kernel could not hold (TCP_CA_NAME_MAX 16), or one that is
    // not a name at all, and socket buffers outside what the kernel grants in full.
    for (const [key, value, message] of [
      ['congestion', 'x'.repeat(16), /config\.server\.socket\.congestion must be a congestion control name of 1 to 15 characters/],
      ['congestion', '', /config\.server\.socket\.congestion must be a congestion control name/],
      ['congestion', 'cu bic', /config\.server\.socket\.congestion must be a congestion control name/],
      ['receiveBufferBytes', 1023, /config\.server\.socket\.receiveBufferBytes must be between 1024 and 536870912/],
      ['sendBufferBytes', 512 * 1024 * 1024 + 1, /config\.server\.socket\.sendBufferBytes must be between 1024 and 536870912/],
    ] as const) {
      const s: any = config();
      s.server.socket[key] = value;
      expect(() => native.start(s)).toThrow(RangeError);
      expect(() => native.start(s)).toThrow(message);
      expect(native.stop()).toBeNull();
    }
  });

  it('rejects a non-object config', () => {
    expect(() => (native.start as any)()).toThrow(/config must be an object \(got undefined\)/);
  });

  it('speaks protocol 1 only, and refuses an unknown engine and a number of rings out of 1..64', () => {
    expect(native.PROTOCOL_VERSION).toBe(1);
    const c: any = config();
    c.protocol = 2;
    expect(() => native.start(c)).toThrow(TypeError);
    expect(() => native.start(c)).toThrow(/config\.protocol must be 1 \(got 2\)/);
    expect(() => native.start(config({ engine: 'kqueue' as never }))).toThrow(RangeError);
    expect(() => native.start(config({ engine: 'kqueue' as never }))).toThrow(/config\.server\.engine must be 'io_uring' or 'epoll' \(got 'kqueue'\)/);
    expect(() => native.start(config({ rings: 0 }))).toThrow(RangeError);
    expect(() => native.start(config({ rings: 65 }))).toThrow(/config\.server\.rings must be between 1 and 64 \(got 65\)/);
    expect(native.stop()).toBeNull();
    const r = native.start(config({ load: { connections: 1 } }));
    expect(r.protocol).toBe(1);
    expect(native.stop()!.errors).toBe(0);
  });
});

describe('ring setup knobs', () => {
  it('SQPOLL is applied (flags contain SQPOLL) or rejected with an errno, and the run echoes', async () => {
    const r = native.start(config({ sqpoll: { enabled: true, idleMs: 100 }, taskrun: 'default', quietSends: false, recvOnReady: false }));
    if (r.applied.server.sqpoll.enabled) {
      expect(r.ring.flags).toContain('SQPOLL');
      expect(r.refused).toEqual([]);
    } else {
      const rej = r.refused.find((x) => x.setting === 'SQPOLL');
      expect(rej?.errno).toBeGreaterThan(0);
      expect(r.ring.flags).not.toContain('SQPOLL');
    }
    await sleep(300);
    const fin = native.stop()!;
    expect(fin.requests).toBeGreaterThan(0);
    expect(fin.errors).toBe(0);
  });

  it('SQPOLL + taskrun defer: the kernel refuses the combination, recorded against DEFER_TASKRUN', async () => {
    const r = native.start(config({ sqpoll: { enabled: true, idleMs: 100 }, taskrun: 'defer', load: { messageBytes: 4096 } }));
    if (!r.applied.server.sqpoll.enabled) {
      // SQPOLL itself refused here: then there is no combination to refuse.
      expect(r.refused.some((x) => x.setting === 'SQPOLL' && x.errno > 0)).toBe(true);
    } else {
      const rej = r.refused.find((x) => x.setting === 'DEFER_TASKRUN');
      expect(rej).toBeDefined();
      expect(rej!.errno).toBe(22);
      expect(rej!.code).toBe('EINVAL');
      expect(rej!.requested).toBe('defer');
      expect(rej!.cause).toBe('conflicts_with_sqpoll');
      expect(rej!.errnoText).toBe('Invalid argument');
      expect(r.applied.server.taskrun).toBe('default');
      expect(r.ring.flags).toContain('SQPOLL');
      expect(r.ring.flags).not.toContain('DEFER_TASKRUN');
      expect(r.ring.flags).toContain('SINGLE_ISSUER'); // the kernel allows it with SQPOLL
    }
    await sleep(300);
    const fin = native.stop()!;
    expect(fin.requests).toBeGreaterThan(0);
    expect(fin.errors).toBe(0);
    expect(fin.bytes).toBe(fin.requests * 4096);
  });

  it('SQPOLL + recvOnReady (on by default): refused as a conflict, recorded against RECV_ON_READY; each connection keeps an armed recv and the run echoes', async () => {
    const r = native.start(config({ sqpoll: { enabled: true, idleMs: 100 }, taskrun: 'default', quietSends: false, load: { connections: 8, messageBytes: 4096 } }));
    if (!r.applied.server.sqpoll.enabled) {
      // SQPOLL itself refused here: then there is no combination to refuse, and readiness holds.
      expect(r.refused.some((x) => x.setting === 'SQPOLL' && x.errno > 0)).toBe(true);
      expect(r.applied.server.recvOnReady).toBe(true);
    } else {
      expect(r.refused).toEqual([expect.objectContaining({
        setting: 'RECV_ON_READY', errno: 22, code: 'EINVAL', requested: true, cause: 'conflicts_with_sqpoll',
      })]);
      expect(r.applied.server.recvOnReady).toBe(false);
    }
    await sleep(300);
    const snap = native.snapshot()!;
    const fin = native.stop()!;
    expect(snap.requests + fin.requests).toBeGreaterThan(0);
    expect(snap.errors + fin.errors).toBe(0);
    expect(snap.bytes + fin.bytes).toBe((snap.requests + fin.requests) * 4096);
    // An armed multishot recv: a CQE per recv (plain sends add theirs), no poll completion
    // before each (on readiness a recv costs its poll's CQE too: > 1.6 with quiet sends).
    const frame = snap.server as { cqes: number; recvs: number; sends: number };
    if (r.applied.server.sqpoll.enabled) expect(frame.cqes / (frame.recvs + frame.sends)).toBeLessThan(1.2);
  });

  it("counts the SQPOLL kernel thread's CPU as server CPU", async () => {
    const sqpThreads = () =>
      readdirSync('/proc/self/task').filter((t) => {
        try {
          return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('iou-sqp-');
        } catch {
          return false; // exited meanwhile
        }
      });
    // SQPOLL threads of earlier tests exit asynchronously: measure only ours.
    const t0 = Date.now();
    while (sqpThreads().length > 0 && Date.now() - t0 < 3000) await sleep(20);
    expect(sqpThreads()).toEqual([]);
    const r = native.start(config({ sqpoll: { enabled: true, idleMs: 1000 }, taskrun: 'default', quietSends: false, recvOnReady: false, load: { connections: 16 } }));
    if (!r.applied.server.sqpoll.enabled) return; // refused here: nothing to account
    await sleep(50);
    const found = sqpThreads();
    expect(found).toHaveLength(1);
    const sqp = found[0];
    const sqpNs = () => Number(readFileSync(`/proc/self/task/${sqp}/schedstat`, 'utf8').split(' ')[0]);
    native.snapshot(); // the measured interval starts here...
    const sqp0 = sqpNs();
    await sleep(300);
    const sqp1 = sqpNs();
    const s = native.snapshot()!; // ...and ends here, so it contains [sqp0, sqp1]
    expect(sqp1 - sqp0).toBeGreaterThan(0);
    expect(s.serverCpuNs).toBeGreaterThanOrEqual(sqp1 - sqp0);
    expect(s.serverCpuNs + s.loadCpuNs).toBeLessThanOrEqual(s.processCpuNs * 1.02 + 5e6);
    expect(native.stop()!.errors).toBe(0);
  });

  it('an impossible SQPOLL CPU is refused as SQ_AFF while SQPOLL stays on', async () => {
    const r = native.start(config({ sqpoll: { enabled: true, idleMs: 100, cpu: 4000 }, taskrun: 'default', quietSends: false, recvOnReady: false }));
    if (r.applied.server.sqpoll.enabled) {
      const rej = r.refused.find((x) => x.setting === 'SQ_AFF');
      expect(rej?.errno).toBe(22);
      expect(rej?.requested).toBe(4000);
      expect(rej?.cause).toBe('refused');
      expect(r.applied.server.sqpoll.cpu).toBeNull();
      expect(r.ring.flags).not.toContain('SQ_AFF');
    }
    await sleep(200);
    expect(native.stop()!.errors).toBe(0);
  });

  it('taskrun defer / coop / default set exactly their flags, each beside SINGLE_ISSUER (one thread submits to the ring)', () => {
    const expected = {
      defer: ['SINGLE_ISSUER', 'DEFER_TASKRUN'],
      coop: ['SINGLE_ISSUER', 'COOP_TASKRUN'],
      default: ['SINGLE_ISSUER'],
    } as const;
    for (const taskrun of ['defer', 'coop', 'default'] as const) {
      const r = native.start(config({ taskrun, load: { connections: 1 } }));
      expect(r.applied.server.taskrun).toBe(taskrun);
      expect(r.refused).toEqual([]);
      for (const f of ['SINGLE_ISSUER', 'DEFER_TASKRUN', 'COOP_TASKRUN']) {
        expect(r.ring.flags.includes(f)).toBe((expected[taskrun] as readonly string[]).includes(f));
      }
      expect(r.ring.flags).toEqual(expect.arrayContaining(['CQSIZE', 'SUBMIT_ALL']));
      // The CQ: a power of two >= max(2 x SQ, buffers + 2 x connections) = max(512, 1026).
      expect(r.ring.cqEntries).toBe(2048);
      expect(r.ring.features).toEqual(expect.arrayContaining(['NODROP', 'FAST_POLL', 'SUBMIT_STABLE']));
      native.stop();
    }
  });
});
