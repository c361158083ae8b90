/**
 * The lab's UI state: connection, run state, who controls the run, the profile the next run
 * will use, the phases (knobs the kernel applied and refused) of the current run, the last
 * error and summary. Live frames are not here: they go to `liveFrames` (stores/frameBuffer.ts),
 * outside deep reactivity.
 *
 * The host is the source of truth. While the connection is down the page does not know the
 * run state and says so (`shownState` 'unknown'); on reconnect it resyncs from getStatus,
 * fetches the frames it missed (getFrames), and a run that vanished meanwhile is reported as
 * ended with its result unknown, never as still running.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { LabErrorData, LabEvent, Phase, Profile, RunFrame, RunState, RunStatus, RunSummary } from '../../../electron/contract';
import type { ConnectionState } from '../lab/connection';
import type { LabClient } from '../lab/labClient';
import { liveFrames, type FrameBuffer } from './frameBuffer';

export type { RunState };
/** What the toolbar shows: the host's run state, or why it is not known. */
export type ShownState = RunState | 'unknown' | 'connecting' | 'no access';

export const SQPOLL_KNOB = 'server.sqpoll.enabled';

const NOT_CONTROLLER_FIX = 'press "Take control" to control the run from this window, or use the window that started it';

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
    if (data.code === 'NOT_CONTROLLER' && !data.fix) data.fix = NOT_CONTROLLER_FIX;
    return data;
  }
  return { code: 'INTERNAL', message: String(err) };
}

/** A run the page showed as live that was gone when the connection came back. */
export interface VanishedRun {
  runId: string;
  message: string;
}

