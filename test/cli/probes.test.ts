/**
 * The eBPF probes from the host's side, with real runs: the engine process attaches them after
 * each start and every frame carries their interval (on the frame's clock); the summary lists
 * every probe with the variant that attached and its measured cost; `probes.enabled=false`
 * attaches nothing and says so; an engine killed -9 mid-run leaves none of its programs loaded;
 * an unprivileged engine with no probe helper runs without probes and says why and how to fix it.
 *
 * Needs root (the probes load in-process) and bpftool for the leak check; skipped with the reason otherwise.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DoctorReportSchema, PER_REQUEST_DUTY_DEFAULT, PER_REQUEST_OFF_REASON, PER_REQUEST_PROBES, PROBE_NAMES, PROBES_DISABLED_REASON, RunFrameSchema, RunSummarySchema, type LabEvent, type ProbeName, type RunFrame, type RunSummary } from '../../electron/contract';
import { ProfileSchema } from '../../electron/contract';
import type { EngineWireMessage } from '../../electron/engine/protocol';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { EngineSupervisor, forkEngine, readPosted } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';
import { kernelSummaryLines } from '../../electron/host/run/probes';
import { CLI, enginePidOf, runningRunOf, runSummaryOf, sleep, startCli } from './cliProcess';
import { threadsOf } from '../procThreads';
import { WORKER_THREAD_PREFIXES } from '../../electron/contract/threadNames';

const ENGINE = path.join(__dirname, '../../dist/electron/engine/main.js');
const BPFTOOL = ['/usr/sbin/bpftool', '/sbin/bpftool', '/usr/bin/bpftool'].find((p) => existsSync(p)) ?? null;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const SETCAP = ['/usr/sbin/setcap', '/sbin/setcap', '/usr/bin/setcap'].find((p) => existsSync(p)) ?? null;
const HELPER = path.join(__dirname, '../../native/build/Release/uring-lab-probe-helper');
const root = process.getuid?.() === 0;

const supervisor = new EngineSupervisor(() => forkEngine(ENGINE));
const lab = new LabService({ supervisor });
/* An engine whose per-request windows come every 300 ms (the native module's measurement hook)
 * instead of the adaptive period, which here grows to ~4.6 s after the first window: a 3 s run
 * then holds one window or two, so the share it observes is whatever the dice say. The adaptive
 * period itself is tested in test/native/probeSampling.test.ts. */
const fixedPeriodSupervisor = new EngineSupervisor(() => forkEngine(ENGINE, { ...process.env, URING_LAB_PROBE_SAMPLING_PERIOD_MS: '300' }));
const fixedPeriodLab = new LabService({ supervisor: fixedPeriodSupervisor });
/* bench:probes' in-run (switchback) engine: probes detached after every 5 frames, attached after the next 5. */
const switchbackLab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(ENGINE, { ...process.env, URING_LAB_PROBE_SWITCHBACK_FRAMES: '5' })) });
/* The same, toggling only the stack sampling (bench:probes --only profile). */
const profileSwitchbackLab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(ENGINE, { ...process.env, URING_LAB_PROBE_SWITCHBACK_FRAMES: '5', URING_LAB_PROBE_SWITCHBACK_ONLY: 'profile' })) });
afterAll(() => Promise.all([lab.close(), fixedPeriodLab.close(), switchbackLab.close(), profileSwitchbackLab.close()]));

/** `perRequestDuty` absent: the knob's default (time-sampled). */
const profile = (probes: boolean, perRequest = true, perRequestDuty?: number) => ({
  kind: 'uring-lab/profile', schemaVersion: 1,
  load: { connections: 8 },
  probes: { enabled: probes, perRequest, ...(perRequestDuty === undefined ? {} : { perRequestDuty }) },
  duration: { warmupS: 0, measureS: 1 },
});

