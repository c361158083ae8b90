/**
 * Runs the engine in its own process, serialises every call to it, watches it for hangs and
 * replaces it after a fault. The transport is pluggable: child_process.fork under plain Node
 * (CLI, browser host, tests) and Electron's utilityProcess in the desktop app; both carry the
 * same EngineToHost/HostToEngine messages, and tests drive it with a fake channel.
 *
 * Three rules keep a run from ever being lost here:
 *  - one queue: every request (start, stop, plan, probe for the doctor) waits for the one
 *    before it, so no caller can find the engine "busy" and give up half-way;
 *  - every request has a time limit that follows from the work asked (the caller says how
 *    long it may take), and a watchdog: the engine process says something at least every
 *    ENGINE_HEARTBEAT_MS, so silence for `unresponsiveMs` means it is hung (or SIGSTOPped) —
 *    it is killed and reported as ENGINE_UNRESPONSIVE;
 *  - a fault (exit or hang) is reported exactly once per engine process, as 'fault', and the
 *    next request starts a fresh process.
 */
import { fork, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { LabError, allowedCpuListIn, type FoldedStack } from '../../contract';
import { startCalledOffError, startError } from './adapter';
import {
  ENGINE_HEARTBEAT_MS, ENGINE_PROTOCOL_VERSION,
  type CapabilityProbe, type EnginePrivileges, type EngineResources, type EngineToHost, type EngineWireMessage, type HostToEngine,
  type NativeEngineConfig, type NativeProbeStatus, type NativeSnapshot, type NativeStarted, type ProbesRequest, type WireSnapshot,
  type DiagnoseRequest, type EngineSignal,
} from '../../engine/protocol';

export interface EngineChannel {
  send(message: HostToEngine): void;
  /** Each message as the engine posted it: an object, or JSON text (snapshots: protocol.ts's
   *  postedForm says why); the supervisor reads both. */
  onMessage(listener: (message: EngineWireMessage | string) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(): void;
}

export type EngineSpawner = () => EngineChannel;

/** A message as the engine posted it (protocol.ts's postedForm), read back; throws on text that is not JSON. */
export const readPosted = (posted: EngineWireMessage | string): EngineWireMessage => (typeof posted === 'string' ? JSON.parse(posted) as EngineWireMessage : posted);

export const ENGINE_ENTRY = path.join(__dirname, '..', '..', 'engine', 'main.js');

/**
 * child_process.fork transport: the default everywhere but inside Electron. The engine gets a
 * process group of its own: Ctrl-C at a terminal signals the whole foreground group, and an
 * engine killed by that SIGINT would lose the counts since its last snapshot and turn the
 * host's orderly stop (it gets the same signal) into a crash. The engine still ends with its
 * host: it shuts down when its IPC channel closes (the host exited, even by SIGKILL). `env`: the
 * engine's environment (the host's by default; tests set the native module's measurement hooks).
 */
export function forkEngine(entry = ENGINE_ENTRY, env: NodeJS.ProcessEnv = process.env): EngineChannel {
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', detached: true, env });
  // A send racing the child's exit fails asynchronously; the exit handler reports the fault.
  child.on('error', () => undefined);
  // During a run with load.cpus the engine moves this process's threads off the load's CPUs and
  // puts them back at the stop (engine/main.ts); an engine that dies mid-run cannot.
  restoreHostAffinityAfter((listener) => child.on('exit', listener));
  return {
    send: (message) => { if (child.connected) child.send(message, (err) => { if (err) child.kill('SIGKILL'); }); },
    onMessage: (listener) => child.on('message', (m) => listener(m as EngineWireMessage | string)),
    onExit: (listener) => child.on('exit', (code, signal) => listener(code, signal)),
    kill: () => { child.kill('SIGKILL'); },
  };
}

const cpusAllowed = () => allowedCpuListIn(readFileSync('/proc/self/status', 'utf8'));
/** This host's CPUs as it started, before any engine moved its threads. */
const HOST_CPUS = (() => { try { return cpusAllowed(); } catch { return null; } })();

/** This host's engine processes that have not exited. */
let liveEngines = 0;

/**
 * Every transport hands its engine process's exit here: when the last live one exits, this
 * process's threads get their starting CPUs back if an engine left them narrowed. Only the last:
 * the exit of an engine that was replaced (or of a second one, as tests start) must not undo
 * what the current engine's run did.
 */
export function restoreHostAffinityAfter(onExit: (listener: () => void) => void): void {
  liveEngines++;
  onExit(() => {
    liveEngines--;
    if (liveEngines === 0) restoreHostAffinity();
  });
}

/** The scheduling policy (field 41) in a /proc/…/stat; comm (field 2) may hold spaces and
 *  parentheses: the fields after it start after the last ')'. */
const policyIn = (stat: string) => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
/** The scheduling policy of each of this process's threads. */
function threadPolicies(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try { out.push(policyIn(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'))); } catch { /* ended meanwhile */ }
  }
  return out;
}
const SCHED_BATCH = 3;
/** Whether this host ran SCHED_BATCH as it started (a user's `chrt -b`): then it stays so. Its
 *  main thread's policy: one read at start-up. */
const HOST_BATCH = (() => { try { return policyIn(readFileSync('/proc/self/stat', 'utf8')) === SCHED_BATCH; } catch { return true; } })();

/** Gives every thread of this process its starting CPUs back if an engine left them narrowed,
 *  and SCHED_OTHER back if an engine left them SCHED_BATCH (engine/main.ts: batchLabThreads). */
function restoreHostAffinity(): void {
  try {
    if (HOST_CPUS && cpusAllowed() !== HOST_CPUS) spawnSync('taskset', ['-a', '-p', '-c', HOST_CPUS, String(process.pid)], { stdio: 'ignore' });
  } catch { /* no /proc or no taskset: the threads keep what they have */ }
  try {
    if (!HOST_BATCH && threadPolicies().includes(SCHED_BATCH)) spawnSync('chrt', ['-o', '-a', '-p', '0', String(process.pid)], { stdio: 'ignore' });
  } catch { /* no /proc or no chrt: the threads keep their policy (the same CPU share) */ }
}

export interface SupervisorOptions {
  /** Silence longer than this from a live engine process means it is hung. */
  unresponsiveMs?: number;
  /** How long a new engine process may take to say it is ready. */
  spawnTimeoutMs?: number;
  /** Limit for requests whose caller gives none (plan, probe). */
  defaultTimeoutMs?: number;
}

export interface EngineSupervisorEvents {
  snapshot: [NativeSnapshot];
  /** The engine process died or hung while it mattered; emitted once per process. */
  fault: [LabError];
  /** Someone sent the engine process a signal asking it to end (`kill PID`): whoever runs
   *  something there ends it in order and then calls shutdown(). Its pid rides along. */
  signalled: [EngineSignal, number | null];
}

interface Waiter {
  expect: EngineToHost['type'];
  resolve: (message: EngineToHost) => void;
  reject: (error: LabError) => void;
  timer: NodeJS.Timeout;
}

/** One engine process and what the supervisor knows about it. */
interface EngineProcess {
  channel: EngineChannel;
  ready: Promise<void>;
  /** Fails `ready` (no effect once it resolved). */
  failReady: (error: LabError) => void;
  pid: number | null;
  /** Silence since the engine last said anything, counted only while this host was listening
   * (the watchdog's ticks, each capped: see the watchdog). */
  silentMs: number;
  /** Set once the process is gone or condemned; later messages from it are ignored. */
  dead: boolean;
  watchdog: NodeJS.Timeout | null;
  /** The profile stacks' names by the ids this process gave them in the current run. */
  stackNames: Map<number, string>;
  /** The signal someone sent it (it ends by itself ENGINE_SIGNAL_GRACE_MS later), or null. */
  signalled: EngineSignal | null;
}

export class EngineSupervisor extends EventEmitter<EngineSupervisorEvents> {
  private engine: EngineProcess | null = null;
  private waiter: Waiter | null = null;
  /** The start() queued or sent (one at a time: the lab makes them in turn), and whether
   *  cancelStart() called it off. */
  private startToken: { calledOff: boolean } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private shuttingDown = false;
  private readonly unresponsiveMs: number;
  private readonly spawnTimeoutMs: number;
  private readonly defaultTimeoutMs: number;
  /** Engine processes replaced after a fault. */
  restarts = 0;

  constructor(private readonly spawn: EngineSpawner = () => forkEngine(), options: SupervisorOptions = {}) {
    super();
    this.unresponsiveMs = options.unresponsiveMs ?? 5_000;
    this.spawnTimeoutMs = options.spawnTimeoutMs ?? 15_000;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 15_000;
  }

  /** The current engine process's pid, once it said it is ready. */
  get pid(): number | null {
    return this.engine?.pid ?? null;
  }

  /** Whether an engine process is up (it may hold a running engine). */
  get alive(): boolean {
    return this.engine !== null && !this.engine.dead;
  }

  // ---- requests (all through one queue) -----------------------------------------------

  /** What `config` needs in memory and what the engine's machine has. */
  plan(config: NativeEngineConfig): Promise<EngineResources> {
    return this.request({ type: 'plan', config }, 'planned', this.defaultTimeoutMs).then((m) => m.resources);
  }

  /** Starts the engine; resolves with what it applied and when its counters began (atNs). */
  async start(config: NativeEngineConfig, frameIntervalMs: number, timeoutMs: number, probes?: ProbesRequest, diagnose?: DiagnoseRequest): Promise<{ started: NativeStarted; atNs: number }> {
    const token = { calledOff: false };
    this.startToken = token;
    try {
      const { started, atNs } = await this.request({ type: 'start', config, frameIntervalMs, probes, diagnose, hostPid: process.pid }, 'started', timeoutMs);
      return { started, atNs };
    } finally {
      if (this.startToken === token) this.startToken = null;
    }
  }

  /**
   * Calls off the start in flight (a stop or an interrupt while a large run sets up, which
   * takes ~20 s at 4,096 × 1 MiB): still queued, it is never sent; sent, the engine unwinds
   * its set-up at the next step. Either way start() rejects with START_CANCELLED. Outside the
   * queue, which the start holds. Nothing when no start is in flight (one that already
   * finished is stopped as usual).
   */
  cancelStart(): void {
    const token = this.startToken;
    if (!token) return;
    token.calledOff = true;
    const engine = this.engine;
    if (this.waiter?.expect === 'started' && engine && !engine.dead) engine.channel.send({ type: 'cancelStart' });
  }

  /** Stops the running engine; null when no engine process is up (nothing to stop).
   *  `startFollows`: a knob change, whose start comes next (the engine keeps its probes for it). */
  async stop(timeoutMs: number, startFollows = false): Promise<NativeSnapshot | null> {
    return this.enqueue(async () => {
      if (!this.alive) return null;
      return (await this.send(startFollows ? { type: 'stop', keepProbes: true } : { type: 'stop' }, 'stopped', timeoutMs)).final;
    });
  }

  /** Creates throw-away rings with each setup flag to learn what this kernel accepts. */
  async probe(): Promise<CapabilityProbe> {
    return (await this.request({ type: 'probe' }, 'probed', this.defaultTimeoutMs)).capabilities;
  }

  /** Doctor: each eBPF probe loaded and attached for a moment in the engine process (its
   *  privileges are what count), and that process's uid and effective capabilities. */
  async probesCheck(): Promise<{ probes: NativeProbeStatus[]; privileges: EnginePrivileges }> {
    const { probes, privileges } = await this.request({ type: 'probesCheck' }, 'probesChecked', this.defaultTimeoutMs);
    return { probes, privileges };
  }

  /** Ends the engine process; safe to call more than once. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const engine = this.engine;
    if (!engine || engine.dead) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { engine.channel.kill(); resolve(); }, 3000);
      engine.channel.onExit(() => { clearTimeout(timer); resolve(); });
      engine.channel.send({ type: 'shutdown' });
    });
  }

  private request<T extends EngineToHost['type']>(message: HostToEngine, expect: T, timeoutMs: number): Promise<Extract<EngineToHost, { type: T }>> {
    return this.enqueue(() => this.send(message, expect, timeoutMs));
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Sends one request to a (possibly fresh) engine and waits for its answer. Queue only. */
  private async send<T extends EngineToHost['type']>(message: HostToEngine, expect: T, timeoutMs: number): Promise<Extract<EngineToHost, { type: T }>> {
    const engine = await this.ensureProcess();
    // Called off while it waited its turn (or for the engine process): never sent.
    if (message.type === 'start' && this.startToken?.calledOff) throw startCalledOffError();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.condemn(engine, new LabError({
          code: 'ENGINE_TIMEOUT',
          message: `engine did not finish "${message.type}" in ${(timeoutMs / 1000).toFixed(1)} s`,
          fix: 'the engine process was replaced; try again, with fewer connections or smaller buffers if it repeats',
        }));
      }, timeoutMs);
      this.waiter = { expect, resolve: resolve as (m: EngineToHost) => void, reject, timer };
      engine.channel.send(message);
    });
  }

  // ---- the engine process -------------------------------------------------------------

  private ensureProcess(): Promise<EngineProcess> {
    if (this.engine && !this.engine.dead) return this.engine.ready.then(() => this.engine!);
    this.shuttingDown = false;
    const channel = this.spawn();
    let markReady!: () => void;
    let failReady!: (e: LabError) => void;
    const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failReady = reject; });
    const engine: EngineProcess = {
      channel,
      ready,
      failReady,
      pid: null,
      silentMs: 0,
      dead: false,
      watchdog: null,
      stackNames: new Map(),
      signalled: null,
    };
    engine.ready.catch(() => undefined);
    this.engine = engine;
    const spawnTimer = setTimeout(() => this.condemn(engine, new LabError({
      code: 'ENGINE_UNRESPONSIVE', message: `engine process did not start in ${this.spawnTimeoutMs / 1000} s`,
      fix: 'run `uring-lab doctor` and check that the native addon is built (npm run build:native)',
    })), this.spawnTimeoutMs);
    channel.onMessage((posted) => {
      if (engine.dead) return;
      engine.silentMs = 0;
      let message: EngineWireMessage;
      try {
        message = readPosted(posted);
      } catch (err) {
        this.condemn(engine, new LabError({
          code: 'ENGINE_PROTOCOL', kind: 'internal',
          message: `the engine sent a message that is not JSON (${(err as Error).message})`,
          fix: 'rebuild so both match: npm run build; if it repeats, report it',
        }));
        return;
      }
      if (message.type === 'ready') {
        clearTimeout(spawnTimer);
        if (message.protocol !== ENGINE_PROTOCOL_VERSION) {
          this.condemn(engine, new LabError({
            code: 'ENGINE_PROTOCOL', kind: 'internal',
            message: `the engine speaks protocol ${message.protocol}, this host ${ENGINE_PROTOCOL_VERSION}`,
            fix: 'rebuild so both match: npm run build',
          }));
          return;
        }
        engine.pid = message.pid;
        markReady();
        return;
      }
      if (message.type === 'signalled') {
        engine.signalled = message.signal;
        this.emit('signalled', message.signal, engine.pid);
        return;
      }
      this.route(fromWire(message, engine.stackNames));
    });
    channel.onExit((code, signal) => {
      clearTimeout(spawnTimer);
      // After a signal the engine ends by itself where this host did not end it in time.
      this.condemn(engine, new LabError({
        code: 'ENGINE_CRASHED',
        message: engine.signalled
          ? `engine process ended after ${engine.signalled} (${signal ?? `code ${code}`}) before the lab stopped it`
          : `engine process exited (${signal ?? `code ${code}`})`,
        fix: 'the lab starts a fresh engine on the next run; if it repeats, run `uring-lab doctor`',
      }));
    });
    // Silence is counted in the watchdog's own ticks, each worth at most two periods: when this
    // host's event loop stalls (a GC pause, a burst of frames, a loaded CI machine), the engine's
    // heartbeats wait in the pipe unread, and wall-clock silence would condemn a healthy engine.
    // A hung engine still accrues a period per tick and is condemned after `unresponsiveMs`.
    const watchdogPeriodMs = Math.max(50, Math.min(ENGINE_HEARTBEAT_MS * 2, this.unresponsiveMs / 4));
    let lastTickAt = Date.now();
    engine.watchdog = setInterval(() => {
      const now = Date.now();
      const listenedMs = Math.min(now - lastTickAt, 2 * watchdogPeriodMs);
      lastTickAt = now;
      // Only a ready process owes heartbeats; a starting one is bounded by spawnTimer.
      if (engine.pid === null) return;
      engine.silentMs += listenedMs;
      if (engine.silentMs > this.unresponsiveMs) {
        this.condemn(engine, new LabError({
          code: 'ENGINE_UNRESPONSIVE',
          message: `engine process ${engine.pid} stopped answering (silent for ${(this.unresponsiveMs / 1000).toFixed(1)} s; hung or stopped)`,
          fix: 'the lab killed it and starts a fresh engine on the next run; check `dmesg` and `uring-lab doctor` if it repeats',
        }));
      }
    }, watchdogPeriodMs);
    engine.watchdog.unref?.();
    return engine.ready.then(() => engine);
  }

  /**
   * Ends an engine process that exited, hung or timed out: kills it, fails the pending
   * request and the ready promise, and reports the fault once. Later calls are no-ops.
   */
  private condemn(engine: EngineProcess, error: LabError): void {
    if (engine.dead) return;
    engine.dead = true;
    if (engine.watchdog) clearInterval(engine.watchdog);
    engine.channel.kill();
    if (this.engine === engine) this.engine = null;
    // A process that never became ready fails its callers with the same error.
    engine.failReady(error);
    this.failWaiter(error);
    if (!this.shuttingDown) {
      this.restarts++;
      this.emit('fault', error);
    }
  }

  private route(message: EngineToHost): void {
    if (message.type === 'heartbeat') return;
    if (message.type === 'snapshot') { this.emit('snapshot', message.snapshot); return; }
    const waiter = this.waiter;
    if (!waiter) return;
    if (message.type === 'error') {
      this.waiter = null;
      clearTimeout(waiter.timer);
      // Words for the step's knob come from the catalogue, through the adapter.
      waiter.reject(startError(message.error));
      return;
    }
    if (message.type === waiter.expect) {
      this.waiter = null;
      clearTimeout(waiter.timer);
      waiter.resolve(message);
    }
  }

  private failWaiter(error: LabError): void {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter) { clearTimeout(waiter.timer); waiter.reject(error); }
  }
}

