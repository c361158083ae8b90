/**
 * The engine's `target` (uring-lab load): the load alone against an echo server that is not
 * the engine's — here plain Node sockets in this process — with no server worker started:
 * the start result names no worker and no ring, snapshots carry `server: null` and count the
 * load's own open connections, and bytes the load counted really crossed the socket. Bad
 * targets are refused by the config parser, a refused connect fails the start at LOAD_CONNECT.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { RunFrameSchema, RunSummarySchema } from '../../electron/contract';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { defaultProfile } from '../../electron/host/profiles';
import { RunRecord } from '../../electron/host/run/runRecord';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

async function echoServer(): Promise<{ server: Server; port: number; stats: { connections: number; bytes: number }; close(): Promise<void> }> {
  const stats = { connections: 0, bytes: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk) => { stats.bytes += chunk.length; socket.write(chunk); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server, stats, port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

describe('engine target (load only)', () => {
  it('runs the load against another echo server and starts no server of its own', async () => {
    const echo = await echoServer();
    try {
      const started = await native.startAsync({ ...config({ load: { connections: 4 } }), target: { host: '127.0.0.1', port: echo.port } });
      expect(started.port).toBe(echo.port);
      expect(started.serverWorkers).toEqual([]);
      expect(started.refused).toEqual([]);
      expect(started.ring).toEqual({ flags: [], features: [], sqEntries: 0, cqEntries: 0 });
      expect(started.loadThreads).toBe(1);
      // No server worker thread (named uring-srv-<i>) in this process.
      const comms = readdirSync('/proc/self/task').map((tid) => { try { return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(); } catch { return ''; } });
      expect(comms.filter((c) => c.startsWith('uring-srv'))).toEqual([]);
      await sleep(400);
      const snap = native.snapshot()!;
      expect(snap.server).toBeNull();
      expect(snap.serverWorkers).toEqual([]);
      expect(snap.serverCpuNs).toBe(0);
      expect(snap.activeConnections).toBe(4);
      expect(snap.liveLoadConnections).toBe(4);
      expect(snap.requests).toBeGreaterThan(0);
      expect(snap.errors).toBe(0);
      expect(snap.loadCpuNs).toBeGreaterThan(0);
      const final = (await native.stopAsync())!;
      expect(final.server).toBeNull();
      const bytes = snap.bytes + final.bytes;
      expect(echo.stats.connections).toBe(4);
      expect(echo.stats.bytes).toBeGreaterThanOrEqual(bytes);
    } finally {
      await echo.close();
    }
  });

  it('the host turns its snapshots into frames with server null and a summary with the server-side fields null', async () => {
    const echo = await echoServer();
    try {
      const target = { host: 'localhost', address: '127.0.0.1', port: echo.port };
      const profile = defaultProfile();
      profile.load.connections = 4;
      // The host's own path: the profile's engine config, with the target.
      const started = native.start(nativeConfigFor(profile, 10_000, { host: target.address, port: target.port }));
      const record = new RunRecord('run-target', native.snapshot()!.monotonicNs, 0, target);
      record.addPhase(profile, started, native.snapshot()!.monotonicNs);
      for (let i = 0; i < 3; i++) {
        await sleep(100);
        const frame = RunFrameSchema.parse(record.addSnapshot(native.snapshot()!, false).frame);
        expect(frame.server).toBeNull();
        expect(frame.requests).toBeGreaterThan(0);
      }
      record.addSnapshot(native.stop()!, true);
      const summary = RunSummarySchema.parse(record.summary('completed', null, { otherRuns: [], otherCpus: null }));
      expect(summary.target).toEqual(target);
      expect(summary.requests).toBeGreaterThan(0);
      expect(summary.serverCpuNsPerReq).toBeNull();
      expect(summary.loadCpuNsPerReq).toBeGreaterThan(0);
      expect(summary.engine).toBeNull();
      expect(summary.phases[0].stats.serverCpuNsPerReq).toBeNull();
      expect(summary.phases[0].engine).toBeNull();
      // The server part of `applied` is the profile's, as requested: nothing of it ran.
      expect(summary.applied.server).toEqual(profile.server);
      expect(summary.rejected).toEqual([]);
    } finally {
      await echo.close();
    }
  });

  it('a refused connect fails the start at LOAD_CONNECT with ECONNREFUSED and the address', async () => {
    const echo = await echoServer();
    const port = echo.port;
    await echo.close();
    await expect(native.startAsync({ ...config({ load: { connections: 2 } }), target: { host: '127.0.0.1', port } })).rejects.toMatchObject({
      code: 'ECONNREFUSED', step: 'LOAD_CONNECT', message: expect.stringContaining(`127.0.0.1:${port}`),
    });
  });

  it('refuses a target that is not an IPv4 address and port, or a load with no connection', () => {
    const base = config();
    expect(() => native.memoryNeeds({ ...base, target: { host: 'localhost', port: 9 } })).toThrow(/config\.target\.host must be an IPv4 address/);
    expect(() => native.memoryNeeds({ ...base, target: { host: '::1', port: 9 } })).toThrow(RangeError);
    expect(() => native.memoryNeeds({ ...base, target: { host: '127.0.0.1', port: 0 } })).toThrow(/config\.target\.port must be between 1 and 65535/);
    expect(() => native.memoryNeeds({ ...base, target: { host: '127.0.0.1', port: 9 }, load: { ...base.load, connections: 0 } })).toThrow(/at least 1 with a target/);
    // No server here, so none of its memory is counted.
    const withTarget = native.memoryNeeds({ ...base, target: { host: '127.0.0.1', port: 9 } });
    expect(withTarget.bufferRingBytes).toBe(0);
    expect(withTarget.loadBufferBytes).toBe(native.memoryNeeds(base).loadBufferBytes);
  });
});
