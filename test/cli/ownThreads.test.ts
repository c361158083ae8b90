/**
 * The engine keeps its own bookkeeping threads (the JS thread, libuv's and V8's helpers) off the
 * CPUs the user gave the load generator (load.cpus) while a run runs, leaves the workers' own
 * pinning alone, and puts its threads back when the run stops, so the next run's workers do not
 * inherit a narrowed affinity (README: eBPF probes, "Where the rest goes"). While a run runs the
 * same threads, and the host's, run SCHED_BATCH (their wake-ups never preempt the workers) and
 * the workers and io_uring's threads SCHED_OTHER; all are SCHED_OTHER again after it. A real run
 * through the web host (the engine process lives across runs there); affinities and scheduling
 * policies read from /proc.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileSchema } from '../../electron/contract';
import type { EngineWireMessage } from '../../electron/engine/protocol';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { forkEngine, readPosted } from '../../electron/host/engine/supervisor';
import type { LabService } from '../../electron/host/labService';
import type { WebHost } from '../../electron/web';
import { connectLab, labClient, startLabWebHost, waitFor } from './wsClient';
const WORKER = /^(uring-srv-|uring-load|uring-storage|iou-)/;

interface Thread { comm: string; cpus: string }

function threads(pid: number): Thread[] {
  return threadsWithPolicy(pid).map(({ comm, cpus }) => ({ comm, cpus }));
}

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
/** Each thread's name, CPUs and scheduling policy (/proc/…/stat field 41). */
function threadsWithPolicy(pid: number): (Thread & { policy: number })[] {
  const out: (Thread & { policy: number })[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const cpus = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      out.push({ comm, cpus, policy: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]) });
    } catch { /* ended meanwhile */ }
  }
  return out;
}
const policies = (ts: readonly { comm: string; policy: number }[]) => ts.map((t) => `${t.comm}:${t.policy}`);

/** The fair scheduler's slice of each thread of `pid` (/proc/…/sched se.slice, ns; absent for a
 *  real-time thread). */
function slices(pid: number): { comm: string; sliceNs: number | null }[] {
  const out: { comm: string; sliceNs: number | null }[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const m = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8'));
      out.push({ comm, sliceNs: m ? Number(m[1]) : null });
    } catch { /* ended meanwhile */ }
  }
  return out;
}
/** Linux 6.12+ keeps a fair thread's requested slice (sched_attr.sched_runtime). */
const customSlices = (() => {
  const [major, minor] = os.release().split('.').map(Number);
  return major! > 6 || (major === 6 && minor! >= 12);
})();
/** What the measured threads ask for (native/src/core/lab_threads.h LAB_MEASURED_SLICE_NS). */
const MEASURED_SLICE_NS = 100_000;

/** The engine this test process forked (its only child running engine/main.js). */
function enginePid(): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('engine/main.js')) return Number(d);
    } catch { /* gone */ }
  }
  return null;
}

const twoCpus = os.cpus().length >= 2;
let lab: LabService;
let web: WebHost;

