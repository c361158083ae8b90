/**
 * The measurements of one run: native snapshots turned into RunFrames, accumulated per phase
 * and for the whole run, and the RunSummary built from them. Pure bookkeeping — no engine,
 * no timers — so the run state machine (labService.ts) stays about lifecycle and this stays
 * about numbers, and both are tested apart.
 *
 * What the numbers include: only frames whose interval began after the warm-up ("measured");
 * each frame's rate is its requests over its real interval (the last frame of an engine is
 * shorter and weighted by its own length); CPU is per completed request.
 */
import os from 'node:os';
import {
  EngineStats, HISTOGRAM_LAYOUT, HISTOGRAM_LAYOUT_DESCRIPTION, KnobChange, knobAt, LatencyHistogram, latencySummary, ratiosVsPhase0, RunTally, Phase, PhaseResult, Profile, RunFrame, RunStats, RunStatusWord, RunSummary,
  ServerFrame, addSqpollWork, connectionService, unevenServiceWarning, type ConnectionService, echoErrorsText, formatCpuList, sqpollBusyShare, type SqpollWork, addSegments, segmentsPerRequest, type SegmentTotals, zeroCopyWords, NAPI_ON_LO_WARNING, oversubscribedRingsWarning, coldPoolWarning, formatBinaryBytes, type RejectedKnob,
} from '../../contract';
import type { NativeSnapshot, NativeStarted } from '../../engine/protocol';
import { appliedProfile, refusedKnobs } from '../engine/adapter';
import { defaultProfile, setValueAt } from '../profiles';
import { lastLevelCache } from './bufferPool';
import { storageRefusalWords, storageSummary, type StoragePlan } from './storage';
import { KernelAccumulator, kernelFrameOf, probeStatusOf, withOverhead } from './probes';
import { SpikeReporter } from '../diagnose/report';
import type { Injection, InjectionResult } from '../../contract/diagnose';
import { notReached } from '../../engine/injections';

/** A generator thread this busy (share of one CPU) may be what the run measures. */
export const LOAD_SATURATION_SHARE = 0.9;
/**
 * Frames kept in memory for clients that reconnect or join (getFrames): the last 60 s at 10
 * frames/s, the live view's window. Older ones are read back from the run's frame log in the
 * history (LabService.framesFor). Keeping ten minutes here, as before, held ~190 MB of frame
 * objects by the end of a 10-minute run with probes (~31 KB a frame on the heap), and every
 * major GC of the host marked all of it on the server's CPU. They are kept as their JSON text
 * (the frame log's line, made once): a string is one object to the GC, where a frame is
 * hundreds; 600 frame objects cost the CLI's GC threads ~5 ms/s more than 10 did (schedstat,
 * 65-77 s into default runs).
 */
export const KEPT_FRAMES = 600;
/** An in-flight request older than this at any frame is reported as a stall. */
export const STALL_WARNING_US = 1_000_000;
/** An echo rate any working server reaches over loopback or a veth pair: the lab's servers echo
 *  500-600 MiB/s at 1,000-4,096 connections × 1 MiB on a 2-vCPU guest, ~5 MiB/s at one
 *  connection × 128 B (a round trip at a time). A closed loop whose bytes in flight would take a
 *  second even at this rate is large; one that takes as long at the measured rate met a slow server. */
export const HEALTHY_ECHO_BYTES_PER_S = 100 * 1024 * 1024;

/** The server's frame counters of a snapshot (null when it has none). */
export function serverFrame(snapshot: NativeSnapshot): ServerFrame | null {
  const s = snapshot.server;
  if (!s) return null;
  return {
    enters: s.enters, batchedWaits: s.batchedWaits ?? null, cqes: s.cqes, recvs: s.recvs, sends: s.sends, bytesOut: s.bytesOut,
    zeroCopySends: s.zeroCopySends, copiedSends: s.copiedSends, zeroCopyFallbacks: s.zeroCopyFallbacks ?? 0, enobufs: s.enobufs, rearms: s.rearms,
    spilledBytes: s.spilledBytes, cqOverflows: s.cqOverflows, buffersInUse: s.buffersInUse, buffersTotal: s.buffersTotal,
    buffersInRing: s.buffersInRing ?? null,
    userCpuNs: s.userCpuNs, systemCpuNs: s.systemCpuNs, sqpollCpuNs: s.sqpollCpuNs, sqpollWorkNs: s.sqpollWorkNs ?? null,
    segmentsOut: s.segmentsOut ?? null, segmentsIn: s.segmentsIn ?? null,
    dataSegmentsOut: s.dataSegmentsOut ?? null, dataSegmentsIn: s.dataSegmentsIn ?? null, segmentsRequests: s.segmentsRequests ?? null,
    segmentsLost: s.segmentsLost ?? false,
    errorsByOp: { ...s.errorsByOp },
  };
}

/** Server counters summed over measured frames. */
type ServerTotals = Omit<ServerFrame, 'buffersInUse' | 'buffersTotal' | 'buffersInRing' | 'sqpollWorkNs' | 'segmentsOut' | 'segmentsIn' | 'dataSegmentsOut' | 'dataSegmentsIn' | 'segmentsRequests' | 'segmentsLost' | 'batchedWaits'> & {
  /** Null only in frames saved before it was counted; the live engine always counts it. */
  batchedWaits: number;
  /** SQPOLL work time and the SQPOLL CPU of the frames that reported it (null: none did). */
  sqpollWork: SqpollWork | null;
  /** TCP segments and the requests of the frames that counted them (null: none did). */
  segments: SegmentTotals | null;
};

