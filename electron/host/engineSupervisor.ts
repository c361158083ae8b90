/**
 * Runs the engine in its own process and restarts it after a crash. The transport is
 * pluggable: child_process.fork under plain Node (CLI, browser host, tests) and Electron's
 * utilityProcess in the desktop app; both carry the same EngineToHost/HostToEngine messages.
 */
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { LabError } from '../contract';
import type { CapabilityProbe, EngineToHost, HostToEngine, NativeEngineConfig, NativeSnapshot, NativeStarted } from '../engine/protocol';

export interface EngineChannel {
  send(message: HostToEngine): void;
  onMessage(listener: (message: EngineToHost) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  kill(): void;
}

export type EngineSpawner = () => EngineChannel;

export const ENGINE_ENTRY = path.join(__dirname, '..', 'engine', 'main.js');

/** child_process.fork transport: the default everywhere but inside Electron. */
export function forkEngine(entry = ENGINE_ENTRY): EngineChannel {
  const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  return {
    send: (message) => { if (child.connected) child.send(message); },
    onMessage: (listener) => child.on('message', (m) => listener(m as EngineToHost)),
    onExit: (listener) => child.on('exit', (code, signal) => listener(code, signal)),
    kill: () => { child.kill('SIGKILL'); },
  };
}

interface Waiter {
  expect: EngineToHost['type'];
  resolve: (message: EngineToHost) => void;
  reject: (error: LabError) => void;
  timer: NodeJS.Timeout;
}

export interface EngineSupervisorEvents {
  snapshot: [NativeSnapshot];
  crash: [LabError];
}

export class EngineSupervisor extends EventEmitter<EngineSupervisorEvents> {
  private channel: EngineChannel | null = null;
  private ready: Promise<void> | null = null;
  private waiter: Waiter | null = null;
  private shuttingDown = false;
  restarts = 0;
  /** The engine process's pid, once it said it is ready. */
  pid: number | null = null;

  constructor(private readonly spawn: EngineSpawner = () => forkEngine(), private readonly timeoutMs = 15_000) {
    super();
  }

  /** Starts the engine process if it is not running; resolves once it said it is ready. */
  private ensureProcess(): Promise<void> {
    if (this.ready) return this.ready;
    this.shuttingDown = false;
    const channel = this.spawn();
    this.channel = channel;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LabError({ code: 'ENGINE_TIMEOUT', message: 'engine process did not start', fix: 'run `uring-lab doctor` and check that the native addon is built (npm run build:native)' })), this.timeoutMs);
      channel.onMessage((message) => {
        if (message.type === 'ready') { this.pid = message.pid; clearTimeout(timer); resolve(); return; }
        this.route(message);
      });
      channel.onExit((code, signal) => {
        clearTimeout(timer);
        this.channel = null;
        this.ready = null;
        this.pid = null;
        const error = new LabError({
          code: 'ENGINE_CRASHED',
          message: `engine process exited (${signal ?? `code ${code}`})`,
          fix: 'the lab restarts it on the next run; if it repeats, run `uring-lab doctor`',
        });
        reject(error);
        this.failWaiter(error);
        if (!this.shuttingDown) { this.restarts++; this.emit('crash', error); }
      });
    });
    return this.ready;
  }

  private route(message: EngineToHost): void {
    if (message.type === 'snapshot') { this.emit('snapshot', message.snapshot); return; }
    const waiter = this.waiter;
    if (!waiter) return;
    if (message.type === 'error') {
      this.waiter = null;
      clearTimeout(waiter.timer);
      const e = message.error;
      waiter.reject(new LabError({ code: e.code, message: e.message, field: e.knob, fix: fixForEngineError(e.code, e.knob) }));
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

  private async request<T extends EngineToHost['type']>(message: HostToEngine, expect: T): Promise<Extract<EngineToHost, { type: T }>> {
    await this.ensureProcess();
    if (this.waiter) throw new LabError({ code: 'ENGINE_BUSY', message: 'the engine is still answering a previous request', fix: 'wait for it and try again' });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new LabError({ code: 'ENGINE_TIMEOUT', message: `engine did not answer "${message.type}" in ${this.timeoutMs} ms`, fix: 'the engine process is being restarted; try again' }));
        this.channel?.kill();
      }, this.timeoutMs);
      this.waiter = { expect, resolve: resolve as (m: EngineToHost) => void, reject, timer };
      this.channel!.send(message);
    });
  }

  async start(config: NativeEngineConfig, frameIntervalMs: number): Promise<NativeStarted> {
    return (await this.request({ type: 'start', config, frameIntervalMs }, 'started')).started;
  }

  async stop(): Promise<NativeSnapshot | null> {
    if (!this.channel) return null;
    return (await this.request({ type: 'stop' }, 'stopped')).final;
  }

  /** Creates throw-away rings with each setup flag to learn what this kernel accepts. */
  async probe(): Promise<CapabilityProbe> {
    return (await this.request({ type: 'probe' }, 'probed')).capabilities;
  }

  /** Ends the engine process; safe to call more than once. */
  async shutdown(): Promise<void> {
    const channel = this.channel;
    if (!channel) return;
    this.shuttingDown = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { channel.kill(); resolve(); }, 3000);
      channel.onExit(() => { clearTimeout(timer); resolve(); });
      channel.send({ type: 'shutdown' });
    });
  }
}

function fixForEngineError(code: string, knob?: string): string {
  switch (code) {
    case 'EPERM':
      return 'io_uring may be disabled: check `sysctl kernel.io_uring_disabled` (0 allows it) and container seccomp; run `uring-lab doctor`';
    case 'ENOMEM':
      return 'raise the locked-memory limit (ulimit -l) or lower server.ringEntries / server.bufferRing.count';
    case 'EADDRINUSE':
      return 'another process holds the port; let the lab pick one (port 0)';
    default:
      return knob ? `change ${knob} and try again; \`uring-lab doctor\` lists what this kernel supports` : 'run `uring-lab doctor` to see what this kernel supports';
  }
}
