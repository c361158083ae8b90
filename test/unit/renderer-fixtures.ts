/**
 * Builders the renderer's unit tests share: a default profile, a phase that changed SQPOLL,
 * a RunFrame with every field filled, a run summary, the histogram bucket of a latency, and
 * the stores attached to a fake LabApi client whose host keeps one profile.
 */
import { vi } from 'vitest';
import {
  HISTOGRAM_LAYOUT,
  LAB_METHOD_NAMES,
  histogramBucketLowerUs,
  ProfileSchema,
  type FramesResult,
  type LabApi,
  type LabEvent,
  type Phase,
  type PhaseResult,
  type Profile,
  type RunFrame,
  type RunStatus,
  type RunSummary,
} from '../../electron/contract';
import type { ConnectionState } from '../../renderer/src/api/connection';
import { attachLab } from '../../renderer/src/stores/attach';
import { useConnectionStore } from '../../renderer/src/stores/connection';
import { useErrorStore } from '../../renderer/src/stores/errors';
import { FrameBuffer } from '../../renderer/src/stores/frameBuffer';
import { useFramesStore } from '../../renderer/src/stores/frames';
import { useKnobsStore } from '../../renderer/src/stores/knobs';
import { useRunStore } from '../../renderer/src/stores/run';

/** The default profile, with SQPOLL on or off. */
export function profile(sqpoll = false): Profile {
  const p = ProfileSchema.parse({ kind: 'uring-lab/profile', schemaVersion: 1 });
  p.server.sqpoll.enabled = sqpoll;
  return p;
}

/** Phase `index` with SQPOLL applied as `sqpoll` (phases after 0 changed it from the other value). */
export function sqpollPhase(index: number, sqpoll: boolean, over: Partial<Phase> = {}): Phase {
  return {
    index,
    atMs: index * 1000,
    changed: index === 0 ? [] : [{ path: 'server.sqpoll.enabled', from: !sqpoll, to: sqpoll }],
    applied: profile(sqpoll),
    rejected: [],
    ring: { flags: [], features: [], sqEntries: 8, cqEntries: 16 },
    ...over,
  };
}

/** A measured 100 ms frame of run `r1` ending at 100 ms; `over` sets what a test cares about. */
export function runFrame(over: Partial<RunFrame> = {}): RunFrame {
  return {
    runId: 'r1',
    seq: 0,
    phase: 0,
    tMs: 100,
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
    server: null,
    ...over,
  };
}

/** The bucket holding `us` (the layout has no inverse, so search it). */
export function bucketOf(us: number): number {
  for (let b = HISTOGRAM_LAYOUT.bucketCount - 1; b >= 0; b--) if (histogramBucketLowerUs(b) <= us) return b;
  return 0;
}

/** `p` with the value at a dotted path replaced (what the fake host does on setKnob). */
function withValue(p: Profile, path: string, value: unknown): Profile {
  const next = structuredClone(p) as unknown as Record<string, unknown>;
  const keys = path.split('.');
  let node = next;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys[keys.length - 1]!] = value;
  return next as unknown as Profile;
}

const stats = { measuredS: 1, requests: 10, errors: 0, throughputRps: 10, latencyUs: { p50: 1, p90: 1, p99: 2, p999: 2, max: 3, mean: 1 }, serverCpuNsPerReq: 1, loadCpuNsPerReq: 1 };
const result = (p: Phase): PhaseResult => ({ ...p, endMs: p.atMs + 1000, stats, vsPhase0: null, histogram: [[2, 10]], engine: null });
/** A summary of `runId` with one result per phase (10 requests each). */
export const runSummary = (runId: string, phases: Phase[], status: RunSummary['status'] = 'completed'): RunSummary =>
  ({ runId, status, failure: null, phases: phases.map(result), profileName: 'default', throughputRps: 1, warnings: [] }) as unknown as RunSummary;

/** A LabApi client whose fake host keeps this client's profile (setKnob changes it) and pushes the events a test emits. */
export function fakeClient() {
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
  // Methods these tests do not use reject in words (a test that starts needing one sees why).
  const others = Object.fromEntries(LAB_METHOD_NAMES.map((m) => [m, vi.fn(async () => { throw new Error(`${m} is not part of this fake host`); })])) as unknown as Omit<LabApi, 'onEvent'>;
  const api = {
    ...others,
    getStatus: vi.fn(async () => status()),
    startRun: vi.fn(async () => ({ runId: 'r1', phase: sqpollPhase(0, hostProfile.server.sqpoll.enabled) })),
    stopRun: vi.fn(async () => runSummary('r1', [sqpollPhase(0, false)])),
    setKnob: vi.fn(async ({ path, value }: { path: string; value: unknown }) => {
      hostProfile = withValue(hostProfile, path, value);
      return status();
    }),
    takeControl: vi.fn(async () => status({ running: true, state: 'running', runId: 'r1', controller: true })),
    getFrames: vi.fn(async ({ runId }: { runId: string; fromSeq: number }): Promise<FramesResult> => ({ runId, frames: [], lost: 0, more: false })),
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

export const flush = () => new Promise((r) => setTimeout(r, 0));

/** The stores attached to a fake client and a frame buffer of `capacity`, with the first status loaded. */
export async function attached(capacity = 10) {
  const f = fakeClient();
  const buf = new FrameBuffer(capacity);
  attachLab(f.client, buf);
  await flush();
  return { f, buf, conn: useConnectionStore(), run: useRunStore(), knobs: useKnobsStore(), errors: useErrorStore(), frames: useFramesStore() };
}
