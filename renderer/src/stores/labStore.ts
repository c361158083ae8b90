/**
 * The lab's UI state: connection, run state, the profile the next run will use, the phase
 * (knobs the kernel applied and refused) of the current run, the last error and summary.
 * Live frames are not here: they go to `liveFrames` (stores/frameBuffer.ts), outside deep
 * reactivity.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { LabErrorData, LabEvent, Phase, Profile, RunStatus, RunSummary } from '../../../electron/contract';
import type { ConnectionState } from '../lab/connection';
import type { LabClient } from '../lab/labClient';
import { liveFrames, type FrameBuffer } from './frameBuffer';

export type RunState = 'idle' | 'starting' | 'running' | 'stopping';

export const SQPOLL_KNOB = 'server.sqpoll.enabled';

/** Any thrown value as the contract's error data (LabError, IPC error, plain Error). */
export function toErrorData(err: unknown): LabErrorData {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; field?: unknown; fix?: unknown };
    const data: LabErrorData = {
      code: typeof e.code === 'string' ? e.code : 'INTERNAL',
      message: typeof e.message === 'string' && e.message ? e.message : String(err),
    };
    if (typeof e.field === 'string') data.field = e.field;
    if (typeof e.fix === 'string') data.fix = e.fix;
    return data;
  }
  return { code: 'INTERNAL', message: String(err) };
}

