/**
 * Fault injection from the command line (issue 12): `uring-lab run --inject KIND@START:DURATION`.
 * Every malformed form is bad input (exit 2, one line naming --inject, nothing started); an
 * injection really runs in a real run (its hog processes exist during its window and are gone
 * after), is reported in RunSummary.injections with what it was, and one the run never reaches
 * says so; an engine killed -9 mid-injection leaves no hog, no memory-pressure child and no
 * memory cgroup behind once the CLI exits. Frames carry the /proc evidence (RunFrame.system).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunFrameSchema, type LabEvent, type RunFrame, type RunSummary } from '../../electron/contract';
import { EngineSupervisor, forkEngine } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';
import { enginePidOf, expectOneErrorLine, runningRunOf, runSummaryOf, sleep, startCli } from './cliProcess';

const native = require('../../native') as { injectStart?: unknown };
const hasInject = typeof native.injectStart === 'function';
const root = process.getuid?.() === 0;

/** A private runtime dir: other helpers' runs on this machine must not count as sharing it. */
function env(): NodeJS.ProcessEnv {
  return { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(path.join(os.tmpdir(), 'uring-lab-inject-rt-')) };
}

/** Live (non-zombie) children of `pid` with their comm. */
function childrenOf(pid: number): { pid: number; comm: string }[] {
  let out = '';
  try { out = execFileSync('ps', ['-o', 'pid=,stat=,comm=', '--ppid', String(pid)], { encoding: 'utf8' }); } catch { return []; }
  return out.trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)).filter((f) => !f[1]!.startsWith('Z')).map((f) => ({ pid: Number(f[0]), comm: f[2]! }));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** The memory cgroups an engine made (the native naming contract). */
function cgroupsOf(enginePid: number): string[] {
  const found: string[] = [];
  for (const dir of ['/sys/fs/cgroup/memory', '/sys/fs/cgroup']) {
    try {
      for (const name of readdirSync(dir)) if (name.startsWith(`uring-lab-inject-${enginePid}-`)) found.push(path.join(dir, name));
    } catch { /* no such hierarchy */ }
  }
  return found;
}

/** Waits until `predicate` holds (polling every 20 ms) or `ms` pass; its last value. */
async function until<T>(ms: number, probe: () => T, predicate: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  let v = probe();
  while (!predicate(v) && Date.now() < end) { await sleep(20); v = probe(); }
  return v;
}

describe('--inject: bad input', () => {
  const malformed = ['', 'cpuHog', 'cpuHog@', 'cpuHog@4s', 'cpuHog@4s:', '@1s:1s', 'nope@1s:1s', 'cpuhog@1s:1s', 'cpuHog@1x:1s',
    'cpuHog@1s:1s:1s', 'cpuHog@1s:0s', 'cpuHog@1s:61s', 'cpuHog@-1s:1s', 'cpuHog 1s 1s', 'cpuHog@1s:1e3ms', 'cpuHog@4000000s:1s'];
  it.each(malformed)('%j: exit 2, one line naming --inject and the form', async (spec) => {
    const r = await startCli(['run', '--duration', '0.1', `--inject=${spec}`]).done;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expectOneErrorLine(r.stderr, /--inject .*KIND@START:DURATION/);
  });

  it('two of one kind that overlap: exit 2 naming diagnose.inject[1] and the fix', async () => {
    const r = await startCli(['run', '--duration', '0.1', '--inject', 'cpuHog@1s:1s', '--inject', 'cpuHog@1500ms:1s']).done;
    expect(r.code, r.stderr).toBe(2);
    expectOneErrorLine(r.stderr, /diagnose\.inject\[1\].*overlaps diagnose\.inject\[0\].*start it at 2000 ms or later/);
  });
});

