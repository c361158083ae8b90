/**
 * The eBPF probes (issue 9) under real load: attached in-process here (root), their counts
 * against the engine's own, SQPOLL's effect on io_uring_enter, the run-queue histogram, the
 * perf-buffer fallback, nothing left attached after detach or kill -9, and the unprivileged
 * paths (no helper: the reasons; a setcap'd helper: loadedBy 'helper').
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeName } from '../../native';
import { bpfObjectExists, config, heldMapIds, heldProgramIds, histTotal, native, probeHelperCopy, sleep, stopQuietly, childWithProbesAttached } from './engineHarness';

const progExists = (id: number) => bpfObjectExists('prog', id);
const mapExistsNow = (id: number) => bpfObjectExists('map', id);

const isRoot = process.getuid?.() === 0;

afterEach(async () => {
  native.probesDetach();
  await stopQuietly();
});


/** Of `ids`, those still loaded that carry our program names (ul_*). */
/** Runs a Node `script` in a new network namespace `ns` (lo up; `setup`: a shell line run in it
 *  first) and returns the port it prints; the namespace goes with it. */
function portOfScriptInNetns(ns: string, script: string, setup?: string): number {
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    if (setup) execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', setup]);
    return Number(execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 }));
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

/** A Node script for portOfScriptInNetns: `n` connections to a listener in the namespace,
 *  then its lo goes down and each connection writes, so the kernel drops every segment
 *  (QDISC_DROP: a real loss, with its event) and retransmits on the RTO (200 ms minimum).
 *  Prints the listener's port after `waitMs`. */
function loDownScript(n: number, waitMs: number): string {
  return `
      const net = require('net');
      const { execFileSync } = require('child_process');
      const srv = net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); });
      srv.listen(0, '127.0.0.1', async () => {
        const port = srv.address().port;
        const clients = await Promise.all(Array.from({ length: ${n} }, () => new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => resolve(c));
          c.on('error', () => {});
        })));
        for (const c of clients) c.write(Buffer.alloc(1000, 1));
        setTimeout(() => {
          execFileSync('ip', ['link', 'set', 'lo', 'down']);
          for (const c of clients) c.write(Buffer.alloc(1000, 2));
          setTimeout(() => { console.log(port); process.exit(0); }, ${waitMs});
        }, 50);
      });`;
}

function ourProgramIds(ids: number[]): number[] {
  return ids.filter((id) => {
    try {
      const p = JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' }));
      return String(p.name).startsWith('ul_');
    } catch {
      return false;
    }
  });
}

/** Names of the BPF programs `ids`. */
function programNames(ids: number[]): string[] {
  return ids.map((id) => String(JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })).name));
}

describe('kernel histogram layout (what the BPF programs record)', () => {
  it('is the contract\'s KERNEL_HISTOGRAM_LAYOUT, bucket for bucket', () => {
    expect(native.kernelHistogramLayout()).toEqual({
      unit: 'ns', linearBuckets: 64, subBucketBits: 5, maxExponent: 36, bucketCount: 1056,
    });
    // The contract's formula, written out independently of the C.
    const index = (v: number) => {
      if (v < 64) return v;
      if (v >= 2 ** 37) return 1055;
      const e = Math.floor(Math.log2(v));
      return 64 + (e - 6) * 32 + (Math.floor(v / 2 ** (e - 5)) & 31);
    };
    const values = [0, 1, 63, 64, 65, 66, 127, 128, 1000, 4095, 4096, 999_999, 2 ** 36, 2 ** 37 - 1, 2 ** 37, 2 ** 50];
    for (let e = 6; e <= 38; e++) values.push(2 ** e - 1, 2 ** e, 2 ** e + 1, Math.floor(1.5 * 2 ** e));
    for (const v of values) expect(native.kernelHistogramIndex(v), String(v)).toBe(index(v));
    expect(native.kernelHistogramIndex(2 ** 37 - 1)).toBe(1055);
    expect(() => native.kernelHistogramIndex(-1)).toThrow(RangeError);
    expect(() => native.kernelHistogramIndex(1.5)).toThrow(RangeError);
  });
});