/**
 * A message as the rest of the host sees it: the profile's stack ids (protocol.ts,
 * EngineWireMessage) replaced by their names, which `names` learns from the messages in the
 * order the engine sent them and forgets at each run's `started` (the engine's ids start again
 * there). Every frame of a run shares the same string for a stack, so maps keyed by folded stacks
 * hash each name once.
 */
export function fromWire(message: EngineWireMessage, names: Map<number, string>): EngineToHost {
  if (message.type === 'started') names.clear();
  if (message.type !== 'snapshot' && message.type !== 'stopped') return message;
  for (const [id, folded] of message.stacks ?? []) names.set(id, folded);
  if (message.type === 'snapshot') return { type: 'snapshot', snapshot: snapshotFromWire(message.snapshot, names) };
  return { type: 'stopped', final: message.final && snapshotFromWire(message.final, names) };
}

function snapshotFromWire(snapshot: WireSnapshot, names: Map<number, string>): NativeSnapshot {
  const profile = snapshot.kernel?.profile;
  if (!snapshot.kernel || !profile) return snapshot as NativeSnapshot;
  const { stacks, ...rest } = profile;
  // An id without a name cannot happen while messages arrive in order; it would show as such.
  const folded: FoldedStack[] = stacks.map(([id, n]) => [names.get(id) ?? `[stack ${id}: name not received]`, n]);
  return { ...snapshot, kernel: { ...snapshot.kernel, profile: { ...rest, folded } } };
}

