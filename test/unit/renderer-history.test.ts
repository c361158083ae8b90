/**
 * The History / Profiles views' data side: the chart exports (CSV shapes, file names), the
 * remembered layout (each stored field validated alone), the history store against a fake host
 * (paging a long run, pin / delete, contract checks at the edge), a saved run replayed into a
 * Pinia of its own (the page's stores untouched), and the profile import keeping the user's text.
 */
import { createPinia, getActivePinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LabError, ProfileSchema, type GetRunResult, type LabApi, type RunFrame, type RunListRow, type StoredRunMeta } from '../../electron/contract';
import { toCoarseColumn } from '../../renderer/src/charts/latencyRows';
import { loadReplay } from '../../renderer/src/components/history/replay';
import { latencyText } from '../../electron/contract';
import { csvField, framesCsv, FRAMES_CSV_HEADER, heatmapCsv, safeFileName, toCsv } from '../../renderer/src/format/chartExport';
import { useConnectionStore } from '../../renderer/src/stores/connection';
import { useFramesStore } from '../../renderer/src/stores/frames';
import { callLab, useHistoryStore, type OpenedRun } from '../../renderer/src/stores/history';
import { DEFAULT_LAYOUT, LAYOUT_STORAGE_KEY, readLayout, useLayoutStore, writeLayout } from '../../renderer/src/stores/layout';
import { useProfilesStore } from '../../renderer/src/stores/profiles';
import { useRunStore } from '../../renderer/src/stores/run';
import { bucketOf, fakeClient, flush, profile, runFrame, runSummary, sqpollPhase } from './renderer-fixtures';

const frames = (runId: string, n: number, from = 0): RunFrame[] =>
  Array.from({ length: n }, (_, i) => runFrame({ runId, seq: from + i, tMs: (from + i + 1) * 100, histogram: [[bucketOf(100 + i), 3]] }));

const stats = { measuredS: 1, requests: 10, errors: 0, throughputRps: 10, latencyUs: { p50: 1, p90: 1, p99: 2, p999: 2, max: 3, mean: 1 }, serverCpuNsPerReq: 1, loadCpuNsPerReq: 1 };
/** A saved run's meta as the host stores it: one whose host died (no summary; its stats recovered). */
function recoveredMeta(runId: string): StoredRunMeta {
  return {
    format: 1, runId, name: 'default', startedAt: '2026-11-30T07:00:00.000Z', endedAt: '2026-11-30T07:00:03.000Z', status: 'interrupted',
    workload: 'echo', profile: profile(false), phases: [sqpollPhase(0, false)], summary: null,
    recovered: { stats, frames: 30, reason: 'the host stopped without closing the run (crash or kill -9)' },
    owner: { pid: 1, startTicks: 1, bootId: 'b' },
  };
}
const row = (runId: string, pinned = false): RunListRow => ({
  runId, name: 'default', startedAt: '2026-11-30T07:00:00.000Z', endedAt: null, status: 'completed', pinned, workload: 'echo',
  headline: { throughputRps: 10, p50Us: 1, p99Us: 2, requests: 10, errors: 0 }, bytesOnDisk: 4096,
});

/** The fake host of renderer-fixtures, with the history and profile methods these stores call. */
function hostWith(methods: Record<string, (params: never) => Promise<unknown>>) {
  const f = fakeClient();
  Object.assign(f.api, Object.fromEntries(Object.entries(methods).map(([k, fn]) => [k, vi.fn(fn)])));
  useConnectionStore().attach(f.client as unknown as Parameters<ReturnType<typeof useConnectionStore>['attach']>[0], () => {});
  return f.api as unknown as Record<string, ReturnType<typeof vi.fn>>;
}

