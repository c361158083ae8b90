/**
 * The run history store (host/history): a run saved frame by frame and closed with its summary
 * is listed and reopened exactly; a run whose owner died is recovered as interrupted with its
 * frames' statistics; a torn last line is skipped; retention prunes the oldest unpinned runs
 * and keeps pinned ones; exports carry the numbers; unknown ids are one-line input errors.
 * Runs are made by the host's own RunRecord from engine-shaped snapshots.
 */
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { echoErrorsText, GetRunParamsSchema, LabError, MAX_EXPORT_BYTES, RunFrameSchema, StoredRunMetaSchema, type RunSummary } from '../../electron/contract';
import type { NativeSnapshot } from '../../electron/engine/protocol';
import { readFrames, FrameLog, FRAME_SYNC_INTERVAL_MS, FRAMES_PER_INDEX_ENTRY } from '../../electron/host/history/frameLog';
import { LabHistory } from '../../electron/host/history/labHistory';
import { exportRun, framesCsv } from '../../electron/host/history/runExport';
import { RunStore, runStoreOptionsFromEnv } from '../../electron/host/history/runStore';
import { defaultProfile } from '../../electron/host/profiles';
import { RunRecord } from '../../electron/host/run/runRecord';
import { NATIVE_STARTED } from './runFixtures';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });
function tempStore(caps: { maxRuns?: number; maxBytes?: number } = {}): RunStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-history-'));
  dirs.push(dir);
  return new RunStore({ dir, pruneIntervalMs: 0, ...caps });
}

/** Frame i: 100 requests at 20 µs and i at 400 µs, so every frame differs and p99 moves. */
function snapshot(i: number, monotonicNs: number): NativeSnapshot {
  const histogram: Array<[number, number]> = [[20, 100], [196, i]];
  return {
    requests: 100 + i, bytes: (100 + i) * 128, errors: i === 3 ? 1 : 0, serverErrors: 0, enobufs: 0, timeouts: 0,
    histogram, correctedHistogram: histogram, serverCpuNs: 1e6, loadCpuNs: 1e6, loadThreadCpuNs: [1e6], processCpuNs: 2e6,
    monotonicNs, activeConnections: 4, liveLoadConnections: 4, inFlight: 4, oldestInFlightUs: 30, running: true, serverError: null,
    server: {
      enters: 60, cqes: 200, recvs: 100, sends: 100, bytesOut: 12_800, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0, enobufs: 0, rearms: 0, spilledBytes: 0,
      cqOverflows: 0, buffersInUse: 4, buffersTotal: 4096, buffersInRing: 4092, userCpuNs: 2e5, systemCpuNs: 8e5, sqpollCpuNs: 0, errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
    },
    serverWorkers: [{ accepted: 4, active: 4 }],
  } as unknown as NativeSnapshot;
}

/** Saves a run of `frames` 100 ms frames (the first `warmup` unmeasured); returns its summary. */
async function saveRun(store: RunStore, runId: string, frames: number, options: { warmup?: number; end?: boolean; name?: string } = {}) {
  const t0 = 1e12;
  const profile = { ...defaultProfile(), name: options.name ?? `profile of ${runId}` };
  const record = new RunRecord(runId, t0, (options.warmup ?? 0) * 100, null);
  record.addPhase(profile, NATIVE_STARTED, t0);
  const writer = store.begin({ runId, startedAt: record.startedAt, profile, phases: record.phaseList });
  const written = [];
  for (let i = 1; i <= frames; i++) {
    const { frame, json } = record.addSnapshot(snapshot(i, t0 + i * 1e8), i === frames);
    // The lab service hands over the record's JSON text; without it the log makes its own.
    writer.frame(frame, i % 2 ? json : undefined);
    written.push(frame);
  }
  let summary: RunSummary | null = null;
  if (options.end !== false) {
    summary = record.summary('completed', null, { otherRuns: [], otherCpus: null });
    expect(writer.end(summary)).toBeNull();
  }
  await writer.settled;
  expect(writer.problem).toBeNull();
  if (options.end !== false) await store.pruneSoon(runId);
  return { summary, written, writer, dir: path.join(store.dir, runId) };
}

