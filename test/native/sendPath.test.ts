// The io_uring server's send path knobs: SEND_ZC with usage reports (loopback copies every
// zero-copy send, and the notification says so) and the receive pool registered as fixed
// buffers (one-piece zero-copy sends then go out as fixed-buffer sends). Byte-exact echoes
// 1 B – 1 MiB, alone and combined with the receive path knobs.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';
import { loadEchoes, serverEchoes } from './echoPathHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);

const small = { bufferRing: { size: 2048, count: 1024, incremental: false } };

describe('send path knobs', () => {
  it('SEND_ZC: echoes 1 B – 1 MiB intact; loopback copies, and the usage report counts it', async () => {
    const frames = await loadEchoes({ ...small, sendZeroCopy: true });
    const { started, frame } = await serverEchoes({ ...small, sendZeroCopy: true });
    expect(started.applied.server.sendZeroCopy).toBe(true);
    for (const f of [...frames, frame]) {
      expect(f.sends).toBeGreaterThan(0);
      // Every notification is counted one way or the other; on lo all are copies.
      expect(f.copiedSends).toBeGreaterThan(0);
      expect(f.zeroCopySends).toBe(0);
      expect(f.copiedSends).toBeLessThanOrEqual(f.sends);
    }
  });

  it('SEND_ZC to peers that reset mid-stream: no send is counted zero-copy on loopback (a send that transmitted nothing copied nothing)', async () => {
    const { port } = native.start(config({ sendZeroCopy: true, bufferRing: { size: 2048, count: 16, incremental: false }, load: { connections: 0 } }));
    const chunk = Buffer.alloc(65536, 7);
    for (let round = 0; round < 3; round++) {
      const peers = await Promise.all(Array.from({ length: 10 }, () => connectTo(port)));
      for (const p of peers) { p.pause(); p.write(chunk); p.write(chunk); }
      await new Promise((r) => setTimeout(r, 150));
      for (const p of peers) p.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    const fin = native.stop()!;
    expect(fin.server!.copiedSends).toBeGreaterThan(0);
    expect(fin.server!.zeroCopySends).toBe(0);
  });

  it('SEND_ZC over a one-buffer pool: half of it is none, so every send goes copying (past the budget), and every echo comes back', async () => {
    // A SEND_ZC holds its buffer until the peer ACKs: holding the only one, each recv waited
    // for an ACK the peer delays (28 requests/s in a 1 s run against 122k copying).
    const frames = await loadEchoes({ bufferRing: { size: 64, count: 1, incremental: false }, sendZeroCopy: true, load: { connections: 8 } }, [1, 128]);
    for (const f of frames) {
      expect(f.sends).toBeGreaterThan(0);
      // Counted when issued, sends when they complete: at most a send per connection apart.
      expect(f.zeroCopyFallbacks).toBeGreaterThanOrEqual(f.sends);
      expect(f.zeroCopyFallbacks).toBeLessThanOrEqual(f.sends + 8);
      expect(f.copiedSends + f.zeroCopySends).toBe(0);
    }
  });

  it('registered buffers: the pool is registered; alone the sends stay plain', async () => {
    await loadEchoes({ ...small, registeredBuffers: true }, [1, 65536, 1 << 20]);
    const { started, frame } = await serverEchoes({ ...small, registeredBuffers: true });
    expect(started.applied.server.registeredBuffers).toBe(true);
    expect(frame.copiedSends + frame.zeroCopySends).toBe(0);
  });

  it('registered buffers + SEND_ZC: fixed-buffer zero-copy sends echo intact', async () => {
    const over = { ...small, registeredBuffers: true, sendZeroCopy: true };
    const frames = await loadEchoes(over);
    const { started } = await serverEchoes(over);
    expect(started.applied.server).toMatchObject({ registeredBuffers: true, sendZeroCopy: true });
    expect(frames[0].copiedSends).toBeGreaterThan(0);
  });

  it('every knob at once (bundles, incremental, direct descriptors, registered buffers, SEND_ZC)', async () => {
    const over = {
      recvBundle: true, registeredBuffers: true, sendZeroCopy: true, directDescriptors: true,
      bufferRing: { size: 16384, count: 256, incremental: true },
    };
    const frames = await loadEchoes(over);
    const { started } = await serverEchoes(over);
    expect(started.applied.server).toMatchObject({
      recvBundle: true, registeredBuffers: true, sendZeroCopy: true, directDescriptors: true, bufferRing: { incremental: true },
    });
    expect(frames.every((f) => f.copiedSends > 0)).toBe(true);
  });

  it('quiet sends (the default): one CQE and one enter per request at one connection with an armed recv; plain sends take two of each', async () => {
    const perRequest = async (quietSends: boolean) => {
      // An armed recv: on readiness (the default) a lone connection's recv takes an enter of its own.
      const started = native.start(config({ quietSends, recvOnReady: false, load: { connections: 1, messageBytes: 128 }, maxDurationMs: 5000 }));
      expect(started.applied.server.quietSends, JSON.stringify(started.refused)).toBe(quietSends);
      await sleep(150);
      native.snapshot(); // frames are deltas: this one ends the warm-up
      await sleep(400);
      const b = native.snapshot()!;
      const fin = native.stop()!;
      expect(fin.serverErrors + b.serverErrors).toBe(0);
      const requests = b.requests;
      expect(requests).toBeGreaterThan(100);
      return { cqes: b.server!.cqes / requests, enters: b.server!.enters / requests, sends: b.server!.sends / requests };
    };
    const quiet = await perRequest(true);
    const plain = await perRequest(false);
    // The echo's send, quiet, ends inside the enter that sleeps for the next request.
    expect(quiet.cqes).toBeLessThan(1.1);
    expect(quiet.enters).toBeLessThan(1.1);
    expect(plain.cqes).toBeGreaterThan(1.9);
    expect(plain.enters).toBeGreaterThan(1.9);
    // Settled sends are counted like the others.
    expect(quiet.sends).toBeGreaterThan(0.95);
    expect(quiet.sends).toBeLessThan(1.05);
  });

  it('quiet sends that fall short: a reader that stops reading gets 8 MiB back byte for byte, and the short sends posted their CQEs', async () => {
    const started = native.start(config({ load: { connections: 0 }, bufferRing: { size: 65536, count: 256 } }));
    expect(started.applied.server.quietSends).toBe(true);
    const sock = await connectTo(started.port);
    const data = Buffer.alloc(8 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    sock.pause();
    sock.write(data);
    // The server's sends find the socket full (the reader is paused): each quiet send falls
    // short (or sends nothing) and posts a CQE; the rest waits for room in a plain send.
    await sleep(300);
    const echoed = readExactly(sock, data.length, { exact: true, timeoutMs: 20_000 });
    sock.resume();
    expect((await echoed).equals(data)).toBe(true);
    sock.destroy();
    await sleep(100);
    const fin = native.stop()!;
    expect(fin.serverErrors).toBe(0);
    // CQEs beyond the recvs' are sends that posted one: those that fell short, and the plain
    // sends that waited for room after them.
    expect(fin.server!.cqes).toBeGreaterThan(fin.server!.recvs + 1);
  });

  it('the registered pool counts as pinned memory in the memory estimate', () => {
    const cfg = (registeredBuffers: boolean) => ({
      protocol: 1 as const, port: 0, maxDurationMs: 1000,
      server: { ...config().server, registeredBuffers, bufferRing: { ...config().server.bufferRing, size: 4096, count: 512, hugepages: false, incremental: false } },
      load: { connections: 1, messageBytes: 128, threads: 1 },
    });
    const a = native.memoryNeeds(cfg(false));
    const b = native.memoryNeeds(cfg(true));
    if (!a.memlockExempt) expect(b.pinnedBytes - a.pinnedBytes).toBe(512 * 4096);
    expect(b.bufferRingBytes).toBe(a.bufferRingBytes);
  });

  // A real refusal: without CAP_IPC_LOCK and with a 1 MiB RLIMIT_MEMLOCK, registering the
  // pool (4 MiB) fails with the kernel's ENOMEM; the server runs without it and says so.
  it.skipIf(process.getuid?.() !== 0)(`registered buffers over RLIMIT_MEMLOCK: refused with ENOMEM, the echo goes on${process.getuid?.() !== 0 ? ' (skipped: not root, cannot drop CAP_IPC_LOCK with setpriv)' : ''}`, () => {
    const cfg = config({ registeredBuffers: true, ringEntries: 64, bufferRing: { size: 65536, count: 64 }, load: { connections: 2, messageBytes: 4096 } });
    const script = `const n = require(${JSON.stringify(path.resolve(__dirname, '../../native'))});
      const r = n.start(JSON.parse(process.argv[1]));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      const f = n.stop();
      console.log(JSON.stringify({ refused: r.refused, applied: r.applied.server.registeredBuffers, requests: f.requests, errors: f.errors }));`;
    const out = spawnSync('setpriv', ['--bounding-set', '-ipc_lock', '--inh-caps', '-ipc_lock', 'prlimit', '--memlock=1048576', process.execPath, '-e', script, JSON.stringify(cfg)], { encoding: 'utf8', timeout: 20_000 });
    expect(out.status, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r.refused).toEqual([{ setting: 'REGISTERED_BUFFERS', cause: 'refused', errno: 12, code: 'ENOMEM', errnoText: 'Cannot allocate memory', requested: true }]);
    expect(r.applied).toBe(false);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
  });
});
