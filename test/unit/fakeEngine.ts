/**
 * A scriptable engine process for lifecycle tests: it speaks the real engine protocol over
 * the EngineChannel interface, and each test decides how it behaves — answer, answer late,
 * never answer, go silent (hang, like SIGSTOP), or die — so every ordering of calls and
 * faults can be driven deterministically without a kernel.
 */
import type { EngineChannel } from '../../electron/host/engine/supervisor';
import type { CapabilityProbe } from '../../native';
import { ENGINE_PROTOCOL_VERSION, postedForm, type EngineWireMessage, type HostToEngine, type WireSnapshot, type NativeStarted } from '../../electron/engine/protocol';

export type Reply = 'answer' | 'never' | 'hang' | 'crash' | 'error';

export interface FakeBehaviour {
  start: Reply;
  stop: Reply;
  /** Delay before an answered start/stop/probe replies, ms. */
  delayMs: number;
  /** Interval of snapshots while running, ms. */
  snapshotMs: number;
  /** Memory the plan reports as needed by a run, bytes. */
  neededBytes: number;
}

export class FakeEngineHost {
  behaviour: FakeBehaviour = { start: 'answer', stop: 'answer', delayMs: 5, snapshotMs: 20, neededBytes: 1 << 20 };
  readonly engines: FakeEngine[] = [];

  spawn = (): EngineChannel => {
    const engine = new FakeEngine(this);
    this.engines.push(engine);
    return engine;
  };

  get current(): FakeEngine | undefined {
    return this.engines[this.engines.length - 1];
  }
}

/** Fake engine pids: never a real process here (above the kernel's default pid_max). */
let nextFakePid = 5_000_000;

export class FakeEngine implements EngineChannel {
  private messageListeners: Array<(m: EngineWireMessage | string) => void> = [];
  private exitListeners: Array<(code: number | null, signal: string | null) => void> = [];
  private timers = new Set<NodeJS.Timeout>();
  private snapshotTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  running = false;
  exited = false;
  /** Silent like a SIGSTOPped process: no heartbeats, snapshots or answers. */
  hung = false;
  readonly received: HostToEngine['type'][] = [];
  readonly pid = nextFakePid++;

  constructor(private readonly host: FakeEngineHost) {
    this.later(1, () => this.post({ type: 'ready', pid: this.pid, protocol: ENGINE_PROTOCOL_VERSION }));
    this.heartbeat = setInterval(() => this.post({ type: 'heartbeat' }), 25);
  }

  send(message: HostToEngine): void {
    if (this.exited) return;
    this.received.push(message.type);
    const b = this.host.behaviour;
    switch (message.type) {
      case 'plan':
        this.later(1, () => this.post({ type: 'planned', resources: { needs: { bufferRingBytes: b.neededBytes, loadBufferBytes: 0, ringBytes: 0, connectionStateBytes: 0, totalBytes: b.neededBytes, pinnedBytes: 0, memlockExempt: true, memlockLimitBytes: null }, memAvailableBytes: 8 * 2 ** 30 } }));
        return;
      case 'start':
        // Only a healthy set-up can be called off; one about to hang, crash or fail does that.
        this.startPending = b.start === 'answer' || b.start === 'never';
        return this.reply(b.start, () => {
          if (!this.startPending) return; // called off first: its error was the answer
          this.startPending = false;
          this.running = true;
          this.post({ type: 'started', started: fakeStarted(), atNs: Number(process.hrtime.bigint()) });
          this.snapshotTimer = setInterval(() => this.post({ type: 'snapshot', snapshot: fakeSnapshot(true) }), b.snapshotMs);
        });
      case 'stop':
        if (this.snapshotTimer) clearInterval(this.snapshotTimer);
        this.snapshotTimer = null;
        return this.reply(b.stop, () => {
          const was = this.running;
          this.running = false;
          this.post({ type: 'stopped', final: was ? fakeSnapshot(false) : null });
        });
      case 'probe':
        return this.reply('answer', () => this.post({ type: 'probed', capabilities: { ring: ok(), sqpoll: ok(), deferTaskrun: ok(), coopTaskrun: ok(), iopollSocket: { available: false, errno: 22, code: 'EINVAL', reason: 'Invalid argument' }, ops: ['RECV'], features: ['NODROP'] } as CapabilityProbe }));
      case 'probesCheck':
        // The doctor's eBPF probe check: the fake has no kernel, so every probe is refused.
        return this.reply('answer', () => this.post({ type: 'probesChecked', privileges: { uid: 0, capEff: null, probeHelper: '/nonexistent/uring-lab-probe-helper' }, probes: [{ name: 'runqueue', attached: false, variant: null, reason: 'fake engine: no kernel', fix: null, loadedBy: null }] }));
      case 'cancelStart':
        // As the real engine: a start still setting up unwinds and answers with its error
        // (one that already answered, or a hung or dead engine, does nothing).
        if (!this.startPending) return;
        this.startPending = false;
        this.later(1, () => this.post({ type: 'error', during: 'start', error: { code: 'ECANCELED', errno: 125, message: 'the start was called off while it set up', step: 'START_CANCELLED' } }));
        return;
      case 'shutdown':
        return this.exit(0, null);
    }
  }