/** Each load thread's own CPU in a snapshot, without its io-wq / SQPOLL helpers: the
 *  saturation check's measure (an engine from before it was reported: CPU with helpers). */
function busyNsOf(snapshot: NativeSnapshot): number[] {
  return snapshot.loadThreadBusyNs ?? snapshot.loadThreadCpuNs;
}

/** The shared tally, plus what only the host has: CPU per load thread, the corrected histogram,
 *  the server's own counters. */
class StatsAccumulator extends RunTally {
  /** Summed own CPU per load thread index over the measured frames (busyNsOf). */
  loadThreadBusyNs: number[] = [];
  readonly corrected = new LatencyHistogram();
  /** Null until a measured frame had a server. */
  server: ServerTotals | null = null;
  /** Echoes per load connection summed over the measured frames (connection i at index i);
   *  null until a measured frame carried them. */
  private echoes: number[] | null = null;
  /** A measured frame with requests came without per-connection counts, or with another number
   *  of connections (phases that changed load.connections, in the run's accumulator): the sums
   *  would not say who was served, so perConnection() is null. */
  private echoesIncomplete = false;

  override add(snapshot: NativeSnapshot, intervalNs: number): void {
    super.add(snapshot, intervalNs);
    this.addEchoes(snapshot.connectionEchoes ?? null, snapshot.requests);
    busyNsOf(snapshot).forEach((ns, i) => { this.loadThreadBusyNs[i] = (this.loadThreadBusyNs[i] ?? 0) + ns; });
    this.corrected.add(snapshot.correctedHistogram);
    const s = snapshot.server;
    if (s) {
      const t = this.server ??= {
        enters: 0, batchedWaits: 0, cqes: 0, recvs: 0, sends: 0, bytesOut: 0, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0, enobufs: 0, rearms: 0,
        spilledBytes: 0, cqOverflows: 0, userCpuNs: 0, systemCpuNs: 0, sqpollCpuNs: 0, errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
        sqpollWork: null, segments: null,
      };
      for (const key of ['enters', 'batchedWaits', 'cqes', 'recvs', 'sends', 'bytesOut', 'zeroCopySends', 'copiedSends', 'zeroCopyFallbacks', 'enobufs', 'rearms', 'spilledBytes', 'cqOverflows', 'userCpuNs', 'systemCpuNs', 'sqpollCpuNs'] as const) t[key] += s[key] ?? 0;
      for (const op of ['accept', 'recv', 'send', 'other'] as const) t.errorsByOp[op] += s.errorsByOp[op];
      t.sqpollWork = addSqpollWork(t.sqpollWork, s);
      t.segments = addSegments(t.segments, s);
    }
  }

  private addEchoes(echoes: number[] | null, requests: number): void {
    if (!echoes) {
      if (requests > 0) this.echoesIncomplete = true;
      return;
    }
    const sums = this.echoes ??= new Array<number>(echoes.length).fill(0);
    if (sums.length !== echoes.length) {
      this.echoesIncomplete = true;
      return;
    }
    for (let i = 0; i < echoes.length; i++) sums[i] += echoes[i];
  }

  /** How evenly the connections were served over the measured frames; null when nothing
   *  counted them (storage, nothing measured) or the counts are incomplete. */
  perConnection(): ConnectionService | null {
    return this.echoes && !this.echoesIncomplete ? connectionService(this.echoes) : null;
  }

  /** The server's work per request; null without a server or without requests. */
  engineStats(): EngineStats | null {
    const t = this.server;
    const n = this.requests;
    if (!t || !(n > 0)) return null;
    return {
      entersPerReq: t.enters / n, batchedWaits: t.batchedWaits, cqesPerReq: t.cqes / n, sendsPerReq: t.sends / n, recvsPerReq: t.recvs / n,
      enobufs: t.enobufs, rearms: t.rearms, spilledBytes: t.spilledBytes, cqOverflows: t.cqOverflows, zeroCopySends: t.zeroCopySends, copiedSends: t.copiedSends, zeroCopyFallbacks: t.zeroCopyFallbacks,
      userCpuNsPerReq: t.userCpuNs / n, systemCpuNsPerReq: t.systemCpuNs / n, sqpollCpuNsPerReq: t.sqpollCpuNs / n,
      sqpollBusyShare: sqpollBusyShare(t.sqpollWork),
      segments: segmentsPerRequest(t.segments),
      errorsByOp: { ...t.errorsByOp },
    };
  }

  /** The busiest load thread's share of the measured time (0 when nothing was measured). */
  loadBusyShare(): number {
    if (this.measuredNs <= 0) return 0;
    return Math.max(0, ...this.loadThreadBusyNs) / this.measuredNs;
  }
}

interface PhaseRecord {
  phase: Phase;
  requested: Profile;
  endMs: number | null;
  stats: StatsAccumulator;
  /** The probes' measured frames of this phase. */
  kernel: KernelAccumulator;
}

/** The summary's histogram layout (RunSummary.histogram.layout), for every summary made here. */
const SUMMARY_HISTOGRAM_LAYOUT = { unit: 'us' as const, subBucketBits: HISTOGRAM_LAYOUT.subBucketBits, linearBuckets: HISTOGRAM_LAYOUT.linearBuckets, bucketCount: HISTOGRAM_LAYOUT.bucketCount, description: HISTOGRAM_LAYOUT_DESCRIPTION };

/**
 * The summary of a run that failed before its engine was up (the target refused the load's
 * connects, the engine could not start): `uring-lab run --json` still prints one, as the exit
 * code contract says. Nothing ran, so nothing was measured, applied or saved: `runId` is empty
 * (no run was made; `runs list` does not show it), `applied` is the profile as requested,
 * `phases` and `probes` are empty, and `failure` says what stopped it.
 */
