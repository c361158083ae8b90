/**
 * The echo server alone (`uring-lab server`): the engine process runs the profile's server
 * with no load (load.connections 0), listening on 127.0.0.1, so a client that is not ours
 * — or a load generator forwarded from another machine — drives it. It ends when asked (a
 * signal), after its duration, or when the engine fails, and then says what the server did.
 *
 * The engine's snapshots are deltas, so they are read periodically and summed here; the
 * final snapshot (after the server thread exited) adds the rest. Nothing here is measured on
 * the client side: an echo server sees a byte stream, not messages, so "requests" is derived
 * from the bytes it echoed and a message size the caller names (see `requestsNote`).
 */
import os from 'node:os';
import { addSegments, segmentsPerRequest, addSqpollWork, coldPoolWarning, LabError, NAPI_ON_LO_WARNING, oversubscribedRingsWarning, Profile, RejectedKnob, serverConnectionService, sqpollBusyShare, type ConnectionByteTally, type SegmentTotals, type ServerConnectionService, type SqpollWork } from '../contract';
import type { NativeEngineConfig, NativeSnapshot, NativeStarted } from '../engine/protocol';
import { appliedProfile, engineTimeouts, nativeConfigFor, refusedKnobs, startCalledOffError } from './engine/adapter';
import { EngineSupervisor, forkEngine } from './engine/supervisor';
import { checkBudget } from './run/budget';
import { lastLevelCache } from './run/bufferPool';
import { adjustedKnobsWarning } from './run/runRecord';
import { checkTopology } from './run/topology';
import { refuseDuringOtherAb } from './run/contention';
import type { InjectionResult } from '../contract/diagnose';
import { diagnoseRequestFor, notReached, type IndexedInjectionResult } from '../engine/injections';
import { removeDeadInjectCgroups } from './run/injectCleanup';

/**
 * A server without --duration runs until a signal, but never longer than this: a forgotten
 * server must not hold its port, its buffer pool and (with SQPOLL) a spinning CPU forever.
 */
export const SERVER_MAX_DURATION_S = 24 * 60 * 60;

/** How often the engine's counters are collected. Only the engine process's Node thread pays
 *  for a snapshot (the server thread does not), and a dead server loop is seen this quickly. */
export const SERVER_SNAPSHOT_INTERVAL_MS = 250;

/**
 * The engine's per-frame server counters (snapshot.server) that are deltas, summed over the
 * whole serve. The buffer gauges (buffersInUse, buffersTotal) are kept apart.
 */
const SERVER_COUNTERS = [
  'enters', 'batchedWaits', 'cqes', 'recvs', 'sends', 'bytesOut', 'zeroCopySends', 'copiedSends', 'zeroCopyFallbacks', 'rearms', 'spilledBytes', 'cqOverflows',
  'userCpuNs', 'systemCpuNs', 'sqpollCpuNs',
] as const;
type ServerCounter = typeof SERVER_COUNTERS[number];
type ServerErrorsByOp = NonNullable<NativeSnapshot['server']>['errorsByOp'];

export interface ServerListening {
  /** The IPv4 address it listens on (--bind; 127.0.0.1 by default). */
  address: string;
  port: number;
  /** The engine process: its threads accept, receive and echo. */
  pid: number;
  /** The server worker threads of that process (named uring-srv-<i>). */
  serverThreads: number[];
  applied: { server: Profile['server'] };
  rejected: RejectedKnob[];
  ring: NativeStarted['ring'];
}

export type ServerEndReason = 'signal' | 'duration' | 'limit' | 'failure';

