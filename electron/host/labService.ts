/**
 * The lab's one service (LabApi) under plain Node: runs experiments on the engine process,
 * turns native snapshots into RunFrames, applies live knob changes as phases, and computes
 * the RunSummary. Electron's IPC, the WebSocket host and the CLI are thin transports over it.
 */
import os from 'node:os';
import {
  LabApi, LabError, LabEvent, Phase, Profile, RejectedKnob, RunFrame, RunStatus, RunSummary,
  SetKnobParamsSchema, StartRunParamsSchema, HISTOGRAM_LAYOUT,
} from '../contract';
import type { NativeSnapshot, NativeStarted } from '../engine/protocol';
import { EngineSupervisor } from './engineSupervisor';
import { HISTOGRAM_LAYOUT_DESCRIPTION, LatencyHistogram } from './histogram';
import { defaultProfile, parseProfile, withKnob } from './profiles';
import { appliedProfile, nativeConfigFor } from './nativeConfig';

/** A run started from the UI goes on until stopped, but never longer than this. */
export const UNTIL_STOPPED_LIMIT_S = 15 * 60;

export interface LabServiceOptions {
  supervisor?: EngineSupervisor;
  frameIntervalMs?: number;
}

interface ActiveRun {
  runId: string;
  startedAt: string;
  t0Ns: number;
  lastNs: number;
  seq: number;
  untilStopped: boolean;
  warmupMs: number;
  phases: Phase[];
  histogram: LatencyHistogram;
  totals: { requests: number; bytes: number; errors: number; serverCpuNs: number; loadCpuNs: number; measuredNs: number };
  endTimer: NodeJS.Timeout | null;
}

export class LabService implements LabApi {
  private profile: Profile = defaultProfile();
  private run: ActiveRun | null = null;
  private lastSummary: RunSummary | null = null;
  private readonly listeners = new Set<(event: LabEvent) => void>();
  private readonly supervisor: EngineSupervisor;
  private readonly frameIntervalMs: number;
  private queue: Promise<unknown> = Promise.resolve();
  private runCounter = 0;

  constructor(options: LabServiceOptions = {}) {
    this.supervisor = options.supervisor ?? new EngineSupervisor();
    this.frameIntervalMs = options.frameIntervalMs ?? 100;
    this.supervisor.on('snapshot', (snapshot) => this.onSnapshot(snapshot));
    this.supervisor.on('crash', (error) => this.onCrash(error));
  }