export function startFailedSummary(requested: Profile, failure: NonNullable<RunSummary['failure']>, target: RunSummary['target'] = null, status: 'failed' | 'interrupted' = 'failed'): RunSummary {
  const none = latencySummary(new LatencyHistogram());
  return {
    runId: '', status, failure, target, topology: null, storage: null,
    profileName: requested.name, startedAt: new Date().toISOString(), measuredS: 0, throughputRps: 0,
    offeredRps: requested.load.mode === 'open' ? requested.load.rateRps : null,
    latencyUs: none, requests: 0, bytes: 0, errors: 0, timeouts: 0, serverCpuNsPerReq: null, loadCpuNsPerReq: null,
    engine: null, latencyCorrectedUs: none, inFlightAtEnd: { requests: 0, oldestUs: 0 }, loadSaturated: false, loadBusyShare: 0, perConnection: null,
    contention: { otherRuns: [], otherCpus: null }, warnings: [], applied: requested, rejected: [],
    ring: { flags: [], features: [], sqEntries: 0, cqEntries: 0 }, phases: [], probes: [],
    kernel: { release: os.release() }, kernelStats: null, spikes: null, profiles: null,
    histogram: {
      layout: SUMMARY_HISTOGRAM_LAYOUT,
      counts: new LatencyHistogram().toSparse(),
    },
    frames: 0,
  };
}

export class RunRecord {
  readonly startedAt = new Date().toISOString();
  private seq = 0;
  /** CLOCK_MONOTONIC ns of the end of the last frame (or of the last engine start). */
  private lastNs: number;
  private readonly phases: PhaseRecord[] = [];
  private readonly overall = new StatsAccumulator();
  private readonly overallKernel = new KernelAccumulator();
  /** The last keptFrames frames as JSON text (KEPT_FRAMES says why text). */
  private readonly kept: { seq: number; json: string }[] = [];
  /** Gauges of the newest frame: what was in flight when the window closed. */
  private lastInFlight = { requests: 0, oldestUs: 0 };
  private worstStallUs = 0;
  /** The most TCP socket-buffer memory a frame saw (machine-wide), with the kernel's limits. */
  private tcpMemPeak: NonNullable<NonNullable<RunFrame['system']>['tcpMem']> | null = null;
  /** Bytes our server echoed and the time it had, warm-up included (loadSizeCause). */
  private echoedBytes = 0;
  private echoedNs = 0;
  /** Load requests abandoned after load.timeoutMs over every frame, warm-up included. */
  private timeouts = 0;
  /** Errors (failed connections, mismatched echoes, failed I/Os) in frames before the measured
   *  window: out of the numbers, but a server that corrupted echoes or dropped connections then
   *  must not pass as clean (a load against one that did so exited 0 at half its connections). */
  private warmupErrors = 0;
  /** Of the errors, measured and in the warm-up: echoes whose bytes differed from those sent. */
  private mismatches = 0;
  private warmupMismatches = 0;
  /** Engine process CPU over the measured frames (for the contention estimate). */
  engineProcessCpuNs = 0;
  /** workload 'storage': its target (set by the lab service before the first phase); no server runs. */
  storagePlan: StoragePlan | null = null;
  /** topology 'veth': where the server and the load were (set by the lab service); null: loopback. */
  topology: RunSummary['topology'] = null;
  private lastStarted: NativeStarted | null = null;
  /** Spike detection and stack profiles, fed every frame (RunSummary.spikes, .profiles). */
  private readonly diagnosis = new SpikeReporter();
  /** The run's fault injections as its first phase asked (diagnose.inject: applies at the next
   *  run), and the latest outcome the engine reported for each, by request index. */
  injectionsRequested: Injection[] = [];
  private readonly injectionOutcomes = new Map<number, InjectionResult>();

  constructor(
    readonly runId: string,
    /** CLOCK_MONOTONIC ns when the run was asked to start: frame times count from here. */
    readonly t0Ns: number,
    readonly warmupMs: number,
    /** `uring-lab load`: the echo server is someone else's, so nothing server-side is measured. */
    readonly target: NonNullable<RunSummary['target']> | null = null,
    /** Frames kept in memory for getFrames (tests make it small). */
    private readonly keptFrames = KEPT_FRAMES,
  ) {
    this.lastNs = t0Ns;
  }

  get lastSeq(): number {
    return this.seq - 1;
  }

  get phaseList(): Phase[] {
    return this.phases.map((p) => p.phase);
  }

  get currentPhase(): Phase | null {
    return this.phases[this.phases.length - 1]?.phase ?? null;
  }

  /** Time the run has been going, ms. */
  elapsedMs(nowNs: number): number {
    return (nowNs - this.t0Ns) / 1e6;
  }

  /** A new engine instance began (run start or a live knob change). */
  addPhase(requested: Profile, started: NativeStarted, nowNs: number): Phase {
    const previous = this.phases[this.phases.length - 1];
    if (!previous) this.injectionsRequested = [...(requested.diagnose?.inject ?? [])];
    const atMs = this.elapsedMs(nowNs);
    if (previous) previous.endMs = atMs;
    const phase: Phase = {
      index: this.phases.length,
      atMs,
      changed: previous ? knobChanges(previous.requested, requested) : [],
      applied: appliedProfile(requested, started.applied),
      // A target's server is not ours: nothing of the profile's server part was refused either.
      rejected: this.target ? [] : storageRefusalWords(refusedKnobs(started.refused, requested, started.applied), started),
      ring: started.ring,
    };
    // Probes are attached again at every engine start, so each phase says how it went.
    if (started.probes) phase.probes = started.probes.map(probeStatusOf);
    this.phases.push({ phase, requested, endMs: null, stats: new StatsAccumulator(), kernel: new KernelAccumulator() });
    this.lastStarted = started;
    this.lastNs = nowNs;
    return phase;
  }