describe.skipIf(!isRoot)(`eBPF probes, in-process (root)${isRoot ? '' : ' (skipped: not root, the probes need CAP_BPF+CAP_PERFMON)'}`, () => {
  it('attaches every probe with a tp_btf/raw_tp/tracepoint variant, never fentry or kprobe', () => {
    const statuses = native.probesCheck();
    expect(statuses.map((s) => s.name).sort()).toEqual(
      ['memory', 'offcpu', 'profile', 'runqueue', 'softirq', 'sqpoll', 'tcp_events', 'uring_calls', 'uring_latency'],
    );
    for (const s of statuses) {
      expect(s, s.name).toMatchObject({ attached: true, fix: null, loadedBy: 'in-process' });
      // profile is a perf_event program on cpu-clock events, not a tracepoint one.
      if (s.name === 'profile') expect(s.variant).toBe('perf_event');
      else for (const part of s.variant!.split('+')) expect(['tp_btf', 'raw_tp', 'tracepoint']).toContain(part);
    }
    // The check leaves nothing attached in this process.
    expect(ourProgramIds(heldProgramIds(process.pid))).toEqual([]);
  });

  it('with quiet sends (the default) and an armed recv the kernel sees one completion per request, the engine\'s CQEs, and no whole SEND; on readiness (the default) a POLL_ADD completion more', async () => {
    for (const recvOnReady of [false, true]) {
      native.probesAttach({ tgid: process.pid, perRequestDuty: 1, probes: ['uring_latency'] });
      const started = native.start(config({ recvOnReady, load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
      expect(started.applied.server.quietSends, JSON.stringify(started.refused)).toBe(true);
      expect(started.applied.server.recvOnReady).toBe(recvOnReady);
      await sleep(1000);
      const s = native.stop()!;
      const k = native.probesRead()!;
      native.probesDetach();
      expect(s.server!.cqes).toBeGreaterThan(1000);
      expect(Math.abs(k.uring.completions - s.server!.cqes) / s.server!.cqes).toBeLessThan(0.02);
      const byName = new Map(k.uring.byOpcode.map((o) => [o.name, o.count]));
      const recvs = byName.get('RECV') ?? 0;
      expect(recvs).toBeGreaterThan(0);
      // Sends post CQEs only when they fall short (none at 128 B).
      expect(byName.get('SEND') ?? 0).toBeLessThan(recvs * 0.01);
      if (!recvOnReady) {
        // Every request is one recv CQE.
        expect(s.server!.cqes / s.requests).toBeLessThan(1.1);
      } else {
        // And its poll's: a multishot POLL_ADD completion per arrival, then the inline recv.
        expect(s.server!.cqes / s.requests, 'CQEs per request').toBeGreaterThan(1.8);
        expect(s.server!.cqes / s.requests, 'CQEs per request').toBeLessThan(2.2);
        expect((byName.get('POLL_ADD') ?? 0) / recvs).toBeGreaterThan(0.8);
        expect((byName.get('POLL_ADD') ?? 0) / recvs).toBeLessThan(1.2);
      }
    }
  });

  it('counts the server\'s completions within 2 % of the engine\'s CQEs; run queue and latency histograms fill', async () => {
    // perRequestDuty 1 (the addon's default): the per-request probes attached all the time, so
    // their counts are whole; time-sampled counts are checked in probeSampling.test.ts.
    const st = native.probesAttach({ tgid: process.pid, perRequestDuty: 1 });
    expect(st.every((s) => s.attached)).toBe(true);
    // By default io_uring_enter is not counted in the kernel (no syscall tracepoint): the status says so.
    expect(st.find((s) => s.name === 'uring_calls')!.reason).toMatch(/engine's own count/);
    // Plain sends: a quiet send (the default) that sends everything posts no CQE, so the
    // kernel's completion tracepoint never sees it and SEND would have nothing to time.
    native.start(config({ quietSends: false, load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
    await sleep(1000);
    // Whole-run totals, read once the engine has stopped: no completion can fall between the
    // engine's count and the probe's (on a busy machine two reads can be tens of ms apart).
    const s = native.stop()!;
    const k = native.probesRead()!;
    expect(s.server!.cqes).toBeGreaterThan(1000);
    expect(Math.abs(k.uring.completions - s.server!.cqes) / s.server!.cqes).toBeLessThan(0.02);
    expect(k.uring.submits).toBeGreaterThan(0);
    // Latency is timed for a sample of the request legs, each 1/rate-th leg start per CPU (a
    // counter, not a coin), and every completion ends one leg: the histogram holds completions ×
    // rate up to the legs in flight at the window's edges and the per-CPU counters' phase (a few
    // samples) and the rare leg not started because its slot lost the opcode to a collision.
    // Seen here: within 2 samples of ~2000; 3 % + 10 leaves room for those and nothing else.
    const rate = k.uring.latencySampleRate!;
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(1);
    const sampled = histTotal(k.uring.latencyNs);
    expect(sampled).toBeGreaterThan(0);
    expect(Math.abs(sampled - k.uring.completions * rate)).toBeLessThanOrEqual(0.03 * k.uring.completions * rate + 10);
    // RECV is multishot: its CQEs after the first carry no request, only user_data.
    const byName = new Map(k.uring.byOpcode.map((o) => [o.name, o]));
    expect(byName.get('SEND')?.count).toBeGreaterThan(0);
    expect(byName.get('RECV')?.count).toBeGreaterThan(0);
    expect(k.uring.byOpcode.reduce((a, o) => a + o.count, 0)).toBe(histTotal(k.uring.latencyNs));
    expect(histTotal(k.runqueue.latencyNs)).toBe(k.runqueue.count);
    expect(k.runqueue.count).toBeGreaterThan(0);
    expect(k.uring.entersSource).toBeNull();
    expect(k.uring.enters).toBe(0);
    // Softirq entries counted exactly, their time estimated from a sample (each timed one counts
    // 1/rate times): the mean per NET_RX softirq must be a plausible one (50 ns … 1 ms).
    const sirqRate = k.softirq.timeSampleRate!;
    expect(sirqRate).toBeGreaterThan(0);
    expect(sirqRate).toBeLessThanOrEqual(1);
    expect(k.softirq.netRxCount).toBeGreaterThan(100);
    expect(k.softirq.netRxNs / k.softirq.netRxCount).toBeGreaterThan(50);
    expect(k.softirq.netRxNs / k.softirq.netRxCount).toBeLessThan(1e6);
    expect(k.tcp.channel).toBe('ringbuf');
    // Run-time stats: every program that ran has its time.
    expect(k.overhead).not.toBeNull();
    const ran = k.overhead!.filter((o) => o.runCount > 0);
    expect(ran.length).toBeGreaterThan(0);
    for (const o of ran) expect(o.runTimeNs).toBeGreaterThan(0);
  });

  it('io_uring_enter calls per request fall at least 2x with SQPOLL', async () => {
    const entersPerRequest = async (sqpoll: boolean) => {
      // io_uring_enter counted in the kernel: the opt-in syscall tracepoint.
      native.probesAttach({ tgid: process.pid, probes: ['uring_calls', 'sqpoll'], syscallEnters: true });
      // 50 connections keep the server busy: with few, it mostly waits for CQEs, and a wait is
      // an io_uring_enter with or without SQPOLL.
      const started = native.start(config({ sqpoll: { enabled: sqpoll }, load: { connections: 50, messageBytes: 128 }, maxDurationMs: 5000 }));
      expect(started.applied.server.sqpoll.enabled, JSON.stringify(started.refused)).toBe(sqpoll);
      await sleep(200);
      native.snapshot();
      native.probesRead();
      await sleep(800);
      const s = native.snapshot()!;
      const k = native.probesRead()!;
      // The syscall tracepoint is opened through tracefs; where it is not mounted the loader
      // falls back to raw_syscalls:sys_enter (a raw tracepoint, filtered to io_uring_enter).
      const tracefs = existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_io_uring_enter');
      expect(k.uring.entersSource).toBe(tracefs ? 'syscall_tracepoint' : 'raw_sys_enter');
      await stopQuietly();
      native.probesDetach();
      // SQPOLL's spinning thread shares 2 vCPUs with the load here: fewer requests, still plenty.
      expect(s.requests).toBeGreaterThan(200);
      return { perRequest: k.uring.enters / s.requests, sqpollOnCpuNs: k.sqpoll.onCpuNs };
    };
    // On 2 vCPUs shared with other work, a starved SQPOLL thread sleeps and must be woken by an
    // io_uring_enter: up to three off/on pairs, and one of them must show SQPOLL's cut. Without
    // SQPOLL the batching loop already enters only ~0.06 times per request (it was 0.1–0.16
    // when this asked for 5x); what SQPOLL leaves is the worker's waits for CQEs, so a CI run
    // measured 0.0597 / 0.0242, 0.0599 / 0.0120, 0.0603 / 0.0251: 2.4x–5x. At least 2x in one pair.
    const pairs: Array<{ off: number; on: number }> = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const off = await entersPerRequest(false);
      const on = await entersPerRequest(true);
      expect(off.sqpollOnCpuNs).toBe(0);
      expect(on.sqpollOnCpuNs).toBeGreaterThan(0);
      pairs.push({ off: off.perRequest, on: on.perRequest });
      if (on.perRequest * 2 <= off.perRequest) break;
    }
    const seen = pairs.map((p) => `off ${p.off.toFixed(4)} / on ${p.on.toFixed(4)}`).join(', ');
    const best = pairs[pairs.length - 1];
    expect(best.on * 2, seen).toBeLessThanOrEqual(best.off);
  });

  it('measures the SQPOLL thread alone and from inside runqueue\'s programs alike', async () => {
    const started = native.start(config({ sqpoll: { enabled: true }, load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
    expect(started.applied.server.sqpoll.enabled, JSON.stringify(started.refused)).toBe(true);
    const measured = async (probes: ProbeName[]) => {
      const st = native.probesAttach({ tgid: process.pid, probes });
      native.probesRead();
      await sleep(300);
      return { st: st.find((s) => s.name === 'sqpoll')!, k: native.probesRead()! };
    };
    const alone = await measured(['sqpoll']);
    expect(alone.st).toMatchObject({ attached: true, reason: null });
    // With runqueue, one program per scheduler event serves both (fewer programs run).
    const inside = await measured(['runqueue', 'sqpoll']);
    expect(inside.st.attached).toBe(true);
    expect(inside.st.reason).toMatch(/inside runqueue's programs/);
    expect(inside.k.overhead!.some((o) => o.probe === 'sqpoll')).toBe(false);
    // The spinning thread is on a CPU most of the time either way: 300 ms hold well over 10 ms of it.
    for (const { k } of [alone, inside]) expect(k.sqpoll.onCpuNs).toBeGreaterThan(10e6);
    expect(inside.k.runqueue.count).toBeGreaterThan(0);
  });

  it('runs on the raw_tp fallback programs too (forced), with real counts', async () => {
    process.env.URING_LAB_PROBE_FORCE_FALLBACK = '1';
    let st;
    try {
      st = native.probesAttach({ tgid: process.pid, syscallEnters: true });
    } finally {
      delete process.env.URING_LAB_PROBE_FORCE_FALLBACK;
    }
    // offcpu has no raw_tp program (bpf_get_task_stack needs a BTF-typed task): its own tp_btf
    // one, not inside runqueue's raw_tp program; profile is a perf_event program.
    const variants: Partial<Record<ProbeName, string>> = { offcpu: 'tp_btf', profile: 'perf_event' };
    for (const s of st) expect(s, s.name).toMatchObject({ attached: true, variant: variants[s.name] ?? 'raw_tp' });
    expect(st.find((s) => s.name === 'offcpu')!.reason ?? '').not.toMatch(/inside runqueue/);
    native.start(config({ load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
    await sleep(700);
    const s = native.stop()!; // whole-run totals, as above
    const k = native.probesRead()!;
    expect(Math.abs(k.uring.completions - s.server!.cqes) / s.server!.cqes).toBeLessThan(0.02);
    expect(k.uring.entersSource).toBe('raw_sys_enter');
    expect(Math.abs(k.uring.enters - s.server!.enters) / s.server!.enters).toBeLessThan(0.02);
    expect(histTotal(k.uring.latencyNs)).toBeGreaterThan(0);
    expect(k.runqueue.count).toBeGreaterThan(0);
    expect(k.softirq.netRxCount).toBeGreaterThan(0);
    // The raw_tp sched_switch program names competitors too.
    expect(k.sched!.competitors.length).toBeGreaterThan(0);
  });

  it('reports drops with their reason through the forced perf-buffer fallback', () => {
    const st = native.probesAttach({ tgid: process.pid, probes: ['tcp_events'], eventChannel: 'perfbuf' });
    expect(st[0]).toMatchObject({ attached: true, reason: null });
    native.probesRead();
    const port = portOfScriptInNetns(`p1perf${process.pid}`, loDownScript(1, 300));
    const k = native.probesRead()!;
    expect(k.tcp.channel).toBe('perfbuf');
    const ours = k.tcp.events.filter((e) => e.kind === 'drop' && (e.sport === port || e.dport === port));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours[0].reason).toBe('QDISC_DROP');
    expect(k.tcp.drops).toBeGreaterThanOrEqual(ours.length);
  });

  it('counts a segment for a socket that is gone (NO_SOCKET) with the closing drops, not as a loss, with no event', async () => {
    // A SYN to a closed loopback port: the kernel drops it (NO_SOCKET) and answers RST, and the
    // connect fails (ECONNREFUSED): how a refusal shows, and at the end of every run the echoes
    // still on their way to a load connection just closed (33-40 at 50 x 64 KiB) were "drops".
    native.probesAttach({ tgid: process.pid, probes: ['tcp_events'] });
    native.probesRead();
    const port = 40000 + (process.pid % 1000);
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
      s.on('connect', () => { s.destroy(); resolve('connected'); });
    });
    expect(refused).toBe('ECONNREFUSED');
    await sleep(50);
    const k = native.probesRead()!;
    expect(k.tcp.closeDrops).toBeGreaterThanOrEqual(1);
    expect(k.tcp.events.filter((e) => e.dport === port || e.sport === port)).toEqual([]);
  });

  it('times requests armed before it attached (multishot RECV) from one completion to the next', async () => {
    native.start(config({ load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
    await sleep(200);
    // The engine's multishot recvs were all armed before this: no submission to time them from.
    native.probesAttach({ tgid: process.pid, probes: ['uring_latency'] });
    native.probesRead();
    await sleep(500);
    const k = native.probesRead()!;
    // About half the server's completions are RECVs (each echo is a RECV and a SEND; coalesced
    // sends make it more): RECVs, whose opcode the probe learnt at a wake-up (their multishot
    // CQEs carry no request), must be over a third of all sampled legs. 0.50-0.53 in 12 runs; a
    // sampler taking every 32nd event locked onto the RECV/SEND alternation and gave 0.15-0.71.
    const expected = k.uring.completions * k.uring.latencySampleRate!;
    expect(expected).toBeGreaterThan(40);
    const recv = k.uring.byOpcode.find((o) => o.name === 'RECV');
    expect(recv?.count).toBeGreaterThan(expected / 3);
    expect(histTotal(k.uring.taskWorkLatencyNs)).toBeGreaterThan(expected / 4);
  });

  it('reports retransmits and drops as ring-buffer events, with ports, state and reason', () => {
    // A connection inside a private network namespace whose lo goes down under it: the kernel
    // drops its segments (QDISC_DROP) and retransmits on the RTO (200 ms minimum).
    const ns = `p1probe${process.pid}`;
    const script = `
      const net = require('net');
      const { execFileSync } = require('child_process');
      const srv = net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); });
      srv.listen(0, '127.0.0.1', () => {
        const port = srv.address().port;
        const c = net.connect(port, '127.0.0.1', () => {
          c.write(Buffer.alloc(1000, 1));
          setTimeout(() => {
            execFileSync('ip', ['link', 'set', 'lo', 'down']);
            c.write(Buffer.alloc(1000, 2));
            setTimeout(() => { console.log(port); process.exit(0); }, 700);
          }, 50);
        });
        c.on('error', () => {});
      });`;
    native.probesAttach({ tgid: process.pid, probes: ['tcp_events'] });
    native.probesRead();
    const port = portOfScriptInNetns(ns, script);
    const k = native.probesRead()!;
    expect(k.tcp.channel).toBe('ringbuf');
    const ours = k.tcp.events.filter((e) => e.sport === port || e.dport === port);
    const retransmits = ours.filter((e) => e.kind === 'retransmit');
    expect(retransmits.length).toBeGreaterThan(0);
    expect(retransmits[0]).toMatchObject({ reason: null, dport: port, state: 'ESTABLISHED' });
    expect(ours.some((e) => e.kind === 'drop' && e.reason === 'QDISC_DROP')).toBe(true);
    expect(k.tcp.retransmits).toBeGreaterThanOrEqual(retransmits.length);
    expect(k.tcp.lostEvents).toBe(0);
  });

  it('counts drops at closing sockets apart (closeDrops), with no event, not as losses', () => {
    // How the lab's runs end: echo connections, the server closes first, then each client's FIN
    // reaches the orphaned server socket in FIN_WAIT2, and the kernel destroys the socket with
    // that FIN in its receive queue: one kfree_skb(QUEUE_PURGE) per connection
    // (tcp_fin -> inet_csk_destroy_sock -> sk_stream_kill_queues), a drop before the split.
    // In a private namespace with tcp_fin_timeout above 60 s, so every orphan stays a whole
    // socket (not a time-wait minisock) whatever the ACK timing: on a loaded CI machine, with
    // the default, only 7 of 20 connections did.
    const n = 20;
    const ns = `p1close${process.pid}`;
    const script = `
      const net = require('net');
      const serverSide = [];
      const srv = net.createServer((s) => { serverSide.push(s); s.on('error', () => {}); s.on('data', (d) => s.write(d)); });
      srv.listen(0, '127.0.0.1', async () => {
        const port = srv.address().port;
        const clients = await Promise.all(Array.from({ length: ${n} }, () => new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => resolve(c));
          c.on('error', () => {});
        })));
        await Promise.all(clients.map(async (c) => { for (let i = 0; i < 5; i++) await new Promise((resolve) => { c.once('data', resolve); c.write('x'); }); }));
        for (const s of serverSide) s.destroy();
        setTimeout(() => { console.log(port); process.exit(0); }, 200);
      });`;
    native.probesAttach({ tgid: process.pid, probes: ['tcp_events'] });
    native.probesRead();
    const port = portOfScriptInNetns(ns, script, 'echo 61 > /proc/sys/net/ipv4/tcp_fin_timeout');
    const k = native.probesRead()!;
    // Machine-wide: other sockets may add some, never fewer.
    expect(k.tcp.closeDrops).toBeGreaterThanOrEqual(n);
    const ours = k.tcp.events.filter((e) => e.sport === port || e.dport === port);
    // No closing drop leaks out as an event. What may appear on a loaded machine (3 of 12 runs
    // with two CPU hogs, and once in CI): the clients' ACK of the server's FIN comes after the
    // server's retransmission timer, every FIN_WAIT1 socket retransmits its FIN, and each client,
    // already in CLOSE_WAIT, drops the duplicate as TCP_OLD_DATA; or in LAST_ACK, where the
    // script's exit had closed the client's side too before the duplicate came (once in CI).
    // Those are a real retransmit and its duplicate, shown as events; each must follow a
    // retransmit from its peer.
    for (const drop of ours.filter((e) => e.kind === 'drop')) {
      expect(drop).toMatchObject({ reason: 'TCP_OLD_DATA' });
      expect(['CLOSE_WAIT', 'LAST_ACK'], `drop in ${drop.state}`).toContain(drop.state);
      const cause = ours.find((e) => e.kind === 'retransmit' && e.sport === drop.dport && e.dport === drop.sport);
      expect(cause, `drop at client port ${drop.sport} without the server's retransmit`).toBeDefined();
      expect(cause!.monotonicNs).toBeLessThan(drop.monotonicNs);
    }
  });

  it('counts the copy a spurious retransmit sends (TCP_OLD_DATA at the receiver) as a duplicate, not a loss, with no event', () => {
    // In a private namespace: a connection past its first segments (no quick ACKs any more)
    // sends one byte, which arrives; lo goes down before the receiver's delayed ACK (40 ms at
    // least) leaves, so the ACK is lost; lo comes back, and the sender's retransmit brings the
    // receiver a byte it already has: a duplicate, dropped as TCP_OLD_DATA. At 50 x 1 MiB on
    // loopback every retransmit ended so, and `drops` read 110 where nothing was lost.
    const script = `
      const net = require('net');
      const { execFileSync } = require('child_process');
      const srv = net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); });
      srv.listen(0, '127.0.0.1', () => {
        const port = srv.address().port;
        const c = net.connect(port, '127.0.0.1', async () => {
          c.setNoDelay(true);
          for (let i = 0; i < 64; i++) { c.write('x'); await new Promise((r) => setTimeout(r, 2)); }
          await new Promise((r) => setTimeout(r, 100));
          c.write('y');
          execFileSync('ip', ['link', 'set', 'lo', 'down']);
          await new Promise((r) => setTimeout(r, 300));
          execFileSync('ip', ['link', 'set', 'lo', 'up']);
          // Until the retransmit got through: the byte is acked (tx_queue in /proc/net/tcp is the
          // sender's unacked bytes), and the receiver counted the duplicate before it acked it. A
          // fixed 1.2 s once saw no retransmit after the one lo dropped (CI, a busy machine).
          const unacked = () => {
            for (const line of require('fs').readFileSync('/proc/net/tcp', 'utf8').split('\\n').slice(1)) {
              const f = line.trim().split(/\\s+/);
              if (f.length > 4 && parseInt(f[1].split(':')[1], 16) === c.localPort) return parseInt(f[4].split(':')[0], 16);
            }
            return -1;
          };
          for (const until = Date.now() + 6000; unacked() > 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
          console.log(port); process.exit(0);
        });
        c.on('error', () => {});
      });`;
    native.probesAttach({ tgid: process.pid, probes: ['tcp_events'] });
    native.probesRead();
    const port = portOfScriptInNetns(`p1dup${process.pid}`, script);
    const k = native.probesRead()!;
    const ours = k.tcp.events.filter((e) => e.sport === port || e.dport === port);
    expect(ours.filter((e) => e.kind === 'retransmit').length, JSON.stringify(ours)).toBeGreaterThan(0);
    expect(k.tcp.duplicateDrops, JSON.stringify(ours)).toBeGreaterThanOrEqual(1);
    expect(ours.filter((e) => e.kind === 'drop' && e.reason === 'TCP_OLD_DATA')).toEqual([]);
  });

  it('keeps at most 256 events per frame and counts the rest as truncated', () => {
    native.probesAttach({ tgid: process.pid, probes: ['tcp_events'] });
    native.probesRead();
    // 400 connections whose lo goes down under them: 400 segments dropped (QDISC_DROP), then
    // their retransmits, each an event.
    portOfScriptInNetns(`p1trunc${process.pid}`, loDownScript(400, 300));
    const k = native.probesRead()!;
    expect(k.tcp.events).toHaveLength(256);
    // Every counted event was delivered, truncated or lost; the channel is drained and the
    // counters read a moment apart, so a machine-wide event may fall between the two.
    const accounted = k.tcp.events.length + k.tcp.truncated + k.tcp.lostEvents;
    expect(Math.abs(accounted - (k.tcp.drops + k.tcp.retransmits))).toBeLessThanOrEqual(2);
    expect(k.tcp.drops).toBeGreaterThanOrEqual(400);
  });

  it('leaves nothing attached after probesDetach()', async () => {
    native.probesAttach({ tgid: process.pid });
    const ids = ourProgramIds(heldProgramIds(process.pid));
    const maps = heldMapIds(process.pid);
    expect(ids.length).toBeGreaterThan(10);
    expect(maps.length).toBeGreaterThan(10);
    // The default set traces no syscall (that would put every task on the slow path), and
    // sqpoll runs inside runqueue's programs: one program per scheduler event.
    const names = programNames(ids);
    expect(names.filter((n) => n.startsWith('ul_calls_ent_'))).toEqual([]);
    expect(names.filter((n) => n.startsWith('ul_sqp_'))).toEqual([]);
    expect(names.filter((n) => n.startsWith('ul_rq_switch_'))).toHaveLength(1);
    native.probesDetach();
    native.probesDetach(); // idempotent
    expect(native.probesRead()).toBeNull();
    expect(heldProgramIds(process.pid)).toEqual([]);
    expect(heldMapIds(process.pid)).toEqual([]);
    // Freeing after the last reference goes is deferred (RCU, a workqueue): allow a moment.
    for (let i = 0; i < 50 && (ids.some(progExists) || maps.some(mapExistsNow)); i++) await sleep(100);
    expect(ids.filter(progExists)).toEqual([]);
    expect(maps.filter(mapExistsNow)).toEqual([]);
  });

  it('probesAttachAsync loads on the thread pool while this thread runs, refuses the calls that would race it, and loses to a detach', async () => {
    expect(() => native.probesAttachAsync({ tgid: 0 })).toThrow(/^probesAttachAsync: options\.tgid must be a process id/);
    const order: string[] = [];
    const attaching = native.probesAttachAsync({ tgid: process.pid }).then((statuses) => { order.push('attached'); return statuses; });
    // This thread is free while the programs load and verify (~0.2 s): a 1 ms timer fires first.
    setTimeout(() => order.push('timer'), 1);
    expect(() => native.probesAttach({ tgid: process.pid })).toThrow(/^probesAttach: the probes are being attached \(probesAttachAsync in progress\)/);
    expect(() => native.probesAttachAsync({ tgid: process.pid })).toThrow(/being attached/);
    expect(() => native.probesCheck()).toThrow(/^probesCheck: the probes are being attached/);
    expect(native.probesRead()).toBeNull();
    const statuses = await attaching;
    expect(order).toEqual(['timer', 'attached']);
    for (const s of statuses) expect(s, s.name).toMatchObject({ attached: true, loadedBy: 'in-process' });
    expect(ourProgramIds(heldProgramIds(process.pid)).length).toBeGreaterThan(10);
    expect(native.probesRead()).not.toBeNull();
    // Settled: the calls it refused work again.
    expect(native.probesAttach({ tgid: process.pid, probes: ['runqueue'] }).map((s) => s.name)).toEqual(['runqueue']);

    // A detach before it settles wins: what it loaded is closed, nothing is attached.
    const detached = native.probesAttachAsync({ tgid: process.pid });
    native.probesDetach();
    await expect(detached).rejects.toThrow(/^probesAttachAsync: the probes were detached while they were being attached$/);
    expect(native.probesRead()).toBeNull();
    expect(heldProgramIds(process.pid)).toEqual([]);
    expect(heldMapIds(process.pid)).toEqual([]);
  });

  it('leaves nothing attached after kill -9 of the process that attached', async () => {
    const child = await childWithProbesAttached({});
    try {
      const ids = ourProgramIds(heldProgramIds(child.pid!));
      const maps = heldMapIds(child.pid!);
      expect(ids.length).toBeGreaterThan(10);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // Freeing after the last reference goes is deferred (RCU, a workqueue): allow a moment.
      for (let i = 0; i < 50 && (ids.some(progExists) || maps.some(mapExistsNow)); i++) await sleep(100);
      expect(ids.filter(progExists)).toEqual([]);
      expect(maps.filter(mapExistsNow)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/** Runs `script` as node under uid/gid 65534 with no capabilities; its stdout's JSON. */
function runUnprivileged(script: string, env: Record<string, string> = {}): any {
  const out = execFileSync('setpriv', [
    '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--',
    process.execPath, '-e', script,
  ], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return JSON.parse(out);
}

describe.skipIf(!isRoot)(`eBPF probes, unprivileged engine (setpriv to nobody)${isRoot ? '' : ' (skipped: not root, cannot setpriv or setcap)'}`, () => {
  const addonDir = join(dirname(native.addonPath), '..', '..');
  const script = `
    const n = require(${JSON.stringify(addonDir)});
    const st = n.probesAttach({ tgid: process.pid, probes: ['uring_latency', 'runqueue', 'tcp_events'] });
    let frame = null;
    if (st.some((s) => s.attached)) {
      // Workers to watch: run-queue latency is of the engine's worker threads (uring-srv-*, …).
      n.start(${JSON.stringify(config({ load: { connections: 2, messageBytes: 128 }, maxDurationMs: 5000 }))});
      const end = Date.now() + 300; while (Date.now() < end) {}
      n.stop();
      frame = n.probesRead();
    }
    n.probesDetach();
    console.log(JSON.stringify({ st, frame }));`;

  it('without a capable helper: every probe not attached, with the reason and the fix', () => {
    const { st, frame } = runUnprivileged(script, { URING_LAB_PROBE_HELPER: '/nonexistent/uring-lab-probe-helper' });
    expect(st).toHaveLength(3);
    for (const s of st) {
      expect(s.attached).toBe(false);
      expect(s.reason).toMatch(/no CAP_BPF\/CAP_PERFMON/);
      expect(s.fix).toMatch(/setcap cap_bpf,cap_perfmon\+ep|run the lab as root/);
      expect(s.loadedBy).toBeNull();
    }
    expect(frame).toBeNull();
  });

  it('with the helper setcap cap_bpf,cap_perfmon+ep: loadedBy helper and real counts', () => {
    const { dir, helper } = probeHelperCopy('probe-helper-');
    try {
      // Without capabilities first: the helper is found but cannot help.
      const bare = runUnprivileged(script, { URING_LAB_PROBE_HELPER: helper });
      expect(bare.st[0].reason).toMatch(/no file capabilities/);
      const helperSeen = () => {
        process.env.URING_LAB_PROBE_HELPER = helper;
        try {
          return native.probeHelper();
        } finally {
          delete process.env.URING_LAB_PROBE_HELPER;
        }
      };
      expect(helperSeen()).toMatchObject({ path: helper, found: true, capabilities: false });
      expect(helperSeen().fix).toContain(`setcap cap_bpf,cap_perfmon+ep ${helper}`);
      execFileSync('setcap', ['cap_bpf,cap_perfmon+ep', helper]);
      expect(helperSeen()).toMatchObject({ found: true, capabilities: true, reason: null, fix: null });
      const { st, frame } = runUnprivileged(script, { URING_LAB_PROBE_HELPER: helper });
      for (const s of st) expect(s, s.name).toMatchObject({ attached: true, loadedBy: 'helper' });
      // Map lookups on the passed fds need no capability: the engine reads real counts.
      expect(frame.runqueue.count).toBeGreaterThan(0);
      expect(frame.tcp.channel).toBe('ringbuf');
      // Run-time stats need CAP_SYS_ADMIN, which this helper was not given.
      expect(frame.overhead).toBeNull();
      // Given it, the helper passes the stats fd too, and the engine reads each program's
      // run time through its own (unprivileged) fds.
      execFileSync('setcap', ['cap_bpf,cap_perfmon,cap_sys_admin+ep', helper]);
      const withStats = runUnprivileged(script, { URING_LAB_PROBE_HELPER: helper });
      expect(withStats.frame.overhead.some((o: any) => o.runCount > 0 && o.runTimeNs > 0)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
