// The server's ordered coalescing: sends are issued after the completion-reaping loop, one
// sendmsg per connection over its whole FIFO of received buffers. A message that spans several
// provided buffers must come back whole and in order, and so must back-to-back messages.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);



/** Writes the messages back to back (one write each, no waiting) and checks the echo. */
async function pipelined(sock: Socket, messages: Buffer[]): Promise<void> {
  const all = Buffer.concat(messages);
  const echoed = readExactly(sock, all.length, { exact: true });
  for (const m of messages) sock.write(m);
  const back = await echoed;
  // Compare message by message so a failure names the first one out of place.
  let off = 0;
  for (let i = 0; i < messages.length; i++) {
    const got = back.subarray(off, off + messages[i].length);
    expect(got.equals(messages[i]), `message ${i} (${messages[i].length} B at offset ${off})`).toBe(true);
    off += messages[i].length;
  }
}

// Whole (non-incremental) 2 KiB buffers: a message spans several, and 16 of them run dry.
describe('ordered coalescing over 2 KiB provided buffers', () => {
  it('echoes 4 KiB messages intact under many load connections', async () => {
    native.start(
      config({ bufferRing: { size: 2048, count: 1024, incremental: false }, load: { connections: 64, messageBytes: 4096, threads: 2 } }),
    );
    await sleep(700);
    const fin = native.stop()!;
    expect(fin.requests).toBeGreaterThan(64);
    expect(fin.errors).toBe(0);
    expect(fin.serverErrors).toBe(0);
    expect(fin.bytes).toBe(fin.requests * 4096);
    expect(histTotal(fin.histogram)).toBe(fin.requests);
  });

  it('echoes 4 KiB payloads to 40 independent clients at once, byte for byte', async () => {
    const { port } = native.start(config({ load: { connections: 0 }, bufferRing: { size: 2048, count: 256, incremental: false } }));
    const socks = await Promise.all(Array.from({ length: 40 }, () => connectTo(port)));
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          socks.map(async (s) => {
            const payload = randomBytes(4096);
            const echoed = readExactly(s, payload.length, { exact: true });
            s.write(payload);
            expect((await echoed).equals(payload)).toBe(true);
          }),
        );
      }
    } finally {
      for (const s of socks) s.destroy();
    }
    expect(native.stop()!.errors).toBe(0);
  });

  it('returns back-to-back messages on one connection in order', async () => {
    const { port } = native.start(config({ load: { connections: 0 }, bufferRing: { size: 2048, count: 1024, incremental: false } }));
    const sock = await connectTo(port);
    try {
      // 4 KiB messages, then mixed sizes; 48 × 4 KiB is 96 buffers, more than one sendmsg's
      // iovecs, so the FIFO is sent in several sends that must resume at the right buffer.
      await pipelined(sock, Array.from({ length: 48 }, () => randomBytes(4096)));
      const sizes = [1, 4096, 128, 65536, 2047, 2048, 2049, 3, 4095, 4097, 65536, 1, 6144];
      await pipelined(sock, sizes.map((n) => randomBytes(n)));
    } finally {
      sock.destroy();
    }
    expect(native.stop()!.errors).toBe(0);
  });

  it('keeps order on several pipelining connections while the buffer ring runs dry (ENOBUFS)', async () => {
    const { port } = native.start(config({ load: { connections: 0 }, bufferRing: { size: 2048, count: 16, incremental: false } }));
    // 16 connections: each may hold at most an eighth of the pool (the per-connection cap, ~2
    // buffers here) before its recv is paused, so only many connections at once run it dry.
    const socks = await Promise.all(Array.from({ length: 16 }, () => connectTo(port)));
    try {
      // The server sleeps 200 ms on its next wake-up (the first data): meanwhile every socket's
      // data queues up, so once it runs, the multishot recvs drain the 16 buffers at once.
      native.debugPauseServer(200);
      await Promise.all(socks.map((s) => pipelined(s, Array.from({ length: 24 }, () => randomBytes(4096)))));
    } finally {
      for (const s of socks) s.destroy();
    }
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
    expect(fin.enobufs).toBeGreaterThan(0);
  });
});
