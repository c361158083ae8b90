import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LabError,
  ProfileSchema,
  type FramesResult,
  type LabApi,
  type LabEvent,
  type Phase,
  type PhaseResult,
  type RunFrame,
  type RunStatus,
  type RunSummary,
} from '../../electron/contract';
import type { ConnectionState } from '../../renderer/src/lab/connection';
import { FrameBuffer } from '../../renderer/src/stores/frameBuffer';
import { useLabStore } from '../../renderer/src/stores/labStore';
import { usePhaseResultsStore } from '../../renderer/src/stores/phaseResultsStore';

const profile = (sqpoll = false) => {
  const p = ProfileSchema.parse({ kind: 'uring-lab/profile', schemaVersion: 1 });
  p.server.sqpoll.enabled = sqpoll;
  return p;
};
const phase = (index: number, applied: boolean, rejected: Phase['rejected'] = []): Phase => ({
  index,
  atMs: index * 1000,
  changed: index === 0 ? [] : [{ path: 'server.sqpoll.enabled', from: !applied, to: applied }],
  applied: profile(applied),
  rejected,
  ring: { flags: [], features: [], sqEntries: 8, cqEntries: 16 },
});
const frame = (runId: string, seq: number, phaseIndex = 0): RunFrame => ({
  runId,
  seq,
  phase: phaseIndex,
  tMs: seq * 100,
  intervalMs: 100,
  measuring: true,
  requests: 1,
  bytes: 1,
  errors: 0,
  throughputRps: 10,
  latencyUs: { p50: 1, p99: 2, max: 3, p99Corrected: 2 },
  histogram: [[2, 1]],
  serverCpuNs: 0,
  loadCpuNs: 0,
  inFlight: 0,
  oldestInFlightUs: 0,
  loadBusyShare: 0.1,
  final: false,
});
const stats = { measuredS: 1, requests: 10, errors: 0, throughputRps: 10, latencyUs: { p50: 1, p90: 1, p99: 2, p999: 2, max: 3, mean: 1 }, serverCpuNsPerReq: 1, loadCpuNsPerReq: 1 };
const result = (p: Phase): PhaseResult => ({ ...p, endMs: p.atMs + 1000, stats, vsPhase0: null, histogram: [[2, 10]] });
const summary = (runId: string, phases: Phase[], status: RunSummary['status'] = 'completed'): RunSummary =>
  ({ runId, status, failure: null, phases: phases.map(result), profileName: 'default', throughputRps: 1, warnings: [] }) as unknown as RunSummary;