export interface ServerSummary {
  event: 'summary';
  /** The fault injections asked for (--inject, diagnose.inject), each applied or why not
   *  (server-side faults for your own client: serverPause, ioWqPunt, cpuHog, …). */
  injections: InjectionResult[];
  /** completed: stopped by a signal or its duration; failed: see `failure`. */
  status: 'completed' | 'failed';
  /** What ended it, in words: 'SIGTERM', 'duration 30 s', 'the 24 h limit', or the failure. */
  endedBy: string;
  failure: { code: string; message: string; fix?: string } | null;
  profileName: string;
  /** The IPv4 address it listened on (--bind; 127.0.0.1 by default). */
  address: string;
  port: number;
  pid: number;
  startedAt: string;
  /** Seconds from listening to the stop. */
  servedS: number;
  /** Connections the server accepted (all workers). */
  connectionsServed: number;
  /** Per server worker (server.rings): its thread id and the connections it accepted. */
  workers: Array<{ tid: number | null; accepted: number }>;
  /** Connections still open when the stop came (the last reading before it). */
  openConnectionsAtStop: number;
  peakOpenConnections: number;
  /** Bytes the server sent back. */
  bytesEchoed: number;
  /** The message size `requests` is counted in (load.messageBytes). */
  messageBytes: number;
  /** floor(bytesEchoed / messageBytes). */
  requests: number;
  requestsNote: string;
  /** CPU of the server thread and its io_uring kernel helpers (SQPOLL, io-wq), ns. */
  serverCpuNs: number;
  serverCpuNsPerReq: number | null;
  /** CPU of the whole engine process (the server's threads plus the engine's Node thread). */
  engineProcessCpuNs: number;
  /** Real server errors (peer resets and cancellations are not errors), and by what failed. */
  serverErrors: number;
  serverErrorsByOp: ServerErrorsByOp;
  /** Multishot recvs ended by an empty provided-buffer ring. */
  enobufs: number;
  /** The engine's per-frame server counters summed over the serve (io_uring_enter calls,
   *  completions, recvs, sends, zero-copy vs copied sends, re-arms, CQ overflows, CPU split). */
  counters: Record<ServerCounter, number>;
  /** Of the SQPOLL threads' CPU, the share that found work (the kernel's SqWorkTime, 6.11; the
   *  rest spun idle); null without SQPOLL or on a kernel that does not report it. */
  sqpollBusyShare: number | null;
  /** TCP segments the server's connections sent and received over the serve, all and those
   *  carrying data (the kernel's per-socket counters through sock_diag; see ServerFrame), and
   *  per request (of `requests`); null where sock_diag could not be read. lostSpans: reads whose
   *  span lost the kernel's word on some closing connections (a burst of closes overran the
   *  4 MiB those words wait in); the counts leave those spans out, and perRequest then divides
   *  by the requests echoed in the spans that were counted. */
  tcpSegments: { out: number; in: number; dataOut: number; dataIn: number; lostSpans: number; perRequest: { out: number; in: number; dataOut: number; dataIn: number } | null } | null;
  /** Provided buffers: the most held at once (at a snapshot) and the pool's size. */
  buffers: { peakInUse: number; total: number };
  /** How evenly the server served its connections, counted by the server over every connection
   *  it had (each one's echoes, bytes echoed / messageBytes, as it closed): the fewest and which
   *  connection that was (in accept order, 0-based), the most, the mean, Jain's index,
   *  `unserved` (sent data, got nothing back) and `silent` (sent nothing); null when no
   *  connection came, or the engine gave no final count (it crashed). */
  perConnection: ServerConnectionService | null;
  applied: { server: Profile['server'] };
  rejected: RejectedKnob[];
  ring: NativeStarted['ring'];
  kernel: { release: string };
  /** What the numbers or the knobs did not do here, in words (NAPI busy poll on a loopback
   *  address: registered, nothing to poll). */
  warnings: string[];
}

export interface ServerOnlyOptions {
  profile: Profile;
  /** 0 picks a free port. */
  port: number;
  /** IPv4 address to listen on (uring-lab server --bind); null/absent: 127.0.0.1. */
  bind?: string | null;
  /** null: until stop(), at most SERVER_MAX_DURATION_S. */
  durationS: number | null;
  supervisor?: EngineSupervisor;
  snapshotIntervalMs?: number;
}

/** The native engine configuration of a server with no load. */
export function serverOnlyConfig(profile: Profile, port: number, boundMs: number, bind: string | null = null): NativeEngineConfig {
  const config = nativeConfigFor(profile, boundMs);
  config.port = port;
  if (bind) config.bind = bind;
  // The engine's "server only" mode: no load thread, no connection of its own.
  config.load = { ...config.load, connections: 0, threads: 1 };
  return config;
}

/**
 * One server session: `start()` resolves once the server listens (or rejects with the start's
 * error; nothing is left running then); `ended` resolves with the summary, always, once it
 * started. `stop()` may be called at any time, also before or during the start.
 */
