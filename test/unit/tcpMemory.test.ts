/**
 * TCP socket-buffer memory against net.ipv4.tcp_mem (RunFrame.system.tcpMem): the gauge read
 * from this machine's /proc while this test holds unread data in loopback sockets, and what a
 * run says when its frames reached the kernel's pressure threshold or its limit. At the limit
 * TCP drops what arrives and sockets wait on retransmission timers: 4,096 connections × 1 MiB
 * echoed nothing here for that reason, and the summary must name the cause and the knobs.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RunFrameSchema, RunSummarySchema, type SystemFrame } from '../../electron/contract';
import type { NativeSnapshot } from '../../electron/engine/protocol';
import { SystemEvidence, kernelPageBytes, onlineCpus, readTcpMemLimits } from '../../electron/engine/systemEvidence';
import { METRICS } from '../../electron/host/diagnose/evidence';
import { defaultProfile } from '../../electron/host/profiles';
import { RunRecord } from '../../electron/host/run/runRecord';
import { NATIVE_STARTED } from './runFixtures';

describe('TCP memory gauge (/proc/net/sockstat, net.ipv4.tcp_mem)', () => {
  it('reads the kernel\'s limits and sees the memory of data held unread in loopback sockets', async () => {
    const page = kernelPageBytes();
    expect([4096, 16384, 65536]).toContain(page);
    const [min, pressure, limit] = readFileSync('/proc/sys/net/ipv4/tcp_mem', 'latin1').trim().split(/\s+/).map(Number);
    expect(readTcpMemLimits()).toEqual({ pressurePages: pressure, limitPages: limit });
    expect(min).toBeLessThanOrEqual(pressure!);

    // 16 connections whose server side never reads, each sent 1 MiB: what the receivers' and
    // senders' buffers hold is charged to TCP until the sockets close.
    const held: Socket[] = [];
    const server = createServer((s) => { s.pause(); held.push(s); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const c = connect(port, '127.0.0.1');
        await new Promise<void>((r) => c.once('connect', () => r()));
        c.on('error', () => {});
        c.write(Buffer.alloc(1 << 20, i));
        clients.push(c);
      }
      // Until the kernel has taken what it will (the client's sndbuf and the server's rcvbuf).
      await new Promise((r) => setTimeout(r, 300));
      const f = new SystemEvidence(onlineCpus()).next() ?? new SystemEvidence(onlineCpus()).next();
      const tcp = f!.tcpMem!;
      expect(tcp.limitBytes).toBe(limit! * page);
      expect(tcp.pressureBytes).toBe(pressure! * page);
      expect(tcp.bytes % page).toBe(0);
      // Each receiver holds at least its initial 128 KiB window (tcp_rmem's default would be the
      // exact floor; half of it is kept as slack for the skb overhead accounting).
      const rmemDefault = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'latin1').trim().split(/\s+/)[1]);
      expect(tcp.bytes).toBeGreaterThanOrEqual(16 * Math.min(rmemDefault, 128 << 10) / 2);
    } finally {
      for (const c of clients) c.destroy();
      for (const s of held) s.destroy();
      server.close();
    }
  });
});

const GiB = 1 << 30;
const LIMITS = { pressureBytes: 1.5 * GiB, limitBytes: 2.2 * GiB };

function system(tcpBytes: number | null): SystemFrame {
  return {
    cpus: [0, 1], irqNs: 0, softirqNs: 0, netRxSoftirqs: 0, netTxSoftirqs: 0, minorFaults: 0, majorFaults: 0,
    allocStalls: 0, pgscanDirect: 0, compactStalls: 0, procsRunning: 2, othersCpuNs: 0,
    tcpMem: tcpBytes === null ? null : { bytes: tcpBytes, ...LIMITS },
  };
}

function snapshot(monotonicNs: number, tcpBytes: number | null, bytesOut = 12_800, timeouts = 0): NativeSnapshot {
  return {
    requests: 10, bytes: 10 << 20, errors: 0, serverErrors: 0, enobufs: 0, timeouts,
    histogram: [[20, 10]], correctedHistogram: [[20, 10]], serverCpuNs: 1e6, loadCpuNs: 1e6, loadThreadCpuNs: [1e6], processCpuNs: 2e6,
    monotonicNs, activeConnections: 4096, liveLoadConnections: 4096, inFlight: 4096, oldestInFlightUs: 30, running: true, serverError: null,
    server: {
      enters: 60, cqes: 200, recvs: 100, sends: 100, bytesOut, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0, enobufs: 0, rearms: 0, spilledBytes: 0,
      cqOverflows: 0, buffersInUse: 4, buffersTotal: 4096, buffersInRing: 4092, userCpuNs: 2e5, systemCpuNs: 8e5, sqpollCpuNs: 0, errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
    },
    serverWorkers: [{ accepted: 4096, active: 4096 }],
    system: system(tcpBytes),
  } as unknown as NativeSnapshot;
}

/** A run of 10 frames whose TCP memory follows `peak` in its third frame (warm-up: the first 2),
 *  the server echoing `bytesOut` each 100 ms frame; `timeouts` in its last frame. */
