/**
 * The lab's one service (LabApi) under plain Node, and the run lifecycle it enforces.
 * Electron's IPC, the WebSocket host and the CLI are thin transports over its sessions.
 *
 * The lifecycle is a small state machine: idle → starting → running ⇄ (phase change) →
 * stopping → idle. Every run that starts (the engine accepted it) ends with exactly one
 * terminal event — `ended`, `failed` (code + one-line reason) or `interrupted` — whatever
 * happens: the window runs out, its controller stops it, the engine crashes or hangs, a
 * start or stop times out, calls race each other, or the host shuts down. Two mechanisms
 * make that hold: every state change goes through one queue (`exclusive`), and `close()` of
 * a run is idempotent (the first terminal event wins, later ones are dropped).
 *
 * Clients: each transport connection is a session with its own pending profile. The client
 * that starts a run controls it; others observe its frames and get NOT_CONTROLLER from
 * stopRun/setKnob until they call takeControl.
 *
 * (A little over 400 lines on purpose: every transition of the state machine reads in one
 * file; the numbers live in run/runRecord.ts and the engine in engine/.)
 */
import type { z } from 'zod';
import {
  FramesResult, GetFramesParamsSchema, knobEntries, LAB_METHOD_NAMES, LabApi, LabError, LabMethod, LabEvent, LabSession, LabSessions, Phase, Profile, RunState,
  RunFrame, RunStatus, RunSummary, SetKnobParamsSchema, StartRunParamsSchema, UNTIL_STOPPED_LIMIT_S, HISTORY_WARNING_PREFIX, type Workload,
} from '../contract';
import type { NativeEngineConfig, NativeSnapshot } from '../engine/protocol';
import { EngineSupervisor } from './engine/supervisor';
import { defaultProfile, parseProfile, setValueAt, valueAt, withKnob } from './profiles';
import { isDeepStrictEqual } from 'node:util';
import { deleteSavedProfile, exportProfileFor, importProfileFor, presetList, savedProfileList, saveProfileFor, type ProfileClient } from './profiles/profileApi';
import { engineTimeouts, nativeConfigFor, probesRequestFor, startCalledOffError } from './engine/adapter';

export { engineTimeouts };
import { checkBudget } from './run/budget';
import { checkTopology } from './run/topology';
import { parseParams } from './labParams';
import { ActiveRunRegistry, MachineCpuWindow, refuseDuringOtherAb } from './run/contention';
import { KEPT_FRAMES, RunRecord } from './run/runRecord';
import { probeDoctorChecks } from './run/probes';
import { diagnoseRequestFor } from '../engine/injections';
import { removeDeadInjectCgroups, removeDeadInjectCgroupsSoon } from './run/injectCleanup';
import { LabHistory, type RunSaving } from './history/labHistory';
import { diagnoseSavedRun } from './diagnose/diagnoseCommand';
import { planStorage, releaseStorage, withStoragePlan, type StoragePlan } from './run/storage';
import { setUpVeth, tearDownVeth, vethRefusal, type VethTopology } from './run/veth';
import { AbController } from './ab/abController';
import { AbStore } from './ab/abStore';
import { AB_DEFAULT_DURATION_S, AB_DEFAULT_ROUNDS, checkArmsStartable, checkComparableArms } from './ab/runner';

/** `uring-lab load`'s echo server: `host` as the user gave it, the IPv4 `address` it resolved to. */
export type LoadTarget = NonNullable<RunSummary['target']>;

/** Who controls a run now: sent to each client as a `control` event saying whether it is that client. */
interface ControlChange { type: 'controlChange'; runId: string; controllerId: string }

/**
 * Next-run knobs a new phase does take: the probe and sampling requests go with each engine start.
 * The others are the run's own (its window, topology, fault injections, kept test file): set
 * during a run they are kept for the client's next run, and the run goes on with its values, as
 * its phases' `applied` says. Deriving the list keeps a new next-run knob out of the phases.
 */
const PHASE_TAKES = new Set(['probes.enabled', 'probes.perRequest', 'probes.perRequestDuty', 'diagnose.profileHz', 'diagnose.offCpuMinUs']);
const RUN_FIXED_KNOBS = knobEntries().filter((e) => e.applies === 'next-run' && !PHASE_TAKES.has(e.path)).map((e) => e.path.split('.'));
/** Knobs no engine reads: the profile's name and description. Renamed during a run, the run
 *  keeps the name it started with; the new one is the client's. */
const METADATA_KNOBS = knobEntries().filter((e) => e.applies === 'metadata').map((e) => e.path.split('.'));
/** By workload: the knobs of the other one, which that workload's engine never reads. */
const OTHER_WORKLOAD_KNOBS = Object.fromEntries((['echo', 'storage'] as const).map((w) => [w, knobEntries().filter((e) => e.workloads && !e.workloads.includes(w)).map((e) => e.path.split('.'))])) as Record<Workload, string[][]>;

/**
 * `wanted` with the run's own values of the knobs a new phase does not take: those only a new
 * run can change (RUN_FIXED_KNOBS), the metadata, and the other workload's knobs (storage.* in
 * an echo run), which this run's engine never reads. Each of the last two made a phase of its
 * own and restarted the engine for nothing (a rename mid-run: 9 phases "with different knobs").
 */
function withRunFixedKnobs(wanted: Profile, running: Profile): Profile {
  const out = structuredClone(wanted) as unknown as Record<string, unknown>;
  for (const path of [...RUN_FIXED_KNOBS, ...METADATA_KNOBS, ...OTHER_WORKLOAD_KNOBS[running.workload]]) setValueAt(out, path, structuredClone(valueAt(running, path)));
  return out as unknown as Profile;
}

/** The client id of in-process callers (CLI, tests) using LabService as a LabApi. */
export const LOCAL_CLIENT = 'local';
/** Runs started by every LabService of this process: with the pid, a run id is never reused
 *  (it names the run's folder in the history). */
let runsStartedInProcess = 0;
/** Pending profiles kept for clients that went away (a reconnecting tab gets its own back). */
const KEPT_CLIENT_PROFILES = 64;
/** At most this many reads of the frame log for one getFrames: a guard, not a budget (it ends
 *  after one or two unless every read takes longer than memory keeps frames). */
const FRAMES_READ_ROUNDS = 20;
/** One getFrames answer holds about this many bytes of frames at most (at least one frame), and
 *  reads at most FRAMES_READ_MAX frames back from the history: well under the 8 MiB a client's
 *  socket may hold unsent (labSocket.ts MAX_UNSENT_BYTES), and a page costs the same however long
 *  the run. The rest comes in further pages (`more`, `nextSeq`). */
export const FRAMES_REPLY_BYTES = 2 * 1024 * 1024;
const FRAMES_READ_MAX = 128;

