import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

const nextTick = () => new Promise<void>((r) => setImmediate(r));

/** The rejection of a promise (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

function thrown(f: () => unknown): any {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('startAsync / stopAsync', () => {
  it('start off the JS thread: snapshot() is null meanwhile, the event loop keeps turning', async () => {
    // Enough connections that the connects take a while on the pool thread.
    const pending = native.startAsync(config({ load: { connections: 600, threads: 3 } }));
    expect(native.snapshot()).toBeNull(); // claimed before startAsync returned
    let settled = false;
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    let ticks = 0;
    while (!settled) {
      await nextTick();
      ticks++;
      const s = native.snapshot();
      // Never half-built: null while starting, a whole snapshot once running.
      if (s !== null) expect(s.liveLoadConnections).toBe(600);
    }
    expect(ticks).toBeGreaterThan(0);
    const r = await pending;
    expect(r.port).toBeGreaterThan(0);
    expect(r.loadThreads).toBe(3);
    expect(r.ring.flags).toContain('DEFER_TASKRUN');

    await sleep(100);
    const s = native.snapshot()!;
    expect(s.activeConnections).toBe(600);
    expect(s.running).toBe(true);

    const stopping = native.stopAsync();
    expect(native.snapshot()).toBeNull(); // claimed before stopAsync returned
    const fin = (await stopping)!;
    expect(fin.running).toBe(false);
    expect(fin.errors).toBe(0);
    expect(fin.requests + s.requests).toBeGreaterThan(0);
    expect(native.snapshot()).toBeNull();
    expect(await native.stopAsync()).toBeNull(); // nothing running: harmless
  });

  it('refuses a second start or a stop with EBUSY while startAsync is in progress', async () => {
    const first = native.startAsync(config({ load: { connections: 200, threads: 2 } }));

    const again = await rejection(native.startAsync(config()));
    expect(again.code).toBe('EBUSY');
    expect(again.errno).toBe(16);
    expect(again.step).toBe('ENGINE_BUSY');
    expect(again.message).toMatch(/^engine is starting \(startAsync in progress\)/);
    expect(thrown(() => native.start(config())).code).toBe('EBUSY');
    expect(thrown(() => native.stop()).code).toBe('EBUSY');
    expect((await rejection(native.stopAsync())).code).toBe('EBUSY');

    await first; // the refusals did not disturb the start in progress
    expect(native.snapshot()!.liveLoadConnections).toBe(200);
    expect(thrown(() => native.start(config())).message).toMatch(/engine already running: call stop\(\) first/);

    const stopping = native.stopAsync();
    const twice = await rejection(native.stopAsync());
    expect(twice.code).toBe('EBUSY');
    expect(twice.message).toMatch(/^engine is stopping \(stopAsync in progress\)/);
    expect(thrown(() => native.stop()).code).toBe('EBUSY');
    expect((await stopping)!.errors).toBe(0);

    // And the engine is idle again: a plain start works.
    native.start(config({ load: { connections: 1 } }));
    expect(native.stop()!.errors).toBe(0);
  });

  it('rejects with the same error object start() throws', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const cases = [config({ port }), config({ bufferRing: { count: 3 } })];
      for (const c of cases) {
        const sync = thrown(() => native.start(c));
        const async = await rejection(native.startAsync(c));
        expect(async).toBeInstanceOf(Error);
        for (const k of ['message', 'code', 'errno', 'step', 'fix']) expect(async[k]).toEqual(sync[k]);
        expect(native.snapshot()).toBeNull(); // the failed start left nothing behind
      }
    } finally {
      blocker.close();
    }

    // Config errors are rejections too, with the same class and words.
    const bad: any = config();
    bad.server.bufferRing.count = '4096';
    const err = await rejection(native.startAsync(bad));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/config\.server\.bufferRing\.count must be a number \(got string\)/);

    // Nothing was left claimed.
    await native.startAsync(config({ load: { connections: 1 } }));
    expect((await native.stopAsync())!.errors).toBe(0);
  });

  it('a worker torn down with its startAsync or stopAsync pending leaves nothing running', async () => {
    const addon = path.resolve(__dirname, '../../native');
    const tasks0 = readdirSync('/proc/self/task').length;
    for (const mode of ['start', 'stop']) {
      const cfg = JSON.stringify(config({ load: { connections: 300, threads: 2 } }));
      const w = new Worker(
        `const n = require(${JSON.stringify(addon)});
         if (${JSON.stringify(mode)} === 'start') n.startAsync(${cfg});
         else { n.start(${cfg}); n.stopAsync(); }
         require('node:worker_threads').parentPort.postMessage('pending');`,
        { eval: true },
      );
      await new Promise((r) => w.once('message', r));
      await w.terminate(); // its cleanup hook settles the pending work, then stops the engine
      expect(native.snapshot()).toBeNull();
      native.start(config({ load: { connections: 1 } }));
      expect(native.stop()!.errors).toBe(0);
    }
    const t0 = Date.now();
    while (readdirSync('/proc/self/task').length > tasks0 && Date.now() - t0 < 3000) await sleep(50);
    expect(readdirSync('/proc/self/task').length).toBeLessThanOrEqual(tasks0);
  });
});