describe('what an echo run\'s errors were', () => {
  it('names mismatched echoes apart from failed connections, and keeps the old words for runs saved before', () => {
    expect(echoErrorsText(5, 5)).toBe('mismatched echoes: the bytes that came back differ from those sent');
    expect(echoErrorsText(5, 0)).toBe('failed connections or server errors; no echo came back altered');
    expect(echoErrorsText(5, 2)).toBe('2 mismatched echoes, bytes back that differ from those sent, and 3 failed connections or server errors');
    expect(echoErrorsText(5, undefined)).toBe('failed connections or mismatched echoes');
  });
});

describe('a saved run', () => {
  it('is listed with its headline numbers and reopens with every frame and its summary', async () => {
    const store = tempStore();
    const { summary, written } = await saveRun(store, 'run-a', 25);
    const list = store.list({ limit: 10, offset: 0 });
    expect(list.total).toBe(1);
    const row = list.runs[0];
    expect(row).toMatchObject({ runId: 'run-a', status: 'completed', pinned: false, workload: 'echo', name: 'profile of run-a' });
    expect(row.headline).toEqual({ throughputRps: summary!.throughputRps, p50Us: summary!.latencyUs.p50, p99Us: summary!.latencyUs.p99, requests: summary!.requests, errors: 1 });
    const sizes = ['meta.json', 'frames.jsonl', 'frames.idx'].map((f) => statSync(path.join(store.dir, 'run-a', f)).size);
    expect(row.bytesOnDisk).toBe(sizes[0] + sizes[1] + sizes[2]);
    const run = store.get(GetRunParamsSchema.parse({ runId: 'run-a' }));
    expect(run.meta.status).toBe('completed');
    expect(run.meta.summary).toEqual(summary);
    expect(run.meta.phases).toHaveLength(1);
    expect(run.frames).toEqual(written);
    expect(run.nextSeq).toBeNull();
    expect(run.skippedLines).toBe(0);
  });

  it('pages through a long run with fromSeq/limit, through the offset index or without it', async () => {
    const store = tempStore();
    const total = FRAMES_PER_INDEX_ENTRY * 3 + 17;
    const { written, dir } = await saveRun(store, 'run-long', total);
    const collect = () => {
      const seen = [];
      for (let fromSeq: number | null = 0; fromSeq !== null;) {
        const page = store.get({ runId: 'run-long', fromSeq, limit: 100 });
        expect(page.frames.length).toBeLessThanOrEqual(100);
        seen.push(...page.frames);
        fromSeq = page.nextSeq;
      }
      return seen;
    };
    expect(collect()).toEqual(written);
    // A page in the middle starts exactly at fromSeq.
    const from = FRAMES_PER_INDEX_ENTRY * 2 + 5;
    const middle = store.get({ runId: 'run-long', fromSeq: from, limit: 3 });
    expect(middle.frames.map((f) => f.seq)).toEqual([from, from + 1, from + 2]);
    expect(middle.nextSeq).toBe(from + 3);
    // The index is an accelerator only: without it (or damaged) the same frames come back.
    writeFileSync(path.join(dir, 'frames.idx'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(collect()).toEqual(written);
    rmSync(path.join(dir, 'frames.idx'));
    expect(collect()).toEqual(written);
  });

  it('ends a page at a byte budget too (never empty), so an answer fits what a transport carries', async () => {
    const store = tempStore();
    const { written } = await saveRun(store, 'run-wide', 50);
    const lineBytes = JSON.stringify(written[0]).length;
    const first = store.get({ runId: 'run-wide', fromSeq: 0, limit: 1000 }, lineBytes * 10.5);
    expect(first.frames.length).toBeGreaterThanOrEqual(9);
    expect(first.frames.length).toBeLessThanOrEqual(11);
    expect(first.nextSeq).toBe(first.frames.length);
    expect(store.get({ runId: 'run-wide', fromSeq: 0, limit: 1000 }, 1).frames).toHaveLength(1);
    const seen = [];
    for (let fromSeq: number | null = 0; fromSeq !== null;) {
      const page = store.get({ runId: 'run-wide', fromSeq, limit: 1000 }, lineBytes * 7);
      seen.push(...page.frames);
      fromSeq = page.nextSeq;
    }
    expect(seen).toEqual(written);
  });

  it('skips a torn last line (a crash mid-write) and a damaged line, and says how many', async () => {
    const store = tempStore();
    const { written, dir } = await saveRun(store, 'run-torn', 12);
    const file = path.join(dir, 'frames.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[4] = '{"runId":"run-torn","seq":4,"phase":0,"tMs":"not a number"}';
    lines[6] = lines[6].replace('"histogram":[[20,100]', '"histogram":[[20,-100]');
    writeFileSync(file, lines.join('\n'));
    appendFileSync(file, JSON.stringify(written[0]).slice(0, 150));
    const run = store.get({ runId: 'run-torn', fromSeq: 0, limit: 1000 });
    expect(run.frames.map((f) => f.seq)).toEqual(written.map((f) => f.seq).filter((s) => s !== 4 && s !== 6));
    expect(run.skippedLines).toBe(3);
    // A file cut in the middle of a multi-byte character is no worse.
    truncateSync(file, statSync(file).size - 3);
    expect(() => readFrames(file)).not.toThrow();
  });

  it('a slow fdatasync holds back neither the frames after it nor their reading back; the close waits for it', async () => {
    const store = tempStore();
    const dir = path.join(store.dir, 'run-sync');
    mkdirSync(dir);
    const log = new FrameLog(path.join(dir, 'frames.jsonl'), Promise.resolve());
    const record = new RunRecord('run-sync', 1e12, 0, null);
    record.addPhase(defaultProfile(), NATIVE_STARTED, 1e12);
    const add = (i: number) => log.append(record.addSnapshot(snapshot(i, 1e12 + i * 1e8), false).frame);
    // Every fdatasync of a file handle waits until released: a disk busy with another file's writes.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const probe = await open(path.join(dir, 'probe'), 'w');
    const handle = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
    await probe.close();
    const datasync = handle.datasync;
    let syncs = 0;
    vi.spyOn(handle, 'datasync').mockImplementation(async function (this: unknown) { syncs++; await gate; return datasync.call(this); });
    try {
      add(1);
      await log.written;
      await new Promise((r) => setTimeout(r, FRAME_SYNC_INTERVAL_MS + 200)); // the sync timer fired: a sync is stalled
      expect(syncs).toBe(1);
      for (let i = 2; i <= 5; i++) add(i);
      const handedOver = await Promise.race([log.written.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
      expect(handedOver, 'frames after a stalled sync waited for it').toBe(true);
      expect(readFrames(log.path).frames.map((f) => f.seq)).toEqual([0, 1, 2, 3, 4]);
      // The close syncs after the last write, and is not done while a sync is not.
      const closed = log.close();
      expect(await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('waiting'), 300))])).toBe('waiting');
      release();
      await closed;
      expect(syncs).toBe(2);
      expect(log.problem).toBeNull();
    } finally {
      release();
      vi.restoreAllMocks();
    }
  });

  it('is pinned and unpinned by a marker that survives its owner rewriting meta.json', async () => {
    const store = tempStore();
    const { writer } = await saveRun(store, 'run-p', 3, { end: false });
    store.pin('run-p', true);
    writer.phases([]); // the owner rewrites its meta while the run goes
    await writer.settled;
    expect(store.list({ limit: 10, offset: 0 }).runs[0].pinned).toBe(true);
    expect(store.get({ runId: 'run-p', fromSeq: 0, limit: 10 }).pinned).toBe(true);
    store.pin('run-p', false);
    expect(store.list({ limit: 10, offset: 0 }).runs[0].pinned).toBe(false);
  });

  it('has one writer: a second run with the same id is refused, the first kept as it was', async () => {
    const store = tempStore();
    const { written } = await saveRun(store, 'run-twice', 3);
    const profile = defaultProfile();
    const second = store.begin({ runId: 'run-twice', startedAt: new Date().toISOString(), profile, phases: [] });
    second.frame(written[0]);
    await second.settled;
    expect(second.end(store.getAll('run-twice').meta.summary!)).toMatch(/could not be saved to the run history: a saved run run-twice already exists/);
    await second.settled;
    expect(store.getAll('run-twice').frames).toEqual(written);
    expect(store.getAll('run-twice').meta.summary?.frames).toBe(3);
  });

  it('is deleted with its folder; one still going is refused', async () => {
    const store = tempStore();
    const { dir } = await saveRun(store, 'run-d', 3);
    await saveRun(store, 'run-live', 3, { end: false });
    expect(store.delete('run-d')).toEqual({ runId: 'run-d', deleted: true });
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(store.dir).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(store.list({ limit: 10, offset: 0 }).runs.map((r) => r.runId)).toEqual(['run-live']);
    expect(() => store.delete('run-live')).toThrow(/still going/);
  });

  it('refuses an unknown or malformed id as one line naming runId', async () => {
    const store = tempStore();
    await saveRun(store, 'run-x', 2);
    for (const id of ['run-nope', '../run-x', '.index', 'a/b']) {
      for (const call of [() => store.get({ runId: id, fromSeq: 0, limit: 1 }), () => store.delete(id), () => store.pin(id, true), () => store.getAll(id)]) {
        let error: unknown;
        try { call(); } catch (err) { error = err; }
        expect(error, id).toBeInstanceOf(LabError);
        expect((error as LabError).field).toBe('runId');
        expect((error as LabError).kind).toBe('input');
        expect((error as LabError).oneLine()).not.toMatch(/\n/);
      }
    }
    expect(existsSync(path.join(store.dir, 'run-x', 'meta.json'))).toBe(true);
  });
});

describe('a run whose host died', () => {
  it('is recovered as interrupted with the statistics of the frames it saved', async () => {
    const store = tempStore();
    const { written, dir } = await saveRun(store, 'run-crash', 30, { end: false, warmup: 5 });
    // The owner is gone: this pid with another start time is not the process that wrote it.
    const metaFile = path.join(dir, 'meta.json');
    const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
    expect(meta.status).toBe('running');
    expect(store.list({ limit: 10, offset: 0 }).runs[0].status).toBe('running'); // its owner (this process) lives
    meta.owner.startTicks += 1;
    writeFileSync(metaFile, JSON.stringify(meta));
    // ...and the host was killed in the middle of a line.
    appendFileSync(path.join(dir, 'frames.jsonl'), '{"runId":"run-crash","seq":30,"pha');

    const row = store.list({ limit: 10, offset: 0 }).runs[0];
    expect(row.status).toBe('interrupted');
    const measured = written.filter((f) => f.measuring);
    expect(measured.length).toBe(25);
    const requests = measured.reduce((n, f) => n + f.requests, 0);
    expect(row.headline?.requests).toBe(requests);
    expect(row.headline?.errors).toBe(0); // the frame with an error (3) was in the warm-up
    expect(row.headline?.throughputRps).toBeCloseTo(requests / (measured.length * 0.1), 6);
    const run = store.get({ runId: 'run-crash', fromSeq: 0, limit: 100 });
    expect(run.meta.summary).toBeNull();
    expect(run.meta.recovered?.frames).toBe(30);
    expect(run.meta.recovered?.reason).toMatch(/kill -9/);
    expect(run.frames).toEqual(written);
    expect(run.skippedLines).toBe(1);
    expect(run.meta.endedAt).toBe(new Date(Date.parse(run.meta.startedAt) + written[29].tMs).toISOString());
    // Written back: the next reader sees it interrupted without recovering again.
    expect(StoredRunMetaSchema.parse(JSON.parse(readFileSync(metaFile, 'utf8'))).status).toBe('interrupted');
    expect(() => store.delete('run-crash')).not.toThrow();
  });
});

describe('retention', () => {
  it('prunes the oldest unpinned runs beyond the count cap and keeps pinned ones', async () => {
    const store = tempStore({ maxRuns: 3 });
    // startedAt orders runs; RunRecord stamps it at construction, so the runs are made in order.
    const ids = ['run-1', 'run-2', 'run-3'];
    for (const id of ids) await saveRun(store, id, 2);
    store.pin('run-1', true);
    await saveRun(store, 'run-4', 2); // 4 runs > 3: run-2 goes (run-1 is pinned)
    expect(store.list({ limit: 10, offset: 0 }).runs.map((r) => r.runId).sort()).toEqual(['run-1', 'run-3', 'run-4']);
    await saveRun(store, 'run-5', 2);
    expect(store.list({ limit: 10, offset: 0 }).runs.map((r) => r.runId).sort()).toEqual(['run-1', 'run-4', 'run-5']);
    expect(existsSync(path.join(store.dir, 'run-2'))).toBe(false);
  });

  it('prunes by bytes, never the run that just ended, nor a run still going', async () => {
    const probe = tempStore();
    const one = await saveRun(probe, 'run-size', 20);
    const bytes = probe.list({ limit: 1, offset: 0 }).runs[0].bytesOnDisk;
    expect(one.summary).not.toBeNull();
    const store = tempStore({ maxBytes: Math.floor(bytes * 2.5) });
    await saveRun(store, 'run-live', 20, { end: false });
    await saveRun(store, 'run-1', 20);
    await saveRun(store, 'run-2', 20); // 3 runs ≈ 3 × bytes > 2.5 × bytes: run-1 goes, not run-live
    expect(store.list({ limit: 10, offset: 0 }).runs.map((r) => r.runId).sort()).toEqual(['run-2', 'run-live']);
    const tiny = tempStore({ maxBytes: 1 });
    await saveRun(tiny, 'run-only', 5);
    expect(tiny.list({ limit: 10, offset: 0 }).total).toBe(1);
  });

  it('takes its caps and folder from the environment, refusing bad values in one line', () => {
    expect(runStoreOptionsFromEnv({ URING_LAB_RUNS_DIR: '/x/runs', URING_LAB_RUNS_MAX: '7', URING_LAB_RUNS_MAX_BYTES: '1000' })).toEqual({ dir: '/x/runs', maxRuns: 7, maxBytes: 1000 });
    expect(runStoreOptionsFromEnv({ XDG_DATA_HOME: '/data' })).toEqual({ dir: '/data/uring-lab/runs', maxRuns: 500, maxBytes: 2 * 2 ** 30 });
    expect(() => runStoreOptionsFromEnv({ URING_LAB_RUNS_MAX: 'lots' })).toThrow(/URING_LAB_RUNS_MAX=lots is not a positive whole number/);
    expect(() => runStoreOptionsFromEnv({ URING_LAB_RUNS_DIR: 'relative/runs' })).toThrow(/not an absolute path/);
  });
});

describe('the list', () => {
  it('pages newest first, and a stale or torn index cache never changes the answer', async () => {
    const store = tempStore();
    for (let i = 0; i < 5; i++) await saveRun(store, `run-${i}`, 2);
    const all = store.list({ limit: 10, offset: 0 });
    expect(all.runs.map((r) => r.runId)).toEqual(['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
    expect(store.list({ limit: 2, offset: 1 })).toMatchObject({ total: 5, runs: [{ runId: 'run-3' }, { runId: 'run-2' }] });
    // The host's list (file system calls off the event loop) answers the same, cached or not.
    expect(await store.listAsync({ limit: 10, offset: 0 })).toEqual(all);
    rmSync(path.join(store.dir, 'index.json'));
    expect(await new RunStore({ dir: store.dir }).listAsync({ limit: 10, offset: 0 })).toEqual(all);
    writeFileSync(path.join(store.dir, 'index.json'), '{"format":1,"rows":{"run-0":{"key":"x","row":');
    expect(new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 })).toEqual(all);
    // The pin is read from the folder each time, never from the cache.
    store.pin('run-0', true);
    expect(new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 }).runs[4].pinned).toBe(true);
    // A folder that is not a valid run is counted, not listed, and left alone.
    mkdtempSync(path.join(store.dir, 'run-junk'));
    writeFileSync(path.join(store.dir, 'run-bad'), '');
    const junk = path.join(store.dir, 'run-junk2');
    await saveRun(store, 'run-junk2', 1);
    writeFileSync(path.join(junk, 'meta.json'), '{"format":1}');
    const listed = new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 });
    expect(listed.total).toBe(5);
    expect(listed.unreadable).toBe(1);
    expect(existsSync(junk)).toBe(true);
    // What the refusal to read it says to do works: `runs delete` removes a damaged run.
    expect(() => store.getAll('run-junk2')).toThrow(/not a valid run record/);
    store.delete('run-junk2');
    expect(existsSync(junk)).toBe(false);
    // A folder a lab process left without meta.json (it died before its first write): once older
    // than a start takes, counted and deletable; one whose writer lives is neither.
    const longAgo = new Date(Date.now() - 3_600_000);
    const deadPid = spawnSync('true').pid!;
    const orphan = path.join(store.dir, 'run-orphan');
    mkdirSync(orphan);
    writeFileSync(path.join(orphan, `.meta.json.${deadPid}.1.tmp`), '{"format');
    utimesSync(orphan, longAgo, longAgo);
    const creating = path.join(store.dir, 'run-creating');
    mkdirSync(creating);
    writeFileSync(path.join(creating, `.meta.json.${process.pid}.1.tmp`), '{"format');
    utimesSync(creating, longAgo, longAgo);
    expect(new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 }).unreadable).toBe(1);
    expect(() => store.delete('run-creating')).toThrow(/no saved run/);
    // A copy of a run's folder under another name (a backup) keeps its meta's id: not listed
    // as a second row of that id, but counted, and deletable by its folder's name.
    cpSync(path.join(store.dir, 'run-0'), path.join(store.dir, 'run-0-backup'), { recursive: true });
    const withCopy = new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 });
    expect(withCopy.runs.filter((r) => r.runId === 'run-0')).toHaveLength(1);
    expect(withCopy.runs.map((r) => r.runId)).not.toContain('run-0-backup');
    expect(withCopy.unreadable).toBe(2);
    store.delete('run-0-backup');
    expect(existsSync(path.join(store.dir, 'run-0'))).toBe(true);
    // The A/B experiments' folder beside the runs is not a run: not counted, not deletable as one.
    const experiments = path.join(store.dir, 'experiments');
    mkdirSync(experiments);
    writeFileSync(path.join(experiments, 'ab-1.json'), '{}');
    utimesSync(experiments, longAgo, longAgo);
    expect(new RunStore({ dir: store.dir }).list({ limit: 10, offset: 0 }).unreadable).toBe(1);
    expect(() => store.delete('experiments')).toThrow(/no saved run/);
    expect(() => store.getAll('experiments')).toThrow(/no saved run/);
    expect(existsSync(path.join(experiments, 'ab-1.json'))).toBe(true);
    store.delete('run-orphan');
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(creating)).toBe(true);
  });
});

