/**
 * Shared checks for the io_uring server's receive and send path knobs (recvPath, sendPath and
 * directDescriptors tests): echo integrity through the native load generator (it checks every
 * byte) and through an independent Node client, from 1 B to 1 MiB, byte for byte.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { expect } from 'vitest';
import type * as Native from '../../native';
import { config, native, sleep } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

export type ServerOver = Parameters<typeof config>[0];

/** Message sizes of the load-generator runs: 1 B to 1 MiB. */
export const LOAD_SIZES = [1, 128, 4096, 65536, 1 << 20];

/** Mixed sizes one external client pipelines back to back: buffer edges, 64 KiB, 1 MiB. */
export const MIXED_SIZES = [1, 127, 2047, 2048, 2049, 4096, 65535, 65536, 65537, 1 << 20, 3, 300_000];

/** The frame counters of a snapshot (filled in by the engine's frames). */
export type Frame = Native.ServerCounters;

/**
 * Runs the load generator at each size for `ms` and checks the echo: no errors, every byte
 * accounted for (the generator compares each byte it gets back). Returns the last run's frame.
 */
export async function loadEchoes(over: ServerOver, sizes = LOAD_SIZES, ms = 250): Promise<Frame[]> {
  const frames: Frame[] = [];
  for (const messageBytes of sizes) {
    const connections = messageBytes >= 1 << 20 ? 2 : 8;
    const started = native.start(config({ ...over, load: { connections, messageBytes, ...over?.load }, maxDurationMs: 5000 }));
    expect(started.refused, `refused at ${messageBytes} B`).toEqual([]);
    await sleep(ms);
    const snap = native.snapshot()!;
    const fin = native.stop()!;
    const requests = snap.requests + fin.requests;
    expect(requests, `requests at ${messageBytes} B`).toBeGreaterThan(0);
    expect(snap.errors + fin.errors, `load errors at ${messageBytes} B`).toBe(0);
    expect(snap.serverErrors + fin.serverErrors, `server errors at ${messageBytes} B`).toBe(0);
    expect(snap.bytes + fin.bytes).toBe(requests * messageBytes);
    frames.push(snap.server as Frame);
  }
  return frames;
}

/** Writes the messages back to back on one socket and checks the echo, message by message. */
export async function pipelined(sock: Socket, messages: Buffer[]): Promise<void> {
  const all = Buffer.concat(messages);
  const echoed = readExactly(sock, all.length, { exact: true, timeoutMs: 15_000 });
  for (const m of messages) sock.write(m);
  const back = await echoed;
  let off = 0;
  for (let i = 0; i < messages.length; i++) {
    const got = back.subarray(off, off + messages[i].length);
    expect(got.equals(messages[i]), `message ${i} (${messages[i].length} B at offset ${off})`).toBe(true);
    off += messages[i].length;
  }
}

/** Three independent clients pipeline the mixed sizes at once; every byte must come back in order. */
export async function clientEchoes(port: number, sizes = MIXED_SIZES): Promise<void> {
  const socks = await Promise.all([0, 1, 2].map(() => connectTo(port)));
  try {
    await Promise.all(socks.map((s) => pipelined(s, sizes.map((n) => randomBytes(n)))));
  } finally {
    for (const s of socks) s.destroy();
  }
}

/** Starts a server only (no load), runs clientEchoes, stops; returns the start result and the frame. */
export async function serverEchoes(over: ServerOver, sizes = MIXED_SIZES): Promise<{ started: Native.StartResult; frame: Frame; fin: Native.EngineSnapshot }> {
  const started = native.start(config({ ...over, load: { connections: 0 } }));
  await clientEchoes(started.port, sizes);
  const snap = native.snapshot()!;
  const fin = native.stop()!;
  expect(snap.serverErrors + fin.serverErrors).toBe(0);
  return { started, frame: snap.server as Frame, fin };
}