  /** The TCP ports of this run's own connections (KernelFrame.tcp.enginePorts): the target's, or
   *  the port its server listens on; none for storage, which makes no TCP connection. */
  private enginePorts(): number[] {
    if (this.storagePlan) return [];
    const port = this.target ? this.target.port : this.lastStarted?.port ?? 0;
    return port > 0 && port <= 65535 ? [port] : [];
  }

  /** Turns one native snapshot into a frame and counts it. `final`: the engine's last one.
   *  Returns the frame and its JSON text, for the frame log (made once). */
  addSnapshot(snapshot: NativeSnapshot, final: boolean): { frame: RunFrame; json: string } {
    const intervalNs = Math.max(1, snapshot.monotonicNs - this.lastNs);
    const startMs = this.elapsedMs(this.lastNs);
    this.lastNs = snapshot.monotonicNs;
    const measuring = startMs >= this.warmupMs;
    const frameHistogram = new LatencyHistogram();
    frameHistogram.add(snapshot.histogram);
    const corrected = new LatencyHistogram();
    corrected.add(snapshot.correctedHistogram);
    const busiestThreadNs = Math.max(0, ...busyNsOf(snapshot));
    const mismatches = snapshot.mismatches ?? 0;
    const frame: RunFrame = {
      runId: this.runId,
      seq: this.seq++,
      phase: this.phases.length - 1,
      tMs: this.elapsedMs(snapshot.monotonicNs),
      intervalMs: intervalNs / 1e6,
      measuring,
      requests: snapshot.requests,
      bytes: snapshot.bytes,
      errors: snapshot.errors,
      mismatches,
      timeouts: snapshot.timeouts,
      throughputRps: snapshot.requests / (intervalNs / 1e9),
      latencyUs: {
        p50: frameHistogram.quantileUs(0.5),
        p99: frameHistogram.quantileUs(0.99),
        max: frameHistogram.maxUs(),
        p99Corrected: corrected.quantileUs(0.99),
      },
      histogram: snapshot.histogram,
      serverCpuNs: snapshot.serverCpuNs,
      loadCpuNs: snapshot.loadCpuNs,
      inFlight: snapshot.inFlight,
      oldestInFlightUs: snapshot.oldestInFlightUs,
      loadBusyShare: busiestThreadNs / intervalNs,
      final,
      server: serverFrame(snapshot),
      kernel: snapshot.kernel ? kernelFrameOf(snapshot.kernel, this.t0Ns, snapshot.server?.enters ?? null, this.enginePorts()) : null,
      // The contract's rule: evidence for a server of ours (none for a target's or storage).
      system: snapshot.server ? snapshot.system ?? null : null,
    };
    for (const { index, ...outcome } of snapshot.injections ?? []) this.injectionOutcomes.set(index, outcome);
    if (measuring) {
      this.overall.add(snapshot, intervalNs);
      this.phases[this.phases.length - 1]?.stats.add(snapshot, intervalNs);
      if (frame.kernel) {
        this.overallKernel.add(frame.kernel, intervalNs, snapshot.requests);
        this.phases[this.phases.length - 1]?.kernel.add(frame.kernel, intervalNs, snapshot.requests);
      }
      this.lastInFlight = { requests: snapshot.inFlight, oldestUs: snapshot.oldestInFlightUs };
      this.engineProcessCpuNs += snapshot.processCpuNs;
    }
    // Warm-up included: a request abandoned then is as lost (and its connection with it).
    this.timeouts += snapshot.timeouts ?? 0;
    if (!measuring) this.warmupErrors += snapshot.errors;
    if (measuring) this.mismatches += mismatches;
    else this.warmupMismatches += mismatches;
    // A stall shows either as a request still waiting at a frame, or (when the whole engine
    // was stopped between two frames) as a completed request that took that long.
    this.worstStallUs = Math.max(this.worstStallUs, snapshot.oldestInFlightUs, frame.latencyUs.max);
    // Warm-up included, like the stall: TCP stalls then push requests into the window.
    const tcpMem = frame.system?.tcpMem;
    if (tcpMem && (!this.tcpMemPeak || tcpMem.bytes > this.tcpMemPeak.bytes)) this.tcpMemPeak = tcpMem;
    // Not the final frame: it spans the stop, which waits out the requests still in flight.
    if (snapshot.server && !final) {
      this.echoedBytes += snapshot.server.bytesOut;
      this.echoedNs += intervalNs;
    }
    const json = JSON.stringify(frame);
    this.diagnosis.push(frame, json);
    this.kept.push({ seq: frame.seq, json });
    if (this.kept.length > this.keptFrames) this.kept.shift();
    return { frame, json };
  }

  /** Frames from `fromSeq` on that are still kept in memory, and how many of those asked for are not. */
  framesFrom(fromSeq: number): { frames: RunFrame[]; lost: number } {
    const oldestKept = this.kept[0]?.seq ?? this.seq;
    const lost = Math.max(0, Math.min(oldestKept, this.seq) - fromSeq);
    return { frames: this.kept.filter((f) => f.seq >= fromSeq).map((f) => JSON.parse(f.json) as RunFrame), lost };
  }

  /** Request indices of the injections that began or were refused (not to be sent again). */
  begunInjections(): Set<number> {
    return new Set(this.injectionOutcomes.keys());
  }

