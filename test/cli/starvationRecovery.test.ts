/**
 * The io_uring server leaves buffer starvation once the pool has buffers again. While
 * connections wait for buffers every recv armed is a one-shot turn that queues its connection
 * behind the others when done; re-arms counted a whole watermark (an eighth of the pool) per
 * connection, so with the pool full again only 8 went per reap and the waiting list never
 * emptied: after one starvation, at 1000 × 4 KiB, every request for the rest of the run was a
 * recv turn and a re-arm (rearms ≈ requests in every frame, 2 CQEs per request; with
 * server.minWaitUs the loop's waits made it 24k requests/s instead of 140k). A real run with a
 * bufferStarvation window (the pool withheld for 300 ms, so all 1000 connections hit ENOBUFS):
 * half a second after the window, re-arms are back to (almost) none.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunFrameSchema } from '../../electron/contract';
import { CLI, runSummaryOf } from './cliProcess';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-starvation-'));
const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data'), XDG_RUNTIME_DIR: dir, URING_LAB_RUNS_DIR: path.join(dir, 'runs') };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('buffer starvation ends when the buffers are back', () => {
  it('1000 × 4 KiB, the pool withheld 300 ms: every connection starves, and 0.5 s after the window re-arms are under 5 % of requests', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', '--duration', '3', '--set', 'duration.warmupS=0',
      '--set', 'load.connections=1000', '--set', 'load.messageBytes=4096', '--set', 'server.engine=io_uring',
      '--set', 'server.numa.cpus=[0]', '--set', 'load.cpus=[1]', '--inject', 'bufferStarvation@1s:300ms', '--json'],
    { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const summary = runSummaryOf({ code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr });
    expect(summary.errors).toBe(0);
    const injection = summary.injections?.find((i) => i.kind === 'bufferStarvation');
    expect(injection?.applied, JSON.stringify(injection)).toBe(true);
    const frames = readFileSync(path.join(dir, 'runs', summary.runId, 'frames.jsonl'), 'utf8').trim().split('\n').map((l) => RunFrameSchema.parse(JSON.parse(l)));
    // The window starved the connections (their recvs ended with ENOBUFS)…
    const enobufs = frames.reduce((n, f) => n + (f.server?.enobufs ?? 0), 0);
    expect(enobufs).toBeGreaterThanOrEqual(500);
    // …and half a second after it the server is back to multishot recvs: re-arms (one per
    // request when starvation stuck) are rare, and the echo goes on.
    const after = frames.filter((f) => f.tMs >= (injection!.endedAtMs ?? 1300) + 500);
    const requests = after.reduce((n, f) => n + f.requests, 0);
    const rearms = after.reduce((n, f) => n + (f.server?.rearms ?? 0), 0);
    expect(after.length).toBeGreaterThanOrEqual(5);
    expect(requests).toBeGreaterThan(0);
    expect(rearms / requests, `${rearms} re-arms over ${requests} requests after the window`).toBeLessThan(0.05);
  }, 90_000);
});
