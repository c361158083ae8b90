import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LabError, type FramesResult, type Phase } from '../../electron/contract';
import type { ConnectionState } from '../../renderer/src/api/connection';
import { usePhaseResultsStore } from '../../renderer/src/stores/phaseResults';
import { attachLab } from '../../renderer/src/stores/attach';
import { FrameBuffer } from '../../renderer/src/stores/frameBuffer';
import { useRunStore } from '../../renderer/src/stores/run';
import { attached, fakeClient, flush, profile, runFrame, runSummary as summary, sqpollPhase } from './renderer-fixtures';

const SQPOLL = 'server.sqpoll.enabled';
const phase = (index: number, applied: boolean, rejected: Phase['rejected'] = []): Phase => sqpollPhase(index, applied, { rejected });
const frame = (runId: string, seq: number, phaseIndex = 0) => runFrame({ runId, seq, phase: phaseIndex, tMs: seq * 100 });
const lost: ConnectionState = { kind: 'closed', attempt: 1, retryInMs: 250, reason: 'connection dropped' };

describe('lab store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('loads status on attach and changes the next run profile while idle', async () => {
    const { f, run, knobs } = await attached();
    expect(f.api.getStatus).toHaveBeenCalledTimes(1);
    expect(run.statusLoaded).toBe(true);
    expect(run.runState).toBe('idle');
    expect(run.shownState).toBe('idle');
    expect(knobs.requested(SQPOLL)).toBe(false);
    expect(knobs.applied(SQPOLL)).toBeNull();

    const p = knobs.setKnob(SQPOLL, true);
    expect(knobs.requested(SQPOLL)).toBe(true); // optimistic while in flight
    await p;
    expect(f.api.setKnob).toHaveBeenCalledWith({ path: 'server.sqpoll.enabled', value: true });
    expect(knobs.isPending(SQPOLL)).toBe(false);
    expect(knobs.requested(SQPOLL)).toBe(true);
  });

  it('a status asked for before a knob change but answered after it does not turn the knob back', async () => {
    const { f, run, knobs } = await attached();
    // The host answers getStatus at once, with the profile of that moment, but this answer
    // reaches the page only after the setKnob sent behind it has been answered.
    const stale = f.status();
    let answer!: () => void;
    f.api.getStatus.mockImplementationOnce(() => new Promise((resolve) => { answer = () => resolve(stale); }));
    const refresh = run.refreshStatus();
    await knobs.setKnob(SQPOLL, true);
    expect(knobs.requested(SQPOLL)).toBe(true);
    answer();
    await refresh;
    expect(knobs.requested(SQPOLL)).toBe(true);
    // One asked for after the change is taken as it comes.
    await run.refreshStatus();
    expect(knobs.requested(SQPOLL)).toBe(true);
    f.api.getStatus.mockImplementationOnce(async () => f.status({ profile: { ...stale.profile } }));
    await run.refreshStatus();
    expect(knobs.requested(SQPOLL)).toBe(false);
  });

  it('starts with untilStopped and the profile, tracks phases and stops', async () => {
    const { f, buf, run, knobs } = await attached();
    await knobs.setKnob(SQPOLL, true);

    const starting = run.start();
    expect(run.runState).toBe('starting');
    f.emit({ type: 'frame', frame: frame('r1', 0) }); // frames may overtake the answer
    await starting;
    expect(f.api.startRun).toHaveBeenCalledWith({ untilStopped: true, profile: expect.objectContaining({ kind: 'uring-lab/profile' }) });
    expect((f.api.startRun.mock.calls[0] as unknown as [{ profile: { server: { sqpoll: { enabled: boolean } } } }])[0].profile.server.sqpoll.enabled).toBe(true);
    expect(run.runState).toBe('running');
    expect(run.runId).toBe('r1');
    expect(run.controller).toBe(true);
    expect(run.observing).toBe(false);
    expect(knobs.applied(SQPOLL)).toBe(true);
    expect(buf.snapshot()).toHaveLength(1);

    // the kernel refuses SQPOLL off→on in a later phase
    const refused = phase(1, false, [{ knob: 'server.sqpoll.enabled', requested: true, errno: 1, code: 'EPERM', reason: 'no CAP_SYS_NICE' }]);
    f.emit({ type: 'phase', runId: 'r1', phase: refused });
    expect(run.phase?.index).toBe(1);
    expect(knobs.applied(SQPOLL)).toBe(false);
    expect(run.rejected.map((r) => r.code)).toEqual(['EPERM']);

    f.emit({ type: 'frame', frame: frame('r1', 1) });
    expect(buf.snapshot()).toHaveLength(2);

    await run.stop();
    expect(f.api.stopRun).toHaveBeenCalled();
    expect(run.runState).toBe('idle');
    expect(run.summary?.runId).toBe('r1');
    // a late frame of the finished run is ignored
    f.emit({ type: 'frame', frame: frame('r1', 2) });
    expect(run.runState).toBe('idle');
    expect(buf.snapshot()).toHaveLength(2);
  });

  it('takes a stopped run\'s summary once (its ended event and stopRun\'s answer carry the same) and keeps phases that did not change', async () => {
    const { f, run } = await attached();
    await run.start();
    const phasesBefore = run.phases;
    expect(phasesBefore.map((p) => p.index)).toEqual([0]);
    const ended = summary('r1', [phase(0, false)]);
    // The event overtakes stopRun's answer, which carries an equal summary (another object).
    f.api.stopRun.mockImplementationOnce(async () => {
      f.emit({ type: 'ended', runId: 'r1', summary: ended });
      return summary('r1', [phase(0, false)]);
    });
    await run.stop();
    expect(run.runState).toBe('idle');
    expect(run.summary).toBe(ended);
    // The summary's phases are the run's: the array the charts draw from is kept.
    expect(run.phases).toBe(phasesBefore);

    // A summary whose phases differ from those shown replaces them.
    f.api.startRun.mockResolvedValueOnce({ runId: 'r2', phase: phase(0, false) });
    await run.start();
    const shown = run.phases;
    expect(shown.map((p) => p.index)).toEqual([0]);
    f.emit({ type: 'ended', runId: 'r2', summary: summary('r2', [phase(0, true)]) });
    expect(run.phases).not.toBe(shown);
    expect(run.phases[0]!.applied.server.sqpoll.enabled).toBe(true);
  });

  it('shows start errors, and failed runs with their summary', async () => {
    const { f, run, errors } = await attached();
    f.api.startRun.mockRejectedValueOnce(new LabError({ code: 'EPERM', message: 'io_uring_setup refused', fix: 'raise RLIMIT_MEMLOCK' }));
    await run.start();
    expect(run.runState).toBe('idle');
    expect(errors.last).toEqual({ code: 'EPERM', kind: 'kernel', message: 'io_uring_setup refused', fix: 'raise RLIMIT_MEMLOCK' });
    errors.dismiss();
    expect(errors.last).toBeNull();

    await run.start();
    expect(run.runState).toBe('running');
    f.emit({ type: 'failed', runId: 'r1', error: { code: 'ENGINE_CRASHED', kind: 'engine', message: 'engine exited (SIGSEGV)' }, summary: summary('r1', [phase(0, false)], 'failed') });
    expect(run.runState).toBe('idle');
    expect(errors.last?.code).toBe('ENGINE_CRASHED');
    expect(run.summary?.status).toBe('failed');
  });

  it('keeps the reason of an interrupted run beside its summary', async () => {
    const { f, run } = await attached();
    await run.start();
    f.emit({ type: 'interrupted', runId: 'r1', reason: 'host shutting down (SIGTERM)', summary: summary('r1', [phase(0, false)], 'interrupted') });
    expect(run.runState).toBe('idle');
    expect(run.summary?.status).toBe('interrupted');
    expect(run.interruptedReason).toBe('host shutting down (SIGTERM)');
  });

  it('observes a run started elsewhere until it takes control', async () => {
    const { f, run, knobs, errors } = await attached();
    f.api.getStatus.mockResolvedValue(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 0 }));
    f.emit({ type: 'phase', runId: 'other', phase: phase(0, false) });
    await flush();
    expect(run.runState).toBe('running');
    expect(run.runId).toBe('other');
    expect(run.controller).toBe(false);
    expect(run.observing).toBe(true);

    // a knob change from an observer: the host refuses; the fix says what to do
    f.api.setKnob.mockRejectedValueOnce(new LabError({ code: 'NOT_CONTROLLER', message: 'another client controls this run' }));
    await knobs.setKnob(SQPOLL, true);
    expect(errors.last).toMatchObject({ code: 'NOT_CONTROLLER', fix: expect.stringMatching(/Take control/) });

    f.api.takeControl.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: true, lastSeq: 0 }));
    await run.takeControl();
    expect(run.controller).toBe(true);
    expect(run.observing).toBe(false);
    expect(errors.last).toBeNull();

    // another window takes it back
    f.api.getStatus.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 0 }));
    f.emit({ type: 'control', runId: 'other', controller: false });
    expect(run.controller).toBe(false);
    await flush();
    expect(run.observing).toBe(true);

    f.emit({ type: 'ended', runId: 'other', summary: summary('other', [phase(0, false), phase(1, true)]) });
    expect(run.runState).toBe('idle');
    expect(run.observing).toBe(false);
    expect(run.summary?.runId).toBe('other');
    expect(run.phases.map((p) => p.index)).toEqual([0, 1]);
    expect(knobs.applied(SQPOLL)).toBe(true);
  });

  it('joining a run mid-way fetches the frames before the first one it sees, in order', async () => {
    const { f, buf, frames } = await attached(100);
    f.api.getStatus.mockResolvedValue(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 11 }));
    let answer: (r: FramesResult) => void = () => {};
    f.api.getFrames.mockImplementationOnce(() => new Promise((r) => (answer = r)));
    f.emit({ type: 'frame', frame: frame('other', 10) });
    f.emit({ type: 'frame', frame: frame('other', 11) });
    expect(f.api.getFrames).toHaveBeenCalledWith({ runId: 'other', fromSeq: 0 });
    expect(buf.snapshot()).toHaveLength(0); // waiting for the history
    answer({ runId: 'other', frames: [frame('other', 4), frame('other', 5)], lost: 4, more: false });
    await flush();
    expect(buf.snapshot().map((b) => b.frame.seq)).toEqual([4, 5, 10, 11]);
    expect(frames.lost).toBe(4 + 4); // 0..3 not kept by the host, 6..9 never arrived
  });

  it('joining a long run fetches its frames page by page (the host bounds each answer), live frames waiting behind them', async () => {
    const { f, buf, frames } = await attached(100);
    f.api.getStatus.mockResolvedValue(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 9 }));
    f.api.getFrames
      .mockResolvedValueOnce({ runId: 'other', frames: [0, 1, 2].map((s) => frame('other', s)), lost: 0, more: true, nextSeq: 3 })
      .mockResolvedValueOnce({ runId: 'other', frames: [3, 4, 5].map((s) => frame('other', s)), lost: 0, more: true, nextSeq: 6 })
      .mockResolvedValueOnce({ runId: 'other', frames: [6, 7, 8].map((s) => frame('other', s)), lost: 0, more: false, nextSeq: 9 });
    f.emit({ type: 'frame', frame: frame('other', 9) });
    await flush();
    await flush();
    expect(f.api.getFrames.mock.calls.map((c) => c[0])).toEqual([{ runId: 'other', fromSeq: 0 }, { runId: 'other', fromSeq: 3 }, { runId: 'other', fromSeq: 6 }]);
    expect(buf.snapshot().map((b) => b.frame.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(frames.lost).toBe(0);
  });

  it('says the run state is unknown while disconnected, then resyncs the same run and recovers missed frames', async () => {
    const { f, buf, conn, run, frames } = await attached(100);
    await run.start();
    for (let s = 0; s < 5; s++) f.emit({ type: 'frame', frame: frame('r1', s) });

    f.setConn(lost);
    expect(conn.connected).toBe(false);
    expect(conn.lost).toBe(true);
    expect(run.shownState).toBe('unknown');
    expect(run.running).toBe(false); // never claims "running" without a connection

    f.api.getStatus.mockResolvedValueOnce(
      f.status({ running: true, state: 'running', runId: 'r1', phases: [phase(0, false), phase(1, true)], controller: true, lastSeq: 12 }),
    );
    f.api.getFrames.mockResolvedValueOnce({ runId: 'r1', frames: [5, 6, 7, 8, 9, 10, 11, 12].map((s) => frame('r1', s, s >= 8 ? 1 : 0)), lost: 0, more: false });
    f.setConn({ kind: 'open' });
    await flush();
    await flush();
    expect(f.api.getFrames).toHaveBeenCalledWith({ runId: 'r1', fromSeq: 5 });
    expect(run.shownState).toBe('running');
    expect(conn.lost).toBe(false);
    expect(run.phases.map((p) => p.index)).toEqual([0, 1]); // the phase started while away
    expect(buf.lastSeq).toBe(12);
    expect(frames.lost).toBe(0);
    expect(run.vanishedRun).toBeNull();
  });

  it('shows "N frames lost" when the host no longer keeps the missed frames', async () => {
    const { f, run, frames } = await attached(100);
    await run.start();
    f.emit({ type: 'frame', frame: frame('r1', 0) });
    f.setConn(lost);
    f.api.getStatus.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'r1', phases: [phase(0, false)], controller: true, lastSeq: 900 }));
    f.api.getFrames.mockResolvedValueOnce({ runId: 'r1', frames: [frame('r1', 300)], lost: 299, more: false });
    f.setConn({ kind: 'open' });
    await flush();
    await flush();
    expect(frames.lost).toBe(299);
  });

  it('marks a run that vanished while disconnected (host restarted) as ended with its result unknown', async () => {
    const { f, run } = await attached();
    await run.start();
    f.emit({ type: 'frame', frame: frame('r1', 0) });
    f.setConn(lost);
    f.setConn({ kind: 'connecting', attempt: 2 });
    expect(run.shownState).toBe('unknown');
    // the restarted host knows nothing of r1; until it has said so the page does not call r1
    // running (it flashed "running" between the reconnect and getStatus's answer)
    let answer: (s: ReturnType<typeof f.status>) => void = () => {};
    f.api.getStatus.mockImplementationOnce(() => new Promise((r) => (answer = r)));
    f.setConn({ kind: 'open' });
    expect(run.shownState).toBe('unknown');
    answer(f.status());
    await flush();
    expect(run.shownState).toBe('idle');
    expect(run.runState).toBe('idle');
    expect(run.vanishedRun).toEqual({ runId: 'r1', message: 'ended while disconnected — result unknown' });
    // its late frames (if any) are not adopted again
    f.emit({ type: 'frame', frame: frame('r1', 1) });
    expect(run.runState).toBe('idle');
    run.dismissVanishedRun();
    expect(run.vanishedRun).toBeNull();
  });

  it('a vanished run that the restarted host saved says how it was saved (History\'s word), not "result unknown"', async () => {
    const { f, run } = await attached();
    await run.start();
    f.emit({ type: 'frame', frame: frame('r1', 0) });
    f.setConn(lost);
    const stats = { measuredS: 1, requests: 10, errors: 0, throughputRps: 10, latencyUs: { p50: 1, p90: 1, p99: 2, p999: 2, max: 3, mean: 1 }, serverCpuNsPerReq: 1, loadCpuNsPerReq: 1 };
    (f.api as unknown as { getRun: ReturnType<typeof vi.fn> }).getRun = vi.fn(async () => ({
      meta: {
        format: 1, runId: 'r1', name: 'default', startedAt: '2026-11-30T07:00:00.000Z', endedAt: '2026-11-30T07:00:03.000Z', status: 'interrupted',
        workload: 'echo', profile: profile(false), phases: [sqpollPhase(0, false)], summary: null,
        recovered: { stats, frames: 30, reason: 'the lab process ended without closing the run (a crash, kill -9 or power loss)' },
        owner: { pid: 1, startTicks: 1, bootId: 'b' },
      },
      pinned: false, frames: [], nextSeq: null, skippedLines: 0,
    }));
    f.setConn({ kind: 'open' });
    await flush();
    await flush();
    expect(run.vanishedRun).toEqual({ runId: 'r1', message: 'ended while disconnected — saved as interrupted: the lab process ended without closing the run (a crash, kill -9 or power loss)' });
  });

  it('takes the summary of a run that ended while disconnected from the status', async () => {
    const { f, run } = await attached();
    await run.start();
    f.setConn(lost);
    f.api.getStatus.mockResolvedValueOnce(f.status({ lastSummary: summary('r1', [phase(0, false)]) }));
    f.setConn({ kind: 'open' });
    await flush();
    expect(run.runState).toBe('idle');
    expect(run.vanishedRun).toBeNull();
    expect(run.summary?.runId).toBe('r1');
  });

  it('a page opened (or reloaded) during a run shows the run before it in Last run, as it did before', async () => {
    const f = fakeClient();
    f.api.getStatus.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'r2', controller: true, phases: [phase(0, false)], phase: phase(0, false), lastSummary: summary('r1', [phase(0, false)]) }));
    attachLab(f.client, new FrameBuffer(10));
    await flush();
    const run = useRunStore();
    expect(run.runState).toBe('running');
    expect(run.summary?.runId).toBe('r1');
    // The live run is still the one the page follows; its own end replaces the card.
    f.emit({ type: 'ended', runId: 'r2', summary: summary('r2', [phase(0, false)]) });
    expect(run.summary?.runId).toBe('r2');
  });

  it('says so when the host refuses the token', async () => {
    const { f, conn, run } = await attached();
    f.setConn({ kind: 'refused', reason: 'bad-token', message: "This link's token is not valid for this host", fix: 'open the URL' });
    expect(conn.refused?.reason).toBe('bad-token');
    expect(run.shownState).toBe('no access');
  });
});

describe('per-phase results store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('computes rows live from frames, then switches to the summary when the run ends', async () => {
    const { f, run } = await attached(100);
    const results = usePhaseResultsStore();
    await run.start();
    f.emit({ type: 'phase', runId: 'r1', phase: phase(1, true) });
    for (let s = 0; s < 6; s++) f.emit({ type: 'frame', frame: frame('r1', s, s < 3 ? 0 : 1) });
    results.refresh();
    expect(results.source).toBe('live');
    expect(results.rows.map((r) => [r.index, r.stats?.requests])).toEqual([
      [0, 3],
      [1, 3],
    ]);
    expect(results.rows[1]!.vsPhase0?.throughputRps).toBeCloseTo(1);

    await run.stop();
    expect(results.source).toBe('summary');
    expect(results.rows.map((r) => r.stats?.requests)).toEqual([10]);
  });
});