  /** Each requested injection's outcome, in request order. One still running when the engine
   *  died (no stop to end it) ended with it: at the last frame. */
  injectionResults(): InjectionResult[] {
    const lastMs = this.elapsedMs(this.lastNs);
    return this.injectionsRequested.map((injection, i) => {
      const outcome = this.injectionOutcomes.get(i);
      if (!outcome) {
        const { index: _index, ...unreached } = notReached(i, injection);
        return unreached;
      }
      return outcome.applied && outcome.endedAtMs === null ? { ...outcome, endedAtMs: Math.max(lastMs, outcome.startedAtMs ?? 0) } : outcome;
    });
  }

  /** Whether any measured frame has been counted yet. */
  get measuredNs(): number {
    return this.overall.measuredNs;
  }

  summary(status: RunStatusWord, failure: RunSummary['failure'], contention: RunSummary['contention']): RunSummary {
    const last = this.phases[this.phases.length - 1];
    const nowMs = this.elapsedMs(this.lastNs);
    const phase0 = this.phases[0]?.stats.stats();
    const phases: PhaseResult[] = this.phases.map((p, i) => {
      const stats = this.withoutServer(p.stats.stats());
      return {
        ...p.phase,
        endMs: p.endMs ?? nowMs,
        stats,
        vsPhase0: i === 0 ? null : ratiosVsPhase0(stats, phase0),
        histogram: p.stats.histogram.toSparse(),
        engine: p.stats.engineStats(),
        ...(p.phase.probes ? { probes: withOverhead(p.phase.probes, p.kernel) } : {}),
        kernel: p.kernel.stats(),
        perConnection: p.stats.perConnection(),
      };
    });
    const overall = this.withoutServer(this.overall.stats());
    const loadBusyShare = Math.max(0, ...this.phases.map((p) => p.stats.loadBusyShare()));
    const loadSaturated = loadBusyShare >= LOAD_SATURATION_SHARE;
    const warnings = this.warnings(overall, loadBusyShare, contention, phases.length);
    const perConnection = this.overall.perConnection();
    // Each phase's own connections: a run-level warning would blur which phase was uneven.
    for (const p of phases) {
      const uneven = unevenServiceWarning(p.perConnection);
      if (uneven) warnings.push(phases.length > 1 ? `phase ${p.index}: ${uneven}` : uneven);
    }
    const applied = last?.phase.applied;
    if (!applied) throw new Error('a run summary needs at least one phase');
    // Open loop: the schedule's rate beside the achieved one (a schedule the engine could not
    // keep, or connections lost to timeouts, shows as a shortfall).
    const offeredRps = applied.load.mode === 'open' ? applied.load.rateRps : null;
    if (offeredRps && overall.measuredS > 0 && overall.throughputRps < 0.98 * offeredRps) {
      warnings.push(`the open loop achieved ${Math.round(overall.throughputRps)} requests/s of the ${offeredRps} offered (${(100 * overall.throughputRps / offeredRps).toFixed(1)} %): the server or the generator could not keep the schedule`);
    }
    const adjusted = adjustedKnobsWarning(last.requested, applied, last.phase.rejected);
    if (adjusted) warnings.push(adjusted);
    const unused = otherWorkloadKnobsWarning(last.requested);
    if (unused) warnings.push(unused);
    if (this.warmupErrors > 0) {
      warnings.push(this.storagePlan
        ? `${this.warmupErrors} failed I/Os during the warm-up: not in the numbers, but the target failed them all the same`
        : `${this.warmupErrors} request errors (${echoErrorsText(this.warmupErrors, this.warmupMismatches)}) during the warm-up: not in the numbers, but the server misbehaved all the same`);
    }
    if (this.timeouts > 0) {
      warnings.push(`${this.timeouts} requests timed out (older than load.timeoutMs = ${applied.load.timeoutMs} ms); their connections were abandoned`);
    }
    const sizeCause = this.loadSizeCause(applied);
    if (sizeCause) warnings.push(sizeCause);
    const tcpWarning = this.tcpMemoryWarning(applied);
    if (tcpWarning) warnings.push(tcpWarning);
    const sendBuffer = this.target || this.storagePlan ? null : this.smallSendBufferWarning();
    if (sendBuffer) warnings.push(sendBuffer);
    // The lab's traffic is on lo, which has no NAPI contexts: the registration took, the polling cannot.
    if (!this.target && this.topology?.kind !== 'veth' && this.phases.some((p) => p.phase.applied.server.napiBusyPollUs > 0)) {
      warnings.push(NAPI_ON_LO_WARNING);
    }
    const sharedCpus = this.sharedPinningWarning();
    if (sharedCpus) warnings.push(sharedCpus);
    // Our echo server's workers (the phase with the most of them): none for a target's server or a storage run.
    const busiest = this.target || this.storagePlan ? null : this.phases.map((p) => p.phase.applied.server).sort((a, b) => b.rings - a.rings)[0];
    const oversubscribed = busiest ? oversubscribedRingsWarning(busiest, os.availableParallelism()) : null;
    if (oversubscribed) warnings.push(oversubscribed);
    // Our echo server's provided-buffer pool: none for a target's server or a storage run.
    const coldPool = this.target || this.storagePlan ? null : coldPoolWarning(this.phases.map((p) => p.phase.applied.server), lastLevelCache());
    if (coldPool) warnings.push(coldPool);
    // SEND_ZC's outcome is a counter in the UI; a summary read later (CLI, Markdown, History)
    // says it too: on loopback every zero-copy send was a copy plus a notification.
    const engineTotals = this.storagePlan ? null : this.overall.engineStats();
    const zcWords = engineTotals ? zeroCopyWords(engineTotals.zeroCopySends, engineTotals.copiedSends, engineTotals.zeroCopyFallbacks) : null;
    if (zcWords && engineTotals!.copiedSends + engineTotals!.zeroCopyFallbacks > 0) warnings.push(`SEND_ZC: ${zcWords}`);
    // veth receives through NAPI only with GRO on (the lab turns it on with ethtool where it can).
    if (this.topology?.kind === 'veth' && !this.topology.gro && this.phases.some((p) => p.phase.applied.server.napiBusyPollUs > 0)) {
      warnings.push('NAPI busy poll was registered but GRO could not be turned on for the veth pair (ethtool missing?), so veth received without NAPI and there was nothing to poll');
    }
    return this.withDiagnosis({
      runId: this.runId,
      status,
      failure,
      target: this.target,
      topology: this.topology,
      storage: this.storagePlan && this.lastStarted ? storageSummary(this.storagePlan, this.lastStarted, last.requested, this.overall.bytes, overall.measuredS) : null,
      profileName: applied.name,
      startedAt: this.startedAt,
      measuredS: overall.measuredS,
      throughputRps: overall.throughputRps,
      offeredRps,
      latencyUs: overall.latencyUs,
      requests: overall.requests,
      bytes: this.overall.bytes,
      errors: overall.errors,
      timeouts: this.timeouts,
      warmupErrors: this.warmupErrors,
      mismatches: this.mismatches,
      warmupMismatches: this.warmupMismatches,
      serverCpuNsPerReq: overall.serverCpuNsPerReq,
      loadCpuNsPerReq: overall.loadCpuNsPerReq,
      engine: engineTotals,
      latencyCorrectedUs: latencySummary(this.overall.corrected),
      inFlightAtEnd: this.lastInFlight,
      loadSaturated,
      loadBusyShare,
      perConnection,
      contention,
      warnings,
      applied,
      rejected: last.phase.rejected,
      ring: last.phase.ring,
      phases,
      // The last phase's probes (what the run ended with), each with its cost over the whole run.
      probes: last.phase.probes ? withOverhead(last.phase.probes, this.overallKernel) : [],
      kernel: { release: os.release() },
      kernelStats: this.overallKernel.stats(),
      histogram: {
        layout: SUMMARY_HISTOGRAM_LAYOUT,
        counts: this.overall.histogram.toSparse(),
      },
      frames: this.seq,
      injections: this.injectionResults(),
    });
  }

