/**
 * A fault in the engine process must not take the lab down: the run in progress fails with
 * an error the UI can show, and the next run gets a fresh engine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { LabEvent, ProfileSchema } from '../../electron/contract';
import type { EngineWireMessage } from '../../electron/engine/protocol';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { EngineSupervisor, forkEngine, readPosted } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';

const ENGINE = path.join(__dirname, '../../dist/electron/engine/main.js');
const supervisor = new EngineSupervisor(() => forkEngine(ENGINE));
const lab = new LabService({ supervisor });
afterAll(() => lab.close());

const profile = { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 20 } };

describe('engine supervisor', () => {
  it('reports a crashed engine as a failed run and starts a fresh engine for the next run', async () => {
    const events: LabEvent[] = [];
    lab.onEvent((e) => events.push(e));
    const first = await lab.startRun({ profile });
    await waitFor(() => events.some((e) => e.type === 'frame' && e.frame.requests > 0));
    const crashedPid = supervisor.pid!;
    process.kill(crashedPid, 'SIGKILL');
    await waitFor(() => events.some((e) => e.type === 'failed'));
    const failed = events.find((e): e is Extract<LabEvent, { type: 'failed' }> => e.type === 'failed')!;
    expect(failed.runId).toBe(first.runId);
    expect(failed.error.code).toBe('ENGINE_CRASHED');
    expect(failed.error.message).toMatch(/SIGKILL/);
    expect(failed.error.fix).toBeTruthy();
    expect((await lab.getStatus()).running).toBe(false);

    const second = await lab.startRun({ profile });
    expect(supervisor.pid).not.toBe(crashedPid);
    expect(supervisor.restarts).toBe(1);
    await waitFor(() => events.some((e) => e.type === 'frame' && e.frame.runId === second.runId && e.frame.requests > 0));
    const summary = await lab.stopRun();
    expect(summary?.runId).toBe(second.runId);
    expect(summary?.errors).toBe(0);
  });

  it('kill PID on the engine mid-run: the run ends interrupted with its counts (not a crash), the process ends, the next run gets a fresh one', async () => {
    const events: LabEvent[] = [];
    lab.onEvent((e) => events.push(e));
    const run = await lab.startRun({ profile });
    await waitFor(() => events.some((e) => e.type === 'frame' && e.frame.runId === run.runId && e.frame.requests > 0));
    const pid = supervisor.pid!;
    const restarts = supervisor.restarts;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => events.some((e) => e.type === 'interrupted' && e.runId === run.runId));
    const interrupted = events.find((e): e is Extract<LabEvent, { type: 'interrupted' }> => e.type === 'interrupted')!;
    expect(interrupted.reason).toBe(`interrupted by SIGTERM to the engine process (pid ${pid})`);
    expect(interrupted.summary.status).toBe('interrupted');
    expect(interrupted.summary.requests).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'failed')).toBe(false);
    // The lab let the process go after the run's orderly stop: not a fault, nothing restarted.
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } });
    expect(supervisor.restarts).toBe(restarts);
    const second = await lab.startRun({ profile });
    expect(supervisor.pid).not.toBe(pid);
    await waitFor(() => events.some((e) => e.type === 'frame' && e.frame.runId === second.runId && e.frame.requests > 0));
    expect((await lab.stopRun())?.status).toBe('completed');
  });

  it('an engine whose host never answers its signal still ends by itself, its run stopped first; a second signal ends it at once', async () => {
    // grace: the engine's wait for its host (URING_LAB_ENGINE_SIGNAL_GRACE_MS), signals: sent.
    for (const [grace, signals] of [[400, 1], [60_000, 2]] as const) {
      const channel = forkEngine(ENGINE, { ...process.env, URING_LAB_ENGINE_SIGNAL_GRACE_MS: String(grace) });
      const seen: EngineWireMessage[] = [];
      channel.onMessage((posted) => seen.push(readPosted(posted)));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => channel.onExit((code, signal) => resolve({ code, signal })));
      try {
        await waitFor(() => seen.some((m) => m.type === 'ready'));
        const pid = (seen.find((m) => m.type === 'ready') as Extract<EngineWireMessage, { type: 'ready' }>).pid;
        channel.send({ type: 'start', config: nativeConfigFor(ProfileSchema.parse(profile), 20_000), frameIntervalMs: 100 });
        await waitFor(() => seen.some((m) => m.type === 'started'));
        const t0 = Date.now();
        process.kill(pid, 'SIGTERM');
        await waitFor(() => seen.some((m) => m.type === 'signalled'));
        expect(seen.filter((m) => m.type === 'signalled')).toEqual([{ type: 'signalled', signal: 'SIGTERM' }]);
        if (signals === 2) process.kill(pid, 'SIGTERM');
        // Its own shutdown (native run stopped, probes detached, exit 0), not death by the signal.
        expect(await exited).toEqual({ code: 0, signal: null });
        const took = Date.now() - t0;
        if (signals === 1) expect(took).toBeGreaterThanOrEqual(grace);
        expect(took, `${signals} signal(s), grace ${grace} ms`).toBeLessThan(10_000);
      } finally {
        channel.kill();
      }
    }
  });

  it('a cancelStart that comes before the start has claimed the native engine (queued, or attaching its probes) still calls it off', async () => {
    // 1,024 connections × 1 MiB: seconds of set-up, so a start that was not called off answers
    // 'started' long after the cancel. The probes take ~0.2–0.4 s to load before it claims the
    // engine: a cancel sent with the start (0 ms) lands while it is queued, one 100 ms later
    // while its probes load.
    const large = nativeConfigFor(ProfileSchema.parse({ ...profile, load: { connections: 1024, messageBytes: 1 << 20 } }), 60_000);
    const small = nativeConfigFor(ProfileSchema.parse(profile), 20_000);
    const channel = forkEngine(ENGINE);
    const seen: EngineWireMessage[] = [];
    channel.onMessage((posted) => seen.push(readPosted(posted)));
    try {
      await waitFor(() => seen.some((m) => m.type === 'ready'));
      for (const delayMs of [0, 100]) {
        seen.length = 0;
        channel.send({ type: 'start', config: large, frameIntervalMs: 100, probes: { enabled: true } });
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
        channel.send({ type: 'cancelStart' });
        await waitFor(() => seen.some((m) => m.type === 'error' || m.type === 'started'), 30_000);
        const answer = seen.find((m) => m.type === 'error' || m.type === 'started')!;
        expect(answer, `cancel ${delayMs} ms after the start`).toMatchObject({ type: 'error', during: 'start', error: { step: 'START_CANCELLED', code: 'ECANCELED' } });
        // The called-off start's alone: the next one runs, with its probes.
        seen.length = 0;
        channel.send({ type: 'start', config: small, frameIntervalMs: 100, probes: { enabled: true } });
        await waitFor(() => seen.some((m) => m.type === 'error' || m.type === 'started'));
        const next = seen.find((m) => m.type === 'error' || m.type === 'started') as Extract<EngineWireMessage, { type: 'started' }>;
        expect(next.type).toBe('started');
        expect(next.started.probes?.filter((p) => p.attached).length).toBeGreaterThan(0);
        channel.send({ type: 'stop' });
        await waitFor(() => seen.some((m) => m.type === 'stopped'));
      }
    } finally {
      channel.kill();
    }
  }, 60_000);
});

async function waitFor(predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