export interface LabServiceOptions {
  supervisor?: EngineSupervisor;
  frameIntervalMs?: number;
  /** Where runs register themselves to detect each other; tests give a private folder. */
  activeRunsDir?: string;
  /** Where runs are saved (the run history); default URING_LAB_RUNS_DIR, else $XDG_DATA_HOME/uring-lab/runs. */
  runsDir?: string;
  /** Time limits of engine start/stop; by default they follow from the work (engineTimeouts). */
  timeouts?: (config: NativeEngineConfig) => { startMs: number; stopMs: number };
  /** Frames a run keeps in memory for getFrames (default KEPT_FRAMES; older ones are read from its history). */
  keptFrames?: number;
  /** One getFrames page's bounds (default FRAMES_REPLY_BYTES and FRAMES_READ_MAX; tests make them small). */
  framesPage?: { bytes: number; readMax: number };
}

interface ActiveRun {
  readonly runId: string;
  readonly record: RunRecord;
  controllerId: string;
  /** The profile of the phase in effect, as requested. */
  profile: Profile;
  config: NativeEngineConfig;
  readonly untilStopped: boolean;
  /** `uring-lab load`: the load runs against this echo server, and no server of ours runs. */
  readonly target: LoadTarget | null;
  /** workload 'storage': the target for the whole run (the lab's test file is deleted when it closes). */
  readonly storage: StoragePlan | null;
  /** topology 'veth': the run's namespace and pair, removed when the run closes (however it ends). */
  readonly veth: VethTopology | null;
  loadConnections: number;
  /** Load requests timed out so far (load.timeoutMs): why the connections went, if they all did. */
  timeouts?: number;
  endTimer: NodeJS.Timeout | null;
  readonly registry: ActiveRunRegistry;
  readonly cpuWindow: MachineCpuWindow;
  /** The run's copy in the history (frames appended as they come, the summary at the end). */
  history?: RunSaving;
  /** Set when the run's end began (stop under way); later ends are no-ops. */
  ending: boolean;
  /** Set when the terminal event went out. */
  closed: boolean;
}

/** A start asked for: whose, and why it was called off (null: it was not). */
interface StartTicket {
  clientId: string;
  calledOff: string | null;
}

/** What a called-off start rejects with (the CLI's interrupt makes it exit 130; the UI's Stop shows nothing). */
function calledOffError(ticket: StartTicket): LabError {
  return new LabError({ code: 'START_CANCELLED', kind: 'engine', message: `the run was called off while it set up (${ticket.calledOff}): nothing ran, nothing was measured` });
}

export class LabService implements LabApi, LabSessions {
  private state: RunState = 'idle';
  /** Starts asked for and not yet answered (queued, or setting up: `currentStart`), each with
   *  why it was called off (a stop or an interrupt that came first), or null. */
  private readonly pendingStarts = new Set<StartTicket>();
  private currentStart: StartTicket | null = null;
  /** A knob change restarting the engine, and how its run ends if a stop or an interrupt calls the restart off. */
  private phaseRestart: { run: ActiveRun; calledOff: { status: 'completed' | 'interrupted'; failure: { code: string; message: string } | null } | null } | null = null;
  private run: ActiveRun | null = null;
  /** The last run that ended, for getFrames after a reconnect. */
  private lastRecord: RunRecord | null = null;
  /** The last run's copy in the history: getFrames reads its older frames from there. */
  private lastHistory: RunSaving | null = null;
  private lastSummary: RunSummary | null = null;
  private readonly profiles = new Map<string, Profile>();
  /** Every session's listeners, with the client each belongs to (a control event differs per client). */
  private readonly listeners = new Map<(event: LabEvent) => void, string>();
  /** Sessions a transport holds open, per client (a window's IPC, a tab's socket): who is still there. */
  private readonly attached = new Map<string, number>();
  private readonly supervisor: EngineSupervisor;
  /**
   * The doctor's engine checks as last made (the capability probe sets up and tears down
   * rings; the probes' check takes every eBPF program through the verifier). During a run or
   * an A/B experiment the doctor answers from them: making them again ran in the engine
   * process beside the measurement (one doctor mid-run stretched a 100 ms frame to 395 ms and
   * doubled the run's max latency). With none made yet, a doctor then is refused.
   */
  private doctorChecks: {
    probe?: Awaited<ReturnType<EngineSupervisor['probe']>>;
    probes?: Awaited<ReturnType<EngineSupervisor['probesCheck']>>;
  } = {};
  private readonly frameIntervalMs: number;
  private readonly keptFrames: number;
  private readonly framesPage: { bytes: number; readMax: number };
  private readonly activeRunsDir?: string;
  private readonly history: LabHistory;
  /** A/B experiments (one at a time), each arm a run of the client that started it. */
  private readonly ab: AbController;
  private readonly timeouts: (config: NativeEngineConfig) => { startMs: number; stopMs: number };
  private queue: Promise<unknown> = Promise.resolve();
  private closing = false;
  /** Removal of a dead engine's fault-injection cgroups (injectCleanup.ts), awaited by close(). */
  private injectCleanup: Promise<void> = Promise.resolve();
  private readonly local: LabSession;

  constructor(options: LabServiceOptions = {}) {
    this.supervisor = options.supervisor ?? new EngineSupervisor();
    this.frameIntervalMs = options.frameIntervalMs ?? 100;
    this.keptFrames = options.keptFrames ?? KEPT_FRAMES;
    this.framesPage = options.framesPage ?? { bytes: FRAMES_REPLY_BYTES, readMax: FRAMES_READ_MAX };
    this.activeRunsDir = options.activeRunsDir;
    this.history = new LabHistory(options.runsDir);
    this.ab = new AbController((clientId) => {
      // The experiment's own session for the client: not a window, so not counted as one.
      const session = this.session(clientId, false);
      // Each arm's run makes its profile the client's; the client gets its own knobs back after the experiment.
      const before = this.profileOf(clientId);
      return {
        // Straight to the run, past the session's refusal of starts during an experiment.
        startRun: (p) => this.startRunFor(clientId, parseParams('startRun', p)), interruptRun: (reason) => this.interruptRun(reason), onEvent: (l) => session.onEvent(l),
        done: () => this.setProfileOf(clientId, before),
      };
    }, (event) => this.emit(event), new AbStore(options.runsDir), options.activeRunsDir, (clientId) => (this.attached.get(clientId) ?? 0) > 0);
    this.timeouts = options.timeouts ?? engineTimeouts;
    this.supervisor.on('snapshot', (snapshot) => this.onSnapshot(snapshot));
    this.supervisor.on('fault', (error) => this.onFault(error));
    this.supervisor.on('signalled', (signal, pid) => this.onEngineSignalled(signal, pid));
    this.local = this.session(LOCAL_CLIENT);
  }

  // ---- sessions ------------------------------------------------------------------------