export const useLabStore = defineStore('lab', () => {
  let client: LabClient | null = null;
  let detach: (() => void)[] = [];
  /** Runs that ended, failed or vanished: late frames of theirs are ignored. */
  const finishedRuns = new Set<string>();
  /** The run that was live when the connection dropped; checked against the host on reconnect. */
  let liveRunAtDrop: string | null = null;
  /** Frames that arrived while missed ones were being fetched: pushed after them, in order. */
  let recovery: { runId: string; queued: RunFrame[] } | null = null;

  const frames = shallowRef<FrameBuffer>(liveFrames);
  const transport = ref<'ipc' | 'ws' | null>(null);
  const connection = ref<ConnectionState>({ kind: 'connecting', attempt: 1 });
  const everConnected = ref(false);
  const runState = ref<RunState>('idle');
  const runId = ref<string | null>(null);
  /** True when this page controls the current run (it started it or took control). */
  const controller = ref(true);
  /** The host's profile: what the next run uses (and, while running, what was last requested). */
  const profile = shallowRef<Profile | null>(null);
  /** Phases of the current (or last) run, ascending. */
  const phases = shallowRef<Phase[]>([]);
  /** SQPOLL value of a setKnob request in flight. */
  const sqpollPending = ref<boolean | null>(null);
  const lastError = shallowRef<LabErrorData | null>(null);
  const summary = shallowRef<RunSummary | null>(null);
  /** Why the last run was interrupted (the `interrupted` event's reason), for the summary panel. */
  const interruptedReason = ref<string | null>(null);
  const vanishedRun = shallowRef<VanishedRun | null>(null);
  const statusLoaded = ref(false);

  const phase = computed<Phase | null>(() => phases.value[phases.value.length - 1] ?? null);
  const connected = computed(() => connection.value.kind === 'ipc' || connection.value.kind === 'open');
  const refused = computed(() => (connection.value.kind === 'refused' ? connection.value : null));
  /** We were connected and are not now: whatever the page shows may be out of date. */
  const connectionLost = computed(() => everConnected.value && !connected.value);
  /** Run state as far as this page can vouch for it. */
  const shownState = computed<ShownState>(() => {
    if (connected.value) return runState.value;
    if (refused.value) return 'no access';
    return everConnected.value ? 'unknown' : 'connecting';
  });
  const runLive = computed(() => runState.value !== 'idle');
  const running = computed(() => connected.value && runState.value === 'running');
  const busy = computed(() => runState.value === 'starting' || runState.value === 'stopping');
  /** Another window controls the live run: this one watches. */
  const observing = computed(() => connected.value && runLive.value && !controller.value);
  /** Frames of the shown run this page never got (host no longer kept them, or gaps). */
  const framesLost = computed(() => frames.value.missed.value);
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
    // Until the host says otherwise, only a run this page is starting is this page's.
    controller.value = runState.value === 'starting';
    if (frames.value.runId !== id) frames.value.reset(id);
  }

  /** A run ended (any terminal event, or its summary found on reconnect). */
  function finishRun(s: RunSummary): void {
    finishedRuns.add(s.runId);
    summary.value = s;
    if (s.runId === runId.value || runId.value === null) {
      runId.value = s.runId;
      if (s.phases.length) phases.value = [...s.phases].sort((a, b) => a.index - b.index);
      runState.value = 'idle';
    }
  }

  /** The run the page showed is gone from the host and its summary with it (the host restarted). */
  function markVanished(id: string): void {
    finishedRuns.add(id);
    vanishedRun.value = { runId: id, message: 'ended while disconnected — result unknown' };
    if (runId.value === id) runState.value = 'idle';
  }

  function applyStatus(status: RunStatus): void {
    profile.value = status.profile;
    const dropped = liveRunAtDrop;
    liveRunAtDrop = null;
    if (dropped && status.runId !== dropped && !finishedRuns.has(dropped)) {
      if (status.lastSummary?.runId === dropped) finishRun(status.lastSummary);
      else markVanished(dropped);
    }
    if (status.running && status.runId && !finishedRuns.has(status.runId)) {
      adoptRun(status.runId);
      // Our own start or stop may be in flight; its answer settles those states.
      if (!(runState.value === 'stopping' && status.state === 'running')) runState.value = status.state === 'idle' ? 'running' : status.state;
      controller.value = status.controller;
      for (const p of status.phases) upsertPhase(p);
      if (status.phase) upsertPhase(status.phase);
      if (status.lastSeq > frames.value.lastSeq && frames.value.runId === status.runId) void recoverFrames(status.runId, frames.value.lastSeq + 1);
    } else if (runState.value !== 'starting') {
      // Not running on the host: a run we showed as live ended without us seeing its end.
      if (runLive.value && runId.value && !finishedRuns.has(runId.value)) {
        if (status.lastSummary?.runId === runId.value) finishRun(status.lastSummary);
        else markVanished(runId.value);
      }
      runState.value = 'idle';
      if (status.lastSummary && status.lastSummary.runId !== summary.value?.runId) {
        finishedRuns.add(status.lastSummary.runId);
        summary.value = status.lastSummary;
      }
    }
    statusLoaded.value = true;
  }

  /** Fetches frames `fromSeq`… of `id` the page missed; live frames meanwhile wait in order. */
  async function recoverFrames(id: string, fromSeq: number): Promise<void> {
    if (!client || recovery) return;
    recovery = { runId: id, queued: [] };
    try {
      const res = await client.api.getFrames({ runId: id, fromSeq });
      // Frames the host no longer keeps show up as a seq gap in the buffer (framesLost).
      if (res.runId === id && frames.value.runId === id) for (const f of res.frames) frames.value.push(f);
    } catch {
      // The run may have ended meanwhile; what is missing stays counted as lost.
    } finally {
      const queued = recovery?.queued ?? [];
      recovery = null;
      for (const f of queued) if (!finishedRuns.has(f.runId)) frames.value.push(f);
    }
  }

  function handleEvent(ev: LabEvent): void {
    switch (ev.type) {
      case 'frame': {
        const f = ev.frame;
        if (finishedRuns.has(f.runId)) return;
        if (f.runId !== runId.value) {
          if (runState.value === 'stopping') return;
          adoptRun(f.runId);
          // Not ours (ours is adopted from startRun's answer): ask for its phases and controller.
          if (runState.value !== 'starting') void refreshStatus();
        }
        if (runState.value === 'idle') runState.value = 'running';
        // Joined a run in the middle (another window started it): fetch what came before.
        if (client && !recovery && frames.value.runId === f.runId && frames.value.lastSeq === -1 && f.seq > 0) {
          void recoverFrames(f.runId, 0);
        }
        if (recovery && recovery.runId === f.runId) recovery.queued.push(f);
        else frames.value.push(f);
        return;
      }
      case 'phase': {
        if (finishedRuns.has(ev.runId)) return;
        if (ev.runId !== runId.value) {
          adoptRun(ev.runId);
          // Not ours (ours is adopted from startRun's answer): ask who controls it.
          if (runState.value !== 'starting') void refreshStatus();
        }
        if (runState.value === 'idle') runState.value = 'running';
        upsertPhase(ev.phase);
        return;
      }
      case 'ended':
        finishRun(ev.summary);
        return;
      case 'failed':
        finishRun(ev.summary);
        lastError.value = ev.error;
        if (runState.value === 'starting') runState.value = 'idle';
        return;
      case 'interrupted':
        finishRun(ev.summary);
        interruptedReason.value = ev.reason;
        return;
      case 'control':
        if (ev.runId !== runId.value) return;
        if (client?.clientId) controller.value = ev.controllerId === client.clientId;
        void refreshStatus();
        return;
    }
  }

  async function refreshStatus(): Promise<void> {
    if (!client) return;
    try {
      applyStatus(await client.api.getStatus());
    } catch (err) {
      // Losing the connection again is shown by the connection banner, not as an error.
      const data = toErrorData(err);
      if (data.code !== 'DISCONNECTED' && data.code !== 'BAD_TOKEN') lastError.value = data;
    }
  }

  function onConnection(s: ConnectionState): void {
    const wasConnected = connected.value;
    connection.value = s;
    const nowConnected = connected.value;
    if (wasConnected && !nowConnected && runLive.value && runId.value) liveRunAtDrop ??= runId.value;
    if (!wasConnected && nowConnected) {
      everConnected.value = true;
      // (Re)connected: the host is the source of truth, resync.
      void refreshStatus();
    }
  }

  /** Connects the store to a transport (main.ts does this once; tests pass a fake). */
  function attach(c: LabClient, buffer: FrameBuffer = liveFrames): void {
    for (const d of detach) d();
    client = c;
    frames.value = buffer;
    transport.value = c.transport;
    connection.value = c.connection.current();
    detach = [c.api.onEvent(handleEvent), c.connection.onChange(onConnection)];
    if (connected.value) {
      everConnected.value = true;
      void refreshStatus();
    }
  }

  async function start(): Promise<void> {
    if (!client || runState.value !== 'idle' || !connected.value) return;
    runState.value = 'starting';
    lastError.value = null;
    interruptedReason.value = null;
    vanishedRun.value = null;
    runId.value = null;
    phases.value = [];
    frames.value.reset(null);
    try {
      const res = await client.api.startRun({ untilStopped: true, profile: profile.value ?? undefined });
      // The run may already have ended or failed (events can overtake the answer).
      if (finishedRuns.has(res.runId)) return;
      adoptRun(res.runId);
      controller.value = true;
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
      if (s) finishRun(s);
      else runState.value = 'idle';
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
      if (lastError.value.code === 'NOT_CONTROLLER') await refreshStatus();
    } finally {
      sqpollPending.value = null;
    }
  }

  async function takeControl(): Promise<void> {
    if (!client) return;
    try {
      applyStatus(await client.api.takeControl());
      if (lastError.value?.code === 'NOT_CONTROLLER') lastError.value = null;
    } catch (err) {
      lastError.value = toErrorData(err);
    }
  }

  function retryConnection(): void {
    client?.connection.retry?.();
  }

  /** The frame buffer the store feeds (liveFrames, or a test's own). */
  function frameBuffer(): FrameBuffer {
    return frames.value;
  }

  function dismissError(): void {
    lastError.value = null;
  }

  function dismissVanishedRun(): void {
    vanishedRun.value = null;
  }

  return {
    // state
    transport,
    connection,
    runState,
    runId,
    controller,
    profile,
    phases,
    sqpollPending,
    lastError,
    summary,
    interruptedReason,
    vanishedRun,
    statusLoaded,
    // getters
    phase,
    connected,
    refused,
    connectionLost,
    shownState,
    runLive,
    running,
    busy,
    observing,
    framesLost,
    requestedSqpoll,
    appliedSqpoll,
    rejected,
    // actions
    frameBuffer,
    attach,
    refreshStatus,
    handleEvent,
    start,
    stop,
    setSqpoll,
    takeControl,
    retryConnection,
    dismissError,
    dismissVanishedRun,
  };
});