describe.skipIf(!hasInject || !root)(`--inject: real runs${!hasInject ? ' (skipped: this build of the addon has no fault injection; npm run build:native)' : !root ? ' (skipped: not root: the memory cgroup and the checks of other processes need it)' : ''}`, () => {
  it('cpuHog@1s:1s in a 3 s run: the hog runs in its window, is reported, and is gone after; frames carry system evidence', async () => {
    const e = env();
    const started = startCli(['run', '--duration', '3', '--set', 'duration.warmupS=0', '--set', 'load.connections=8',
      '--inject', 'cpuHog@1s:1s', '--inject', 'serverPause@20s:1s', '--json'], { env: e });
    const engine = await enginePidOf(started.child.pid!);
    await runningRunOf(started.child.pid!, e.XDG_RUNTIME_DIR);
    const hogs = await until(3000, () => childrenOf(engine).filter((c) => c.comm === 'uring-lab-hog'), (h) => h.length > 0);
    expect(hogs.length, 'a uring-lab-hog child of the engine during 1 s … 2 s').toBeGreaterThan(0);
    const r = await started.done;
    expect(r.code, r.stderr).toBe(0);
    const s = runSummaryOf(r);
    const [hog, late] = s.injections!;
    expect(hog).toMatchObject({ kind: 'cpuHog', atMs: 1000, durationMs: 1000, applied: true, refusal: null });
    expect(hog!.startedAtMs!).toBeGreaterThanOrEqual(1000);
    expect(hog!.startedAtMs!).toBeLessThan(1300);
    expect(hog!.endedAtMs! - hog!.startedAtMs!).toBeGreaterThanOrEqual(990);
    for (const h of hogs) expect(hog!.detail).toContain(String(h.pid));
    expect(late).toMatchObject({ kind: 'serverPause', applied: false, startedAtMs: null, refusal: { reason: 'the run ended before it was due', fix: 'schedule it before the run ends' } });
    for (const h of hogs) expect(alive(h.pid), `hog ${h.pid} after the run`).toBe(false);

    const frames: RunFrame[] = readFileSync(path.join(process.env.URING_LAB_RUNS_DIR!, s.runId, 'frames.jsonl'), 'utf8')
      .trim().split('\n').map((l) => RunFrameSchema.parse(JSON.parse(l)));
    expect(frames.length).toBeGreaterThan(20);
    for (const f of frames) {
      expect(f.system, `frame ${f.seq}`).toBeTruthy();
      expect(f.system!.cpus.length).toBeGreaterThan(0);
    }
    const full = frames.filter((f) => !f.final);
    // Loopback echoes run NET_RX softirqs every frame; the tick-sampled time shows over the run.
    expect(full.every((f) => f.system!.netRxSoftirqs > 0)).toBe(true);
    expect(frames.reduce((a, f) => a + f.system!.softirqNs, 0)).toBeGreaterThan(0);
  });

  it('a knob change mid-run (a new engine) keeps the schedule on the run\'s clock; one running at the change ends there', async () => {
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = env().XDG_RUNTIME_DIR;
    const lab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(path.join(__dirname, '../../dist/electron/engine/main.js'))) });
    try {
      let ended: (s: RunSummary) => void;
      const summary = new Promise<RunSummary>((resolve) => { ended = resolve; });
      lab.onEvent((e: LabEvent) => { if (e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted') ended(e.summary); });
      await lab.startRun({
        profile: {
          kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 2.5 },
          diagnose: { inject: [{ kind: 'softirqLoad', atMs: 200, durationMs: 5000 }, { kind: 'cpuHog', atMs: 1500, durationMs: 300 }] },
        },
      });
      await sleep(700);
      await lab.setKnob({ path: 'load.connections', value: 6 });
      const s = await summary;
      expect(s.phases).toHaveLength(2);
      const changeMs = s.phases[1]!.atMs;
      const [first, second] = s.injections!;
      // The first ran from 200 ms until its phase stopped (the change), not its 5 s.
      expect(first).toMatchObject({ applied: true, refusal: null });
      expect(first!.startedAtMs!).toBeGreaterThanOrEqual(200);
      expect(first!.endedAtMs!).toBeLessThanOrEqual(changeMs + 1);
      // The second was due after the change: the new engine started it at 1.5 s of the run's
      // clock (not of its own), or as soon as it was up if the change (probes attaching) took longer.
      expect(second).toMatchObject({ applied: true, refusal: null });
      const phaseUpMs = s.phases[1]!.atMs;
      expect(second!.startedAtMs!, `phase 1 up at ${phaseUpMs} ms`).toBeGreaterThanOrEqual(Math.min(1500, phaseUpMs));
      expect(second!.startedAtMs!, `phase 1 up at ${phaseUpMs} ms`).toBeLessThan(Math.max(1500, phaseUpMs) + 300);
      expect(second!.endedAtMs! - second!.startedAtMs!).toBeGreaterThanOrEqual(290);
    } finally {
      await lab.close();
      process.env.XDG_RUNTIME_DIR = saved;
    }
  });

  it.each(['cpuHog', 'memoryPressure'])('kill -9 of the engine during %s: no child and no cgroup left after the CLI exits', async (kind) => {
    const e = env();
    const started = startCli(['run', '--duration', '5', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--inject', `${kind}@300ms:4s`, '--json'], { env: e });
    const engine = await enginePidOf(started.child.pid!);
    await runningRunOf(started.child.pid!, e.XDG_RUNTIME_DIR);
    const kids = await until(3000, () => childrenOf(engine).filter((c) => c.comm.startsWith('uring-lab-')), (k) => k.length > 0);
    expect(kids.length, `${kind}'s children of engine ${engine}`).toBeGreaterThan(0);
    if (kind === 'memoryPressure') expect(await until(2000, () => cgroupsOf(engine), (c) => c.length > 0)).toHaveLength(1);
    process.kill(engine, 'SIGKILL');
    const r = await started.done;
    expect(r.code, r.stderr).toBe(1);
    expect(runSummaryOf(r).status).toBe('failed');
    for (const k of kids) expect(alive(k.pid), `${k.comm} ${k.pid} after the CLI exited`).toBe(false);
    expect(cgroupsOf(engine)).toEqual([]);
    expect(existsSync(`/proc/${engine}`)).toBe(false);
  });
});
