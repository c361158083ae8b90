import { execFileSync, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

const addon = path.resolve(__dirname, '../../native');

/**
 * Runs `script` in a fresh Node with the native module as `n`, under a shell that first runs
 * `limits` (e.g. 'ulimit -n 100'); returns the JSON the script printed last.
 */
function inChild(limits: string, script: string): any {
  const code = `const n = require(${JSON.stringify(addon)});\n${script}`;
  const out = execFileSync('bash', ['-c', `${limits} && exec "$0" -e "$1"`, process.execPath, code], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const childConfig = (connections: number, engine: 'io_uring' | 'epoll' = 'io_uring') =>
  JSON.stringify(config({ engine, load: { connections, messageBytes: 64 }, bufferRing: { count: 64 }, maxDurationMs: 5000 }));

const softLimit = `Number(require('fs').readFileSync('/proc/self/limits', 'utf8').match(/Max open files\\s+(\\d+)/)[1])`;

describe('memoryNeeds', () => {
  const base = { bufferRing: { size: 2048, count: 1024 }, load: { connections: 64, messageBytes: 4096, threads: 1 } };
  const needs = (over: Parameters<typeof config>[0]) => native.memoryNeeds(config({ ...base, ...over }));

  it('grows linearly with connections × messageBytes and bufferRing size × count', () => {
    const m = needs({});
    expect(m.loadBufferBytes).toBe(64 * 2 * 4096);
    expect(needs({ load: { ...base.load, connections: 128 } }).loadBufferBytes).toBe(2 * m.loadBufferBytes);
    expect(needs({ load: { ...base.load, messageBytes: 8192 } }).loadBufferBytes).toBe(2 * m.loadBufferBytes);
    // The buffers themselves are size × count on top of a fixed ring and 8 B of links per buffer.
    const b2 = needs({ bufferRing: { size: 4096, count: 1024 } }).bufferRingBytes;
    expect(b2 - m.bufferRingBytes).toBe(1024 * 2048);
    const b4 = needs({ bufferRing: { size: 8192, count: 1024 } }).bufferRingBytes;
    expect(b4 - b2).toBe(2 * (b2 - m.bufferRingBytes));
    expect(m.bufferRingBytes).toBeGreaterThanOrEqual(1024 * 2048 + 1024 * 16 + 1024 * 8);
    // Connection state and the load rings grow with connections too.
    const c2 = needs({ load: { ...base.load, connections: 128 } });
    expect(c2.connectionStateBytes).toBeGreaterThan(m.connectionStateBytes);
    expect(c2.ringBytes).toBeGreaterThan(m.ringBytes);
    expect(m.totalBytes).toBe(m.bufferRingBytes + m.loadBufferBytes + m.ringBytes + m.connectionStateBytes);
  });

  it('sizes the rings as the kernel does (bisected against RLIMIT_MEMLOCK on 6.18)', () => {
    // Server ring 256 SQ; its CQ is sized for the 1024 buffers and 2 × 64 connections:
    // pow2(max(512, 1152)) = 2048 CQEs. Region 64 + 2048×16 + 256×4 B -> 9 pages, SQEs 256×64 B -> 4 pages.
    // One load thread with 64 connections asks for 256 entries (2×64+4 rounded up), CQ 512: 3 + 4 pages.
    expect(needs({ ringEntries: 256 }).ringBytes).toBe((13 + 7) * 4096);
    const m = needs({});
    if (m.memlockExempt) expect(m.pinnedBytes).toBe(0);
    else expect(m.pinnedBytes).toBe(m.ringBytes + 4 * 4096); // + the registered buffer ring's 16 KiB
    expect(m.memlockLimitBytes === null || m.memlockLimitBytes > 0).toBe(true);
  });

  it('validates like start() and needs no engine', () => {
    expect(() => (native.memoryNeeds as any)({})).toThrow(TypeError);
    expect(() => native.memoryNeeds(config({ ringEntries: 0 }))).toThrow(/config\.server\.ringEntries must be between/);
    expect(native.snapshot()).toBeNull();
  });
});

describe('file descriptor limit', () => {
  it('refuses a start whose connections cannot fit under a low hard RLIMIT_NOFILE, with the count and the fix', () => {
    const r = inChild(
      'ulimit -n 100',
      `const out = {};
       try { n.start(${childConfig(200)}); out.sync = 'started'; n.stop(); } catch (e) { out.sync = { message: e.message, code: e.code, errno: e.errno, step: e.step, fix: e.fix }; }
       n.startAsync(${childConfig(200)}).then(() => ({}), (e) => ({ message: e.message, code: e.code })).then((a) => {
         out.async = a;
         out.small = n.start(${childConfig(10)}).port > 0;
         out.smallErrors = n.stop().errors;
         console.log(JSON.stringify(out));
       });`,
    );
    expect(r.sync.code).toBe('EMFILE');
    expect(r.sync.errno).toBe(24);
    expect(r.sync.step).toBe('FD_LIMIT');
    expect(r.sync.message).toMatch(/200 load connections need (\d+) file descriptors/);
    expect(r.sync.message).toMatch(/RLIMIT_NOFILE allows 100 \(hard limit 100\)/);
    expect(r.sync.message).toMatch(/\(EMFILE\): Too many open files/);
    expect(r.sync.fix).toMatch(/ulimit -n \d+/);
    expect(Number(r.sync.message.match(/need (\d+)/)[1])).toBeGreaterThan(400);
    expect(r.async).toEqual({ message: r.sync.message, code: 'EMFILE' });
    // A config that fits still starts under the same limit.
    expect(r.small).toBe(true);
    expect(r.smallErrors).toBe(0);
  });

  it('raises a soft limit below the hard one instead of failing', () => {
    // Node raises its soft limit to the hard one at start-up, so lower it afterwards.
    const r = inChild(
      'true',
      `const hard = require('fs').readFileSync('/proc/self/limits', 'utf8').match(/Max open files\\s+\\d+\\s+(\\d+)/)[1];
       require('child_process').execFileSync('prlimit', ['--pid', String(process.pid), '--nofile=100:' + hard]);
       const before = ${softLimit};
       n.start(${childConfig(200)});
       const fin = n.stop();
       console.log(JSON.stringify({ before, after: ${softLimit}, hard: Number(hard), requests: fin.requests, errors: fin.errors }));`,
    );
    expect(r.before).toBe(100);
    expect(r.after).toBe(r.hard);
    expect(r.errors).toBe(0);
  });

  // Both servers: the accept back-off is part of every server's contract.
  it.each(['io_uring', 'epoll'] as const)('%s backs off an accept refused with EMFILE instead of spinning on it', async (engine) => {
    // A server-only engine in a child with 50 descriptors, and 60 clients from here: once its
    // table is full every accept fails with EMFILE while connections wait in the backlog.
    const script = `const n = require(${JSON.stringify(addon)});
      const { port } = n.start(${childConfig(0, engine)});
      console.log(JSON.stringify({ port }));
      process.stdin.once('data', () => {
        n.snapshot();
        setTimeout(() => {
          const s = n.snapshot();
          const t = performance.now();
          const fin = n.stop();
          console.log(JSON.stringify({ serverErrors: s.serverErrors, serverCpuNs: s.serverCpuNs, wallNs: 500e6, stopMs: performance.now() - t, fin: fin.serverErrors }));
          process.exit(0);
        }, 500);
      });`;
    const child = spawn('bash', ['-c', 'ulimit -n 50 && exec "$0" -e "$1"', process.execPath, script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: any[] = [];
    let buf = '';
    let wake = () => {};
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
        wake();
      }
    });
    const line = async (k: number) => {
      const t0 = Date.now();
      while (lines.length <= k) {
        if (Date.now() - t0 > 10_000) throw new Error('child did not answer');
        await new Promise<void>((r) => ((wake = r), setTimeout(r, 100)));
      }
      return lines[k];
    };
    const socks: Socket[] = [];
    try {
      const { port } = await line(0);
      for (let i = 0; i < 60; i++) {
        socks.push(
          await new Promise<Socket>((resolve) => {
            const s = connect(port, '127.0.0.1', () => resolve(s));
            s.on('error', () => {});
          }),
        );
      }
      await sleep(50);
      child.stdin.write('go\n');
      const r = await line(1);
      // A 10 ms backoff allows ~50 refusals in 500 ms; a spin made ~1e6 and used a whole CPU.
      expect(r.serverErrors).toBeGreaterThan(0);
      expect(r.serverErrors).toBeLessThan(150);
      expect(r.serverCpuNs).toBeLessThan(0.2 * r.wallNs);
      expect(r.stopMs).toBeLessThan(1000);
    } finally {
      for (const s of socks) s.destroy();
      child.kill();
    }
  });
});

describe('stopping with clients arriving', () => {
  it('stopAsync is not held up by connections accepted while it stops', async () => {
    // Accepts that complete during the stop are closed, not armed with a recv the drain's
    // cancel-all would miss (which made the drain wait out its 2 s timeout).
    for (let round = 0; round < 5; round++) {
      const { port } = native.start(config({ load: { connections: 0 }, bufferRing: { count: 64 } }));
      const socks: Socket[] = [];
      const burst = () => {
        for (let i = 0; i < 100; i++) {
          const s = connect(port, '127.0.0.1');
          s.on('error', () => {});
          socks.push(s);
        }
      };
      burst();
      await sleep(round);
      const t0 = performance.now();
      const stopping = native.stopAsync();
      burst();
      await stopping;
      expect(performance.now() - t0).toBeLessThan(1000);
      for (const s of socks) s.destroy();
    }
  });
});

describe('server loop death', () => {
  it.each(['io_uring', 'epoll'] as const)('%s: turns running false at once and carries the error words into every snapshot', async (engine) => {
    native.start(config({ engine, load: { connections: 4 } }));
    await sleep(100);
    expect(native.snapshot()!.serverError).toBeNull();
    expect(native.debugFailServer(14)).toBe(true); // EFAULT
    const t0 = Date.now();
    let s = native.snapshot()!;
    let errorsBefore = 0;
    while (s.running && Date.now() - t0 < 2000) {
      expect(s.serverError).toBeNull(); // never an error while still "running"
      errorsBefore += s.serverErrors;
      await sleep(1); // snapshots close together: one may fall between the death and its report
      s = native.snapshot()!;
    }
    expect(s.running).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000); // not after the 2 s drain (a VM stall can take 200 ms)
    expect(s.serverError).toBe('EFAULT: Bad address');
    // Counted in the snapshot that reports it, as an error of kind "other", and in no earlier one.
    expect(errorsBefore).toBe(0);
    expect(s.serverErrors).toBe(1);
    expect(s.server!.errorsByOp.other).toBe(1);
    const fin = native.stop()!;
    expect(fin.serverError).toBe('EFAULT: Bad address');
    expect(fin.running).toBe(false);

    // The next run gets a fresh server.
    native.start(config({ load: { connections: 1 } }));
    await sleep(50);
    const next = native.stop()!;
    expect(next.serverError).toBeNull();
    expect(next.errors).toBe(0);
  });

  it('debugFailServer refuses errnos the loop survives and is false when nothing runs', () => {
    expect(native.debugFailServer(14)).toBe(false);
    expect(() => native.debugFailServer(4)).toThrow(RangeError); // EINTR
    expect(() => native.debugFailServer(0)).toThrow(RangeError);
  });
});