  /** The spike report (with the injections that overlapped each spike) and the stack profiles. */
  private withDiagnosis(summary: RunSummary): RunSummary {
    summary.spikes = this.diagnosis.report(this.runId, summary.injections ?? []);
    summary.profiles = this.diagnosis.profiles.profiles();
    return summary;
  }

  /** With a target the server's CPU is not ours to measure: null, not the 0 we saw. */
  private withoutServer(stats: RunStats): RunStats {
    return this.target || this.storagePlan ? { ...stats, serverCpuNsPerReq: null } : stats;
  }

  private warnings(overall: RunStats, loadBusyShare: number, contention: RunSummary['contention'], phaseCount: number): string[] {
    const warnings: string[] = [];
    // Said in the summary itself, so History, exports and --json carry it (the live view did).
    if (overall.requests === 0) {
      warnings.push(overall.measuredS === 0
        ? `stopped during the warm-up (${(this.warmupMs / 1000).toFixed(1)} s): nothing was measured, so the numbers are empty, not zero`
        : `no ${this.storagePlan ? 'I/O' : 'request'} completed in the measured window (${overall.measuredS.toFixed(2)} s)`);
    }
    if (phaseCount > 1) warnings.push(`the run-level numbers mix ${phaseCount} phases with different knobs; compare the per-phase results`);
    if (overall.errors > 0) {
      // The storage workload's errors are I/Os, not connections (the CLI's exit line says the same).
      warnings.push(this.storagePlan
        ? `${overall.errors} failed I/Os (an error, or a short read or write, as when the file shrinks under the run) during the measured window`
        : `${overall.errors} request errors (${echoErrorsText(overall.errors, this.mismatches)}) during the measured window`);
    }
    if (loadBusyShare >= LOAD_SATURATION_SHARE) {
      warnings.push(`a load generator thread was ${Math.round(loadBusyShare * 100)} % busy: the numbers may measure the generator rather than the server (add load.threads or CPUs)`);
    }
    for (const other of contention.otherRuns) warnings.push(`another uring-lab run (pid ${other.pid}, ${other.runId}) used this machine at the same time: the numbers are shared`);
    if (contention.otherCpus !== null && contention.otherCpus >= 0.25) {
      warnings.push(`other processes used ${contention.otherCpus.toFixed(2)} CPUs while this run measured`);
    }
    if (this.worstStallUs >= STALL_WARNING_US) {
      // An open loop measures from intended send times: its latencyUs already holds the stall.
      const openLoop = this.phases.some((p) => p.requested.load.mode === 'open');
      warnings.push(openLoop
        ? `a request waited ${(this.worstStallUs / 1e6).toFixed(1)} s (a stall): the open loop's latencyUs includes every request scheduled during it`
        : `a request waited ${(this.worstStallUs / 1e6).toFixed(1)} s (a stall): see latencyCorrectedUs, which re-weights the sends the closed loop skipped meanwhile`);
    }
    if (this.lastInFlight.requests > 0 && this.lastInFlight.oldestUs >= STALL_WARNING_US) {
      warnings.push(`${this.lastInFlight.requests} requests were still in flight when the window closed, the oldest for ${(this.lastInFlight.oldestUs / 1e6).toFixed(1)} s`);
    }
    return warnings;
  }