  onEvent(listener: (event: LabEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: LabEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** Run/stop/knob changes are applied one at a time, in the order they were asked for. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async getStatus(): Promise<RunStatus> {
    const run = this.run;
    return {
      running: run !== null,
      runId: run?.runId ?? null,
      profile: this.profile,
      phase: run ? run.phases[run.phases.length - 1] : null,
      lastSummary: this.lastSummary,
    };
  }

  startRun(params: unknown = {}): Promise<{ runId: string; phase: Phase }> {
    return this.exclusive(async () => {
      const parsed = StartRunParamsSchema.safeParse(params ?? {});
      if (!parsed.success) throw new LabError({ code: 'BAD_REQUEST', field: parsed.error.issues[0].path.join('.'), message: `startRun: ${parsed.error.issues[0].message}`, fix: 'pass { profile?, untilStopped? }' });
      if (this.run) throw new LabError({ code: 'RUN_ACTIVE', message: `run ${this.run.runId} is still going`, fix: 'stop it first' });
      const profile = parsed.data.profile === undefined ? this.profile : parseProfile(parsed.data.profile, 'startRun.profile');
      const untilStopped = parsed.data.untilStopped;
      const boundS = untilStopped ? UNTIL_STOPPED_LIMIT_S : profile.duration.warmupS + profile.duration.measureS;

      const t0Ns = nowNs();
      const started = await this.supervisor.start(nativeConfigFor(profile, boundS * 1000 + 5000), this.frameIntervalMs);
      this.profile = profile;
      const runId = `run-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${++this.runCounter}`;
      const run: ActiveRun = {
        runId, startedAt: new Date().toISOString(), t0Ns, lastNs: t0Ns, seq: 0, untilStopped,
        warmupMs: profile.duration.warmupS * 1000, phases: [], histogram: new LatencyHistogram(),
        totals: { requests: 0, bytes: 0, errors: 0, serverCpuNs: 0, loadCpuNs: 0, measuredNs: 0 },
        endTimer: null,
      };
      this.run = run;
      const phase = this.addPhase(run, profile, started);
      // The engine also stops by itself (maxDurationMs); this timer is the normal end.
      run.endTimer = setTimeout(() => { void this.stopRun().catch(() => undefined); }, boundS * 1000);
      return { runId, phase };
    });
  }

  stopRun(): Promise<RunSummary | null> {
    return this.exclusive(async () => {
      const run = this.run;
      if (!run) return null;
      if (run.endTimer) clearTimeout(run.endTimer);
      let final: NativeSnapshot | null = null;
      try {
        final = await this.supervisor.stop();
      } finally {
        if (final) this.onSnapshot(final, true);
        this.run = null;
      }
      const summary = this.summarize(run);
      this.lastSummary = summary;
      this.emit({ type: 'ended', runId: run.runId, summary });
      return summary;
    });
  }

  setKnob(params: unknown): Promise<RunStatus> {
    return this.exclusive(async () => {
      const parsed = SetKnobParamsSchema.safeParse(params);
      if (!parsed.success) throw new LabError({ code: 'BAD_REQUEST', field: parsed.error.issues[0].path.join('.'), message: `setKnob: ${parsed.error.issues[0].message}`, fix: 'pass { path: "server.sqpoll.enabled", value: true }' });
      const next = withKnob(this.profile, parsed.data.path, parsed.data.value);
      const run = this.run;
      if (run) {
        // A ring's setup flags are fixed at creation, so a knob change restarts the engine
        // with the new profile; the run goes on as a new phase.
        const final = await this.supervisor.stop();
        if (final) this.onSnapshot(final, true);
        const remainingMs = run.untilStopped ? UNTIL_STOPPED_LIMIT_S * 1000 : Math.max(1000, run.warmupMs + next.duration.measureS * 1000 - (nowNs() - run.t0Ns) / 1e6);
        const started = await this.supervisor.start(nativeConfigFor(next, remainingMs + 5000), this.frameIntervalMs);
        run.lastNs = nowNs();
        this.profile = next;
        this.addPhase(run, next, started);
      } else {
        this.profile = next;
      }
      return this.getStatus();
    });
  }

  async doctor() {
    const { runDoctor } = await import('./doctor');
    return runDoctor(() => this.supervisor.probe());
  }

  async close(): Promise<void> {
    await this.stopRun().catch(() => undefined);
    await this.supervisor.shutdown();
  }

  private addPhase(run: ActiveRun, requested: Profile, started: NativeStarted): Phase {
    const phase: Phase = {
      index: run.phases.length,
      atMs: (nowNs() - run.t0Ns) / 1e6,
      applied: appliedProfile(requested, started.applied),
      rejected: started.rejected,
      ring: started.ring,
    };
    run.phases.push(phase);
    this.emit({ type: 'phase', runId: run.runId, phase });
    return phase;
  }

  /** `final` marks the last snapshot of an engine we stopped ourselves (end or phase change). */
  private onSnapshot(snapshot: NativeSnapshot, final = false): void {
    const run = this.run;
    if (!run) return;
    const intervalNs = Math.max(1, snapshot.monotonicNs - run.lastNs);
    const startMs = (run.lastNs - run.t0Ns) / 1e6;
    run.lastNs = snapshot.monotonicNs;
    const tMs = (snapshot.monotonicNs - run.t0Ns) / 1e6;
    const measuring = startMs >= run.warmupMs;
    const frameHistogram = new LatencyHistogram();
    frameHistogram.addSparse(snapshot.histogram);
    const frame: RunFrame = {
      runId: run.runId,
      seq: run.seq++,
      phase: run.phases.length - 1,
      tMs,
      intervalMs: intervalNs / 1e6,
      measuring,
      requests: snapshot.requests,
      bytes: snapshot.bytes,
      errors: snapshot.errors,
      throughputRps: snapshot.requests / (intervalNs / 1e9),
      latencyUs: { p50: frameHistogram.quantileUs(0.5), p99: frameHistogram.quantileUs(0.99), max: frameHistogram.maxUs() },
      histogram: snapshot.histogram,
      serverCpuNs: snapshot.serverCpuNs,
      loadCpuNs: snapshot.loadCpuNs,
    };
    if (measuring) {
      const t = run.totals;
      t.requests += snapshot.requests;
      t.bytes += snapshot.bytes;
      t.errors += snapshot.errors;
      t.serverCpuNs += snapshot.serverCpuNs;
      t.loadCpuNs += snapshot.loadCpuNs;
      t.measuredNs += intervalNs;
      run.histogram.addSparse(snapshot.histogram);
    }
    this.emit({ type: 'frame', frame });
    // The native side stopped by itself (its hard time bound): end the run properly.
    if (!final && !snapshot.running && this.run === run) void this.stopRun().catch(() => undefined);
  }

  private onCrash(error: LabError): void {
    const run = this.run;
    if (!run) return;
    if (run.endTimer) clearTimeout(run.endTimer);
    this.run = null;
    this.emit({ type: 'failed', runId: run.runId, error: error.toData() });
  }

  private summarize(run: ActiveRun): RunSummary {
    const t = run.totals;
    const h = run.histogram;
    const last = run.phases[run.phases.length - 1];
    const rejected: RejectedKnob[] = last.rejected;
    const measuredS = t.measuredNs / 1e9;
    return {
      runId: run.runId,
      profileName: last.applied.name,
      startedAt: run.startedAt,
      measuredS,
      throughputRps: measuredS > 0 ? t.requests / measuredS : 0,
      latencyUs: { p50: h.quantileUs(0.5), p90: h.quantileUs(0.9), p99: h.quantileUs(0.99), p999: h.quantileUs(0.999), max: h.maxUs(), mean: h.meanUs() },
      requests: t.requests,
      bytes: t.bytes,
      errors: t.errors,
      serverCpuNsPerReq: t.requests > 0 ? t.serverCpuNs / t.requests : null,
      loadCpuNsPerReq: t.requests > 0 ? t.loadCpuNs / t.requests : null,
      applied: last.applied,
      rejected,
      ring: last.ring,
      phases: run.phases,
      // eBPF probes arrive in a later slice; until then none is attached, and we say so.
      probes: [],
      kernel: { release: os.release() },
      histogram: {
        layout: { unit: 'us', subBucketBits: HISTOGRAM_LAYOUT.subBucketBits, linearBuckets: HISTOGRAM_LAYOUT.linearBuckets, bucketCount: HISTOGRAM_LAYOUT.bucketCount, description: HISTOGRAM_LAYOUT_DESCRIPTION },
        counts: h.toSparse(),
      },
      frames: run.seq,
    };
  }
}

function nowNs(): number {
  // process.hrtime is CLOCK_MONOTONIC on Linux, the clock the native engine stamps snapshots with.
  return Number(process.hrtime.bigint());
}