describe('chart exports', () => {
  it('quotes CSV fields only where RFC 4180 needs it, and leaves non-finite numbers empty', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(NaN)).toBe('');
    expect(csvField(null)).toBe('');
    expect(toCsv(['a', 'b'], [[1, 'x,y']])).toBe('a,b\n1,"x,y"\n');
  });

  it('writes one CSV row per frame with the charts\' numbers, and one per non-empty heatmap cell', () => {
    const list = frames('r1', 3);
    const lines = framesCsv(list).trim().split('\n');
    expect(lines[0]).toBe(FRAMES_CSV_HEADER.join(','));
    expect(lines).toHaveLength(4);
    expect(lines[2]!.split(',').slice(0, 3)).toEqual(['0.200', '1', '0']);
    const cells = heatmapCsv(list.map((frame) => ({ frame, column: toCoarseColumn(frame.histogram) }))).trim().split('\n');
    expect(cells[0]).toBe('t_s,seq,phase,row_lower_us,row_upper_us,requests');
    expect(cells).toHaveLength(4); // each frame has its 3 requests in one row
    const [, , , lower, upper, count] = cells[1]!.split(',').map(Number);
    expect(lower).toBeLessThanOrEqual(100);
    expect(upper).toBeGreaterThan(100);
    expect(count).toBe(3);
  });

  it('a frame with no request completed has empty latency cells in the UI\'s CSV (history.test.ts: `runs export`\'s), not the empty histogram\'s 0', () => {
    const stalled = runFrame({ seq: 1, tMs: 200, requests: 0, throughputRps: 0, latencyUs: { p50: 0, p99: 0, max: 0, p99Corrected: 0 }, histogram: [] });
    const list = [runFrame({ seq: 0 }), stalled];
    const ui = framesCsv(list).trim().split('\n').map((l) => l.split(','));
    for (const name of ['p50_us', 'p99_us', 'p99_corrected_us', 'max_us']) {
      const col = ui[0]!.indexOf(name);
      expect(col, name).toBeGreaterThan(0);
      expect(ui[1]![col], name).not.toBe('');
      expect(ui[2]![col], name).toBe('');
    }
    expect(latencyText(0, 0)).toBe('—');
    expect(latencyText(3, 0)).toBe('0');
  });

  it('makes file names of letters, digits, dot, dash and underscore', () => {
    expect(safeFileName('Client latency')).toBe('Client-latency');
    expect(safeFileName('../../etc/passwd')).toBe('etc-passwd');
    expect(safeFileName('   ', 'run')).toBe('run');
  });
});

describe('remembered layout', () => {
  const storageOf = (value: unknown) => ({ getItem: (k: string) => (k === LAYOUT_STORAGE_KEY ? JSON.stringify(value) : null) });

  it('keeps each valid field and drops each invalid one alone', () => {
    expect(readLayout(storageOf({ view: 'history', lastProfile: { kind: 'preset', name: 'low-latency' }, compare: ['a', 'b'], runLength: 'profile' }))).toEqual({
      view: 'history', lastProfile: { kind: 'preset', name: 'low-latency' }, compare: ['a', 'b'], runLength: 'profile',
    });
    // saved before the run-length choice existed: the app's old behaviour, until stopped
    expect(readLayout(storageOf({ view: 'history', lastProfile: null, compare: [] })).runLength).toBe('untilStopped');
    expect(readLayout(storageOf({ view: 'history', runLength: 'forever' })).runLength).toBe('untilStopped');
    expect(readLayout(storageOf({ view: 'no-such-view', lastProfile: { kind: 'preset', name: 'x' }, compare: 'a' }))).toEqual({ ...DEFAULT_LAYOUT, lastProfile: { kind: 'preset', name: 'x' } });
    expect(readLayout({ getItem: () => '{not json' })).toEqual(DEFAULT_LAYOUT);
    expect(readLayout(null)).toEqual(DEFAULT_LAYOUT);
  });

  it('writes what it reads back, and a storage that throws is not fatal', () => {
    const kept = new Map<string, string>();
    const state = { view: 'profiles' as const, lastProfile: { kind: 'saved' as const, name: 'mine' }, compare: ['r1'], runLength: 'profile' as const };
    writeLayout({ setItem: (k, v) => kept.set(k, v) }, state);
    expect(readLayout({ getItem: (k) => kept.get(k) ?? null })).toEqual(state);
    expect(() => writeLayout({ setItem: () => { throw new Error('QuotaExceededError'); } }, state)).not.toThrow();
  });

  it('keeps the last two runs picked for comparison, a second click unpicks', () => {
    setActivePinia(createPinia());
    const layout = useLayoutStore();
    layout.toggleCompare('a');
    layout.toggleCompare('b');
    layout.toggleCompare('c');
    expect(layout.compare).toEqual(['b', 'c']);
    layout.toggleCompare('b');
    expect(layout.compare).toEqual(['c']);
  });
});