  /** A start asked for, setting up and not answered yet (cancelStart answers it with its error). */
  private startPending = false;

  onMessage(listener: (message: EngineWireMessage | string) => void): void { this.messageListeners.push(listener); }
  onExit(listener: (code: number | null, signal: string | null) => void): void { this.exitListeners.push(listener); }
  kill(): void { this.exit(null, 'SIGKILL'); }

  /** Dies now, as if SIGKILLed from outside. */
  crash(): void { this.exit(null, 'SIGKILL'); }

  /** Stops talking, as if SIGSTOPped. */
  hang(): void { this.hung = true; }

  private reply(how: Reply, answer: () => void): void {
    const delay = this.host.behaviour.delayMs;
    switch (how) {
      case 'answer': this.later(delay, answer); return;
      case 'never': return; // alive and heartbeating, but this request never completes
      case 'hang': this.later(delay, () => this.hang()); return;
      case 'crash': this.later(delay, () => this.crash()); return;
      case 'error': this.later(delay, () => { this.startPending = false; this.post({ type: 'error', during: 'start', error: { code: 'EINVAL', errno: 22, message: 'fake refusal', step: 'SERVER_RING_SETUP' } }); }); return;
    }
  }

  /** As the real engine posts it: snapshots as JSON text (postedForm). */
  private post(message: EngineWireMessage): void {
    if (this.exited || this.hung) return;
    const posted = postedForm(message);
    for (const l of this.messageListeners) l(posted);
  }

  /** Posts something no engine of ours sends (a transport fault, a mismatched build). */
  postRaw(posted: string): void {
    for (const l of this.messageListeners) l(posted);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  private exit(code: number | null, signal: string | null): void {
    if (this.exited) return;
    this.exited = true;
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    setTimeout(() => { for (const l of this.exitListeners) l(code, signal); }, 1);
  }
}

function ok() {
  return { available: true, errno: 0, code: '', reason: '' };
}

function fakeStarted(): NativeStarted {
  return {
    protocol: 1,
    port: 40000,
    applied: { server: { ringEntries: 4096, sqpoll: { enabled: false, cpu: null, idleMs: 1000, shared: false }, taskrun: 'defer', bufferRing: { size: 2048, count: 4096, hugepages: false, incremental: false, hotFirst: false } } as NativeStarted['applied']['server'] },
    refused: [],
    ring: { flags: ['CQSIZE'], features: ['NODROP'], sqEntries: 4096, cqEntries: 8192 },
    loadThreads: 1,
    serverWorkers: [{ tid: 1, cpu: null, numaNode: null, attachedWq: false }],
    storage: null,
  };
}

function fakeSnapshot(running: boolean): WireSnapshot {
  return {
    requests: 100, bytes: 12_800, errors: 0, serverErrors: 0, enobufs: 0,
    histogram: [[20, 50], [40, 50]], correctedHistogram: [[20, 50], [40, 50]],
    serverCpuNs: 1e6, loadCpuNs: 1e6, loadThreadCpuNs: [1e6], processCpuNs: 2e6,
    monotonicNs: Number(process.hrtime.bigint()), activeConnections: 4, liveLoadConnections: 4,
    inFlight: 4, oldestInFlightUs: 30, running, serverError: null,
    server: {
      enters: 60, batchedWaits: 0, cqes: 200, recvs: 100, sends: 100, bytesOut: 12_800, zeroCopySends: 0, copiedSends: 0, zeroCopyFallbacks: 0,
      enobufs: 0, rearms: 0, spilledBytes: 0, cqOverflows: 0, buffersInUse: 4, buffersTotal: 4096, buffersInRing: 4092,
      userCpuNs: 2e5, systemCpuNs: 8e5, sqpollCpuNs: 0, sqpollWorkNs: null, errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
    },
    serverWorkers: [{ accepted: 4, active: 4 }],
  } as WireSnapshot;
}