export const useLabStore = defineStore('lab', () => {
  let client: LabClient | null = null;
  let frames: FrameBuffer = liveFrames;
  let detach: (() => void)[] = [];
  /** Runs that ended or failed: late frames of theirs are ignored. */
  const finishedRuns = new Set<string>();

  const transport = ref<'ipc' | 'ws' | null>(null);
  const connection = ref<ConnectionState>({ kind: 'connecting', attempt: 1 });
  const runState = ref<RunState>('idle');
  const runId = ref<string | null>(null);
  /** The host's profile: what the next run uses (and, while running, what was last requested). */
  const profile = shallowRef<Profile | null>(null);
  /** Phases of the current (or last) run, ascending. */
  const phases = shallowRef<Phase[]>([]);
  /** SQPOLL value of a setKnob request in flight. */
  const sqpollPending = ref<boolean | null>(null);
  const lastError = shallowRef<LabErrorData | null>(null);
  const summary = shallowRef<RunSummary | null>(null);
  const statusLoaded = ref(false);

  const phase = computed<Phase | null>(() => phases.value[phases.value.length - 1] ?? null);
  const running = computed(() => runState.value === 'running');
  const busy = computed(() => runState.value === 'starting' || runState.value === 'stopping');
  const connected = computed(() => connection.value.kind === 'ipc' || connection.value.kind === 'open');
  /** What the user asked for: the in-flight value, else the host's profile. */
  const requestedSqpoll = computed<boolean>(() => sqpollPending.value ?? profile.value?.server.sqpoll.enabled ?? false);
  /** What the kernel applied in the current (or last) phase; null before any run. */
  const appliedSqpoll = computed<boolean | null>(() => phase.value?.applied.server.sqpoll.enabled ?? null);
  const rejected = computed(() => phase.value?.rejected ?? []);

  function upsertPhase(p: Phase): void {
    const list = phases.value.filter((x) => x.index !== p.index);
    list.push(p);
    list.sort((a, b) => a.index - b.index);
    phases.value = list;
  }

  /** Switches the UI to run `id` (our own start, or one started by another client). */
  function adoptRun(id: string): void {
    if (runId.value === id) return;
    runId.value = id;
    phases.value = [];
    if (frames.runId !== id) frames.reset(id);
  }

  function applyStatus(status: RunStatus): void {
    profile.value = status.profile;
    if (status.running && status.runId) {
      adoptRun(status.runId);
      if (runState.value === 'idle' || runState.value === 'starting') runState.value = 'running';
      if (status.phase) upsertPhase(status.phase);
    } else {
      if (runState.value === 'running' || runState.value === 'stopping') runState.value = 'idle';
      if (status.lastSummary) summary.value = status.lastSummary;
    }
    statusLoaded.value = true;
  }

  function handleEvent(ev: LabEvent): void {
    switch (ev.type) {
      case 'frame': {
        const f = ev.frame;
        if (finishedRuns.has(f.runId)) return;
        if (f.runId !== runId.value) {
          if (runState.value === 'stopping') return;
          adoptRun(f.runId);
        }
        if (runState.value === 'idle') runState.value = 'running';
        frames.push(f);
        return;
      }
      case 'phase': {
        if (finishedRuns.has(ev.runId)) return;
        if (ev.runId !== runId.value) adoptRun(ev.runId);
        if (runState.value === 'idle') runState.value = 'running';
        upsertPhase(ev.phase);
        return;
      }
      case 'ended': {
        finishedRuns.add(ev.runId);
        summary.value = ev.summary;
        if (ev.runId === runId.value || runId.value === null) {
          if (ev.summary.phases.length) phases.value = [...ev.summary.phases].sort((a, b) => a.index - b.index);
          runState.value = 'idle';
        }
        return;
      }
      case 'failed': {
        finishedRuns.add(ev.runId);
        lastError.value = ev.error;
        if (ev.runId === runId.value || runId.value === null || runState.value === 'starting') runState.value = 'idle';
        return;
      }
    }
  }

  async function refreshStatus(): Promise<void> {
    if (!client) return;
    try {
      applyStatus(await client.api.getStatus());
    } catch (err) {
      lastError.value = toErrorData(err);
    }
  }

  /** Connects the store to a transport (main.ts does this once; tests pass a fake). */
  function attach(c: LabClient, buffer: FrameBuffer = liveFrames): void {
    for (const d of detach) d();
    client = c;
    frames = buffer;
    transport.value = c.transport;
    connection.value = c.connection.current();
    if (c.problem) lastError.value = c.problem;
    detach = [
      c.api.onEvent(handleEvent),
      c.connection.onChange((s) => {
        const wasConnected = connected.value;
        connection.value = s;
        // (Re)connected: the host is the source of truth, resync.
        if (!wasConnected && (s.kind === 'open' || s.kind === 'ipc')) void refreshStatus();
      }),
    ];
    if (connected.value) void refreshStatus();
  }

  async function start(): Promise<void> {
    if (!client || runState.value !== 'idle') return;
    runState.value = 'starting';
    lastError.value = null;
    runId.value = null;
    phases.value = [];
    frames.reset(null);
    try {
      const res = await client.api.startRun({ untilStopped: true, profile: profile.value ?? undefined });
      // The run may already have ended or failed (events can overtake the answer).
      if (finishedRuns.has(res.runId)) return;
      adoptRun(res.runId);
      upsertPhase(res.phase);
      if (runState.value === 'starting') runState.value = 'running';
    } catch (err) {
      lastError.value = toErrorData(err);
      if (runState.value === 'starting') runState.value = 'idle';
    }
  }

  async function stop(): Promise<void> {
    if (!client || (runState.value !== 'running' && runState.value !== 'starting')) return;
    runState.value = 'stopping';
    try {
      const s = await client.api.stopRun();
      if (s) {
        finishedRuns.add(s.runId);
        summary.value = s;
        if (s.phases.length) phases.value = [...s.phases].sort((a, b) => a.index - b.index);
      }
      runState.value = 'idle';
    } catch (err) {
      lastError.value = toErrorData(err);
      runState.value = 'running';
      await refreshStatus();
    }
  }

  async function setSqpoll(enabled: boolean): Promise<void> {
    if (!client) return;
    sqpollPending.value = enabled;
    try {
      applyStatus(await client.api.setKnob({ path: SQPOLL_KNOB, value: enabled }));
    } catch (err) {
      lastError.value = toErrorData(err);
    } finally {
      sqpollPending.value = null;
    }
  }

  function dismissError(): void {
    lastError.value = null;
  }

  return {
    // state
    transport,
    connection,
    runState,
    runId,
    profile,
    phases,
    sqpollPending,
    lastError,
    summary,
    statusLoaded,
    // getters
    phase,
    running,
    busy,
    connected,
    requestedSqpoll,
    appliedSqpoll,
    rejected,
    // actions
    attach,
    refreshStatus,
    handleEvent,
    start,
    stop,
    setSqpoll,
    dismissError,
  };
});
