import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';
import type * as Native from '../../native';

afterEach(stopQuietly);

/*
 * A client Node cannot be (it has no MSG_OOB): "abc", then "!" as TCP urgent data, then "def".
 * The urgent byte is out of band (no SO_OOBINLINE on the server), so the stream is "abcdef";
 * tcp_recvmsg stops short at the urgent mark with "def" still queued. Prints what came back
 * within 3 s, as JSON.
 */
const URGENT_CLIENT = `
import json, socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'abc'); s.send(b'!', socket.MSG_OOB); s.sendall(b'def')
got, end = b'', time.time() + 3
s.settimeout(0.1)
while len(got) < 6 and time.time() < end:
    try: got += s.recv(64)
    except socket.timeout: pass
s.sendall(b'xyz'); s.settimeout(3); more = b''
while len(more) < 3:
    d = s.recv(64)
    if not d: break
    more += d
print(json.dumps({'first': got.decode(), 'then': more.decode()}))
`;

function urgentClient(port: number): Promise<{ first: string; then: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', URGENT_CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`urgent client exited ${code}: ${err}`))));
  });
}

describe('echo through the native load generator', () => {
  for (const messageBytes of [1, 128, 4096, 65536]) {
    it(`echoes ${messageBytes}-byte messages intact (2 KiB provided buffers)`, async () => {
      const started = native.start(
        config({ bufferRing: { size: 2048, count: 1024 }, load: { connections: 8, messageBytes }, maxDurationMs: 5000 }),
      );
      expect(started.port).toBeGreaterThan(0);
      await sleep(600);
      const fin = native.stop()!;
      expect(fin).not.toBeNull();
      expect(fin.requests).toBeGreaterThan(0);
      expect(fin.errors).toBe(0);
      expect(fin.bytes).toBe(fin.requests * messageBytes);
      expect(histTotal(fin.histogram)).toBe(fin.requests);
    });
  }

  it('survives a provided-buffer ring far smaller than the data in flight (ENOBUFS)', async () => {
    // 8 connections × 64 KiB in flight over 16 × 2 KiB buffers: armed multishot recvs run dry
    // and must be re-armed as sends hand buffers back. Armed, not on readiness (the default since
    // 2026-12-07): a readiness trip takes a buffer per ready connection, 8 of the 16, so whether
    // any recv meets an empty ring there is up to timing (0 ENOBUFS in 3 of 6 tries on a loaded
    // machine); recvPath.test.ts runs the readiness path over the same pool.
    native.start(config({ recvOnReady: false, bufferRing: { size: 2048, count: 16 }, load: { connections: 8, messageBytes: 65536 } }));
    await sleep(500);
    const fin = native.stop()!;
    expect(fin.requests).toBeGreaterThan(0);
    expect(fin.errors).toBe(0);
    expect(fin.bytes).toBe(fin.requests * 65536);
    expect(fin.enobufs).toBeGreaterThan(0);
  });

  it('runs several load threads', async () => {
    const r = native.start(config({ load: { connections: 10, messageBytes: 512, threads: 3 } }));
    expect(r.loadThreads).toBe(3);
    await sleep(300);
    const s = native.snapshot()!;
    expect(s.activeConnections).toBe(10);
    const fin = native.stop()!;
    const requests = s.requests + fin.requests;
    expect(requests).toBeGreaterThan(0);
    expect(s.errors + fin.errors).toBe(0);
    expect(s.bytes + fin.bytes).toBe(requests * 512);
  });
});

// The server's contract with any TCP client holds for both server engines.
for (const engine of ['io_uring', 'epoll'] as const) describe(`echo to an independent Node client (${engine})`, () => {
  it('returns random 64 KiB, 1 B and 4 KiB payloads byte for byte', async () => {
    const { port } = native.start(config({ engine, load: { connections: 0 } }));
    const sock = await connectTo(port);
    try {
      for (const size of [65536, 1, 4096]) {
        const payload = randomBytes(size);
        const echoed = readExactly(sock, size);
        sock.write(payload);
        expect((await echoed).equals(payload)).toBe(true);
      }
      // Pipelined: all three written back to back come back in order.
      const parts = [randomBytes(65536), randomBytes(1), randomBytes(4096)];
      const all = Buffer.concat(parts);
      const echoed = readExactly(sock, all.length);
      for (const p of parts) sock.write(p);
      expect((await echoed).equals(all)).toBe(true);
    } finally {
      sock.destroy();
    }
  });

  it('flushes the echo after the client half-closes, then closes', async () => {
    const { port } = native.start(config({ engine, load: { connections: 0 } }));
    const sock = await connectTo(port);
    const payload = randomBytes(200_000);
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      sock.on('data', (b) => received.push(b));
      sock.on('end', resolve);
      sock.on('error', reject);
    });
    sock.end(payload);
    await ended;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    sock.destroy();
    await sleep(50);
    expect(native.snapshot()!.activeConnections).toBe(0);
  });

  // Every receive path of the engine: the epoll server's short-read rule, io_uring's
  // readiness (default), armed multishot and one-shot recvs.
  const receivePaths: Record<string, Parameters<typeof config>[0]> = engine === 'epoll' ? { epoll: {} }
    : { 'recvOnReady (default)': {}, 'armed multishot recv': { recvOnReady: false }, 'one-shot recv': { recvOnReady: false, multishot: false }, 'one-shot poll': { multishot: false } };
  for (const [name, over] of Object.entries(receivePaths)) it(`echoes the bytes after a TCP urgent byte at once, and goes on (${name})`, async () => {
    const { port } = native.start(config({ engine, ...over, load: { connections: 0 } }));
    // The epoll server stopped at the urgent mark and took "def" as read: it came back only
    // with the next bytes the client sent.
    expect(await urgentClient(port)).toEqual({ first: 'abcdef', then: 'xyz' });
    const fin = native.stop()!;
    expect(fin.serverErrors).toBe(0);
  });

  it('serves many concurrent clients', async () => {
    const { port } = native.start(config({ engine, load: { connections: 0 }, bufferRing: { count: 64 } }));
    const socks = await Promise.all(Array.from({ length: 20 }, () => connectTo(port)));
    try {
      // Counting, not speed: the server thread may be behind its accepts on a stalled vCPU.
      for (let i = 0; i < 200 && native.snapshot()!.activeConnections < 20; i++) await sleep(10);
      expect(native.snapshot()!.activeConnections).toBe(20);
      await Promise.all(
        socks.map(async (s) => {
          const payload = randomBytes(32 * 1024);
          const echoed = readExactly(s, payload.length);
          s.write(payload);
          expect((await echoed).equals(payload)).toBe(true);
        }),
      );
    } finally {
      for (const s of socks) s.destroy();
    }
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
  });
});

