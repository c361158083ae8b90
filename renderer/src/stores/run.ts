/**
 * The run as this page knows it: its state, who controls it, its phases (the knobs the kernel
 * applied and refused), its summary once it ended, and the run events that drive all that.
 *
 * The host is the source of truth. While the connection is down the page does not know the
 * run state and says so (`shownState` 'unknown'); on reconnect it resyncs from getStatus,
 * fetches the frames it missed (getFrames), and a run that vanished meanwhile is reported as
 * ended with its result unknown, never as still running.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import type { LabEvent, Phase, RunFrame, RunState, RunStatus, RunSummary } from '../../../electron/contract';
import { callLab } from './history';
import { useConnectionStore } from './connection';
import { useErrorStore } from './errors';
import { useFramesStore } from './frames';
import { useKnobsStore } from './knobs';
import { useLayoutStore } from './layout';

export type { RunState };
/** What the toolbar shows: the host's run state, or why it is not known. */
export type ShownState = RunState | 'unknown' | 'connecting' | 'no access';

/** A run the page showed as live that was gone when the connection came back. */
export interface VanishedRun {
  runId: string;
  message: string;
}

/** What a Phase says (a summary's phases carry their results too). */
function phaseKey(p: Phase): string {
  return JSON.stringify([p.index, p.atMs, p.changed, p.applied, p.rejected, p.ring, p.probes ?? null]);
}

/** `a` and `b` are the same phases, field by field. */
export function samePhases(a: readonly Phase[], b: readonly Phase[]): boolean {
  return a.length === b.length && a.every((p, i) => phaseKey(p) === phaseKey(b[i]!));
}