describe.skipIf(!twoCpus)(`the engine's own threads and load.cpus${twoCpus ? '' : ' (skipped: needs 2 CPUs)'}`, () => {
  beforeAll(async () => {
    ({ lab, web } = await startLabWebHost());
  });
  afterAll(async () => {
    await web?.close();
    await lab?.close();
  });

  const all = `0-${os.cpus().length - 1}`;
  const profile = {
    kind: 'uring-lab/profile', schemaVersion: 1, probes: { enabled: false },
    server: { numa: { cpus: [0] } }, load: { connections: 4, cpus: [1] }, duration: { warmupS: 0, measureS: 30 },
  };

  const engineEntry = path.join(__dirname, '../../dist/electron/engine/main.js');
  /** A pinned run through the web host, running (3 frames in), with this process (its host)
   *  already moved off the load's CPU. */
  async function startPinnedRun() {
    const c = labClient(await connectLab(web.port, { token: web.token }));
    expect(await c.call('startRun', { profile, untilStopped: true })).toMatchObject({ ok: true });
    await waitFor(() => c.events.filter((e) => e.type === 'frame').length >= 3, 15_000, 'frames');
    expect(threads(process.pid).filter((t) => t.cpus !== '0'), 'host threads during the run').toEqual([]);
    return c;
  }

  it('run on the other CPUs while the pinned load runs, the workers keep their own, and all come back at the stop', async () => {
    const c = labClient(await connectLab(web.port, { token: web.token }));
    expect(await c.call('startRun', { profile, untilStopped: true })).toMatchObject({ ok: true });
    await waitFor(() => c.events.filter((e) => e.type === 'frame').length >= 3, 15_000, 'frames');
    const pid = enginePid()!;
    expect(pid).toBeGreaterThan(0);
    const during = threads(pid);
    const load = during.filter((t) => t.comm === 'uring-load');
    const server = during.filter((t) => t.comm.startsWith('uring-srv-'));
    const own = during.filter((t) => !WORKER.test(t.comm));
    expect(load.length, JSON.stringify(during)).toBeGreaterThan(0);
    expect(load.map((t) => t.cpus)).toEqual(load.map(() => '1'));
    expect(server.map((t) => t.cpus)).toEqual(server.map(() => '0'));
    expect(own.length).toBeGreaterThan(0);
    // No bookkeeping thread of the engine, nor of its host (this process), may run on the load's CPU.
    expect(own.filter((t) => t.cpus !== '0'), JSON.stringify(own)).toEqual([]);
    expect(threads(process.pid).filter((t) => t.cpus !== '0'), 'host threads').toEqual([]);

    expect(await c.call('stopRun')).toMatchObject({ ok: true });
    const after = threads(pid).filter((t) => !WORKER.test(t.comm));
    expect(after.filter((t) => t.cpus !== all), JSON.stringify(after)).toEqual([]);
    expect(threads(process.pid).filter((t) => t.cpus !== all), 'host threads after the stop').toEqual([]);
  }, 40_000);

  it('run SCHED_BATCH while the run runs, the workers and io_uring\'s SQPOLL thread SCHED_OTHER, and all SCHED_OTHER after the stop', async () => {
    const c = labClient(await connectLab(web.port, { token: web.token }));
    const sqpoll = { ...profile, server: { ...profile.server, sqpoll: { enabled: true } } };
    expect(await c.call('startRun', { profile: sqpoll, untilStopped: true })).toMatchObject({ ok: true });
    await waitFor(() => c.events.filter((e) => e.type === 'frame').length >= 3, 15_000, 'frames');
    const pid = enginePid()!;
    const during = threadsWithPolicy(pid);
    const workers = during.filter((t) => WORKER.test(t.comm));
    const own = during.filter((t) => !WORKER.test(t.comm));
    expect(workers.some((t) => t.comm.startsWith('iou-sqp')), policies(during).join(' ')).toBe(true);
    expect(workers.some((t) => t.comm === 'uring-load') && workers.some((t) => t.comm.startsWith('uring-srv-')), policies(during).join(' ')).toBe(true);
    expect(workers.filter((t) => t.policy !== SCHED_OTHER), 'workers').toEqual([]);
    expect(own.length).toBeGreaterThan(0);
    expect(policies(own.filter((t) => t.policy !== SCHED_BATCH)), 'the engine\'s own threads').toEqual([]);
    expect(policies(threadsWithPolicy(process.pid).filter((t) => t.policy !== SCHED_BATCH)), 'host threads').toEqual([]);
    if (customSlices) {
      // The measured threads ask for a short slice, so a woken one preempts a bookkeeping thread
      // rather than waiting out its slice; the lab's own threads keep the default.
      const measured = slices(pid).filter((t) => /^(uring-srv-|uring-load)/.test(t.comm));
      expect(measured.length).toBeGreaterThanOrEqual(2);
      expect(measured.filter((t) => t.sliceNs !== MEASURED_SLICE_NS), 'measured threads\' slices').toEqual([]);
      const ownSlices = slices(pid).filter((t) => !WORKER.test(t.comm) && t.sliceNs !== null);
      expect(ownSlices.length).toBeGreaterThan(0);
      expect(ownSlices.filter((t) => t.sliceNs === MEASURED_SLICE_NS), 'the engine\'s own threads keep the default slice').toEqual([]);
    }

    expect(await c.call('stopRun')).toMatchObject({ ok: true });
    expect(policies(threadsWithPolicy(pid).filter((t) => t.policy !== SCHED_OTHER)), 'the engine after the stop').toEqual([]);
    expect(policies(threadsWithPolicy(process.pid).filter((t) => t.policy !== SCHED_OTHER)), 'host threads after the stop').toEqual([]);
  }, 40_000);

  it('moves the host the start names, which need not be its parent (under Electron a zygote forks it), and gives it back at the stop', async () => {
    // A stand-in host: one thread, not the engine's parent (this process is).
    const host = spawn('sleep', ['60'], { stdio: 'ignore' });
    const engine = forkEngine(engineEntry);
    const exited = new Promise<void>((resolve) => engine.onExit(() => resolve()));
    const seen: EngineWireMessage[] = [];
    engine.onMessage((m) => seen.push(readPosted(m)));
    const next = (type: EngineWireMessage['type']) => waitFor(() => seen.some((m) => m.type === type), 15_000, type);
    try {
      await next('ready');
      const config = nativeConfigFor(ProfileSchema.parse({ ...profile, duration: { warmupS: 0, measureS: 5 } }), 10_000);
      engine.send({ type: 'start', config, frameIntervalMs: 100, hostPid: host.pid! });
      await next('started');
      expect(threads(host.pid!), 'the named host').toEqual([{ comm: 'sleep', cpus: '0' }]);
      expect(threadsWithPolicy(host.pid!).map((t) => t.policy), 'the named host\'s policy').toEqual([SCHED_BATCH]);
      expect(threads(process.pid).filter((t) => t.cpus !== all), 'the parent, not named').toEqual([]);
      engine.send({ type: 'stop' });
      await next('stopped');
      expect(threads(host.pid!), 'the named host after the stop').toEqual([{ comm: 'sleep', cpus: all }]);
      expect(threadsWithPolicy(host.pid!).map((t) => t.policy), 'the named host\'s policy after the stop').toEqual([SCHED_OTHER]);
    } finally {
      engine.send({ type: 'shutdown' });
      host.kill('SIGKILL');
    }
    await exited;
  }, 40_000);

  it("a second engine's exit does not undo the move the current engine's run made (only the last engine to exit restores the host)", async () => {
    // An engine that ends while the web host's engine runs a pinned run (a replaced engine, or a
    // second one): this process must stay off the load's CPU until that run stops.
    const c = await startPinnedRun();
    const other = forkEngine(engineEntry);
    const exited = new Promise<void>((resolve) => other.onExit(() => resolve()));
    other.kill();
    await exited;
    await new Promise((r) => setTimeout(r, 200));
    expect(threads(process.pid).filter((t) => t.cpus !== '0'), 'host threads after the other engine exited').toEqual([]);
    expect(await c.call('stopRun')).toMatchObject({ ok: true });
    expect(threads(process.pid).filter((t) => t.cpus !== all), 'host threads after the stop').toEqual([]);
  }, 40_000);

  it('an engine killed mid-run leaves its host with its CPUs and its scheduling policy back', async () => {
    const c = await startPinnedRun();
    expect(threadsWithPolicy(process.pid).some((t) => t.policy === SCHED_BATCH), 'host threads during the run').toBe(true);
    process.kill(enginePid()!, 'SIGKILL');
    await waitFor(() => threads(process.pid).every((t) => t.cpus === all), 10_000, 'the host\'s CPUs back');
    await waitFor(() => threadsWithPolicy(process.pid).every((t) => t.policy === SCHED_OTHER), 10_000, 'the host\'s SCHED_OTHER back');
    await waitFor(() => c.events.some((e) => e.type === 'failed'), 15_000, 'the run failed');
  }, 40_000);
});