export class ServerOnly {
  readonly ended: Promise<ServerSummary>;
  private resolveEnded!: (summary: ServerSummary) => void;
  private readonly supervisor: EngineSupervisor;
  private readonly intervalMs: number;
  private readonly boundS: number;
  private config: NativeEngineConfig;
  private listening: ServerListening | null = null;
  private startedAt = '';
  /** The knobs the engine set otherwise than asked, in words (adjustedKnobsWarning), or null. */
  private adjustedWarning: string | null = null;
  private atNs = 0;
  private lastNs = 0;
  private totals = { serverCpuNs: 0, processCpuNs: 0, serverErrors: 0, enobufs: 0 };
  private counters = Object.fromEntries(SERVER_COUNTERS.map((name) => [name, 0])) as Record<ServerCounter, number>;
  /** SQPOLL work time and CPU over the snapshots that reported the work time (null: none). */
  private sqpollWork: SqpollWork | null = null;
  private segments: SegmentTotals | null = null;
  /** Bytes echoed since the last segment read, and in the spans whose segments were counted:
   *  per request where a span was lost (a server alone has no requests of its own per span). */
  private segmentBytesPending = 0;
  private segmentBytesCounted = 0;
  private errorsByOp: ServerErrorsByOp = { accept: 0, recv: 0, send: 0, other: 0 };
  /** Every connection's echoed bytes, from the stop's final snapshot (null until then). */
  private connectionTally: ConnectionByteTally | null = null;
  /** Connections each worker accepted: the engine reports these as running totals. */
  private accepted: number[] = [];
  private peakBuffersInUse = 0;
  private buffersTotal = 0;
  private openConnections = 0;
  private peakOpenConnections = 0;
  private stopAsked: string | null = null;
  private ending = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ServerOnlyOptions) {
    this.supervisor = options.supervisor ?? new EngineSupervisor(() => forkEngine());
    this.intervalMs = options.snapshotIntervalMs ?? SERVER_SNAPSHOT_INTERVAL_MS;
    this.boundS = options.durationS ?? SERVER_MAX_DURATION_S;
    // The engine's own bound (it keeps serving past it, but reports running: false, and a
    // host that died takes the engine process with it): the window plus start-up slack.
    this.config = serverOnlyConfig(options.profile, options.port, this.boundS * 1000, options.bind ?? null);
    this.config.maxDurationMs = Math.round(this.boundS * 1000 + 5000 + engineTimeouts(this.config).startMs);
    this.ended = new Promise((resolve) => { this.resolveEnded = resolve; });
  }

  async start(): Promise<ServerListening> {
    const { profile } = this.options;
    let started: NativeStarted;
    try {
      // An A/B experiment of another lab process needs the machine to itself (as for a run:
      // startRunFor); a server beside its arms would take their CPUs.
      refuseDuringOtherAb();
      const misfit = checkTopology(profile);
      if (misfit) throw misfit;
      const refusal = checkBudget(profile, await this.supervisor.plan(this.config));
      if (refusal) throw refusal;
      removeDeadInjectCgroups();
      if (this.stopAsked !== null) throw startCalledOffError();
      // No probes here (the server alone); fault injections do run, on the session's clock.
      ({ started, atNs: this.atNs } = await this.supervisor.start(this.config, this.intervalMs, engineTimeouts(this.config).startMs, undefined, diagnoseRequestFor(profile.diagnose, new Set(), null)));
    } catch (err) {
      await this.supervisor.shutdown();
      throw LabError.from(err, 'ENGINE_ERROR');
    }
    this.lastNs = this.atNs;
    this.startedAt = new Date().toISOString();
    const applied = appliedProfile(profile, started.applied);
    const rejected = refusedKnobs(started.refused, profile, started.applied);
    this.adjustedWarning = adjustedKnobsWarning(profile, applied, rejected);
    this.listening = {
      address: this.options.bind ?? '127.0.0.1',
      port: started.port,
      pid: this.supervisor.pid ?? 0,
      serverThreads: (started.serverWorkers ?? []).map((w) => w.tid),
      applied: { server: applied.server },
      rejected,
      ring: started.ring,
    };
    this.supervisor.on('snapshot', (snapshot) => this.onSnapshot(snapshot));
    this.supervisor.on('fault', (error) => { void this.end('failure', error); });
    // `kill PID` with the pid the listening line printed: the same orderly end as a signal to the CLI.
    this.supervisor.on('signalled', (signal, pid) => this.stop(`${signal} to the engine process${pid ? ` (pid ${pid})` : ''}`));
    if (this.stopAsked !== null) {
      void this.end('signal', null);
    } else {
      const reason = this.options.durationS === null ? 'limit' : 'duration';
      this.timer = setTimeout(() => { void this.end(reason, null); }, this.boundS * 1000);
    }
    return this.listening;
  }

  /** Ends the session (a signal's name, e.g. 'SIGTERM'); the summary comes on `ended`. */
  stop(by: string): void {
    if (this.stopAsked !== null) return;
    this.stopAsked = by;
    if (this.listening) void this.end('signal', null);
    // Still setting up (a large buffer pool to touch): called off now, not after it listened.
    else this.supervisor.cancelStart();
  }

  private onSnapshot(snapshot: NativeSnapshot): void {
    if (!this.listening) return;
    this.add(snapshot, false);
    if (this.ending) return;
    if (snapshot.serverError) {
      void this.end('failure', new LabError({
        code: 'SERVER_FAILED', kind: 'engine', message: `the echo server stopped: ${snapshot.serverError}`,
        fix: 'run `uring-lab doctor`; if it repeats, report it with the profile',
      }));
    } else if (!snapshot.running) {
      // The engine's own bound passed (only if the host timer did not fire: a stalled host).
      void this.end(this.options.durationS === null ? 'limit' : 'duration', null);
    }
  }

  /** Sums one snapshot's deltas (a final one carries no gauge worth keeping). */
  private add(snapshot: NativeSnapshot, final: boolean): void {
    for (const outcome of snapshot.injections ?? []) this.injectionOutcomes.set(outcome.index, outcome);
    this.totals.serverCpuNs += snapshot.serverCpuNs;
    this.totals.processCpuNs += snapshot.processCpuNs;
    this.totals.serverErrors += snapshot.serverErrors;
    this.totals.enobufs += snapshot.enobufs;
    const server = snapshot.server;
    if (server) {
      for (const name of SERVER_COUNTERS) this.counters[name] += server[name] ?? 0;
      this.sqpollWork = addSqpollWork(this.sqpollWork, server);
      this.segments = addSegments(this.segments, server);
      this.segmentBytesPending += server.bytesOut ?? 0;
      if (server.segmentsLost) this.segmentBytesPending = 0;
      else if (server.segmentsOut != null) {
        this.segmentBytesCounted += this.segmentBytesPending;
        this.segmentBytesPending = 0;
      }
      for (const op of Object.keys(this.errorsByOp) as (keyof ServerErrorsByOp)[]) this.errorsByOp[op] += server.errorsByOp?.[op] ?? 0;
      this.buffersTotal = Math.max(this.buffersTotal, server.buffersTotal ?? 0);
      // The engine's peak is counted as buffers are taken; the sample covers an engine without it.
      this.peakBuffersInUse = Math.max(this.peakBuffersInUse, final ? 0 : server.buffersInUse ?? 0, server.buffersPeak ?? 0);
    }
    if (final && snapshot.serverConnectionEchoes) this.connectionTally = snapshot.serverConnectionEchoes;
    // Running totals, also in the final snapshot (taken before the workers' state is freed).
    (snapshot.serverWorkers ?? []).forEach((w, i) => { this.accepted[i] = Math.max(this.accepted[i] ?? 0, w.accepted); });
    this.lastNs = Math.max(this.lastNs, snapshot.monotonicNs);
    // The final snapshot's open count is the one read as the stop came (before the teardown
    // closed them): the last periodic one was up to a frame stale (300 read after all had closed).
    this.openConnections = snapshot.activeConnections;
    // The engine's peak is counted at every accept; the sample only covers an engine without it.
    this.peakOpenConnections = Math.max(this.peakOpenConnections, snapshot.activeConnections, snapshot.peakConnections ?? 0);
  }

  private async end(reason: ServerEndReason, error: LabError | null): Promise<void> {
    if (this.ending || !this.listening) return;
    this.ending = true;
    if (this.timer) clearTimeout(this.timer);
    let failure = error ? { code: error.code, message: error.message, fix: error.fix } : null;
    if (reason !== 'failure' || error?.code === 'SERVER_FAILED') {
      // A crashed or hung engine process cannot be stopped; the others give their final counts.
      try {
        const final = await this.supervisor.stop(engineTimeouts(this.config).stopMs);
        if (final) this.add(final, true);
      } catch (err) {
        const e = LabError.from(err, 'ENGINE_ERROR');
        failure ??= { code: e.code, message: `stopping the engine failed: ${e.message}`, fix: e.fix };
      }
    }
    await this.supervisor.shutdown();
    this.resolveEnded(this.summary(reason, failure));
  }

  private readonly injectionOutcomes = new Map<number, IndexedInjectionResult>();

  private summary(reason: ServerEndReason, failure: ServerSummary['failure']): ServerSummary {
    const listening = this.listening!;
    const injections = this.options.profile.diagnose.inject.map((injection, i) => {
      const { index: _index, ...outcome } = this.injectionOutcomes.get(i) ?? notReached(i, injection);
      return outcome;
    });
    const messageBytes = this.options.profile.load.messageBytes;
    const bytesEchoed = this.counters.bytesOut;
    const requests = Math.floor(bytesEchoed / messageBytes);
    const perConnection = serverConnectionService(this.connectionTally, messageBytes);
    const endedBy = failure ? failure.message
      : reason === 'signal' ? this.stopAsked ?? 'a stop request'
        : reason === 'duration' ? `its duration (${this.boundS} s)`
          : `the ${this.boundS / 3600} h limit of a server without --duration`;
    return {
      event: 'summary',
      status: failure ? 'failed' : 'completed',
      endedBy,
      failure,
      profileName: this.options.profile.name,
      address: listening.address,
      port: listening.port,
      pid: listening.pid,
      startedAt: this.startedAt,
      servedS: Math.max(0, this.lastNs - this.atNs) / 1e9,
      connectionsServed: this.accepted.reduce((a, b) => a + b, 0),
      workers: this.accepted.map((accepted, i) => ({ tid: listening.serverThreads[i] ?? null, accepted })),
      openConnectionsAtStop: this.openConnections,
      peakOpenConnections: this.peakOpenConnections,
      bytesEchoed,
      messageBytes,
      requests,
      requestsNote: `an echo server sees a byte stream, not messages: requests = bytes echoed / ${messageBytes} B (load.messageBytes; set it to your client's message size)`,
      serverCpuNs: this.totals.serverCpuNs,
      serverCpuNsPerReq: requests ? this.totals.serverCpuNs / requests : null,
      engineProcessCpuNs: this.totals.processCpuNs,
      serverErrors: this.totals.serverErrors,
      serverErrorsByOp: { ...this.errorsByOp },
      enobufs: this.totals.enobufs,
      counters: { ...this.counters },
      sqpollBusyShare: sqpollBusyShare(this.sqpollWork),
      tcpSegments: this.segments && {
        out: this.segments.out, in: this.segments.in, dataOut: this.segments.dataOut, dataIn: this.segments.dataIn,
        lostSpans: this.segments.lostSpans,
        perRequest: perRequestWords(segmentsPerRequest({ ...this.segments, requests: this.segments.lostSpans ? Math.floor(this.segmentBytesCounted / messageBytes) : requests })),
      },
      buffers: { peakInUse: this.peakBuffersInUse, total: this.buffersTotal },
      perConnection,
      applied: listening.applied,
      rejected: listening.rejected,
      ring: listening.ring,
      kernel: { release: os.release() },
      injections,
      // Listening on 127.x, every client came over lo; on 0.0.0.0 or a NIC's address some may not.
      warnings: [
        listening.applied.server.napiBusyPollUs > 0 && listening.address.startsWith('127.') ? NAPI_ON_LO_WARNING : null,
        coldPoolWarning([listening.applied.server], lastLevelCache()),
        oversubscribedRingsWarning(listening.applied.server, os.availableParallelism()),
        this.adjustedWarning,
      ].filter((w): w is string => w !== null),
    };
  }
}

/** segmentsPerRequest's ratios under the names the server's summary has always given them. */
function perRequestWords(p: ReturnType<typeof segmentsPerRequest>): { out: number; in: number; dataOut: number; dataIn: number } | null {
  return p && { out: p.outPerReq, in: p.inPerReq, dataOut: p.dataOutPerReq, dataIn: p.dataInPerReq };
}
