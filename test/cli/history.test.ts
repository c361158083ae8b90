/**
 * The run history from real processes: a `uring-lab run` is listed afterwards by
 * `uring-lab runs` with the summary it printed, and a run whose CLI (the host) is killed with
 * SIGKILL mid-run is listed by the next lab process as interrupted, with every frame its host
 * had written before the kill (frames go to the kernel as they come; the last second may be
 * unsynced, which only a power cut could lose, not a kill -9). Each test uses its own
 * runs folder (URING_LAB_RUNS_DIR) and its own active-runs folder.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GetRunResultSchema, ListRunsResultSchema } from '../../electron/contract';
import { enginePidOf, runningRunOf, runSummaryOf, sleep, startCli } from './cliProcess';

const RUNTIME_DIR = mkdtempSync(path.join(tmpdir(), 'uring-lab-history-rt-'));
const RUNS_DIR = mkdtempSync(path.join(tmpdir(), 'uring-lab-history-runs-'));
// runningRunOf reads the active-runs folder of this process's environment: the CLI's is the same.
process.env.XDG_RUNTIME_DIR = RUNTIME_DIR;
afterAll(() => {
  rmSync(RUNTIME_DIR, { recursive: true, force: true });
  rmSync(RUNS_DIR, { recursive: true, force: true });
});

const env = { ...process.env, XDG_RUNTIME_DIR: RUNTIME_DIR, URING_LAB_RUNS_DIR: RUNS_DIR };
const cli = (args: string[]) => startCli(args, { env });

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe('uring-lab runs, after real runs', () => {
  it('lists a completed CLI run with the summary it printed, and shows its frames', async () => {
    const done = await cli(['run', '--duration', '1', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--json']).done;
    expect(done.code, done.stderr).toBe(0);
    const summary = runSummaryOf(done);

    const list = await cli(['runs', 'list', '--json']).done;
    expect(list.code, list.stderr).toBe(0);
    const listed = ListRunsResultSchema.parse(JSON.parse(list.stdout));
    const row = listed.runs.find((r) => r.runId === summary.runId);
    expect(row).toMatchObject({
      status: 'completed', pinned: false, workload: 'echo', name: summary.profileName, startedAt: summary.startedAt,
      headline: { throughputRps: summary.throughputRps, p50Us: summary.latencyUs.p50, p99Us: summary.latencyUs.p99, requests: summary.requests, errors: summary.errors },
    });
    expect(row!.bytesOnDisk).toBeGreaterThan(1000);

    const show = await cli(['runs', 'show', summary.runId, '--json']).done;
    expect(show.code, show.stderr).toBe(0);
    const run = GetRunResultSchema.parse(JSON.parse(show.stdout));
    expect(run.meta.summary).toEqual(summary);
    expect(run.frames).toHaveLength(summary.frames);
    expect(run.frames.reduce((n, f) => n + (f.measuring ? f.requests : 0), 0)).toBe(summary.requests);

    const text = await cli(['runs', 'list']).done;
    expect(text.stdout).toContain(summary.runId);
    expect(text.stdout).toMatch(/completed/);
  });

  it('kill -9 of the host mid-run: the next lab process lists it as interrupted with its frames up to the kill', async () => {
    const started = cli(['run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--json']);
    const cliPid = started.child.pid!;
    const enginePid = await enginePidOf(cliPid);
    await runningRunOf(cliPid);
    const runningSince = Date.now();
    await sleep(2500);
    // What any reader could see of the run at the kill: the frames its host had written.
    const listing = await cli(['runs', 'list', '--json']).done;
    const runDir = ListRunsResultSchema.parse(JSON.parse(listing.stdout)).runs.find((r) => r.status === 'running');
    expect(runDir, 'the run is listed as running while it goes').toBeDefined();
    const framesFile = path.join(RUNS_DIR, runDir!.runId, 'frames.jsonl');
    const seenBeforeKill = readFileSync(framesFile, 'utf8').split('\n').filter((l) => l.endsWith('}')).length;
    const ranMs = Date.now() - runningSince;
    started.child.kill('SIGKILL');
    const killed = await started.done;
    expect(killed.signal).toBe('SIGKILL');
    // The engine follows its host out (its IPC channel closed); nothing is left running.
    for (let i = 0; i < 100 && alive(enginePid); i++) await sleep(50);
    expect(alive(enginePid), 'the engine process outlived its host').toBe(false);

    const list = await cli(['runs', 'list', '--json']).done;
    expect(list.code, list.stderr).toBe(0);
    const row = ListRunsResultSchema.parse(JSON.parse(list.stdout)).runs.find((r) => r.runId === runDir!.runId);
    expect(row?.status).toBe('interrupted');
    expect(row?.headline?.requests).toBeGreaterThan(0);

    const show = await cli(['runs', 'show', runDir!.runId, '--json']).done;
    const run = GetRunResultSchema.parse(JSON.parse(show.stdout));
    expect(run.meta.status).toBe('interrupted');
    expect(run.meta.summary).toBeNull();
    // Every frame up to the last flush: at least what was seen before the kill less a second's worth (10 frames).
    expect(run.frames.length).toBeGreaterThanOrEqual(seenBeforeKill - 10);
    // And the run really was saved as it went: about 10 frames a second for the time it ran.
    expect(run.frames.length).toBeGreaterThanOrEqual(Math.floor((ranMs / 1000 - 1) * 10 * 0.5));
    expect(run.meta.recovered?.frames).toBe(run.frames.length);
    expect(run.meta.recovered?.stats.requests).toBe(run.frames.reduce((n, f) => n + (f.measuring ? f.requests : 0), 0));
    expect(run.meta.recovered?.reason).toMatch(new RegExp(`pid ${started.child.pid}`));
    expect(run.frames.map((f) => f.seq)).toEqual([...Array(run.frames.length).keys()]);

    // It can be exported and deleted like any run; delete removes its folder.
    const md = await cli(['runs', 'export', runDir!.runId, '--format', 'md']).done;
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain('status: **interrupted**');
    expect(md.stdout).toContain(`${run.meta.recovered!.stats.requests.toLocaleString('en-US')} |`);
    const del = await cli(['runs', 'delete', runDir!.runId]).done;
    expect(del.code, del.stderr).toBe(0);
    expect(existsSync(path.join(RUNS_DIR, runDir!.runId))).toBe(false);
  }, 60_000);
});
