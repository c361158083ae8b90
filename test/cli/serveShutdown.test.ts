/**
 * `uring-lab serve` told to stop (SIGTERM, Ctrl-C) with a run under way and clients connected:
 * the run ends interrupted and every client gets that terminal event before its socket closes
 * with 1001 "going away"; the run is saved as interrupted. A second signal while it closes exits
 * at once (130), and the next lab process that reads the run it left open saves it as interrupted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, startServe, type Serve } from '../e2e/labPage';
import { connectLab, labClient, type LabClient } from './wsClient';
import { enginePidOf } from './cliProcess';

const PROFILE = { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 30 }, probes: { enabled: false } };

const tmps: string[] = [];
const serves: Serve[] = [];
afterEach(async () => {
  await Promise.all(serves.splice(0).map((s) => s.stop()));
  for (const t of tmps.splice(0)) rmSync(t, { recursive: true, force: true });
});

async function clientsOf(serve: Serve, names: string[]): Promise<LabClient[]> {
  const url = new URL(serve.url);
  const token = url.searchParams.get('token')!;
  return Promise.all(names.map(async (client) => labClient(await connectLab(Number(url.port), { token, client }))));
}

async function runningRun(serve: Serve): Promise<{ clients: LabClient[]; runId: string }> {
  const clients = await clientsOf(serve, ['starter', 'observer']);
  const started = await clients[0]!.call('startRun', { profile: PROFILE });
  expect(started).toMatchObject({ ok: true });
  const runId = (started as { result: { runId: string } }).result.runId;
  for (let i = 0; i < 200 && !clients[1]!.events.some((e) => e.type === 'frame'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(clients[1]!.events.some((e) => e.type === 'frame')).toBe(true);
  return { clients, runId };
}

function savedStatus(serve: Serve, runId: string): string | null {
  const meta = path.join(serve.env.URING_LAB_RUNS_DIR!, runId, 'meta.json');
  return existsSync(meta) ? (JSON.parse(readFileSync(meta, 'utf8')) as { status: string }).status : null;
}

const exitOf = (serve: Serve) => new Promise<number | null>((resolve) => {
  if (serve.proc.exitCode !== null) resolve(serve.proc.exitCode);
  else serve.proc.once('exit', (code) => resolve(code));
});

describe('uring-lab serve shutting down', () => {
  it('SIGTERM mid-run: every client gets the one interrupted event, then a 1001 close; the run is saved interrupted', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-serve-stop-'));
    tmps.push(tmp);
    const serve = await startServe(tmp);
    serves.push(serve);
    const { clients, runId } = await runningRun(serve);
    const exited = exitOf(serve);
    serve.proc.kill('SIGTERM');
    for (const c of clients) {
      expect(await c.closed).toMatchObject({ code: 1001 });
      const terminal = c.events.filter((e) => e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted');
      expect(terminal.map((e) => [e.type, (e as { runId: string }).runId])).toEqual([['interrupted', runId]]);
    }
    expect(await exited).toBe(0);
    expect(savedStatus(serve, runId)).toBe('interrupted');
  }, 60_000);

  it('a second signal while closing exits 130 at once; the next serve saves the open run as interrupted', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-serve-stop-'));
    tmps.push(tmp);
    const serve = await startServe(tmp);
    serves.push(serve);
    const { runId } = await runningRun(serve);
    const exited = exitOf(serve);
    // A stopped engine cannot answer the stop the close asks for, so the close is still going
    // when the second signal comes (a running one stopped within 100 ms, and serve exited 0).
    const engine = await enginePidOf(serve.proc.pid!);
    process.kill(engine, 'SIGSTOP');
    try {
      serve.proc.kill('SIGINT');
      // Past DUPLICATE_SIGNAL_MS (50 ms): a second signal, not the first delivered twice.
      await new Promise((r) => setTimeout(r, 100));
      serve.proc.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      // Its host is gone: resumed, the engine sees its IPC channel closed and exits.
      process.kill(engine, 'SIGCONT');
    }
    // The record it left open is saved as interrupted by the next lab process that reads it
    // (its owner is dead), here `runs show`.
    const shown = spawnSync(process.execPath, [CLI, 'runs', 'show', runId, '--json'], { env: serve.env, encoding: 'utf8', timeout: 30_000 });
    expect(shown.status, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).meta.status).toBe('interrupted');
    expect(savedStatus(serve, runId)).toBe('interrupted');
  }, 60_000);
});
