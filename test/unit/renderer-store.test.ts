import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LabError,
  ProfileSchema,
  type LabApi,
  type LabEvent,
  type Phase,
  type RunFrame,
  type RunStatus,
  type RunSummary,
} from '../../electron/contract';
import type { ConnectionState } from '../../renderer/src/lab/connection';
import { FrameBuffer } from '../../renderer/src/stores/frameBuffer';
import { useLabStore } from '../../renderer/src/stores/labStore';

const profile = (sqpoll = false) => {
  const p = ProfileSchema.parse({ kind: 'uring-lab/profile', schemaVersion: 1 });
  p.server.sqpoll.enabled = sqpoll;
  return p;
};
const phase = (index: number, applied: boolean, rejected: Phase['rejected'] = []): Phase => ({
  index,
  atMs: index * 1000,
  applied: profile(applied),
  rejected,
  ring: { flags: [], features: [], sqEntries: 8, cqEntries: 16 },
});
const frame = (runId: string, seq: number): RunFrame => ({
  runId,
  seq,
  phase: 0,
  tMs: seq * 100,
  intervalMs: 100,
  measuring: true,
  requests: 1,
  bytes: 1,
  errors: 0,
  throughputRps: 10,
  latencyUs: { p50: 1, p99: 2, max: 3 },
  histogram: [],
  serverCpuNs: 0,
  loadCpuNs: 0,
});
const summary = (runId: string, phases: Phase[]): RunSummary =>
  ({ runId, phases, profileName: 'default', throughputRps: 1 }) as unknown as RunSummary;

function fakeClient() {
  let listener: ((e: LabEvent) => void) | null = null;
  let connListener: ((s: ConnectionState) => void) | null = null;
  let state: ConnectionState = { kind: 'open' };
  let hostProfile = profile(false);
  const status = (over: Partial<RunStatus> = {}): RunStatus => ({
    running: false,
    runId: null,
    profile: hostProfile,
    phase: null,
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
    doctor: vi.fn(),
    onEvent: (l: (e: LabEvent) => void) => {
      listener = l;
      return () => (listener = null);
    },
  } satisfies LabApi;
  return {
    api,
    client: {
      api,
      transport: 'ws' as const,
      problem: null,
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

  it('shows start errors and failed runs', async () => {
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
    f.emit({ type: 'failed', runId: 'r1', error: { code: 'ENGINE_CRASHED', message: 'engine exited (SIGSEGV)' } });
    expect(lab.runState).toBe('idle');
    expect(lab.lastError?.code).toBe('ENGINE_CRASHED');
  });

  it('adopts a run started elsewhere and stores the summary when it ends', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    f.emit({ type: 'phase', runId: 'other', phase: phase(0, false) });
    expect(lab.runState).toBe('running');
    expect(lab.runId).toBe('other');
    f.emit({ type: 'ended', runId: 'other', summary: summary('other', [phase(0, false), phase(1, true)]) });
    expect(lab.runState).toBe('idle');
    expect(lab.summary?.runId).toBe('other');
    expect(lab.phases.map((p) => p.index)).toEqual([0, 1]);
    expect(lab.appliedSqpoll).toBe(true);
  });

  it('resyncs status when the connection comes back', async () => {
    const f = fakeClient();
    const lab = useLabStore();
    lab.attach(f.client, new FrameBuffer(10));
    await flush();
    f.setConn({ kind: 'closed', attempt: 1, retryInMs: 250, reason: 'dropped' });
    expect(lab.connected).toBe(false);
    f.api.getStatus.mockResolvedValueOnce({ running: true, runId: 'r9', profile: profile(true), phase: phase(3, true), lastSummary: null });
    f.setConn({ kind: 'open' });
    await flush();
    expect(f.api.getStatus).toHaveBeenCalledTimes(2);
    expect(lab.runState).toBe('running');
    expect(lab.runId).toBe('r9');
    expect(lab.phase?.index).toBe(3);
  });
});