  /**
   * The server and the lab's own load pinned onto a common CPU (server.numa.cpus or the SQPOLL
   * thread's server.sqpoll.cpu, and load.cpus) in any phase. They take turns there, so the run
   * measures the two sharing a CPU, not the server: at 50 × 128 B here, both on CPU 0 gave
   * 168k-170k requests/s at 2.9k ns of server CPU per request; apart (0 and 1), 130k-208k at
   * 4.5k-7.2k ns (two 1 s runs each).
   */
  private sharedPinningWarning(): string | null {
    if (this.target || this.storagePlan) return null;
    const shared = new Set<number>();
    const knobs = new Set<string>();
    for (const { phase: { applied } } of this.phases) {
      if (!applied.load.cpus) continue;
      const server = new Map<number, string>();
      for (const cpu of applied.server.numa.cpus ?? []) server.set(cpu, 'server.numa.cpus');
      if (applied.server.sqpoll.enabled && applied.server.sqpoll.cpu !== null) server.set(applied.server.sqpoll.cpu, 'server.sqpoll.cpu');
      for (const cpu of applied.load.cpus) {
        const knob = server.get(cpu);
        if (knob) { shared.add(cpu); knobs.add(knob); }
      }
    }
    if (!shared.size) return null;
    const cpus = formatCpuList([...shared]);
    return `the server (${[...knobs].join(', ')}) and the load (load.cpus) were pinned to the same ${shared.size === 1 ? 'CPU' : 'CPUs'} ${cpus}: they took turns there, so throughput, latency and CPU per request describe the two sharing ${shared.size === 1 ? 'a CPU' : 'CPUs'}, not the server on its own; pin them to different CPUs to measure the server`;
  }

  /**
   * Long waits and timeouts the load's own size explains. A closed loop keeps every connection's
   * messages in flight, and a server that serves its connections fairly echoes each one's bytes
   * at rate / connections, so a request takes about (bytes in flight) / (bytes echoed per second)
   * (Little's law), however healthy the server. 4,096 connections × 1 MiB keep 4 GiB in flight,
   * echoed here at 0.6-0.8 GB/s: 5-7 s a request against load.timeoutMs' 5 s, so a 1 s run
   * ended with 0 requests and 4,096 timeouts, or with a few hundred requests that waited 5-6 s.
   * Said when the estimate is a stall's length (1 s) or half the timeout.
   */
  private loadSizeCause(applied: Profile): string | null {
    const load = applied.load;
    if (this.target || this.storagePlan || load.mode !== 'closed' || this.echoedNs <= 0 || this.echoedBytes <= 0) return null;
    const inFlight = loadInFlight(load);
    const rate = this.echoedBytes / (this.echoedNs / 1e9);
    const needMs = (inFlight.bytes / rate) * 1000;
    const timedOut = this.timeouts > 0 && needMs >= 0.5 * load.timeoutMs;
    if (!timedOut && needMs < STALL_WARNING_US / 1000) return null;
    const estimate = `at the rate the server echoed (${formatBinaryBytes(rate)}/s, warm-up included), the ${formatBinaryBytes(inFlight.bytes)} the closed loop keeps in flight (${inFlight.words}) takes ~${(needMs / 1000).toFixed(1)} s to echo once`;
    // Little's law holds for any rate; it names the load's size as the cause only where the size
    // is what is large. A load that a plainly working server echoes in well under the threshold
    // (here 50 × 128 B, 6.3 KiB, at 3.3 KiB/s: one 64 B buffer for the pool, SEND_ZC holding it
    // until the client's delayed ACK) waits that long because the server is slow.
    const healthyMs = inFlight.bytes / HEALTHY_ECHO_BYTES_PER_S * 1000;
    if (healthyMs < STALL_WARNING_US / 1000) {
      return `${estimate}${timedOut ? `, against load.timeoutMs = ${load.timeoutMs} ms` : ''}: the load is not what is large (it would take ${healthyMs < 1 ? 'under 1' : Math.round(healthyMs)} ms at ${formatBinaryBytes(HEALTHY_ECHO_BYTES_PER_S)}/s): the server echoed slowly; its counters (enters, CQEs, sends per request, ENOBUFS) and the buffer pool against the messages say why`;
    }
    return timedOut
      ? `${estimate}, against load.timeoutMs = ${load.timeoutMs} ms: the load's own size made requests time out; raise load.timeoutMs, or lower load.connections or load.messageBytes`
      : `${estimate}: each request waits about that long because of the load's own size (Little's law), not for a stall of the server; lower load.connections or load.messageBytes for shorter waits`;
  }

  /**
   * A server send buffer (server.socket.sendBufferBytes, as granted) that cannot hold one echo:
   * the kernel keeps twice the value, skb overhead included, and once that is no more than the
   * message, the rest of every echo waits for the client's ACKs, which its kernel delays
   * (measured here at 8 × 64 KiB, both engines: 16 and 32 KiB gave 179–184 req/s at p50 44 ms,
   * 48 KiB and above ran at full speed).
   */
  private smallSendBufferWarning(): string | null {
    for (const p of this.phases) {
      const granted = p.phase.applied.server.socket.sendBufferBytes;
      const message = p.requested.load.messageBytes;
      if (granted !== null && 2 * granted <= message) {
        return `server.socket.sendBufferBytes ${granted.toLocaleString('en-US')} B cannot hold one ${message.toLocaleString('en-US')} B echo (the kernel keeps twice the value, overhead included): the rest of each echo waits for the client's ACKs, which its kernel delays (TCP delayed ACK, 40 ms at least on Linux); ask for more than half the message, or leave it empty (autotuned)`;
      }
    }
    return null;
  }