  /** A client's session; `attached`: held by a transport for a window (disposed when it closes). */
  session(clientId: string, attached = true): LabSession {
    const own = new Set<(event: LabEvent) => void>();
    const lab = this;
    if (attached) this.attached.set(clientId, (this.attached.get(clientId) ?? 0) + 1);
    let disposed = false;
    // Each method validates its params once, from the method table, then runs for this client.
    const methods: { [M in LabMethod]: (params: ReturnType<typeof parseParams<M>>) => Promise<unknown> } = {
      getStatus: () => lab.statusFor(clientId),
      // Between an experiment's arms no run is going: a start then would take the arm's place.
      startRun: (params) => { lab.refuseDuringAb('startRun', 'start a run'); return lab.startRunFor(clientId, params); },
      // During an A/B experiment its arms are runs of their own: Stop stops the experiment (the
      // arm in progress ends interrupted, not as a short completed round), and a knob change
      // would turn an arm into two configurations, so it is refused until the experiment ends.
      stopRun: () => (lab.ab.state().running ? lab.ab.stop(clientId).then(() => null) : lab.stopRunFor(clientId)),
      setKnob: (params) => { lab.refuseDuringAb(params.path); return lab.setKnobFor(clientId, params); },
      takeControl: () => lab.takeControlFor(clientId),
      getFrames: (params) => lab.framesFor(params),
      listRuns: async (params) => lab.history.list(params),
      getRun: async (params) => lab.history.get(params),
      deleteRun: async (params) => {
        const res = await lab.history.delete(params.runId);
        lab.emit({ type: 'historyChanged', runId: res.runId, deleted: true, pinned: null });
        return res;
      },
      pinRun: async (params) => {
        const res = await lab.history.pin(params.runId, params.pinned);
        lab.emit({ type: 'historyChanged', runId: res.runId, deleted: false, pinned: res.pinned });
        return res;
      },
      exportRun: async (params) => lab.history.export(params.runId, params.format),
      diagnoseRun: (params) => diagnoseSavedRun((page) => lab.history.get(page), params.runId, params.params),
      doctor: () => lab.doctorFor(clientId),
      listPresets: async () => presetList(),
      listProfiles: async () => savedProfileList(),
      saveProfile: (params) => saveProfileFor(lab.profileClient(clientId), params),
      deleteProfile: async (params) => deleteSavedProfile(params),
      importProfile: (params) => importProfileFor(lab.profileClient(clientId), params),
      exportProfile: (params) => exportProfileFor(lab.profileClient(clientId), params),
      applyProfile: (params) => { lab.refuseDuringAb('profile'); return lab.applyProfileFor(clientId, parseProfile(params.profile, 'applyProfile.profile')); },
      startAb: async (params) => {
        lab.refuseAbDuringRun(clientId);
        lab.ab.refuseIfRunning();
        const arms = { ...params, a: parseProfile(params.a, 'startAb.a'), b: parseProfile(params.b, 'startAb.b') };
        // The checks a run's start makes, for both arms before any runs (as `ab` does): a B the
        // lab would refuse cost A's arm first, then failed the experiment.
        checkComparableArms(arms.a, arms.b);
        // The history is the experiment's, not an arm's: said as itself, not as arm A's field.
        lab.history.checkWritable();
        await checkArmsStartable({ ...arms, rounds: arms.rounds ?? AB_DEFAULT_ROUNDS, durationS: arms.durationS ?? AB_DEFAULT_DURATION_S }, (p) => lab.checkStartable(p));
        lab.refuseAbDuringRun(clientId); // a run may have started meanwhile (the checks plan in the engine)
        return lab.ab.start(clientId, arms);
      },
      stopAb: () => lab.ab.stop(clientId),
      getAbState: async () => lab.ab.state(),
      listAb: async () => lab.ab.list(),
      getAb: async (params) => lab.ab.get(params.experimentId),
      exportAb: async (params) => lab.ab.export(params.experimentId, params.format),
      deleteAb: async (params) => { lab.ab.delete(params.experimentId); return null; },
    };
    const api = Object.fromEntries(LAB_METHOD_NAMES.map((name) => [
      name,
      async (params?: unknown) => (methods[name] as (p: unknown) => Promise<unknown>)(parseParams(name, params)),
    ])) as unknown as Omit<LabApi, 'onEvent'>;
    return {
      clientId,
      ...api,
      onEvent(listener) {
        own.add(listener);
        lab.listeners.set(listener, clientId);
        return () => { own.delete(listener); lab.listeners.delete(listener); };
      },
      stopComing() {
        // As stopRun would, for this client's starts only (during an A/B experiment its Stop is the experiment's).
        if (!lab.ab.state().running) lab.callOffStarts('stopped', clientId);
      },
      dispose() {
        for (const listener of own) lab.listeners.delete(listener);
        own.clear();
        if (attached && !disposed) {
          const left = (lab.attached.get(clientId) ?? 1) - 1;
          if (left > 0) lab.attached.set(clientId, left); else lab.attached.delete(clientId);
        }
        disposed = true;
      },
    };
  }

  // LabApi of in-process callers (CLI, tests): the session of LOCAL_CLIENT.
  getStatus(): Promise<RunStatus> { return this.local.getStatus(); }
  startRun(params: Parameters<LabApi['startRun']>[0] = {}) { return this.local.startRun(params); }
  /**
   * The load alone against someone else's echo server (`uring-lab load`), as a run of the local
   * client. In-process callers only, on purpose: it is not a LabApi method, so no UI or WebSocket
   * client can aim this machine's load at another host. `target.address` must be IPv4.
   */
  startLoad(params: { profile: Profile; target: LoadTarget }): Promise<{ runId: string; phase: Phase }> {
    return this.startRunFor(LOCAL_CLIENT, { profile: params.profile, untilStopped: false }, params.target);
  }
  stopRun(): Promise<RunSummary | null> { return this.local.stopRun(); }
  setKnob(params: Parameters<LabApi['setKnob']>[0]): Promise<RunStatus> { return this.local.setKnob(params); }
  takeControl(): Promise<RunStatus> { return this.local.takeControl(); }
  getFrames(params: Parameters<LabApi['getFrames']>[0]): Promise<FramesResult> { return this.local.getFrames(params); }
  listRuns(params?: Parameters<LabApi['listRuns']>[0]) { return this.local.listRuns(params); }
  getRun(params: Parameters<LabApi['getRun']>[0]) { return this.local.getRun(params); }
  deleteRun(params: Parameters<LabApi['deleteRun']>[0]) { return this.local.deleteRun(params); }
  pinRun(params: Parameters<LabApi['pinRun']>[0]) { return this.local.pinRun(params); }
  exportRun(params: Parameters<LabApi['exportRun']>[0]) { return this.local.exportRun(params); }
  diagnoseRun(params: Parameters<LabApi['diagnoseRun']>[0]) { return this.local.diagnoseRun(params); }
  listPresets() { return this.local.listPresets(); }
  listProfiles() { return this.local.listProfiles(); }
  saveProfile(params: Parameters<LabApi['saveProfile']>[0]) { return this.local.saveProfile(params); }
  deleteProfile(params: Parameters<LabApi['deleteProfile']>[0]) { return this.local.deleteProfile(params); }
  importProfile(params: Parameters<LabApi['importProfile']>[0]) { return this.local.importProfile(params); }
  exportProfile(params: Parameters<LabApi['exportProfile']>[0]) { return this.local.exportProfile(params); }
  applyProfile(params: Parameters<LabApi['applyProfile']>[0]) { return this.local.applyProfile(params); }
  startAb(params: Parameters<LabApi['startAb']>[0]) { return this.local.startAb(params); }
  stopAb() { return this.local.stopAb(); }
  getAbState() { return this.local.getAbState(); }
  listAb() { return this.local.listAb(); }
  getAb(params: Parameters<LabApi['getAb']>[0]) { return this.local.getAb(params); }
  exportAb(params: Parameters<LabApi['exportAb']>[0]) { return this.local.exportAb(params); }
  deleteAb(params: Parameters<LabApi['deleteAb']>[0]) { return this.local.deleteAb(params); }
  onEvent(listener: (event: LabEvent) => void): () => void { return this.local.onEvent(listener); }

