/**
 * The run history through the LabApi: every run the lab service runs (here against the
 * scriptable fake engine) is saved as it goes and listed when it ends, its phases follow knob
 * changes, and the history methods answer over the same dispatcher every transport uses, with
 * one-line errors naming the field. A history that cannot be written never stops a run: its
 * summary says why it was not saved.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ListRunsResultSchema, GetRunResultSchema, type RunSummary, type TerminalEvent } from '../../electron/contract';
import { EngineSupervisor } from '../../electron/host/engine/supervisor';
import { dispatchLabCall } from '../../electron/host/labDispatch';
import { LabService } from '../../electron/host/labService';
import { FakeEngineHost } from './fakeEngine';

const PROFILE = { kind: 'uring-lab/profile', schemaVersion: 1, name: 'history trial', load: { connections: 4 }, duration: { warmupS: 0, measureS: 30 } };

const labs: LabService[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(labs.splice(0).map((l) => l.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function makeLab(runsDir = temp('uring-lab-history-')) {
  const fake = new FakeEngineHost();
  const supervisor = new EngineSupervisor(fake.spawn, { unresponsiveMs: 250, spawnTimeoutMs: 1000, defaultTimeoutMs: 1000 });
  const lab = new LabService({ supervisor, frameIntervalMs: 20, activeRunsDir: temp('uring-lab-active-'), runsDir, timeouts: () => ({ startMs: 400, stopMs: 400 }) });
  labs.push(lab);
  return { lab, runsDir };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runFor(lab: LabService, ms: number, during?: () => Promise<unknown>): Promise<RunSummary> {
  const terminal = new Promise<TerminalEvent>((resolve) => lab.onEvent((e) => { if (e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted') resolve(e); }));
  await lab.startRun({ profile: PROFILE });
  await sleep(ms / 2);
  await during?.();
  await sleep(ms / 2);
  await lab.stopRun();
  return (await terminal).summary;
}

describe('runs of the lab service', () => {
  it('are saved as they go and listed with their summary when they end', async () => {
    const { lab, runsDir } = makeLab();
    const terminal = new Promise<TerminalEvent>((resolve) => lab.onEvent((e) => { if (e.type === 'ended') resolve(e); }));
    const { runId } = await lab.startRun({ profile: PROFILE });
    // While it goes: listed as running, its frames already on disk. Polled, not a fixed 200 ms:
    // the writes go through libuv's pool, which a busy machine (the suite's heavier files just
    // before) can hold back for a while; one run of the unit tests here saw them late.
    const framesOnDisk = () => {
      try { return readFileSync(path.join(runsDir, runId, 'frames.jsonl'), 'utf8').trim().split('\n').length; } catch { return 0; }
    };
    await expect.poll(framesOnDisk, { timeout: 5000, interval: 50 }).toBeGreaterThan(3);
    const during = ListRunsResultSchema.parse(await lab.listRuns());
    expect(during.runs[0]).toMatchObject({ runId, status: 'running', headline: null, name: 'history trial' });
    await lab.stopRun();
    const { summary } = await terminal;
    const listed = ListRunsResultSchema.parse(await lab.listRuns({ limit: 10 }));
    expect(listed.total).toBe(1);
    expect(listed.runs[0]).toMatchObject({ runId, status: 'completed', headline: { requests: summary.requests, throughputRps: summary.throughputRps, p99Us: summary.latencyUs.p99 } });
    const run = GetRunResultSchema.parse(await lab.getRun({ runId }));
    expect(run.meta.summary).toEqual(summary);
    expect(run.frames.length).toBe(summary.frames);
    expect(run.frames.map((f) => f.seq)).toEqual([...Array(summary.frames).keys()]);
    expect(run.meta.profile.name).toBe('history trial');
  });

  it('keep their phases: a knob change during the run is a second phase on disk', async () => {
    const { lab } = makeLab();
    const summary = await runFor(lab, 300, () => lab.setKnob({ path: 'load.connections', value: 2 }));
    const run = await lab.getRun({ runId: summary.runId });
    expect(run.meta.phases).toHaveLength(2);
    expect(run.meta.phases[1].changed).toEqual([{ path: 'load.connections', from: 4, to: 2 }]);
    expect(new Set(run.frames.map((f) => f.phase))).toEqual(new Set([0, 1]));
  });

  it('the Markdown export names a refusal of every phase, not only the last one\'s', async () => {
    const { lab } = makeLab();
    // Phase 1 asks for an SQPOLL CPU without SQPOLL (refused: not applicable), phase 2 takes it back.
    const summary = await runFor(lab, 400, async () => {
      await lab.setKnob({ path: 'server.sqpoll.cpu', value: 1 });
      await sleep(100);
      await lab.setKnob({ path: 'server.sqpoll.cpu', value: null });
    });
    expect(summary.phases.map((p) => p.rejected.map((r) => r.knob))).toEqual([[], ['server.sqpoll.cpu'], []]);
    expect(summary.rejected).toEqual([]);
    const md = (await lab.exportRun({ runId: summary.runId, format: 'md' })).text;
    expect(md).toContain('## Refused knobs (by the kernel, or not applicable)');
    expect(md).toMatch(/^- `server\.sqpoll\.cpu` = 1 \(phase 1\): NOT\\_APPLICABLE — /m);
    expect(md).toMatch(/^\| 1 \| server\.sqpoll\.cpu null→1 \| server\.sqpoll\.cpu \(NOT\\_APPLICABLE\) \|/m);
    expect(md).toMatch(/^\| 2 \| server\.sqpoll\.cpu 1→null \| — \|/m);
  });

  it('are pinned, exported and deleted through the dispatcher, with one-line errors naming the field', async () => {
    const { lab, runsDir } = makeLab();
    const summary = await runFor(lab, 150);
    const call = (method: string, params: unknown) => dispatchLabCall(lab, method, params);
    // Every window hears of it (its History follows: one tab deleted a run another still listed).
    const changes: unknown[] = [];
    lab.onEvent((e) => { if (e.type === 'historyChanged') changes.push(e); });
    expect(await call('pinRun', { runId: summary.runId, pinned: true })).toEqual({ ok: true, result: { runId: summary.runId, pinned: true } });
    expect((await lab.listRuns()).runs[0].pinned).toBe(true);
    const md = await call('exportRun', { runId: summary.runId, format: 'md' });
    expect(md.ok && (md.result as { text: string }).text).toContain(`${summary.requests.toLocaleString('en-US')} |`);
    const unknown = await call('getRun', { runId: 'run-none' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'RUN_UNKNOWN', kind: 'input', field: 'runId' } });
    const traversal = await call('deleteRun', { runId: '../etc' });
    expect(traversal).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', field: 'params.runId' } });
    expect(await call('listRuns', { limit: -1 })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', field: 'params.limit' } });
    expect(await call('exportRun', { runId: summary.runId, format: 'xml' })).toMatchObject({ ok: false, error: { field: 'params.format' } });
    expect(await call('deleteRun', { runId: summary.runId })).toEqual({ ok: true, result: { runId: summary.runId, deleted: true } });
    expect((await lab.listRuns()).total).toBe(0);
    expect(changes).toEqual([
      { type: 'historyChanged', runId: summary.runId, deleted: false, pinned: true },
      { type: 'historyChanged', runId: summary.runId, deleted: true, pinned: null },
    ]);
    expect(() => readFileSync(path.join(runsDir, summary.runId, 'meta.json'))).toThrow(/ENOENT/);
  });

  it('close() waits for the prune the last run\'s end started: nothing is written to the history after it resolves', async () => {
    // 400 folders that read as unreadable runs make the prune's scan take a while, and its
    // first scan writes index.json: before, close() resolved with that still going, and a
    // cleanup of the folder failed with ENOTEMPTY (seen in CI).
    const { lab, runsDir } = makeLab();
    for (let i = 0; i < 400; i++) {
      const dir = path.join(runsDir, `run-20260101000000-1-${i}`);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'meta.json'), '{}');
    }
    await runFor(lab, 100);
    await lab.close();
    const snapshot = () => readdirSync(runsDir).sort().join('\n');
    const before = snapshot();
    const indexBefore = existsSync(path.join(runsDir, 'index.json')) ? statSync(path.join(runsDir, 'index.json')).mtimeMs : null;
    await sleep(400);
    expect(snapshot()).toBe(before);
    expect(existsSync(path.join(runsDir, 'index.json')) ? statSync(path.join(runsDir, 'index.json')).mtimeMs : null).toBe(indexBefore);
  });

  // A history that fails once the run has started (a disk that fills) lets the run go on, its
  // summary saying so: hostileHistory.test.ts fills one mid-run. One unusable at the start is
  // refused before anything starts, from the UI as from the CLI: the run went ahead, measured,
  // and was in no list afterwards.
  it('a history that cannot take a run at its start: startRun is refused (RUNS_DIR, the fix), no engine started', async () => {
    const notAFolder = path.join(temp('uring-lab-history-'), 'file');
    writeFileSync(notAFolder, '');
    const fake = new FakeEngineHost();
    const supervisor = new EngineSupervisor(fake.spawn, { unresponsiveMs: 250, spawnTimeoutMs: 1000, defaultTimeoutMs: 1000 });
    const lab = new LabService({ supervisor, frameIntervalMs: 20, activeRunsDir: temp('uring-lab-active-'), runsDir: notAFolder, timeouts: () => ({ startMs: 400, stopMs: 400 }) });
    labs.push(lab);
    await expect(lab.startRun({ profile: PROFILE })).rejects.toMatchObject({
      code: 'RUNS_DIR', kind: 'input', field: 'URING_LAB_RUNS_DIR',
      message: expect.stringMatching(/^runs cannot be saved in .*file \(it is not a folder\); nothing was started$/),
    });
    expect(fake.engines.flatMap((e) => e.received)).not.toContain('start');
    expect(readFileSync(notAFolder, 'utf8')).toBe('');
  });
});