describe('snapshots', () => {
  it('report deltas whose histogram counts add up to the requests', async () => {
    native.start(config({ load: { connections: 16, messageBytes: 256 } }));
    const snaps: Native.EngineSnapshot[] = [];
    for (let i = 0; i < 6; i++) {
      await sleep(100);
      snaps.push(native.snapshot()!);
    }
    snaps.push(native.stop()!);
    let requests = 0;
    let histCounts = 0;
    let bytes = 0;
    for (const s of snaps) {
      expect(histTotal(s.histogram)).toBe(s.requests); // per snapshot, by construction
      // And the bytes with them, mid-run too: a snapshot's bytes and requests come from one read
      // of the load's counters (a counter read apart from the histogram ran ahead of it).
      expect(s.bytes, `snapshot ${snaps.indexOf(s)}`).toBe(s.requests * 256);
      requests += s.requests;
      histCounts += histTotal(s.histogram);
      bytes += s.bytes;
      expect(s.errors).toBe(0);
      // Sparse pairs, ascending, positive counts, inside the layout.
      let last = -1;
      for (const [i, c] of s.histogram) {
        expect(i).toBeGreaterThan(last);
        expect(i).toBeLessThan(736);
        expect(c).toBeGreaterThan(0);
        last = i;
      }
    }
    expect(requests).toBeGreaterThan(0);
    expect(histCounts).toBe(requests);
    expect(bytes).toBe(requests * 256);
    // Deltas, not totals: each middle snapshot is a slice of the run.
    expect(snaps[2].requests).toBeLessThan(requests);
    // Time moves forward, CPU is accounted, and the parts fit in the whole.
    for (let i = 1; i < snaps.length; i++) expect(snaps[i].monotonicNs).toBeGreaterThan(snaps[i - 1].monotonicNs);
    const sum = (k: 'serverCpuNs' | 'loadCpuNs' | 'processCpuNs') => snaps.reduce((a, s) => a + s[k], 0);
    expect(sum('serverCpuNs')).toBeGreaterThan(0);
    expect(sum('loadCpuNs')).toBeGreaterThan(0);
    expect(sum('serverCpuNs') + sum('loadCpuNs')).toBeLessThanOrEqual(sum('processCpuNs') * 1.02 + 5e6);
    expect(snaps[0].activeConnections).toBe(16);
    expect(snaps[snaps.length - 1].running).toBe(false);
  });

  it('taken back to back under load: each one\'s bytes are its requests × the message size', async () => {
    // Three load threads completing while the snapshots read them: bytes read apart from the
    // histogram (a counter read after it) ran ahead of the requests in some snapshots.
    native.start(config({ load: { connections: 48, messageBytes: 128, threads: 3 } }));
    await sleep(100);
    const snaps: Native.EngineSnapshot[] = [];
    for (let i = 0; i < 400; i++) {
      snaps.push(native.snapshot()!);
      if (i % 4 === 0) await sleep(1);
    }
    snaps.push(native.stop()!);
    const off = snaps.map((s, i) => ({ i, requests: s.requests, bytes: s.bytes })).filter((s) => s.bytes !== s.requests * 128);
    expect(off, 'snapshots whose bytes are not requests × 128').toEqual([]);
    expect(snaps.reduce((a, s) => a + s.requests, 0)).toBeGreaterThan(1000);
  });

  it('maxDurationMs stops the load by itself, without stop()', async () => {
    native.start(config({ load: { connections: 4 }, maxDurationMs: 300 }));
    expect(native.snapshot()!.running).toBe(true);
    const t0 = Date.now();
    let s = native.snapshot()!;
    while (s.running && Date.now() - t0 < 3000) {
      await sleep(50);
      s = native.snapshot()!;
    }
    expect(s.running).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1500);
    await sleep(100);
    native.snapshot();
    const after = native.snapshot()!;
    expect(after.requests).toBe(0); // nothing completes any more
    expect(after.activeConnections).toBe(0); // load threads closed their connections
    const fin = native.stop()!;
    expect(fin.requests).toBe(0);
    expect(fin.errors).toBe(0);
  });
});