/** One short run through the lab service: its frames and its summary. */
async function runThroughLab(probes: boolean, perRequest = true, perRequestDuty?: number, measureS = 1, through = lab): Promise<{ frames: RunFrame[]; summary: RunSummary }> {
  const frames: RunFrame[] = [];
  let done!: (s: RunSummary) => void;
  const ended = new Promise<RunSummary>((resolve) => { done = resolve; });
  const off = through.onEvent((e: LabEvent) => {
    if (e.type === 'frame') frames.push(e.frame);
    if (e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted') done(e.summary);
  });
  try {
    await through.startRun({ profile: { ...profile(probes, perRequest, perRequestDuty), duration: { warmupS: 0, measureS } } });
    const summary = await ended;
    return { frames, summary: RunSummarySchema.parse(summary) };
  } finally {
    off();
  }
}

/** Ids of the BPF programs a process holds open (its fds' fdinfo says prog_id). */
function progIdsOf(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return ids;
}

/** The distinct programs a process holds, ascending: the per-request sampling thread holds a
 *  second fd (a link) to some of them while a window is open. */
function distinctProgIdsOf(pid: number): number[] {
  return [...new Set(progIdsOf(pid))].sort((a, b) => a - b);
}

function loadedProgIds(): Set<number> {
  const list = JSON.parse(execFileSync(BPFTOOL!, ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { id: number }[];
  return new Set(list.map((p) => p.id));
}

describe.skipIf(!root)(`eBPF probes in real runs${root ? '' : ' (skipped: not root, the probes cannot load in-process)'}`, () => {
  it('every probe attaches with a variant, frames carry kernel data on the frame clock, the summary has the aggregates and overhead', async () => {
    // Duty 1: the per-request probes attached all the time, so their counts are whole (the CQE check below).
    const { frames, summary } = await runThroughLab(true, true, 1);
    expect(summary.status).toBe('completed');
    expect(summary.probes.map((p) => p.name).sort()).toEqual([...PROBE_NAMES].sort());
    for (const p of summary.probes) {
      expect(p.attached, `${p.name}: ${p.reason}`).toBe(true);
      expect(p.variant).toMatch(/tp_btf|raw_tp|tracepoint|perf_event/);
      expect(p.loadedBy).toBe('in-process');
    }
    expect(summary.phases[0]!.probes?.every((p) => p.attached)).toBe(true);

    for (const f of frames) RunFrameSchema.parse(f);
    const withKernel = frames.filter((f) => f.kernel);
    expect(withKernel.length).toBe(frames.length);
    // Each names the run's own TCP port (its server's, one phase: the same in all), which the
    // spike rules count TCP retransmits and drops on (the counts are machine-wide).
    expect(new Set(withKernel.map((f) => JSON.stringify(f.kernel!.tcp.enginePorts))).size).toBe(1);
    expect(withKernel[0]!.kernel!.tcp.enginePorts).toEqual([expect.any(Number)]);
    expect(withKernel[0]!.kernel!.tcp.enginePorts![0]).toBeGreaterThan(0);
    // A frame's kernel read comes right before its engine snapshot, never a frame away. The
    // final frame's comes after the stop (the server's teardown between them, which a stalled
    // VM can stretch past a short last frame's length), so it is bounded apart.
    for (const f of withKernel) {
      if (f.final) expect(f.kernel!.tMs - f.tMs, 'final frame').toBeGreaterThanOrEqual(0);
      if (f.final) expect(f.kernel!.tMs - f.tMs, 'final frame').toBeLessThan(2000);
      else expect(Math.abs(f.kernel!.tMs - f.tMs)).toBeLessThan(f.intervalMs);
    }
    const sum = (pick: (f: RunFrame) => number) => withKernel.reduce((n, f) => n + pick(f), 0);
    expect(sum((f) => f.kernel!.uring.completions)).toBeGreaterThan(0);
    expect(sum((f) => f.kernel!.runqueue.count)).toBeGreaterThan(0);

    const k = summary.kernelStats!;
    expect(k.frames).toBeGreaterThan(0);
    expect(k.uring.completions).toBeGreaterThan(0);
    expect(k.uring.latencyNs.p99).toBeGreaterThanOrEqual(k.uring.latencyNs.p50);
    expect(k.runqueue.latencyNs.count).toBeGreaterThan(0);
    expect(summary.phases[0]!.kernel?.uring.completions).toBe(k.uring.completions);
    expect(k.perRequestSampling).toMatchObject({ duty: 1, observedShare: 1, windows: null });
    // Drops at closing sockets (every run's teardown makes some) are summed apart from losses.
    expect(k.tcp.closeDrops).toBe(sum((f) => f.kernel!.tcp.closeDrops!));
    expect(k.tcp.duplicateDrops).toBe(sum((f) => f.kernel!.tcp.duplicateDrops!));
    expect(k.tcp.drops).toBe(sum((f) => f.kernel!.tcp.drops));
    // Same frames, same interval: the probe's completions are the engine's own CQE count (issue: within 2 %,
    // at duty 1; time-sampled runs have their own test below).
    const engineCqes = summary.engine!.cqesPerReq * summary.requests;
    expect(Math.abs(k.uring.completions - engineCqes) / engineCqes).toBeLessThan(0.02);
    // Run-time stats: every attached probe's programs ran and cost something measurable.
    const costed = summary.probes.filter((p) => p.overhead && p.overhead.events > 0);
    expect(costed.length).toBeGreaterThan(0);
    for (const p of costed) {
      expect(p.overhead!.nsPerEvent).toBeGreaterThan(0);
      expect(p.overhead!.cpuShare).toBeGreaterThan(0);
      expect(p.overhead!.cpuShare).toBeLessThan(1);
    }
  }, 60_000);

  it('a knob change keeps the attached programs for the new phase, a probe knob change attaches the new set; each phase\'s kernel view agrees with its engine counts (SQPOLL: fewer enters per request)', async () => {
    let done!: (s: RunSummary) => void;
    const ended = new Promise<RunSummary>((resolve) => { done = resolve; });
    // A fixed 300 ms sampling period: each phase (~1 s and ~1.5 s) holds several windows. With
    // the adaptive period (up to ~4.6 s on a busy VM, where attaching costs more) a 1 s phase
    // can hold none, and that is the period's choice, not the re-attach under test.
    const off = fixedPeriodLab.onEvent((e: LabEvent) => { if (e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted') done(e.summary); });
    try {
      await fixedPeriodLab.startRun({ profile: { ...profile(true), duration: { warmupS: 0, measureS: 3.5 } } });
      const engine = fixedPeriodSupervisor.pid!;
      const firstPrograms = distinctProgIdsOf(engine);
      expect(firstPrograms.length).toBeGreaterThan(0);
      await sleep(1000);
      await fixedPeriodLab.setKnob({ path: 'server.sqpoll.enabled', value: true });
      // The same programs serve the new phase: nothing unloaded, nothing loaded again.
      expect(distinctProgIdsOf(engine)).toEqual(firstPrograms);
      await sleep(1500);
      // A probe knob asks for another set: the old programs go, the new set attaches.
      await fixedPeriodLab.setKnob({ path: 'diagnose.profileHz', value: 0 });
      const thirdPrograms = progIdsOf(engine);
      expect(thirdPrograms.length).toBeGreaterThan(0);
      for (const id of thirdPrograms) expect(firstPrograms).not.toContain(id);
      const summary = RunSummarySchema.parse(await ended);
      // The run's end detaches everything, the kept programs included.
      expect(progIdsOf(engine)).toEqual([]);
      expect(summary.phases).toHaveLength(3);
      const [before, after, third] = summary.phases as [RunSummary['phases'][0], RunSummary['phases'][0], RunSummary['phases'][0]];
      expect(third.probes?.find((p) => p.name === 'profile')?.attached).toBe(false);
      expect(third.probes?.filter((p) => p.name !== 'profile').every((p) => p.attached)).toBe(true);
      expect(after.applied.server.sqpoll.enabled).toBe(true);
      for (const phase of [before, after]) {
        expect(phase.probes?.every((p) => p.attached)).toBe(true);
        // The time sampling went on across the change (the programs were kept) and sampled each phase.
        expect(phase.probes?.find((p) => p.name === 'uring_latency')?.sampling?.observedShare).toBeGreaterThan(0);
        expect(phase.kernel!.perRequestSampling!.attachErrors).toBe(0);
        expect(phase.kernel?.uring.completions).toBeGreaterThan(0);
        // Enters: the engine's own count by default (a syscall tracepoint would slow every task),
        // or the kernel's (entersSource); either way the same interval as the engine's counters.
        expect(phase.kernel!.uring.entersSource).toMatch(/^(engine|syscall_tracepoint|raw_sys_enter)$/);
        const engineEnters = phase.engine!.entersPerReq * phase.stats.requests;
        expect(Math.abs(phase.kernel!.uring.enters - engineEnters), `phase ${phase.index}: probe ${phase.kernel!.uring.enters} enters, engine ${engineEnters}; probes ${JSON.stringify(phase.probes)}`).toBeLessThanOrEqual(0.02 * engineEnters + 5);
      }
      // How much fewer depends on how often the server must wait for completions (issue 9's ≥ 5× is
      // pinned under controlled load in test/native/probes.test.ts); here: fewer, per phase.
      expect(after.kernel!.uring.entersPerReq!).toBeLessThan(before.kernel!.uring.entersPerReq!);
      // The run's aggregates are the phases' together.
      expect(summary.kernelStats!.uring.completions).toBe(before.kernel!.uring.completions + after.kernel!.uring.completions + third.kernel!.uring.completions);
    } finally {
      off();
    }
  }, 60_000);

  it('a stop that keeps the probes for a start that never comes detaches them within seconds; a plain stop at once', async () => {
    const engine = forkEngine(ENGINE);
    const exited = new Promise<void>((resolve) => engine.onExit(() => resolve()));
    const seen: EngineWireMessage[] = [];
    engine.onMessage((m) => seen.push(readPosted(m)));
    const next = async (type: EngineWireMessage['type']) => {
      for (let i = 0; i < 300 && !seen.some((m) => m.type === type); i++) await sleep(50);
      const at = seen.findIndex((m) => m.type === type);
      expect(at, `the engine said ${type}: ${JSON.stringify(seen.filter((m) => m.type === 'error'))}`).toBeGreaterThanOrEqual(0);
      seen.splice(0, at + 1);
    };
    const start = () => engine.send({ type: 'start', config: nativeConfigFor(ProfileSchema.parse({ ...profile(true, false), duration: { warmupS: 0, measureS: 5 } }), 10_000), frameIntervalMs: 100, probes: { enabled: true } });
    try {
      const pid = await new Promise<number>((resolve) => engine.onMessage((posted) => { const m = readPosted(posted); if (m.type === 'ready') resolve(m.pid); }));
      await next('ready');
      start();
      await next('started');
      expect(progIdsOf(pid).length).toBeGreaterThan(0);
      engine.send({ type: 'stop', keepProbes: true });
      await next('stopped');
      const kept = progIdsOf(pid);
      expect(kept.length).toBeGreaterThan(0);
      const t0 = Date.now();
      while (progIdsOf(pid).length > 0 && Date.now() - t0 < 10_000) await sleep(100);
      expect(progIdsOf(pid), 'kept programs still held 10 s after a stop no start followed').toEqual([]);
      // Kept for about the engine's KEPT_PROBES_MS (3 s), not dropped at once.
      expect(Date.now() - t0).toBeGreaterThan(1500);
      start();
      await next('started');
      expect(progIdsOf(pid).length).toBeGreaterThan(0);
      engine.send({ type: 'stop' });
      await next('stopped');
      expect(progIdsOf(pid)).toEqual([]);
    } finally {
      engine.send({ type: 'shutdown' });
    }
    await exited;
  }, 60_000);

  it('time-sampled per-request probes (the default duty): frames and summary say which share of the time they saw', async () => {
    const duty = PER_REQUEST_DUTY_DEFAULT;
    // 3 s of 300 ms periods: ~10 windows.
    const { frames, summary } = await runThroughLab(true, true, undefined, 3, fixedPeriodLab);
    expect(summary.status).toBe('completed');
    const withKernel = frames.filter((f) => f.kernel);
    expect(withKernel.length).toBe(frames.length);
    // Each frame: the share of its interval the per-request probes were attached (one window per period).
    for (const f of withKernel) {
      const ps = f.kernel!.perRequestSampling!;
      expect(ps.duty).toBe(duty);
      expect(ps.observedShare).toBeGreaterThanOrEqual(0);
      expect(ps.observedShare).toBeLessThanOrEqual(1);
      expect(ps.attachErrors).toBe(0);
    }
    const k = summary.kernelStats!;
    const ps = k.perRequestSampling!;
    expect(ps.duty).toBe(duty);
    // A few random windows whose lengths the thread steers towards duty × elapsed.
    expect(ps.observedShare).toBeGreaterThan(duty / 3);
    expect(ps.observedShare).toBeLessThan(duty * 3);
    expect(ps.windows).toBeGreaterThanOrEqual(5);
    expect(ps.observedS).toBeCloseTo(ps.observedShare * k.measuredS, 1);
    // The text summary's softirq numbers say so too, not only the io_uring latency's.
    expect(kernelSummaryLines(summary).join('\n')).toMatch(/softirq NET_RX [\d.]+ ms NET_TX [\d.]+ ms · NAPI polls \d+ \(sampled [\d.]+ % of the time, \d+ windows?, probes\.perRequestDuty /);
    // The per-request probes' entries say the duty and the observed share; the others have none.
    for (const p of summary.probes) {
      if (PER_REQUEST_PROBES.includes(p.name as ProbeName)) {
        expect(p.reason).toMatch(/^time-sampled/);
        expect(p.sampling).toEqual({ duty, observedShare: ps.observedShare });
      } else {
        expect(p.sampling ?? null).toBeNull();
      }
    }
    // The windows' requests as the engine counted them: fewer than their share of the time would
    // hold (the attached probes slow every request they see), which is why the ratio divides by
    // them. Each frame says its own.
    for (const f of withKernel) expect(f.kernel!.perRequestSampling!.observedRequests).toEqual(expect.any(Number));
    expect(ps.observedRequests!).toBeGreaterThan(0);
    expect(ps.observedRequests!).toBeLessThan(k.requests * ps.observedShare * 1.5);
    // completionsPerReq is per request of the observed time: it agrees with the engine's own
    // count of the CQEs it reaped per request over the whole run (1.0 here: multishot receives,
    // quiet sends). Requests × observed share read 0.28–0.79 for it instead.
    expect(k.uring.completions).toBeGreaterThan(0);
    const reaped = summary.engine!.cqesPerReq;
    expect(k.uring.completionsPerReq!).toBeGreaterThan(reaped * 0.7);
    expect(k.uring.completionsPerReq!).toBeLessThan(reaped * 1.4);
  }, 60_000);

  it('with probes.perRequest false the per-request probes stay off and say why; the others attach', async () => {
    const { frames, summary } = await runThroughLab(true, false);
    expect(summary.status).toBe('completed');
    expect(summary.probes.map((p) => p.name)).toEqual([...PROBE_NAMES]);
    for (const p of summary.probes) {
      if ((PER_REQUEST_PROBES as readonly string[]).includes(p.name)) {
        expect(p.attached).toBe(false);
        expect(p.reason).toBe(PER_REQUEST_OFF_REASON);
        expect(p.fix).toMatch(/probes\.perRequest=true/);
      } else {
        expect(p.attached, `${p.name}: ${p.reason}`).toBe(true);
      }
    }
    // The run-queue still fills; io_uring completions are not traced (0), enters come from the engine.
    const withKernel = frames.filter((f) => f.kernel);
    expect(withKernel.length).toBe(frames.length);
    expect(withKernel.reduce((n, f) => n + f.kernel!.runqueue.count, 0)).toBeGreaterThan(0);
    expect(withKernel.reduce((n, f) => n + f.kernel!.uring.completions, 0)).toBe(0);
    // The CLI's text says the in-kernel latency was not measured, not "p50 0 ns".
    expect(summary.kernelStats!.uring.latencyNs.count).toBe(0);
    const text = kernelSummaryLines(summary).join('\n');
    expect(text).toMatch(/io_uring in-kernel latency n\/a \(no samples: not attached\)/);
    // Nor the softirq probe's zeros: it was off too.
    expect(text).toMatch(/softirq n\/a \(not attached\)/);
    expect(text).not.toMatch(/NAPI polls 0/);
    expect(text).not.toMatch(/in-kernel p50 0 ns/);
    expect(text).toMatch(/run-queue p99 \d/);
  }, 60_000);

  it('the switchback hook (bench:probes, in-run mode) alternates blocks of frames with and without the probes in one run, by frame position', async () => {
    const { frames, summary } = await runThroughLab(true, false, undefined, 3, switchbackLab);
    expect(summary.status).toBe('completed');
    const timed = frames.filter((f) => !f.final);
    expect(timed.length).toBeGreaterThanOrEqual(20);
    // The bench's rule: frame i (0-based) has the probes attached when ⌊i / 5⌋ is even.
    const pattern = timed.map((f) => (f.kernel ? 'k' : '-')).join('');
    const expected = timed.map((_, i) => (Math.floor(i / 5) % 2 === 0 ? 'k' : '-')).join('');
    expect(pattern).toBe(expected);
    // The probes attached again see the kernel again: the later on-blocks' run-queue samples.
    const reattached = timed.filter((_, i) => i >= 10 && i % 10 < 5);
    expect(reattached.reduce((n, f) => n + f.kernel!.runqueue.count, 0)).toBeGreaterThan(0);
  }, 60_000);

  it('the switchback hook with URING_LAB_PROBE_SWITCHBACK_ONLY=profile toggles the stack sampling alone; the other probes report in every frame', async () => {
    const { frames, summary } = await runThroughLab(true, false, undefined, 3, profileSwitchbackLab);
    expect(summary.status).toBe('completed');
    const timed = frames.filter((f) => !f.final);
    expect(timed.length).toBeGreaterThanOrEqual(20);
    for (const f of timed) expect(f.kernel).not.toBeNull();
    const samples = (f: RunFrame) => f.kernel!.profile?.samples ?? 0;
    const offBlocks = timed.filter((_, i) => Math.floor(i / 5) % 2 === 1);
    const onBlocks = timed.filter((_, i) => Math.floor(i / 5) % 2 === 0);
    // Without the profile probe a frame has no stack samples; with it (diagnose.profileHz's default on the engine's busy threads) the blocks do.
    expect(offBlocks.reduce((n, f) => n + samples(f), 0)).toBe(0);
    expect(onBlocks.reduce((n, f) => n + samples(f), 0)).toBeGreaterThan(0);
    // The other probes kept counting in the blocks without stack sampling.
    expect(offBlocks.reduce((n, f) => n + f.kernel!.runqueue.count, 0)).toBeGreaterThan(0);
  }, 60_000);

  it('the run-queue histogram counts the worker threads\' switch-ins (uring-srv-*, uring-load, iou-*), not the lab\'s own threads\'', async () => {
    // A slow open loop: the workers sleep between requests, and the lab's own threads (node's JS
    // thread with its frame timer, libuv's and V8's helpers) wake about as often as they do.
    const started = startCli(['run', '--json', '--duration', '3', '--set', 'duration.warmupS=0', '--set', 'load.mode=open', '--set', 'load.rateRps=50', '--set', 'load.connections=1']);
    const engine = await enginePidOf(started.child.pid!);
    // Each thread's first and last count of times switched in (schedstat), read every 20 ms
    // from the start until the run's threads are gone.
    const first = new Map<number, number>();
    const last = new Map<number, { comm: string; switchIns: number }>();
    let exited = false;
    void started.done.then(() => { exited = true; });
    while (!exited) {
      try {
        for (const t of threadsOf(engine)) {
          if (!first.has(t.tid)) first.set(t.tid, t.switchIns);
          last.set(t.tid, { comm: t.comm, switchIns: t.switchIns });
        }
      } catch { /* the engine exited */ }
      await sleep(20);
    }
    const summary = runSummaryOf(await started.done);
    const isWorker = (comm: string) => WORKER_THREAD_PREFIXES.some((p) => comm.startsWith(p));
    let workers = 0;
    let own = 0;
    for (const [tid, { comm, switchIns }] of last) {
      const n = switchIns - first.get(tid)!;
      if (isWorker(comm)) workers += n;
      else own += n;
    }
    const counted = summary.kernelStats!.runqueue.latencyNs.count;
    const why = `histogram ${counted}, workers' switch-ins ${workers}, the lab's own threads' ${own}`;
    expect(own, why).toBeGreaterThan(0.1 * workers);
    // Every switch-in of a worker follows a wake-up or a preemption; the histogram holds those
    // of the run's window, which the reads above bracket within 20 ms at each end (measured
    // 653 vs 649, 650 vs 642). Counting the lab's own threads too, it held 732 vs 640 and 744
    // vs 647: their switch-ins inside the window (the sums above also hold the start and stop).
    expect(counted, why).toBeGreaterThan(0.9 * workers - 10);
    expect(counted, why).toBeLessThan(1.06 * workers + 10);
  }, 30_000);

  it('probes.enabled=false: no kernel in any frame, every probe not attached "disabled by probes.enabled"', async () => {
    const { frames, summary } = await runThroughLab(false);
    expect(summary.status).toBe('completed');
    expect(frames.length).toBeGreaterThan(0);
    for (const f of frames) expect(f.kernel).toBeNull();
    expect(summary.kernelStats).toBeNull();
    expect(summary.probes.map((p) => p.name).sort()).toEqual([...PROBE_NAMES].sort());
    for (const p of summary.probes) {
      expect(p.attached).toBe(false);
      expect(p.reason).toBe(PROBES_DISABLED_REASON);
      expect(p.overhead ?? null).toBeNull();
    }
  }, 60_000);

  it.skipIf(!BPFTOOL)(`the engine killed -9 mid-run leaves none of its programs loaded${BPFTOOL ? '' : ' (skipped: bpftool is missing)'}`, async () => {
    const cli = startCli(['run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=4']);
    try {
      // A CLI that ends before its run is running says why here, rather than as a 15 s timeout.
      const endedEarly = cli.done.then((r) => { throw new Error(`the CLI exited (${r.code ?? r.signal}) before its run was running: ${r.stderr.trim()}`); });
      endedEarly.catch(() => undefined);
      await Promise.race([runningRunOf(cli.child.pid!), endedEarly]);
      const engine = await enginePidOf(cli.child.pid!);
      const held = progIdsOf(engine);
      expect(held.length).toBeGreaterThan(0);
      const loaded = loadedProgIds();
      for (const id of held) expect(loaded.has(id)).toBe(true);
      process.kill(engine, 'SIGKILL');
      // The kernel frees a program once its last fd and link are gone (freeing is deferred a little).
      let left = held;
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await sleep(50);
        const now = loadedProgIds();
        left = held.filter((id) => now.has(id));
      }
      expect(left, `programs ${left.join(', ')} of the killed engine are still loaded`).toEqual([]);
      const r = await cli.done;
      expect(r.code).not.toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  }, 60_000);

  it('the doctor checks each probe in the engine process, with its privileges, the helper and the sysctl', () => {
    const report = DoctorReportSchema.parse(JSON.parse(execFileSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8', timeout: 60_000 })));
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    for (const name of PROBE_NAMES) {
      const check = byId.get(`probe_${name}`);
      expect(check, `no doctor check for probe ${name}`).toBeDefined();
      expect(check!.ok, `${name}: ${check!.reason}`).toBe(true);
      expect(check!.value).toMatch(/tp_btf|raw_tp|tracepoint|perf_event/);
    }
    expect(byId.get('bpf_privileges')).toMatchObject({ ok: true, value: 'root' });
    expect(byId.get('probe_helper')?.reason).toContain('uring-lab-probe-helper');
    expect(byId.get('unprivileged_bpf_disabled')?.value).toBe(readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim());
  }, 60_000);

  /** The CLI as nobody with no capabilities; `helper`: URING_LAB_PROBE_HELPER. */
  function cliAsNobody(home: string, helper: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
    return execFileSync(SETPRIV!, ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, ...args], {
      encoding: 'utf8', timeout: 60_000,
      // nobody needs a runtime, data and history folder of its own (a history it cannot write is exit 2).
      env: { ...process.env, HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home, URING_LAB_RUNS_DIR: path.join(home, 'runs'), URING_LAB_PROBE_HELPER: helper, ...env },
    });
  }

  function runAsNobody(home: string, helper: string): RunSummary {
    // Per-request windows every 300 ms (the addon's measurement hook), as in the knob-change test:
    // with the adaptive period the first window falls within 100 ms of attaching and the next
    // ~4.6 s later, so a 1 s run saw none whenever the first fell before its start (1 CI run).
    const out = cliAsNobody(home, helper, ['run', '--json', '--duration', '1', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--set', 'probes.perRequest=true'], { URING_LAB_PROBE_SAMPLING_PERIOD_MS: '300' });
    return runSummaryOf({ code: 0, signal: null, stdout: out, stderr: '' });
  }

  it.skipIf(!SETPRIV)(`an unprivileged engine without the probe helper: the run completes and each probe says why and how to fix it${SETPRIV ? '' : ' (skipped: setpriv is missing)'}`, () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-probes-'));
    chmodSync(home, 0o777);
    try {
      const summary = runAsNobody(home, path.join(home, 'no-helper'));
      expect(summary.status).toBe('completed');
      expect(summary.requests).toBeGreaterThan(0);
      expect(summary.kernelStats).toBeNull();
      expect(summary.probes.map((p) => p.name).sort()).toEqual([...PROBE_NAMES].sort());
      for (const p of summary.probes) {
        expect(p.attached).toBe(false);
        expect(p.reason).toMatch(/CAP_BPF\/CAP_PERFMON/);
        expect(p.reason).toContain('no-helper');
        expect(p.fix).toMatch(/setcap cap_bpf,cap_perfmon/);
      }
      // The doctor, from the same unprivileged engine: why, and what to do, per probe and overall.
      const report = DoctorReportSchema.parse(JSON.parse(cliAsNobody(home, path.join(home, 'no-helper'), ['doctor', '--json'])));
      const byId = new Map(report.checks.map((c) => [c.id, c]));
      expect(byId.get('bpf_privileges')).toMatchObject({ ok: false, value: expect.stringMatching(/^uid 65534/) });
      expect(byId.get('probe_helper')).toMatchObject({ ok: false, value: 'absent' });
      expect(byId.get('probe_helper')?.fix).toBeTruthy();
      for (const name of PROBE_NAMES) {
        const check = byId.get(`probe_${name}`)!;
        expect(check.ok).toBe(false);
        expect(check.reason).toMatch(/CAP_BPF\/CAP_PERFMON/);
        expect(check.fix).toMatch(/setcap cap_bpf,cap_perfmon/);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 90_000);

  it.skipIf(!SETPRIV || !SETCAP || !existsSync(HELPER))(`an unprivileged engine with a setcap'd probe helper gets every probe through it${SETPRIV && SETCAP && existsSync(HELPER) ? '' : ' (skipped: setpriv, setcap or the built helper is missing)'}`, () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-probes-'));
    chmodSync(home, 0o777);
    try {
      // A copy holds the capabilities, as the deb's after-install script gives the installed one.
      const helper = path.join(home, 'uring-lab-probe-helper');
      execFileSync('cp', [HELPER, helper]);
      execFileSync(SETCAP!, ['cap_bpf,cap_perfmon,cap_sys_admin+ep', helper]);
      const summary = runAsNobody(home, helper);
      expect(summary.status).toBe('completed');
      for (const p of summary.probes) {
        expect(p.attached, `${p.name}: ${p.reason}`).toBe(true);
        expect(p.loadedBy).toBe('helper');
      }
      // The unprivileged engine time-samples the per-request probes itself, from the helper's program fds.
      expect(summary.kernelStats!.perRequestSampling).toMatchObject({ duty: PER_REQUEST_DUTY_DEFAULT, attachErrors: 0 });
      expect(summary.kernelStats!.perRequestSampling!.windows).toBeGreaterThanOrEqual(1);
      expect(summary.kernelStats!.perRequestSampling!.observedShare).toBeGreaterThan(0);
      expect(summary.kernelStats!.uring.completions).toBeGreaterThan(0);
      expect(summary.kernelStats!.runqueue.latencyNs.count).toBeGreaterThan(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 90_000);
});
