/**
 * A fault in the engine process must not take the lab down: the run in progress fails with
 * an error the UI can show, and the next run gets a fresh engine.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { LabEvent } from '../../electron/contract';
import { EngineSupervisor, forkEngine } from '../../electron/host/engine/supervisor';
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
});

async function waitFor(predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