export const useRunStore = defineStore('run', () => {
  const conn = useConnectionStore();
  const frames = useFramesStore();
  const errors = useErrorStore();
  /** Runs that ended, failed or vanished: late frames of theirs are ignored. */
  const finishedRuns = new Set<string>();
  /** The run that was live when the connection dropped; checked against the host on reconnect. */
  let liveRunAtDrop: string | null = null;
  /**
   * Frames held back while missed ones are fetched: pushed after them, in order. It outlives a
   * fetch the connection broke: pushed then, a frame after the gap would have moved the buffer
   * past frames the host still keeps (a frame older than the buffer's newest is dropped), and
   * the page counted them lost for good; the reconnect fetches them instead.
   */
  let recovery: { runId: string; queued: RunFrame[] } | null = null;
  /** A getFrames of the recovery is on its way. */
  let fetching = false;

  const runState = ref<RunState>('idle');
  const runId = ref<string | null>(null);
  /** True when this page controls the current run (it started it or took control). */
  const controller = ref(true);
  /** Phases of the current (or last) run, ascending. */
  const phases = shallowRef<Phase[]>([]);
  const summary = shallowRef<RunSummary | null>(null);
  /** Why the last run was interrupted (the `interrupted` event's reason), for the summary panel. */
  const interruptedReason = ref<string | null>(null);
  const vanishedRun = shallowRef<VanishedRun | null>(null);
  const statusLoaded = ref(false);
  /** Connected again with a live run from before the drop, and the host's word on it not in yet:
   *  the page still says "unknown" (it showed the dead run as "running" for that moment). */
  const resyncing = ref(false);

  const phase = computed<Phase | null>(() => phases.value[phases.value.length - 1] ?? null);
  /** Run state as far as this page can vouch for it. */
  const shownState = computed<ShownState>(() => {
    if (conn.connected) return resyncing.value ? 'unknown' : runState.value;
    if (conn.refused) return 'no access';
    return conn.everConnected ? 'unknown' : 'connecting';
  });
  const runLive = computed(() => runState.value !== 'idle');
  const running = computed(() => conn.connected && runState.value === 'running');
  const busy = computed(() => runState.value === 'starting' || runState.value === 'stopping');
  /** Another window controls the live run: this one watches. */
  const observing = computed(() => conn.connected && runLive.value && !controller.value);
  /** Knobs the kernel (or the lab) refused in the phase in effect. */
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
    if (frames.buffer.runId !== id) frames.buffer.reset(id);
  }

  /** A run ended (any terminal event, or its summary found on reconnect). */
  function finishRun(s: RunSummary): void {
    // The host sends a run's one summary twice when this page stops it: with the terminal event
    // and as stopRun's answer. Taking the second too would re-render every panel that shows it
    // (a long run's summary is hundreds of KB) for nothing.
    if (finishedRuns.has(s.runId) && summary.value?.runId === s.runId) return;
    finishedRuns.add(s.runId);
    summary.value = s;
    // Frames held back for a fetch the connection broke: the host still serves the last run's.
    if (recovery?.runId === s.runId && !fetching) void recoverFrames(s.runId, frames.buffer.lastSeq + 1);
    if (s.runId === runId.value || runId.value === null) {
      runId.value = s.runId;
      if (s.phases.length) {
        const final = [...s.phases].sort((a, b) => a.index - b.index);
        // The summary repeats the phases the run's events brought: the same ones keep the array,
        // so the charts drawn from it are not all redrawn at the end for nothing.
        if (!samePhases(phases.value, final)) phases.value = final;
      }
      runState.value = 'idle';
    }
  }

  /** The run the page showed is gone from the host and its summary with it (the host restarted). */
  function markVanished(id: string): void {
    finishedRuns.add(id);
    vanishedRun.value = { runId: id, message: 'ended while disconnected — result unknown' };
    if (runId.value === id) runState.value = 'idle';
    void savedEnd(id);
  }

  /** The history's word on a run the host forgot: the host that restarted found it unfinished
   *  and saved it as interrupted, with why; "result unknown" stood while History said so. */
  async function savedEnd(id: string): Promise<void> {
    const api = conn.api();
    if (!api) return;
    try {
      const { meta } = await callLab(api, 'getRun', { runId: id, limit: 1 });
      if (vanishedRun.value?.runId !== id) return;
      const why = meta.summary?.failure?.message ?? meta.recovered?.reason ?? null;
      vanishedRun.value = { runId: id, message: `ended while disconnected — saved as ${meta.status}${why ? `: ${why}` : ''}` };
    } catch {
      // Not saved (its history failed, or it was deleted): the result stays unknown.
    }
  }

  /**
   * Statuses by when they were asked for. The host answers getStatus at once but a setKnob
   * only after its queue, so a getStatus sent just before a knob change (the one sent on
   * connecting) can come back after the change's own answer, with the profile from before it:
   * adopted, it turned the switch back (CI caught the probes switch doing so). A status's
   * profile is taken only if no status asked for later has already been.
   */
  let statusAsked = 0;
  let profileFrom = 0;
  /** A number for a status request about to be sent (applyStatus's `asked`). */
  function askStatus(): number {
    return ++statusAsked;
  }

  /** Takes the host's word on the run (and on this client's profile, unless a later-asked
   *  status brought it already). */
  function applyStatus(status: RunStatus, asked: number = askStatus()): void {
    if (asked > profileFrom) {
      profileFrom = asked;
      useKnobsStore().adoptProfile(status.profile);
    }
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
      const buffer = frames.buffer;
      if (status.lastSeq > buffer.lastSeq && buffer.runId === status.runId) void recoverFrames(status.runId, buffer.lastSeq + 1);
      // The run before this one, as the Last run card showed it before a reload (it lost it).
      if (!summary.value && status.lastSummary && status.lastSummary.runId !== status.runId) {
        finishedRuns.add(status.lastSummary.runId);
        summary.value = status.lastSummary;
      }
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
    const api = conn.api();
    if (!api || fetching) return;
    if (recovery?.runId !== id) recovery = { runId: id, queued: [] };
    fetching = true;
    let fetched = false;
    try {
      // Page by page (the host bounds one answer: a long run's frames in one message passed
      // what a socket may hold, and the host closed this tab's connection at every try).
      for (let from = fromSeq; ;) {
        const res = await api.getFrames({ runId: id, fromSeq: from });
        if (res.runId !== id || frames.buffer.runId !== id) break;
        // Frames the host no longer keeps show up as a seq gap in the buffer (frames lost).
        for (const f of res.frames) frames.buffer.push(f);
        if (!res.more || res.nextSeq === undefined || res.nextSeq <= from) break;
        from = res.nextSeq;
      }
      fetched = true;
    } catch {
      // The connection broke (the reconnect's status asks again, the queue kept), or the run is
      // another's by now: what stays missing is counted as lost.
    } finally {
      fetching = false;
    }
    if (!fetched && !conn.connected && recovery?.runId === id && frames.buffer.runId === id) return;
    const queued = recovery?.runId === id ? recovery.queued : [];
    if (recovery?.runId === id) recovery = null;
    for (const f of queued) if (frames.buffer.runId === id) frames.buffer.push(f);
  }

  /** A frame or phase of run `id`: a run not ours (another window started it) is adopted and asked about. */
  function followRun(id: string): void {
    if (id !== runId.value) {
      adoptRun(id);
      // Ours is adopted from startRun's answer; another's phases and controller come from the host.
      if (runState.value !== 'starting') void refreshStatus();
    }
    if (runState.value === 'idle') runState.value = 'running';
  }

  function handleEvent(ev: LabEvent): void {
    switch (ev.type) {
      case 'frame': {
        const f = ev.frame;
        if (finishedRuns.has(f.runId)) return;
        if (f.runId !== runId.value && runState.value === 'stopping') return;
        followRun(f.runId);
        const buffer = frames.buffer;
        // A frame past a gap (a run joined in the middle, frames the socket dropped, a reconnect
        // whose first frame beat getStatus's answer): fetch the gap first, this frame waits.
        // Pushed at once, it moved the buffer past frames the host still had, counted lost.
        if (!recovery && buffer.runId === f.runId && f.seq > buffer.lastSeq + 1) void recoverFrames(f.runId, buffer.lastSeq + 1);
        if (recovery && recovery.runId === f.runId) recovery.queued.push(f);
        else buffer.push(f);
        return;
      }
      case 'phase':
        if (finishedRuns.has(ev.runId)) return;
        followRun(ev.runId);
        upsertPhase(ev.phase);
        return;
      case 'ended':
        finishRun(ev.summary);
        return;
      case 'failed':
        finishRun(ev.summary);
        errors.report(ev.error);
        if (runState.value === 'starting') runState.value = 'idle';
        return;
      case 'interrupted':
        finishRun(ev.summary);
        interruptedReason.value = ev.reason;
        return;
      case 'control': {
        if (ev.runId !== runId.value) return;
        controller.value = ev.controller;
        void refreshStatus();
        return;
      }
    }
  }

  async function refreshStatus(): Promise<void> {
    const api = conn.api();
    if (!api) return;
    try {
      const asked = askStatus();
      applyStatus(await api.getStatus(), asked);
    } catch (err) {
      // Losing the connection again is shown by the connection banner, not as an error.
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== 'DISCONNECTED' && code !== 'BAD_TOKEN') errors.report(err);
    } finally {
      resyncing.value = false;
    }
  }

  // The connection went down: remember the live run, to check on it; it came (back) up: resync.
  watch(
    () => conn.connected,
    (now, before) => {
      if (before && !now && runLive.value && runId.value) liveRunAtDrop ??= runId.value;
      if (now && !before) {
        if (liveRunAtDrop) resyncing.value = true;
        void refreshStatus();
      }
    },
    { flush: 'sync' },
  );

  async function start(): Promise<void> {
    const api = conn.api();
    if (!api || runState.value !== 'idle' || !conn.connected) return;
    runState.value = 'starting';
    // This page's own start: its Stop may call it off while it sets up.
    controller.value = true;
    errors.dismiss();
    interruptedReason.value = null;
    vanishedRun.value = null;
    runId.value = null;
    phases.value = [];
    frames.buffer.reset(null);
    try {
      // Until Stop (the default), or for the profile's warm-up + measured time (Duration knobs).
      const untilStopped = useLayoutStore().runLength === 'untilStopped';
      // The knobs as the panel shows them: changes on their way are answered first.
      const knobs = useKnobsStore();
      await knobs.settled();
      // Stopped (or the connection lost) while the changes were answered: nothing was started.
      if (runState.value !== 'starting') return;
      const res = await api.startRun({ untilStopped, profile: knobs.profile ?? undefined });
      // The run may already have ended or failed (events can overtake the answer).
      if (finishedRuns.has(res.runId)) return;
      adoptRun(res.runId);
      controller.value = true;
      upsertPhase(res.phase);
      if (runState.value === 'starting') runState.value = 'running';
    } catch (err) {
      // Stop pressed during the set-up called the start off: what the user asked for, not a fault.
      if ((err as { code?: string } | null)?.code !== 'START_CANCELLED') errors.report(err);
      if (runState.value === 'starting') runState.value = 'idle';
    }
  }

  async function stop(): Promise<void> {
    const api = conn.api();
    if (!api || (runState.value !== 'running' && runState.value !== 'starting')) return;
    runState.value = 'stopping';
    try {
      const s = await api.stopRun();
      if (s) finishRun(s);
      else runState.value = 'idle';
    } catch (err) {
      errors.report(err);
      runState.value = 'running';
      await refreshStatus();
    }
  }

  async function takeControl(): Promise<void> {
    const api = conn.api();
    if (!api) return;
    try {
      const asked = askStatus();
      applyStatus(await api.takeControl(), asked);
      if (errors.last?.code === 'NOT_CONTROLLER') errors.dismiss();
    } catch (err) {
      errors.report(err);
    }
  }

  function dismissVanishedRun(): void {
    vanishedRun.value = null;
  }

  return {
    // state
    runState,
    runId,
    controller,
    phases,
    summary,
    interruptedReason,
    vanishedRun,
    statusLoaded,
    // getters
    phase,
    shownState,
    runLive,
    running,
    busy,
    observing,
    rejected,
    // actions
    applyStatus,
    refreshStatus,
    askStatus,
    handleEvent,
    start,
    stop,
    takeControl,
    dismissVanishedRun,
  };
});