  /**
   * TCP's memory limits, when the run reached them. Above net.ipv4.tcp_mem's pressure threshold
   * the kernel stops growing socket buffers; at its limit it refuses to queue what is sent and
   * drops what arrives, and the sockets wait on retransmission timers (at 4,096 connections ×
   * 1 MiB the whole run stalled: sockstat at the limit, 180 RTOs, 0 requests). The cause is the
   * bytes the run keeps in flight, which the numbers otherwise only show as stalls.
   */
  private tcpMemoryWarning(applied: Profile): string | null {
    // Frames carry system evidence only for a server of ours (never a target's or storage).
    const peak = this.tcpMemPeak;
    if (!peak) return null;
    // The allocator charges whole pages a socket at a time: within 1 % is at the limit.
    const atLimit = peak.bytes >= peak.limitBytes * 0.99;
    if (!atLimit && peak.bytes < peak.pressureBytes) return null;
    // Each message in flight can sit in a send and a receive buffer, once each way.
    const inFlight = loadInFlight(applied.load);
    const cause = `; this run keeps up to ${formatBinaryBytes(2 * inFlight.bytes)} in flight (${inFlight.words}, each way)`;
    return atLimit
      ? `TCP socket buffers reached the kernel's limit (${formatBinaryBytes(peak.bytes)}, net.ipv4.tcp_mem max ${formatBinaryBytes(peak.limitBytes)}, machine-wide): TCP dropped data and sockets waited on retransmission timers, so the numbers measure that limit${cause}; lower load.connections or load.messageBytes, or raise net.ipv4.tcp_mem`
      : `TCP socket buffers reached the kernel's memory pressure threshold (${formatBinaryBytes(peak.bytes)} of net.ipv4.tcp_mem's ${formatBinaryBytes(peak.pressureBytes)}, machine-wide): TCP stopped growing socket buffers${cause}; lower load.connections or load.messageBytes, or raise net.ipv4.tcp_mem`;
  }
}

/** The bytes a load keeps in flight one way (connections × pipeline × messageBytes), in words too. */
function loadInFlight(load: Profile['load']): { bytes: number; words: string } {
  return {
    bytes: load.connections * load.pipeline * load.messageBytes,
    words: `${load.connections} connections × ${load.pipeline > 1 ? `pipeline ${load.pipeline} × ` : ''}${formatBinaryBytes(load.messageBytes)}`,
  };
}

/**
 * The knobs the engine set otherwise than asked without refusing them (a storage job's ring
 * raised to hold its queue depth, a socket buffer raised to the kernel's floor), each with its
 * catalogue row's reason: said, never silent. A refused knob has its own line in `rejected`; a
 * knob of the other workload (echo receive-path knobs in a storage run) did nothing at all.
 */
export function adjustedKnobsWarning(requested: Profile, applied: Profile, rejected: readonly RejectedKnob[]): string | null {
  const refused = new Set(rejected.map((r) => r.knob));
  const adjusted = knobChanges(requested, applied).filter((c) => {
    const workloads = knobAt(c.path)?.workloads;
    return !refused.has(c.path) && (!workloads || workloads.includes(applied.workload));
  });
  if (!adjusted.length) return null;
  return `the engine set ${adjusted.map((c) => `${c.path} to ${JSON.stringify(c.to)} (asked ${JSON.stringify(c.from)}): ${knobAt(c.path)?.adjusted ?? 'what its workers applied'}`).join('; ')}`;
}

/** The knobs `requested` sets away from their defaults that act only in the other workload
 *  (server.numa.cpus or load.connections in a storage run, storage.* in an echo run). */
function otherWorkloadChanges(requested: Profile): KnobChange[] {
  return knobChanges(defaultProfile(), requested).filter((c) => {
    const workloads = knobAt(c.path)?.workloads;
    return workloads && !workloads.includes(requested.workload);
  });
}

/**
 * A profile may carry both workloads' settings, so the other workload's knobs are not refused,
 * but the run says it did not use them (the summary's `applied` shows them at their defaults).
 */
export function otherWorkloadKnobsWarning(requested: Profile): string | null {
  const unused = otherWorkloadChanges(requested);
  if (!unused.length) return null;
  const other = requested.workload === 'storage' ? 'echo' : 'storage';
  return `knobs of ${other} runs this ${requested.workload} run did not use: ${unused.map((c) => `${c.path} = ${JSON.stringify(c.to)}`).join(', ')}`;
}

/**
 * The profile with the knobs of the other workload put back at their defaults, as its run's
 * `applied` shows them (adapter.ts): what an arm would run, for comparing a requested profile
 * with another (ab/runner.ts) without naming knobs its run never uses.
 */
export function withoutOtherWorkloadKnobs(requested: Profile): Profile {
  const out = structuredClone(requested) as unknown as Record<string, unknown>;
  for (const c of otherWorkloadChanges(requested)) setValueAt(out, c.path.split('.'), c.from);
  return out as unknown as Profile;
}

/** Leaf knobs whose requested value differs between two profiles, as dotted paths. */
export function knobChanges(before: Profile, after: Profile): KnobChange[] {
  const changes: KnobChange[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
      for (const key of new Set([...Object.keys(a as object), ...Object.keys(b as object)])) {
        walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      }
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) changes.push({ path, from: a ?? null, to: b ?? null });
  };
  walk(before, after, '');
  return changes;
}