describe('exports', () => {
  it('csv: a header and one row per frame with its numbers', async () => {
    const store = tempStore();
    const { written } = await saveRun(store, 'run-csv', 7);
    const file = exportRun(store.getAll('run-csv'), 'csv');
    expect(file).toMatchObject({ filename: 'run-csv.csv', mediaType: 'text/csv' });
    const rows = file.text.trimEnd().split('\n');
    expect(rows[0]).toBe('seq,phase,tMs,intervalMs,measuring,requests,bytes,errors,mismatches,timeouts,throughputRps,p50Us,p99Us,p99CorrectedUs,maxUs,inFlight,oldestInFlightUs,serverCpuNs,loadCpuNs,loadBusyShare,final');
    expect(rows).toHaveLength(8);
    const header = rows[0].split(',');
    rows.slice(1).forEach((line, i) => {
      const cells = Object.fromEntries(line.split(',').map((v, c) => [header[c], v]));
      expect(Number(cells.seq)).toBe(written[i].seq);
      expect(Number(cells.requests)).toBe(written[i].requests);
      expect(Number(cells.throughputRps)).toBeCloseTo(written[i].throughputRps, 6);
      expect(Number(cells.p99Us)).toBe(written[i].latencyUs.p99);
    });
    // A frame in which no request completed has no latency: empty cells, not the empty histogram's 0.
    const [head, empty] = framesCsv([{ ...written[0], requests: 0, latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 } }]).trimEnd().split('\n');
    const emptyCells = Object.fromEntries(empty.split(',').map((v, c) => [head.split(',')[c], v]));
    expect([emptyCells.p50Us, emptyCells.p99Us, emptyCells.p99CorrectedUs, emptyCells.maxUs]).toEqual(['', '', '', '']);
    expect(emptyCells.requests).toBe('0');
    // A frame without our server (a load against another's, storage) has no server CPU: an
    // empty cell, not 0 ns.
    const [, bare] = framesCsv([{ ...written[0], server: null, serverCpuNs: 0 }]).trimEnd().split('\n');
    expect(Object.fromEntries(bare.split(',').map((v, c) => [head.split(',')[c], v])).serverCpuNs).toBe('');
  });

  it('refuses through the LabApi an export larger than one answer carries, with the CLI way to write it', async () => {
    const store = tempStore();
    await saveRun(store, 'run-big', 12_000);
    const history = new LabHistory(store.dir);
    const refusal = await history.export('run-big', 'json').catch((err) => err);
    expect(refusal).toBeInstanceOf(LabError);
    expect((refusal as LabError).field).toBe('format');
    expect((refusal as LabError).oneLine()).toMatch(/json export of run run-big is [\d.]+ MiB, more than one LabApi answer carries .*uring-lab runs export run-big --format json --out FILE/);
    expect((await history.export('run-big', 'csv')).text.split('\n')).toHaveLength(12_002);
    // The CLI writes it whole.
    expect(exportRun(store.getAll('run-big'), 'json').text.length).toBeGreaterThan(MAX_EXPORT_BYTES);
  });

  it('md: the headline numbers, knobs and status for a ticket; json: meta and every frame', async () => {
    const store = tempStore();
    const { summary, written } = await saveRun(store, 'run-md', 10, { name: 'sqpoll | trial' });
    const md = exportRun(store.getAll('run-md'), 'md');
    expect(md).toMatchObject({ filename: 'run-md.md', mediaType: 'text/markdown' });
    expect(md.text).toContain('# uring-lab run run-md — sqpoll \\| trial');
    expect(md.text).toContain('status: **completed**');
    const throughput = Math.round(summary!.throughputRps).toLocaleString('en-US');
    expect(md.text).toContain(`| ${throughput} | ${summary!.latencyUs.p50} | ${summary!.latencyUs.p90} | ${summary!.latencyUs.p99} |`);
    expect(md.text).toContain(`${summary!.frames} frames`);
    // User text is text in any Markdown renderer: no HTML, emphasis or links get through.
    const hostile = await saveRun(store, 'run-md-hostile', 3, { name: 'x<img src=x onerror=alert(1)>*b*_i_[l](u)`c`&' });
    expect(hostile.summary).toBeTruthy();
    const headline = exportRun(store.getAll('run-md-hostile'), 'md').text.split('\n')[0];
    expect(headline).toBe('# uring-lab run run-md-hostile — x&lt;img src=x onerror=alert(1)&gt;\\*b\\*\\_i\\_\\[l\\](u)\\`c\\`&amp;');
    const json = exportRun(store.getAll('run-md'), 'json');
    const back = JSON.parse(json.text);
    expect(back.meta.summary).toEqual(summary);
    expect(back.frames.map((f: unknown) => RunFrameSchema.parse(f))).toEqual(written);
  });
});
