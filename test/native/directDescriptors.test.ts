// server.directDescriptors: multishot accept straight into a sparse registered file table,
// recv/send by index (IOSQE_FIXED_FILE), close_direct. Echoes byte for byte, connections
// come and go without leaking table slots, and a full table backs off (ENFILE) instead of spinning.
import { afterEach, describe, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';
import { loadEchoes, serverEchoes } from './echoPathHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);

describe('direct descriptors', () => {
  it('echo 1 B – 1 MiB through direct descriptors, alone', async () => {
    const frames = await loadEchoes({ directDescriptors: true, bufferRing: { size: 2048, count: 1024, incremental: false } });
    expect(frames.every((f) => f.recvs > 0 && f.sends > 0)).toBe(true);
    const { started } = await serverEchoes({ directDescriptors: true });
    expect(started.applied.server.directDescriptors).toBe(true);
  });

  it('frees table slots as connections close: many more connections over time than one table holds', async () => {
    // The table is load.connections (0 here) + 1024 slots: 1,300 connections in turn reuse them.
    const { port } = native.start(config({ directDescriptors: true, load: { connections: 0 } }));
    for (let batch = 0; batch < 13; batch++) {
      const socks = await Promise.all(Array.from({ length: 100 }, () => connectTo(port)));
      await Promise.all(
        socks.map(async (s, i) => {
          const msg = Buffer.from(`b${batch}c${i}`);
          const back = readExactly(s, msg.length, { exact: true });
          s.write(msg);
          expect((await back).equals(msg)).toBe(true);
        }),
      );
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.end(r))));
      for (const s of socks) s.destroy();
      await sleep(20);
    }
    const snap = native.snapshot()!;
    const fin = native.stop()!;
    expect(snap.serverErrors + fin.serverErrors).toBe(0);
    expect(snap.serverWorkers.reduce((n, w) => n + w.accepted, 0)).toBe(1300);
  });

  it('a full file table: accepts wait (no client dropped, no error) and resume as slots free', async () => {
    // 8 load connections: 8 + 1,024 slots. 1,100 outside clients at once overflow it. (Without
    // a load, as `uring-lab server`, the table has 65,536: serverVerb.test.ts.) A direct accept
    // with no free slot dequeues the client and then fails ENFILE, dropping it: the server no
    // longer asks for one while the table is full, and the extra clients wait in the backlog.
    const { port } = native.start(config({ directDescriptors: true, load: { connections: 8 } }));
    let dropped = 0;
    const socks = await Promise.all(
      Array.from({ length: 1100 }, () =>
        connectTo(port).then((s) => {
          s.on('error', () => {});
          s.once('close', () => { dropped++; });
          return s;
        }),
      ),
    );
    await sleep(300);
    const during = native.snapshot()!;
    expect(during.server!.errorsByOp.accept).toBe(0);
    expect(dropped).toBe(0);
    // One that waited past the full table is served once the others leave.
    const last = socks[socks.length - 1]!;
    const lastMsg = Buffer.from('waited in the backlog');
    const lastBack = readExactly(last, lastMsg.length, { exact: true, timeoutMs: 10_000 });
    last.write(lastMsg);
    for (const s of socks.slice(0, 200)) s.destroy();
    expect((await lastBack).equals(lastMsg)).toBe(true);
    for (const s of socks) s.destroy();
    await sleep(300);
    const again = await connectTo(port);
    const msg = Buffer.from('after the table was full');
    const back = readExactly(again, msg.length, { exact: true });
    again.write(msg);
    expect((await back).equals(msg)).toBe(true);
    again.destroy();
    native.stop();
  });
});