  async doctor() {
    return this.doctorFor(LOCAL_CLIENT);
  }

  /** The doctor, with locked memory judged against what this client's profile would lock. */
  private async doctorFor(clientId: string) {
    const { runDoctor } = await import('./doctor');
    const profile = this.profileOf(clientId);
    const checks = this.doctorChecks;
    // A stopping run has measured its last frame: the doctor waits its turn behind the stop.
    const busy = () => this.state === 'starting' || this.state === 'running' || this.ab.state().running;
    if (busy()) {
      if (!checks.probe || !checks.probes) {
        throw new LabError({
          code: 'RUN_ACTIVE', kind: 'input', field: 'doctor',
          message: `the doctor's checks run in the engine process and would disturb ${this.ab.state().running ? 'the A/B experiment' : `run ${this.run?.runId ?? ''}`.trimEnd()} under way`,
          fix: 'ask again when it has ended (later doctors during a run answer from these checks)',
        });
      }
    }
    // Through the supervisor's queue like every engine call, so it can never race a stop.
    return runDoctor(async () => (busy() && checks.probe) || (checks.probe = await this.supervisor.probe()),
      async () => (await this.supervisor.plan(this.engineConfig(profile, 1000, null))).needs, () => vethRefusal(),
      () => probeDoctorChecks(async () => (busy() && checks.probes) || (checks.probes = await this.supervisor.probesCheck())));
  }

  /** Resolves when every write of this host's runs so far is on disk (not the prune of old runs
   *  after them): what a CLI that must leave at once still waits for, a few ms, so a run it
   *  printed as completed is not found `running` and recovered as interrupted. */
  runsSaved(): Promise<void> {
    return this.history.settled();
  }

  /** Throws the input error that would keep this host's runs from being saved (CLI verbs check it before they start one). */
  checkHistory(): void {
    this.history.checkWritable();
  }

  /**
   * Stops a run in progress as `interrupted` (SIGINT/SIGTERM of the CLI, or a host that is
   * closing). Resolves with its summary, or null when nothing was running.
   */
  interruptRun(reason: string): Promise<RunSummary | null> {
    // A run still setting up (thousands of connects, gigabytes of buffers: ~20 s) is called off
    // now; otherwise the interrupt waited out the whole set-up, then stopped what it had made.
    this.callOffStarts(reason);
    return this.exclusive(async () => {
      const run = this.run;
      if (!run) return null;
      return this.endRun(run, 'interrupted', { code: 'INTERRUPTED', message: reason });
    });
  }