describe('history store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('refuses a method the host lacks, and an answer that breaks the contract, in words', async () => {
    const api = { listRuns: async () => ({ runs: 'nope', total: 0, unreadable: 0 }) } as unknown as LabApi;
    await expect(callLab(api, 'getRun', { runId: 'r1' })).rejects.toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/getRun/) });
    await expect(callLab(api, 'listRuns', {})).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/listRuns.*runs/) });
  });

  it('lists runs, opens one paging through its frames, pins and deletes', async () => {
    const meta = recoveredMeta('r1');
    const all = frames('r1', 25);
    const page = (from: number, limit: number): GetRunResult => {
      const slice = all.filter((f) => f.seq >= from).slice(0, limit);
      const last = slice[slice.length - 1]!.seq;
      return { meta, pinned: false, frames: slice, nextSeq: last + 1 < all.length ? last + 1 : null, skippedLines: 0 };
    };
    const api = hostWith({
      listRuns: async () => ({ runs: [row('r1'), row('r2')], total: 2, unreadable: 1 }),
      // the host pages 10 frames at a time here, whatever the limit asked
      getRun: async (p: { runId: string; fromSeq?: number }) => page(p.fromSeq ?? 0, 10),
      pinRun: async (p: { runId: string; pinned: boolean }) => ({ runId: p.runId, pinned: p.pinned }),
      deleteRun: async (p: { runId: string }) => ({ runId: p.runId, deleted: true }),
    });
    const history = useHistoryStore();
    await history.refresh();
    expect(history.runs.map((r) => r.runId)).toEqual(['r1', 'r2']);
    expect(history.unreadable).toBe(1);
    expect(history.unlisted).toBe(0);

    await history.open('r1');
    expect(api.getRun).toHaveBeenCalledTimes(3);
    expect(history.opened?.frames.map((f) => f.seq)).toEqual(all.map((f) => f.seq));
    expect(history.opened?.truncated).toBe(false);

    await history.pin('r1', true);
    expect(history.runs[0]!.pinned).toBe(true);
    expect(history.opened?.pinned).toBe(true);

    history.toggleCompare('r1');
    history.toggleCompare('r2');
    await history.remove('r1');
    expect(history.runs.map((r) => r.runId)).toEqual(['r2']);
    expect(history.opened).toBeNull();
    expect(history.compare).toEqual(['r2']);
    expect(history.failure).toBeNull();
  });

  it('says how many saved runs are beyond the page it lists (the newest 1,000)', async () => {
    const api = hostWith({ listRuns: async () => ({ runs: [row('r1'), row('r2')], total: 1500, unreadable: 0 }) });
    const history = useHistoryStore();
    await history.refresh();
    expect(api.listRuns).toHaveBeenCalledWith(expect.objectContaining({ limit: 1000, offset: 0 }));
    expect(history.unlisted).toBe(1498);
  });

  it('follows another window\'s deletes and pins (historyChanged), and a run gone under it (RUN_UNKNOWN) reads the list again, the reason kept', async () => {
    let listed = [row('r1'), row('r2'), row('r3')];
    hostWith({
      listRuns: async () => ({ runs: listed, total: listed.length, unreadable: 0 }),
      pinRun: async () => {
        throw new LabError({ code: 'RUN_UNKNOWN', kind: 'input', field: 'runId', message: 'no saved run "r3"', fix: 'list them: uring-lab runs list' });
      },
    });
    const history = useHistoryStore();
    await history.refresh();
    history.handleChange({ runId: 'r1', deleted: true, pinned: null });
    history.handleChange({ runId: 'r2', deleted: false, pinned: true });
    expect(history.runs.map((r) => [r.runId, r.pinned])).toEqual([['r2', true], ['r3', false]]);
    expect(history.total).toBe(2);
    // r3 deleted by `uring-lab runs delete` (no event reaches this window): the click finds out.
    listed = [row('r2')];
    await history.pin('r3', true);
    await new Promise((r) => setTimeout(r, 0));
    expect(history.runs.map((r) => r.runId)).toEqual(['r2']);
    expect(history.failure).toMatchObject({ code: 'RUN_UNKNOWN' });
  });

  it('shows the host\'s refusal (with its field) and keeps the list as it was', async () => {
    hostWith({
      listRuns: async () => ({ runs: [row('r1')], total: 1, unreadable: 0 }),
      deleteRun: async () => {
        throw new LabError({ code: 'RUN_NOT_FOUND', kind: 'input', field: 'runId', message: 'no saved run "r1"', fix: 'list them: uring-lab runs list' });
      },
    });
    const history = useHistoryStore();
    await history.refresh();
    await history.remove('r1');
    expect(history.failure).toMatchObject({ code: 'RUN_NOT_FOUND', field: 'runId' });
    expect(history.runs).toHaveLength(1);
  });
});