function runWith(peak: number | null, connections = 4096, messageBytes = 1 << 20, bytesOut = 12_800, timeouts = 0) {
  const t0 = 1e12;
  const profile = defaultProfile();
  profile.load.connections = connections;
  profile.load.messageBytes = messageBytes;
  const record = new RunRecord('run-tcp', t0, 200, null);
  record.addPhase(profile, NATIVE_STARTED, t0);
  const frames = [];
  for (let i = 1; i <= 10; i++) {
    const tcp = peak === null ? null : i === 3 ? peak : Math.min(peak, 64 << 20);
    // The final frame spans the stop: its long interval and bytes are not the echo rate.
    frames.push(record.addSnapshot(snapshot(t0 + (i === 10 ? 60 : i) * 1e8, tcp, i === 10 ? 0 : bytesOut, i === 10 ? timeouts : 0), i === 10).frame);
  }
  const summary = record.summary('completed', null, { otherRuns: [], otherCpus: null });
  return {
    frames, summary,
    tcpWarnings: summary.warnings.filter((w) => w.includes('tcp_mem')),
    sizeWarnings: summary.warnings.filter((w) => w.includes('keeps in flight')),
  };
}

describe('a run at TCP\'s memory limits', () => {
  it('says it reached the limit, with the bytes it keeps in flight and the knobs that set them', () => {
    const { frames, summary, tcpWarnings } = runWith(LIMITS.limitBytes - 4096);
    for (const f of frames) expect(RunFrameSchema.safeParse(f).success).toBe(true);
    expect(RunSummarySchema.safeParse(summary).success).toBe(true);
    expect(tcpWarnings).toHaveLength(1);
    expect(tcpWarnings[0]).toContain('reached the kernel\'s limit (2.2 GiB, net.ipv4.tcp_mem max 2.2 GiB, machine-wide)');
    expect(tcpWarnings[0]).toContain('up to 8.0 GiB in flight (4096 connections × 1.0 MiB, each way)');
    expect(tcpWarnings[0]).toMatch(/lower load\.connections or load\.messageBytes, or raise net\.ipv4\.tcp_mem$/);
    expect(METRICS.tcpMemory.of(frames[2]!)).toBeCloseTo((LIMITS.limitBytes - 4096) / LIMITS.limitBytes, 6);
  });

  it('says it reached the pressure threshold below the limit, and nothing below that', () => {
    const pressure = runWith(1.6 * GiB, 1024).tcpWarnings;
    expect(pressure).toHaveLength(1);
    expect(pressure[0]).toContain('memory pressure threshold (1.6 GiB of net.ipv4.tcp_mem\'s 1.5 GiB, machine-wide): TCP stopped growing socket buffers; this run keeps up to 2.0 GiB in flight');
    expect(runWith(1.4 * GiB).tcpWarnings).toEqual([]);
  });

  it('says nothing where the frames carried no gauge (a sandboxed /proc, runs from before it)', () => {
    const { frames, tcpWarnings } = runWith(null);
    expect(tcpWarnings).toEqual([]);
    expect(METRICS.tcpMemory.of(frames[0]!)).toBeNull();
    // A frame without the field at all (saved before it existed) still parses.
    const old = { ...frames[0]!, system: { ...frames[0]!.system! } };
    delete (old.system as { tcpMem?: unknown }).tcpMem;
    expect(RunFrameSchema.safeParse(old).success).toBe(true);
  });
});

describe('waits and timeouts the load\'s own size explains (Little\'s law)', () => {
  const MB = 1e6;
  it('names the size when requests timed out because the bytes in flight take longer to echo than load.timeoutMs', () => {
    // 4,096 × 1 MiB at 60 MB per 100 ms frame (600 MB/s, as measured here): ~7.2 s a request.
    const { sizeWarnings, summary } = runWith(64 << 20, 4096, 1 << 20, 60 * MB, 4096);
    expect(summary.timeouts).toBe(4096);
    expect(sizeWarnings).toEqual([
      'at the rate the server echoed (572 MiB/s, warm-up included), the 4.0 GiB the closed loop keeps in flight (4096 connections × 1.0 MiB) takes ~7.2 s to echo once, against load.timeoutMs = 5000 ms: the load\'s own size made requests time out; raise load.timeoutMs, or lower load.connections or load.messageBytes',
    ]);
  });

  it('names it as the cause of waits of a second or more without timeouts, and says nothing for short ones', () => {
    const long = runWith(64 << 20, 1024, 1 << 20, 50 * MB).sizeWarnings;
    expect(long).toHaveLength(1);
    expect(long[0]).toContain('the 1.0 GiB the closed loop keeps in flight (1024 connections × 1.0 MiB) takes ~2.1 s to echo once: each request waits about that long because of the load\'s own size');
    // 1,000 × 64 KiB at 250 MB per frame: 26 ms a request.
    expect(runWith(64 << 20, 1000, 64 << 10, 250 * MB).sizeWarnings).toEqual([]);
  });

  it('a small load that waits as long on a slow server is the server\'s doing, not the load\'s size, with timeouts or without', () => {
    // 50 × 128 B (6.3 KiB) at 330 B per frame (3.2 KiB/s: a one-buffer pool with SEND_ZC, as found).
    const slow = runWith(64 << 20, 50, 128, 330).sizeWarnings;
    expect(slow).toHaveLength(1);
    expect(slow[0]).toContain('the 6.3 KiB the closed loop keeps in flight (50 connections × 128 B) takes ~1.9 s to echo once: the load is not what is large (it would take under 1 ms at 100 MiB/s): the server echoed slowly');
    expect(slow[0]).not.toMatch(/load's own size|lower load\./);
    const timedOut = runWith(64 << 20, 50, 128, 33, 50).sizeWarnings;
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]).toMatch(/takes ~19\.4 s to echo once, against load\.timeoutMs = 5000 ms: the load is not what is large .*: the server echoed slowly/);
    // The boundary: 100 MiB in flight would take a second even at 100 MiB/s, so a wait that long is the load's.
    const large = runWith(64 << 20, 100, 1 << 20, 5 * MB).sizeWarnings;
    expect(large).toHaveLength(1);
    expect(large[0]).toContain('because of the load\'s own size');
  });
});