  /** Ends the service: a run still going ends as interrupted, then the engine process exits. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const abStopped = this.ab.close();
    const interrupted = this.interruptRun('the lab host is shutting down');
    // A start that is still connecting must not hold the shutdown for its whole time limit.
    await Promise.race([interrupted.catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await this.supervisor.shutdown();
    const run = this.run;
    if (run) this.closeRun(run, 'interrupted', { code: 'INTERRUPTED', message: 'the lab host shut down' });
    await abStopped;
    await this.injectCleanup;
    // The last run's meta and frames are on disk, and the prune its end started is done, before
    // the host goes.
    await this.history.idle();
  }

  // ---- the state machine ----------------------------------------------------------------

  private emit(event: LabEvent | ControlChange): void {
    for (const [listener, clientId] of [...this.listeners]) {
      // Each client learns only whether it is the controller now: a controller's id is what a
      // client connects with (?client=) to resume its own run, so it is not told to others.
      const out: LabEvent = event.type === 'controlChange' ? { type: 'control', runId: event.runId, controller: event.controllerId === clientId } : event;
      try { listener(out); } catch { /* one listener's fault must not starve the others */ }
    }
  }

  /** State changes are applied one at a time, in the order they were asked for. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private profileOf(clientId: string): Profile {
    return this.profiles.get(clientId) ?? defaultProfile();
  }

  private setProfileOf(clientId: string, profile: Profile): void {
    this.profiles.delete(clientId);
    this.profiles.set(clientId, profile);
    while (this.profiles.size > KEPT_CLIENT_PROFILES) this.profiles.delete(this.profiles.keys().next().value!);
  }

  private async statusFor(clientId: string): Promise<RunStatus> {
    const run = this.run;
    const controller = run !== null && run.controllerId === clientId;
    return {
      running: this.state !== 'idle',
      state: this.state,
      runId: run?.runId ?? null,
      profile: controller ? run.profile : this.profileOf(clientId),
      phases: run?.record.phaseList ?? [],
      phase: run?.record.currentPhase ?? null,
      controller,
      lastSeq: run?.record.lastSeq ?? -1,
      lastSummary: this.lastSummary,
    };
  }

  private startRunFor(clientId: string, params: z.output<typeof StartRunParamsSchema> | undefined, target: LoadTarget | null = null): Promise<{ runId: string; phase: Phase }> {
    const parsed = { data: params ?? { untilStopped: false } };
    // Known from the call on, not only once its turn in the queue comes: a Stop right after
    // Start (while the last run's end is still being written) calls it off too.
    const ticket: StartTicket = { clientId, calledOff: null };
    this.pendingStarts.add(ticket);
    return this.exclusive(async () => {
      this.currentStart = ticket;
      if (this.closing) throw new LabError({ code: 'SHUTTING_DOWN', message: 'the lab host is shutting down', fix: 'start the lab again' });
      if (ticket.calledOff !== null) throw calledOffError(ticket);
      if (this.run) {
        throw new LabError({
          code: 'RUN_ACTIVE', message: `run ${this.run.runId} is still going${this.run.controllerId === clientId ? '' : ' (controlled by another client)'}`,
          fix: this.run.controllerId === clientId ? 'stop it first' : 'watch it, wait for it to end, or take control of it (the lab window\'s Take control) and stop it',
        });
      }
      // An A/B experiment of another lab process (its entry in the machine's register spans its
      // arms): a run now would share the machine with its arms, and both ended exit 1 ("shared
      // this machine") with the whole experiment lost. This host's own experiment is refused
      // by refuseDuringAb, and its arms (runs of this process) pass here.
      refuseDuringOtherAb(this.activeRunsDir);
      const profile = parsed.data.profile === undefined ? this.profileOf(clientId) : parseProfile(parsed.data.profile, 'startRun.profile');
      const untilStopped = parsed.data.untilStopped;
      const boundS = untilStopped ? UNTIL_STOPPED_LIMIT_S : profile.duration.warmupS + profile.duration.measureS;
      const wantVeth = this.checkStartInput(profile, target);
      let config = this.engineConfig(profile, boundS * 1000, target);

      this.state = 'starting';
      let storage: StoragePlan | null = null;
      let veth: VethTopology | null = null;
      try {
        // The namespace and pair exist before the engine starts: its server workers join it.
        if (wantVeth) {
          veth = setUpVeth();
          config = this.engineConfig(profile, boundS * 1000, target, veth);
        }
        ({ storage, config } = await this.planStart(profile, config));
        // Fault injection: memory cgroups of engines that died (kill -9) go before a new run.
        removeDeadInjectCgroups();
        // Called off during the steps above: the engine is not asked to start at all.
        if (ticket.calledOff !== null) throw calledOffError(ticket);
        const { started, atNs } = await this.supervisor.start(config, this.frameIntervalMs, this.timeouts(config).startMs, probesRequestFor(profile), diagnoseRequestFor(profile.diagnose, new Set(), null))
          .catch((err: unknown) => {
            throw LabError.from(err).code === 'START_CANCELLED' ? calledOffError(ticket) : err;
          });
        this.setProfileOf(clientId, profile);
        const runId = `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${process.pid}-${++runsStartedInProcess}`;
        // Time 0 is when the engine was up: a slow start (thousands of connects, gigabytes of
        // buffers) must not eat the warm-up, nor count as measured time.
        const record = new RunRecord(runId, atNs, profile.duration.warmupS * 1000, target, this.keptFrames);
        const run: ActiveRun = {
          runId, record, controllerId: clientId, profile, config, untilStopped, target, storage, veth,
          // Storage jobs have no connections to lose.
          loadConnections: storage ? 0 : profile.load.connections, endTimer: null,
          registry: new ActiveRunRegistry(this.activeRunsDir), cpuWindow: new MachineCpuWindow(),
          ending: false, closed: false,
        };
        record.storagePlan = storage;
        if (veth) record.topology = { kind: 'veth', serverAddress: veth.serverAddress, loadAddress: veth.loadAddress, netns: veth.netns, gro: veth.gro };
        const phase = record.addPhase(profile, started, atNs);
        run.history = this.history.begin({ runId, startedAt: record.startedAt, profile, phases: record.phaseList });
        storage = null; // the run owns it now: closeRun deletes the test file
        veth = null; // likewise the namespace and pair: closeRun removes them
        this.run = run;
        this.state = 'running';
        run.registry.register(runId, record.startedAt);
        if (record.warmupMs === 0) run.cpuWindow.begin(nowNs());
        this.emit({ type: 'phase', runId, phase });
        run.endTimer = setTimeout(() => { void this.endFromTimer(run); }, boundS * 1000);
        return { runId, phase };
      } finally {
        releaseStorage(storage); // a start that failed leaves no test file behind
        tearDownVeth(veth); // nor a namespace
        if (this.state === 'starting') this.state = 'idle';
      }
    }).finally(() => {
      this.pendingStarts.delete(ticket);
      if (this.currentStart === ticket) this.currentStart = null;
    });
  }

  /**
   * Calls off the starts asked for and not yet answered (`clientId`'s only, for its Stop): one
   * still queued never begins, and the one setting up unwinds at its next step (a large run's
   * set-up, thousands of connects and gigabytes of buffers, takes ~20 s; the stop or interrupt
   * waited all of it, then stopped the run it had made). Each rejects with START_CANCELLED.
   * A knob change's engine restart (the same set-up) is called off too, for its run's
   * controller or an interrupt: the run then ends with the phases it had (changePhase).
   */
  private callOffStarts(reason: string, clientId?: string): void {
    for (const ticket of this.pendingStarts) {
      if (ticket.calledOff !== null || (clientId !== undefined && ticket.clientId !== clientId)) continue;
      ticket.calledOff = reason;
      if (ticket === this.currentStart) this.supervisor.cancelStart();
    }
    const restart = this.phaseRestart;
    if (restart && restart.calledOff === null && (clientId === undefined || restart.run.controllerId === clientId)) {
      restart.calledOff = clientId === undefined ? { status: 'interrupted', failure: { code: 'INTERRUPTED', message: reason } } : { status: 'completed', failure: null };
      this.supervisor.cancelStart();
    }
  }

  /**
   * The engine also stops by itself, even if this host dies: its bound counts from the start
   * call, so it covers the run's window, the time the start may take, and some slack.
   */
  private engineConfig(profile: Profile, windowMs: number, target: LoadTarget | null, veth: VethTopology | null = null): NativeEngineConfig {
    const config = nativeConfigFor(profile, windowMs, target && { host: target.address, port: target.port });
    if (veth) {
      // The server listens on the namespace's end of the pair; the load connects to that address.
      config.bind = veth.serverAddress;
      config.serverNetns = veth.netnsPath;
    }
    config.maxDurationMs = Math.round(windowMs + 5000 + this.timeouts(config).startMs);
    return config;
  }

  /**
   * A start's input checks that need nothing made: topology 'veth' needs root or CAP_NET_ADMIN,
   * and a history that cannot take the run (not a folder, read-only, under /proc) is refused
   * before anything starts, as the CLI refuses it (from the UI the run went ahead, measured, and
   * was in no list afterwards). Returns whether the run wants a veth pair.
   */
  private checkStartInput(profile: Profile, target: LoadTarget | null): boolean {
    const wantVeth = profile.topology === 'veth' && !target;
    const vethMisfit = wantVeth ? vethRefusal() : null;
    if (vethMisfit) throw vethMisfit;
    this.history.checkWritable();
    return wantVeth;
  }

  /**
   * A start's checks against this machine: workload 'storage' has its target checked (and the
   * lab's test file made) first, as the engine's plan already reads the path; then the nodes and
   * CPUs named, and the memory the plan needs against the budget. The caller owns the returned
   * test file; one made here is deleted when a check after it fails.
   */
  private async planStart(profile: Profile, config: NativeEngineConfig): Promise<{ storage: StoragePlan | null; config: NativeEngineConfig }> {
    const storage = planStorage(profile);
    try {
      const planned = withStoragePlan(config, storage);
      await this.checkResources(profile, planned);
      return { storage, config: planned };
    } catch (err) {
      releaseStorage(storage);
      throw err;
    }
  }

  /**
   * Every check a run's start makes before anything runs, and nothing started: the same code
   * as startRunFor's (checkStartInput, planStart), so a profile `run` refuses as bad input
   * (exit 2) is refused by `ab` (and the UI's startAb) before its first arm, not after arm A
   * has run and B's start failed (exit 1, a failed record). Throws the refusal as it is.
   */
  async checkStartable(profile: Profile): Promise<void> {
    this.checkStartInput(profile, null);
    const boundS = profile.duration.warmupS + profile.duration.measureS;
    const { storage } = await this.planStart(profile, this.engineConfig(profile, boundS * 1000, null));
    releaseStorage(storage); // a test file made only to be checked
  }

  private async checkResources(profile: Profile, config: NativeEngineConfig): Promise<void> {
    // Nodes and CPUs that do not exist here are bad input: refused before the engine plans.
    const misfit = checkTopology(profile);
    if (misfit) throw misfit;
    const refusal = checkBudget(profile, await this.supervisor.plan(config));
    if (refusal) throw refusal;
  }

  /**
   * While an A/B experiment runs, knob changes are refused: during an arm one would mix two
   * configurations in it, and between arms it would be overwritten when the experiment gives
   * the client its knobs back.
   */
  private refuseDuringAb(field: string, what: 'change a knob' | 'start a run' = 'change a knob'): void {
    const state = this.ab.state();
    if (!state.running) return;
    const why = what === 'start a run'
      ? 'its arms are the only runs until it ends (a run started between two arms would take the next arm\'s place)'
      : 'a knob change now would mix two configurations in one arm';
    throw new LabError({ code: 'AB_ACTIVE', field, message: `A/B experiment ${state.experimentId} is running: ${why}`, fix: `wait for the experiment to end, or stop it (A/B view) and ${what} then` });
  }

  /** An experiment's arms need the machine to themselves: with a run going its first arm could not start. */
  private refuseAbDuringRun(clientId: string): void {
    const run = this.run;
    // Idle: free. An experiment already going is refused by the controller itself.
    if ((this.state === 'idle' && !run) || this.ab.state().running) return;
    const mine = run?.controllerId === clientId;
    throw new LabError({
      code: 'RUN_ACTIVE', message: `${run ? `run ${run.runId}` : 'a run'} is still going${run && !mine ? ' (controlled by another client)' : ''}: an A/B experiment needs the machine to itself`,
      fix: mine ? 'stop the run first, then start the experiment' : 'wait for the run to end, or take control of it (the lab window\'s Take control) and stop it',
    });
  }

  private stopRunFor(clientId: string): Promise<RunSummary | null> {
    // The starting client's Stop during the set-up calls the start off (another client's waits,
    // and is then refused as not the controller's, as before).
    const asked = this.run;
    this.callOffStarts('stopped', clientId);
    return this.exclusive(async () => {
      const run = this.run;
      // The run this Stop found may have ended before its turn: by the Stop itself, calling off
      // a knob change's restart (the change ends the run as the Stop asked), or by its window.
      // Its controller gets that run's summary, not "nothing ran".
      if (!run) return asked?.closed && asked.controllerId === clientId && this.lastSummary?.runId === asked.runId ? this.lastSummary : null;
      this.assertController(run, clientId, 'stop');
      return this.endRun(run, 'completed', null);
    });
  }

  /**
   * A client's profile as the profile methods (host/profiles/profileApi.ts) see it. Read in
   * the state queue, after the client's changes asked for before it: a save or export sent
   * right after a knob change (queued behind a phase's engine restart) took the profile from
   * before that change.
   */
  private profileClient(clientId: string): ProfileClient {
    return { current: () => this.exclusive(async () => (await this.statusFor(clientId)).profile), apply: (profile) => this.applyProfileFor(clientId, profile) };
  }

  /** A whole profile made the client's, as setKnob does for one knob (a new phase during its run). */
  private applyProfileFor(clientId: string, profile: Profile): Promise<RunStatus> {
    return this.exclusive(async () => {
      const run = this.run;
      if (!run || run.controllerId !== clientId) {
        if (run && this.state !== 'idle') this.assertController(run, clientId, 'apply a profile to');
        this.setProfileOf(clientId, profile);
        return this.statusFor(clientId);
      }
      await this.changePhase(run, profile);
      return this.statusFor(clientId);
    });
  }

  private setKnobFor(clientId: string, params: z.output<typeof SetKnobParamsSchema>): Promise<RunStatus> {
    const parsed = { data: params };
    return this.exclusive(async () => {
      const run = this.run;
      if (!run || run.controllerId !== clientId) {
        if (run && this.state !== 'idle') this.assertController(run, clientId, 'change a knob of');
        this.setProfileOf(clientId, withKnob(this.profileOf(clientId), parsed.data.path, parsed.data.value, 'setKnob'));
        return this.statusFor(clientId);
      }
      // The run takes the change on its own knobs; the client's pending profile takes it on
      // its own, so what it set for its next run (a longer window, veth) stays, and a client
      // that took control keeps its own profile but for this knob.
      const next = withKnob(run.profile, parsed.data.path, parsed.data.value, 'setKnob');
      const mine = withKnob(this.profileOf(clientId), parsed.data.path, parsed.data.value, 'setKnob');
      await this.changePhase(run, next, mine);
      return this.statusFor(clientId);
    });
  }

  /**
   * A ring's setup flags are fixed at creation, so a knob change restarts the engine with
   * the new profile; the run goes on as a new phase. The run's own next-run knobs (its window,
   * topology…) stay as they are and are kept as the client's for its next run; a change of only
   * those makes no phase. The budget is checked before the old
   * engine stops, so a refused change leaves the run as it was.
   */
  private async changePhase(run: ActiveRun, wanted: Profile, mine: Profile = wanted): Promise<void> {
    // Switching workload is refused below; the run's other own knobs are kept for the next run.
    const next = { ...withRunFixedKnobs(wanted, run.profile), workload: wanted.workload };
    if (isDeepStrictEqual(next, run.profile)) {
      this.setProfileOf(run.controllerId, mine);
      return;
    }
    const remainingMs = run.untilStopped
      ? UNTIL_STOPPED_LIMIT_S * 1000 - run.record.elapsedMs(nowNs())
      : run.record.warmupMs + next.duration.measureS * 1000 - run.record.elapsedMs(nowNs());
    // Storage: the target is the run's (the lab's test file is filled again for the new phase);
    // switching workload or target mid-run is refused, and a user's target is checked again
    // (a change to a write pattern must pass the same safety checks as a start).
    if ((next.workload === 'storage') !== !!run.storage || (run.storage && (next.storage.path !== run.profile.storage.path || next.storage.allowDevice !== run.profile.storage.allowDevice))) {
      throw new LabError({ code: 'STORAGE_TARGET', kind: 'input', field: next.workload !== run.profile.workload ? 'workload' : 'storage.path', message: 'the workload and the storage target cannot change during a run', fix: 'stop this run and start another with the new target' });
    }
    if (run.storage && !run.storage.labCreated) planStorage(next);
    const config = withStoragePlan(this.engineConfig(next, Math.max(1000, remainingMs), run.target, run.veth), run.storage);
    await this.checkResources(next, config);
    if (run.closed) throw new LabError({ code: 'RUN_ENDED', message: `run ${run.runId} ended before the knob change`, fix: 'start a new run' });
    // From here a Stop or an interrupt calls the restart off (callOffStarts), also during the stop.
    const restart: NonNullable<LabService['phaseRestart']> = { run, calledOff: null };
    this.phaseRestart = restart;
    try {
      const final = await this.supervisor.stop(this.timeouts(run.config).stopMs, true);
      if (final) this.frame(run, final, true);
      if (run.closed) throw new LabError({ code: 'RUN_ENDED', message: `run ${run.runId} ended during the knob change`, fix: 'start a new run' });
      if (restart.calledOff) throw startCalledOffError();
      // The injections not begun yet, on the run's clock (phases restart the engine).
      const { started, atNs } = await this.supervisor.start(config, this.frameIntervalMs, this.timeouts(config).startMs, probesRequestFor(next), diagnoseRequestFor({ ...next.diagnose, inject: run.record.injectionsRequested }, run.record.begunInjections(), run.record.t0Ns));
      if (this.phaseRestart === restart) this.phaseRestart = null;
      run.profile = next;
      run.config = config;
      run.loadConnections = next.load.connections;
      this.setProfileOf(run.controllerId, mine);
      const phase = run.record.addPhase(next, started, atNs);
      run.history?.phases(run.record.phaseList);
      this.emit({ type: 'phase', runId: run.runId, phase });
    } catch (err) {
      const calledOff = restart.calledOff;
      if (this.phaseRestart === restart) this.phaseRestart = null;
      const error = LabError.from(err, 'ENGINE_ERROR');
      // Its controller's Stop or an interrupt came while the new phase set up: the run ends as
      // that asked, with the phases it had; the knob change is simply not made.
      if (calledOff && error.code === 'START_CANCELLED') {
        if (!run.closed) await this.endRun(run, calledOff.status, calledOff.failure);
        // Not made in this run, which ended first; kept as the client's for its next run.
        this.setProfileOf(run.controllerId, mine);
        return;
      }
      // The old engine is gone and the new one did not start: the run cannot go on.
      if (!run.closed) await this.endRun(run, 'failed', { code: error.code, message: `knob change failed: ${error.message}`, fix: error.fix });
      throw error;
    }
  }

  private takeControlFor(clientId: string): Promise<RunStatus> {
    return this.exclusive(async () => {
      const run = this.run;
      if (!run) throw new LabError({ code: 'NO_RUN', message: 'no run is going, so there is nothing to control', fix: 'start a run; its starter controls it' });
      // An experiment's arm belongs to the experiment: control taken from it left its owner's
      // Stop disabled and gave this client a Stop the experiment then refused.
      const ab = this.ab.state();
      if (ab.running && run.controllerId !== clientId) {
        throw new LabError({ code: 'AB_ACTIVE', field: 'takeControl', message: `this run is an arm of A/B experiment ${ab.experimentId}, which another window started: its arms stay with it`, fix: 'watch it, wait for the experiment to end, or stop it from the window that started it (A/B view; once that window is closed, Stop works from any window)' });
      }
      if (run.controllerId !== clientId) {
        run.controllerId = clientId;
        this.emit({ type: 'controlChange', runId: run.runId, controllerId: clientId });
      }
      return this.statusFor(clientId);
    });
  }

  private async framesFor(params: z.output<typeof GetFramesParamsSchema>): Promise<FramesResult> {
    const { runId, fromSeq } = params;
    const active = this.run?.runId === runId ? this.run : null;
    const record = active ? active.record : this.lastRecord?.runId === runId ? this.lastRecord : null;
    if (!record) {
      throw new LabError({ code: 'RUN_UNKNOWN', field: 'runId', message: `run ${runId} is not known to this host (it may have restarted)`, fix: 'its frames are lost; getStatus shows the current run' });
    }
    const saved = active ? active.history : this.lastHistory;
    // Memory keeps the last KEPT_FRAMES; older ones come from the run's frame log. Frames go on
    // arriving (and leaving memory) while the log is read, so memory is asked again after each
    // read, from where the read ended, until it holds the rest: each read covers what left memory
    // during the one before, so this ends once a read takes less than memory's window (60 s).
    // A read that comes back short (the log does not have them: its disk failed) is the last.
    const frames: RunFrame[] = [];
    let next = fromSeq;
    let short = false;
    // Set where this page stops reading the log before memory: the next page starts there.
    let readUpTo: number | null = null;
    for (let round = 0; ; round++) {
      const kept = record.framesFrom(next);
      if (kept.lost === 0 || !saved || short || round === FRAMES_READ_ROUNDS) {
        frames.push(...kept.frames);
        break;
      }
      const take = Math.min(kept.lost, this.framesPage.readMax);
      const older = await saved.savedFrames(next, next + take);
      frames.push(...older);
      short = older.length < take;
      next += take; // what the log did not have is lost
      if (take < kept.lost) {
        // More of the log before memory than one page reads: the next page goes on from here.
        readUpTo = next;
        break;
      }
    }
    // The byte bound: frames are sized as the socket will send them, one by one, until it is passed.
    let bytes = 0;
    let sent = 0;
    for (; sent < frames.length; sent++) {
      bytes += JSON.stringify(frames[sent]).length;
      if (sent > 0 && bytes > this.framesPage.bytes) break;
    }
    const page = frames.slice(0, sent);
    const nextSeq = sent < frames.length ? frames[sent].seq : readUpTo ?? record.lastSeq + 1;
    const more = sent < frames.length || readUpTo !== null;
    // Counted, not assumed: frames neither kept nor read back (nothing is counted twice), up to
    // where this page ends.
    return { runId, frames: page, lost: Math.max(0, nextSeq - fromSeq - page.length), more, nextSeq };
  }

  private assertController(run: ActiveRun, clientId: string, what: string): void {
    if (run.controllerId === clientId) return;
    throw new LabError({
      code: 'NOT_CONTROLLER',
      message: `run ${run.runId} is controlled by another client; this one observes it and cannot ${what} it`,
      fix: 'call takeControl() (the UI: "Take control") to control it, or wait for it to end',
    });
  }

  private endFromTimer(run: ActiveRun): Promise<unknown> {
    return this.exclusive(async () => {
      if (this.run === run && !run.ending) await this.endRun(run, 'completed', null);
    }).catch(() => undefined);
  }

  /**
   * Stops the engine of a run that is going and closes the run with `status`. A stop that
   * fails turns the end into `failed` with its reason (unless the run was interrupted).
   */
  private async endRun(run: ActiveRun, status: RunSummary['status'], failure: RunSummary['failure']): Promise<RunSummary> {
    if (run.ending || run.closed) return this.lastSummary!;
    run.ending = true;
    this.state = 'stopping';
    if (run.endTimer) clearTimeout(run.endTimer);
    try {
      const final = await this.supervisor.stop(this.timeouts(run.config).stopMs);
      if (final) this.frame(run, final, true);
    } catch (err) {
      const error = LabError.from(err, 'ENGINE_ERROR');
      if (status === 'completed') {
        status = 'failed';
        failure = { code: error.code, message: `stopping the engine failed: ${error.message}`, fix: error.fix };
      }
    }
    return this.closeRun(run, status, failure);
  }

  /** Emits the run's one terminal event with its summary; later calls for the run are no-ops. */
  private closeRun(run: ActiveRun, status: RunSummary['status'], failure: RunSummary['failure']): RunSummary {
    if (run.closed) return this.lastSummary!;
    run.closed = true;
    run.ending = true;
    if (run.endTimer) clearTimeout(run.endTimer);
    run.registry.scan();
    run.registry.unregister();
    releaseStorage(run.storage, true); // before the summary, which says whether the test file is gone (or where it was kept)
    tearDownVeth(run.veth); // stop, engine crash or hang alike: the namespace and pair go with the run
    const summary = run.record.summary(status, failure, {
      otherRuns: run.registry.otherRuns(),
      otherCpus: run.cpuWindow.begun ? run.cpuWindow.otherCpus(nowNs(), run.record.engineProcessCpuNs) : null,
    });
    // Its end is written off the event loop; the history methods wait for it, so a client that
    // lists runs on `ended` finds it ended.
    const unsaved = run.history?.end(summary);
    if (unsaved) summary.warnings.push(`${HISTORY_WARNING_PREFIX}${unsaved}`);
    // Silence here would read as "no other run": say that nobody could look.
    if (run.registry.unusable) summary.warnings.push(`another uring-lab run at the same time could not be detected: the active-runs folder is unusable (${run.registry.unusable}); check XDG_RUNTIME_DIR`);
    if (this.run === run) {
      this.run = null;
      this.state = 'idle';
    }
    this.lastRecord = run.record;
    this.lastHistory = run.history ?? null;
    this.lastSummary = summary;
    if (status === 'completed') this.emit({ type: 'ended', runId: run.runId, summary });
    else if (status === 'interrupted') this.emit({ type: 'interrupted', runId: run.runId, reason: failure?.message ?? 'interrupted', summary });
    else this.emit({ type: 'failed', runId: run.runId, error: new LabError({ code: failure?.code ?? 'FAILED', message: failure?.message ?? 'the run failed', fix: failure?.fix }).toData(), summary });
    return summary;
  }

  /**
   * Someone asked the engine process to end (`kill PID`): a run going there ends interrupted, as
   * for a signal to the host, with its final counts; then the process is let go, and the next
   * run starts a fresh one. An A/B experiment's arm is such a run: the experiment stops with it.
   */
  private onEngineSignalled(signal: string, pid: number | null): void {
    // Worded as the host's own signals are (`interrupted by SIGTERM`).
    const reason = `interrupted by ${signal} to the engine process${pid ? ` (pid ${pid})` : ''}`;
    this.ab.interrupt(reason);
    void this.interruptRun(reason)
      .catch(() => null)
      .then(() => this.exclusive(async () => {
        // A run a client started meanwhile keeps the engine; it is not this signal's to end.
        if (!this.run) await this.supervisor.shutdown();
      }))
      .catch(() => undefined);
  }

  /** The engine died or hung: the run cannot be stopped any more, only closed as failed. */
  private onFault(error: LabError): void {
    // Its injection children died with it (PDEATHSIG); its memory cgroups need removing.
    this.injectCleanup = removeDeadInjectCgroupsSoon().then(() => undefined, () => undefined);
    const run = this.run;
    // A run whose stop is under way gets the same error from its stop request.
    if (!run || run.ending) return;
    this.closeRun(run, 'failed', { code: error.code, message: error.message, fix: error.fix });
  }

  private onSnapshot(snapshot: NativeSnapshot): void {
    const run = this.run;
    // Snapshots sent while a stop is on its way are still counted: they are deltas.
    if (!run || run.closed) return;
    this.frame(run, snapshot, false);
    run.timeouts = (run.timeouts ?? 0) + (snapshot.timeouts ?? 0);
    if (run.ending) return;
    if (snapshot.serverError) {
      void this.endAs(run, 'failed', { code: 'SERVER_FAILED', message: `the echo server stopped: ${snapshot.serverError}`, fix: 'run `uring-lab doctor`; if it repeats, report it with the profile' });
    } else if (run.loadConnections > 0 && snapshot.liveLoadConnections === 0 && (run.timeouts ?? 0) > 0) {
      // A wedged server: every connection was abandoned after load.timeoutMs, not reset.
      void this.endAs(run, 'failed', { code: 'LOAD_TIMED_OUT', message: `all ${run.loadConnections} load connections were abandoned: the server left requests unanswered for longer than load.timeoutMs (${run.timeouts} requests timed out)`, fix: 'see why the server stopped answering (a stall, a wedged process); raise load.timeoutMs if such waits are expected' });
    } else if (run.loadConnections > 0 && snapshot.liveLoadConnections === 0) {
      void this.endAs(run, 'failed', { code: 'LOAD_CONNECTIONS_LOST', message: `all ${run.loadConnections} load connections were closed or reset by the peer`, fix: 'check what closed them: a server that ends a connection after one reply, another process, a firewall rule, ss -K' });
    } else if (!snapshot.running) {
      // The engine stopped by itself at its hard time bound: end the run properly.
      void this.endAs(run, 'completed', null);
    }
  }

  private endAs(run: ActiveRun, status: RunSummary['status'], failure: RunSummary['failure']): Promise<unknown> {
    return this.exclusive(async () => {
      if (this.run === run && !run.ending) await this.endRun(run, status, failure);
    }).catch(() => undefined);
  }

  private frame(run: ActiveRun, snapshot: NativeSnapshot, final: boolean): void {
    const { frame, json } = run.record.addSnapshot(snapshot, final);
    run.history?.frame(frame, json);
    if (!run.cpuWindow.begun && frame.tMs >= run.record.warmupMs) run.cpuWindow.begin(nowNs());
    if (frame.seq % 10 === 9) run.registry.scan();
    this.emit({ type: 'frame', frame: liveFrame(frame) });
  }
}

/**
 * The frame as the live stream carries it: without its stacks (the on-CPU samples' folded stacks,
 * the off-CPU blocks), which were ~45 % of a frame's JSON, 10 times a second, and which nothing
 * live draws. Their counts stay (profile.samples and lost, offCpu.truncated); the stacks are in
 * the saved frames, where the spike report, `diagnose` and the evidence panel's timeline read them.
 */
function liveFrame(frame: RunFrame): RunFrame {
  const k = frame.kernel;
  if (!k || (!k.profile?.folded.length && !k.offCpu?.events.length)) return frame;
  return {
    ...frame,
    kernel: {
      ...k,
      profile: k.profile && { ...k.profile, folded: [] },
      offCpu: k.offCpu && { ...k.offCpu, events: [] },
    },
  };
}

function nowNs(): number {
  // process.hrtime is CLOCK_MONOTONIC on Linux, the clock the native engine stamps snapshots with.
  return Number(process.hrtime.bigint());
}