describe('replay of a saved run', () => {
  const opened = (over: Partial<OpenedRun> & { meta: StoredRunMeta }): OpenedRun => ({ runId: over.meta.runId, pinned: false, frames: [], truncated: false, skippedLines: 0, ...over });

  it('feeds every frame, the phases and the summary into a Pinia of its own; the page\'s stores are untouched', () => {
    const pagePinia = createPinia();
    setActivePinia(pagePinia);
    const pageRun = useRunStore();
    const list = frames('saved-1', 700); // more than the live view's 600-frame ring
    const phases = [sqpollPhase(0, false), sqpollPhase(1, true, { atMs: 30_000 })];
    const summary = runSummary('saved-1', phases);
    const meta = { ...recoveredMeta('saved-1'), status: 'completed' as const, phases, summary, recovered: null };

    const replay = createPinia();
    loadReplay(replay, opened({ meta, frames: list }));
    expect(getActivePinia()).toBe(pagePinia);
    const buffer = useFramesStore(replay).buffer;
    expect(buffer.received).toBe(700);
    expect(buffer.snapshot()).toHaveLength(700);
    const run = useRunStore(replay);
    expect(run.runId).toBe('saved-1');
    expect(run.summary).toBe(summary);
    expect(run.phases.map((p) => p.index)).toEqual([0, 1]);
    expect(run.runState).toBe('idle');

    setActivePinia(pagePinia);
    expect(pageRun.runId).toBeNull();
    expect(useFramesStore(pagePinia).buffer.received).toBe(0);
  });

  it('a run whose host died replays its frames with no summary; a recovered interruption keeps its reason', () => {
    setActivePinia(createPinia());
    const replay = createPinia();
    loadReplay(replay, opened({ meta: recoveredMeta('dead-1'), frames: frames('dead-1', 12) }));
    expect(useFramesStore(replay).buffer.received).toBe(12);
    expect(useRunStore(replay).summary).toBeNull();

    // no phase saved (the host died before the first): the first frame adopts the run
    const noPhases = createPinia();
    loadReplay(noPhases, opened({ meta: { ...recoveredMeta('dead-0'), phases: [] }, frames: frames('dead-0', 7) }));
    expect(useRunStore(noPhases).runId).toBe('dead-0');
    expect(useFramesStore(noPhases).buffer.received).toBe(7);
    expect(useFramesStore(noPhases).buffer.snapshot().map((b) => b.frame.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const withSummary = createPinia();
    const meta = { ...recoveredMeta('dead-2'), summary: runSummary('dead-2', [sqpollPhase(0, false)], 'interrupted') };
    loadReplay(withSummary, opened({ meta, frames: frames('dead-2', 5) }));
    expect(useRunStore(withSummary).interruptedReason).toMatch(/kill -9/);
  });
});

describe('profiles store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('a refused import keeps the text and says which field; an accepted one is remembered as the last profile', async () => {
    let accept = false;
    const api = hostWith({
      listPresets: async () => ({ presets: [] }),
      listProfiles: async () => ({ profiles: [] }),
      importProfile: async () => {
        if (!accept) throw new LabError({ code: 'PROFILE_INVALID', kind: 'input', field: 'server.ringEntries', message: 'server.ringEntries: found "lots", expected an integer 1–32768', fix: 'give a number' });
        return { profile: ProfileSchema.parse({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'mine' }), migratedFrom: 0, name: 'mine' };
      },
    });
    const profiles = useProfilesStore();
    profiles.importText = '{"server": {"ringEntries": "lots"}}';
    const refused = await profiles.importProfile();
    expect(refused).toMatchObject({ ok: false, error: { field: 'server.ringEntries', code: 'PROFILE_INVALID' } });
    expect(profiles.importText).toBe('{"server": {"ringEntries": "lots"}}');
    expect(api.listProfiles).not.toHaveBeenCalled();
    expect(useLayoutStore().lastProfile).toBeNull();

    accept = true;
    const ok = await profiles.importProfile();
    await flush();
    expect(ok).toEqual({ ok: true, name: 'mine', migratedFrom: 0 });
    expect(useLayoutStore().lastProfile).toEqual({ kind: 'saved', name: 'mine' });
    expect(api.listProfiles).toHaveBeenCalled();
  });
});