function fakeClient() {
  let listener: ((e: LabEvent) => void) | null = null;
  let connListener: ((s: ConnectionState) => void) | null = null;
  let state: ConnectionState = { kind: 'open' };
  let hostProfile = profile(false);
  const status = (over: Partial<RunStatus> = {}): RunStatus => ({
    running: false,
    state: 'idle',
    runId: null,
    profile: hostProfile,
    phases: [],
    phase: null,
    controller: false,
    lastSeq: -1,
    lastSummary: null,
    ...over,
  });
  const api = {
    getStatus: vi.fn(async () => status()),
    startRun: vi.fn(async () => ({ runId: 'r1', phase: phase(0, hostProfile.server.sqpoll.enabled) })),
    stopRun: vi.fn(async () => summary('r1', [phase(0, false)])),
    setKnob: vi.fn(async ({ value }: { path: string; value: unknown }) => {
      hostProfile = profile(value === true);
      return status();
    }),
    takeControl: vi.fn(async () => status({ running: true, state: 'running', runId: 'r1', controller: true })),
    getFrames: vi.fn(async ({ runId }: { runId: string; fromSeq: number }): Promise<FramesResult> => ({ runId, frames: [], lost: 0 })),
    doctor: vi.fn(),
    onEvent: (l: (e: LabEvent) => void) => {
      listener = l;
      return () => (listener = null);
    },
  } satisfies LabApi;
  return {
    api,
    status,
    client: {
      api,
      transport: 'ws' as const,
      clientId: 'me',
      connection: {
        current: () => state,
        onChange: (l: (s: ConnectionState) => void) => {
          connListener = l;
          return () => (connListener = null);
        },
      },
    },
    emit: (e: LabEvent) => listener?.(e),
    setConn: (s: ConnectionState) => {
      state = s;
      connListener?.(s);
    },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const lost: ConnectionState = { kind: 'closed', attempt: 1, retryInMs: 250, reason: 'connection dropped' };

describe('lab store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('loads status on attach and changes the next run profile while idle', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    expect(f.api.getStatus).toHaveBeenCalledTimes(1);
    expect(lab.statusLoaded).toBe(true);
    expect(lab.runState).toBe('idle');
    expect(lab.shownState).toBe('idle');
    expect(lab.requestedSqpoll).toBe(false);
    expect(lab.appliedSqpoll).toBeNull();

    const p = lab.setSqpoll(true);
    expect(lab.requestedSqpoll).toBe(true); // optimistic while in flight
    await p;
    expect(f.api.setKnob).toHaveBeenCalledWith({ path: 'server.sqpoll.enabled', value: true });
    expect(lab.sqpollPending).toBeNull();
    expect(lab.requestedSqpoll).toBe(true);
  });

  it('starts with untilStopped and the profile, tracks phases and stops', async () => {
    const f = fakeClient();
    const buf = new FrameBuffer(10);
    const lab = useLabStore();
    lab.attach(f.client, buf);
    await flush();
    await lab.setSqpoll(true);

    const starting = lab.start();
    expect(lab.runState).toBe('starting');
    f.emit({ type: 'frame', frame: frame('r1', 0) }); // frames may overtake the answer
    await starting;
    expect(f.api.startRun).toHaveBeenCalledWith({ untilStopped: true, profile: expect.objectContaining({ kind: 'uring-lab/profile' }) });
    expect((f.api.startRun.mock.calls[0] as unknown as [{ profile: { server: { sqpoll: { enabled: boolean } } } }])[0].profile.server.sqpoll.enabled).toBe(true);
    expect(lab.runState).toBe('running');
    expect(lab.runId).toBe('r1');
    expect(lab.controller).toBe(true);
    expect(lab.observing).toBe(false);
    expect(lab.appliedSqpoll).toBe(true);
    expect(buf.snapshot()).toHaveLength(1);

    // the kernel refuses SQPOLL off→on in a later phase
    const refused = phase(1, false, [{ knob: 'server.sqpoll.enabled', requested: true, errno: 1, code: 'EPERM', reason: 'no CAP_SYS_NICE' }]);
    f.emit({ type: 'phase', runId: 'r1', phase: refused });
    expect(lab.phase?.index).toBe(1);
    expect(lab.appliedSqpoll).toBe(false);
    expect(lab.rejected.map((r) => r.code)).toEqual(['EPERM']);

    f.emit({ type: 'frame', frame: frame('r1', 1) });
    expect(buf.snapshot()).toHaveLength(2);

    await lab.stop();
    expect(f.api.stopRun).toHaveBeenCalled();
    expect(lab.runState).toBe('idle');
    expect(lab.summary?.runId).toBe('r1');
    // a late frame of the finished run is ignored
    f.emit({ type: 'frame', frame: frame('r1', 2) });
    expect(lab.runState).toBe('idle');
    expect(buf.snapshot()).toHaveLength(2);
  });

  it('shows start errors, and failed runs with their summary', async () => {
    const f = fakeClient();
    f.api.startRun.mockRejectedValueOnce(new LabError({ code: 'EPERM', message: 'io_uring_setup refused', fix: 'raise RLIMIT_MEMLOCK' }));
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    await lab.start();
    expect(lab.runState).toBe('idle');
    expect(lab.lastError).toEqual({ code: 'EPERM', message: 'io_uring_setup refused', fix: 'raise RLIMIT_MEMLOCK' });
    lab.dismissError();
    expect(lab.lastError).toBeNull();

    await lab.start();
    expect(lab.runState).toBe('running');
    f.emit({ type: 'failed', runId: 'r1', error: { code: 'ENGINE_CRASHED', message: 'engine exited (SIGSEGV)' }, summary: summary('r1', [phase(0, false)], 'failed') });
    expect(lab.runState).toBe('idle');
    expect(lab.lastError?.code).toBe('ENGINE_CRASHED');
    expect(lab.summary?.status).toBe('failed');
  });

  it('keeps the reason of an interrupted run beside its summary', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    await lab.start();
    f.emit({ type: 'interrupted', runId: 'r1', reason: 'host shutting down (SIGTERM)', summary: summary('r1', [phase(0, false)], 'interrupted') });
    expect(lab.runState).toBe('idle');
    expect(lab.summary?.status).toBe('interrupted');
    expect(lab.interruptedReason).toBe('host shutting down (SIGTERM)');
  });

  it('observes a run started elsewhere until it takes control', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    f.api.getStatus.mockResolvedValue(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 0 }));
    f.emit({ type: 'phase', runId: 'other', phase: phase(0, false) });
    await flush();
    expect(lab.runState).toBe('running');
    expect(lab.runId).toBe('other');
    expect(lab.controller).toBe(false);
    expect(lab.observing).toBe(true);

    // a knob change from an observer: the host refuses; the fix says what to do
    f.api.setKnob.mockRejectedValueOnce(new LabError({ code: 'NOT_CONTROLLER', message: 'another client controls this run' }));
    await lab.setSqpoll(true);
    expect(lab.lastError).toMatchObject({ code: 'NOT_CONTROLLER', fix: expect.stringMatching(/Take control/) });

    f.api.takeControl.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: true, lastSeq: 0 }));
    await lab.takeControl();
    expect(lab.controller).toBe(true);
    expect(lab.observing).toBe(false);
    expect(lab.lastError).toBeNull();

    // another window takes it back
    f.api.getStatus.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 0 }));
    f.emit({ type: 'control', runId: 'other', controllerId: 'someone-else' });
    expect(lab.controller).toBe(false);
    await flush();
    expect(lab.observing).toBe(true);

    f.emit({ type: 'ended', runId: 'other', summary: summary('other', [phase(0, false), phase(1, true)]) });
    expect(lab.runState).toBe('idle');
    expect(lab.observing).toBe(false);
    expect(lab.summary?.runId).toBe('other');
    expect(lab.phases.map((p) => p.index)).toEqual([0, 1]);
    expect(lab.appliedSqpoll).toBe(true);
  });

  it('joining a run mid-way fetches the frames before the first one it sees, in order', async () => {
    const f = fakeClient();
    const buf = new FrameBuffer(100);
    const lab = useLabStore();
    lab.attach(f.client, buf);
    await flush();
    f.api.getStatus.mockResolvedValue(f.status({ running: true, state: 'running', runId: 'other', phases: [phase(0, false)], controller: false, lastSeq: 11 }));
    let answer: (r: FramesResult) => void = () => {};
    f.api.getFrames.mockImplementationOnce(() => new Promise((r) => (answer = r)));
    f.emit({ type: 'frame', frame: frame('other', 10) });
    f.emit({ type: 'frame', frame: frame('other', 11) });
    expect(f.api.getFrames).toHaveBeenCalledWith({ runId: 'other', fromSeq: 0 });
    expect(buf.snapshot()).toHaveLength(0); // waiting for the history
    answer({ runId: 'other', frames: [frame('other', 4), frame('other', 5)], lost: 4 });
    await flush();
    expect(buf.snapshot().map((b) => b.frame.seq)).toEqual([4, 5, 10, 11]);
    expect(lab.framesLost).toBe(4 + 4); // 0..3 not kept by the host, 6..9 never arrived
  });

  it('says the run state is unknown while disconnected, then resyncs the same run and recovers missed frames', async () => {
    const f = fakeClient();
    const buf = new FrameBuffer(100);
    const lab = useLabStore();
    lab.attach(f.client, buf);
    await flush();
    await lab.start();
    for (let s = 0; s < 5; s++) f.emit({ type: 'frame', frame: frame('r1', s) });

    f.setConn(lost);
    expect(lab.connected).toBe(false);
    expect(lab.connectionLost).toBe(true);
    expect(lab.shownState).toBe('unknown');
    expect(lab.running).toBe(false); // never claims "running" without a connection

    f.api.getStatus.mockResolvedValueOnce(
      f.status({ running: true, state: 'running', runId: 'r1', phases: [phase(0, false), phase(1, true)], controller: true, lastSeq: 12 }),
    );
    f.api.getFrames.mockResolvedValueOnce({ runId: 'r1', frames: [5, 6, 7, 8, 9, 10, 11, 12].map((s) => frame('r1', s, s >= 8 ? 1 : 0)), lost: 0 });
    f.setConn({ kind: 'open' });
    await flush();
    await flush();
    expect(f.api.getFrames).toHaveBeenCalledWith({ runId: 'r1', fromSeq: 5 });
    expect(lab.shownState).toBe('running');
    expect(lab.connectionLost).toBe(false);
    expect(lab.phases.map((p) => p.index)).toEqual([0, 1]); // the phase started while away
    expect(buf.lastSeq).toBe(12);
    expect(lab.framesLost).toBe(0);
    expect(lab.vanishedRun).toBeNull();
  });

  it('shows "N frames lost" when the host no longer keeps the missed frames', async () => {
    const f = fakeClient();
    const buf = new FrameBuffer(100);
    const lab = useLabStore();
    lab.attach(f.client, buf);
    await flush();
    await lab.start();
    f.emit({ type: 'frame', frame: frame('r1', 0) });
    f.setConn(lost);
    f.api.getStatus.mockResolvedValueOnce(f.status({ running: true, state: 'running', runId: 'r1', phases: [phase(0, false)], controller: true, lastSeq: 900 }));
    f.api.getFrames.mockResolvedValueOnce({ runId: 'r1', frames: [frame('r1', 300)], lost: 299 });
    f.setConn({ kind: 'open' });
    await flush();
    await flush();
    expect(lab.framesLost).toBe(299);
  });

  it('marks a run that vanished while disconnected (host restarted) as ended with its result unknown', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    await lab.start();
    f.emit({ type: 'frame', frame: frame('r1', 0) });
    f.setConn(lost);
    f.setConn({ kind: 'connecting', attempt: 2 });
    expect(lab.shownState).toBe('unknown');
    // the restarted host knows nothing of r1
    f.setConn({ kind: 'open' });
    await flush();
    expect(lab.runState).toBe('idle');
    expect(lab.vanishedRun).toEqual({ runId: 'r1', message: 'ended while disconnected — result unknown' });
    // its late frames (if any) are not adopted again
    f.emit({ type: 'frame', frame: frame('r1', 1) });
    expect(lab.runState).toBe('idle');
    lab.dismissVanishedRun();
    expect(lab.vanishedRun).toBeNull();
  });

  it('takes the summary of a run that ended while disconnected from the status', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    await lab.start();
    f.setConn(lost);
    f.api.getStatus.mockResolvedValueOnce(f.status({ lastSummary: summary('r1', [phase(0, false)]) }));
    f.setConn({ kind: 'open' });
    await flush();
    expect(lab.runState).toBe('idle');
    expect(lab.vanishedRun).toBeNull();
    expect(lab.summary?.runId).toBe('r1');
  });

  it('says so when the host refuses the token', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    f.setConn({ kind: 'refused', reason: 'bad-token', message: "This link's token is not valid for this host", fix: 'open the URL' });
    expect(lab.refused?.reason).toBe('bad-token');
    expect(lab.shownState).toBe('no access');
  });
});

describe('per-phase results store', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('computes rows live from frames, then switches to the summary when the run ends', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(100));
    await flush();
    const results = usePhaseResultsStore();
    await lab.start();
    f.emit({ type: 'phase', runId: 'r1', phase: phase(1, true) });
    for (let s = 0; s < 6; s++) f.emit({ type: 'frame', frame: frame('r1', s, s < 3 ? 0 : 1) });
    results.refresh();
    expect(results.source).toBe('live');
    expect(results.rows.map((r) => [r.index, r.stats?.requests])).toEqual([
      [0, 3],
      [1, 3],
    ]);
    expect(results.rows[1]!.vsPhase0?.throughputRps).toBeCloseTo(1);

    await lab.stop();
    expect(results.source).toBe('summary');
    expect(results.rows.map((r) => r.stats?.requests)).toEqual([10]);
  });
});
