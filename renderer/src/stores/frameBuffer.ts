/**
 * The live frame buffer, kept OUTSIDE Pinia's deep reactivity (the frames store holds it
 * raw): a fixed-capacity ring of the last FRAME_CAPACITY frames (60 s at 10 Hz: memory stays
 * bounded however long the run), each with its client and kernel histograms pre-folded into heatmap rows, plus per-phase tallies over every measured frame of the run (for the live per-phase
 * table and percentile plot, which must not forget what scrolled out of the ring).
 * Charts watch `version` (bumped per push) and redraw at most once per animation frame.
 */
import { shallowRef, type ShallowRef } from 'vue';
import { closingRetransmits, type RunFrame } from '../../../electron/contract';
import { KERNEL_LATENCY_ROWS } from '../charts/kernelRows';
import { toCoarseColumn, type CoarseColumn } from '../charts/latencyRows';
import { PhaseTally } from './phaseRows';

export const FRAME_CAPACITY = 600;

/** Fixed-capacity FIFO: pushing onto a full buffer evicts the oldest item. */
export class RingBuffer<T> {
  private items: (T | undefined)[];
  private head = 0; // index of the oldest item
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Appends `item`; returns the evicted oldest item when the buffer was full. */
  push(item: T): T | undefined {
    if (this.count < this.capacity) {
      this.items[(this.head + this.count) % this.capacity] = item;
      this.count++;
      return undefined;
    }
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    return evicted;
  }

  /** i-th item from the oldest (0) to the newest (length - 1). */
  at(i: number): T | undefined {
    if (i < 0) i += this.count;
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) % this.capacity];
  }

  last(): T | undefined {
    return this.count ? this.at(this.count - 1) : undefined;
  }

  toArray(): T[] {
    const out: T[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.items[(this.head + i) % this.capacity] as T;
    return out;
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.head = 0;
    this.count = 0;
  }
}

export interface BufferedFrame {
  frame: RunFrame;
  /** The client histogram folded into heatmap rows (once, on arrival: each redraw reuses it). */
  column: CoarseColumn;
  /** The probes' io_uring in-kernel latency and run-queue latency, folded likewise; null when
   *  the frame carries no kernel data (no probe attached, or a host without probes). */
  uring: CoarseColumn | null;
  runqueue: CoarseColumn | null;
}

/** A frame with its histograms folded into heatmap rows. */
export function bufferedFrame(frame: RunFrame): BufferedFrame {
  const kernel = frame.kernel;
  return {
    frame,
    column: toCoarseColumn(frame.histogram),
    uring: kernel ? toCoarseColumn(kernel.uring.latencyNs, KERNEL_LATENCY_ROWS) : null,
    runqueue: kernel ? toCoarseColumn(kernel.runqueue.latencyNs, KERNEL_LATENCY_ROWS) : null,
  };
}

export class FrameBuffer {
  readonly ring: RingBuffer<BufferedFrame>;
  /** Run whose frames are buffered; null before the first frame. */
  runId: string | null = null;
  /** Frames received for this run, including those evicted from the ring. */
  received = 0;
  /** Sums over every frame received for this run (warm-up included); timeouts: load.timeoutMs expiries, apart from errors. */
  totals = { requests: 0, errors: 0, bytes: 0, timeouts: 0 };
  /** The probes' TCP counts over every frame received for this run (frames with kernel data). */
  kernelTotals = { retransmits: 0, closeRetransmits: 0, drops: 0, closeDrops: 0, duplicateDrops: 0, lostEvents: 0 };
  /** Per-phase sums over the measured frames received for this run. */
  readonly tallies = new Map<number, PhaseTally>();
  /** Seq of the newest frame received, -1 before the first. */
  lastSeq = -1;
  /** Frames of this run never received (seq gaps, counted from seq 0): the live numbers lack them. */
  readonly missed: ShallowRef<number> = shallowRef(0);
  /** Bumped on every change; charts watch it. */
  readonly version: ShallowRef<number> = shallowRef(0);
  /** The newest frame, for the numeric readouts. */
  readonly latest: ShallowRef<RunFrame | null> = shallowRef(null);

  constructor(capacity = FRAME_CAPACITY) {
    this.ring = new RingBuffer<BufferedFrame>(capacity);
  }

  /** Appends a frame; a frame of another run starts a fresh buffer. Out-of-order frames are dropped. */
  push(frame: RunFrame): boolean {
    if (frame.runId !== this.runId) this.reset(frame.runId);
    if (frame.seq <= this.lastSeq) return false;
    if (frame.seq > this.lastSeq + 1) this.missed.value += frame.seq - this.lastSeq - 1;
    this.lastSeq = frame.seq;
    this.ring.push(bufferedFrame(frame));
    let tally = this.tallies.get(frame.phase);
    if (!tally) this.tallies.set(frame.phase, (tally = new PhaseTally(frame.phase)));
    tally.add(frame);
    this.received++;
    this.totals = {
      requests: this.totals.requests + frame.requests,
      errors: this.totals.errors + frame.errors,
      bytes: this.totals.bytes + frame.bytes,
      timeouts: this.totals.timeouts + (frame.timeouts ?? 0),
    };
    if (frame.kernel) {
      const tcp = frame.kernel.tcp;
      this.kernelTotals = {
        retransmits: this.kernelTotals.retransmits + tcp.retransmits,
        // FINs sent again by closing sockets (from the events' states): no request waited.
        closeRetransmits: this.kernelTotals.closeRetransmits + closingRetransmits(tcp),
        drops: this.kernelTotals.drops + tcp.drops,
        closeDrops: this.kernelTotals.closeDrops + (tcp.closeDrops ?? 0),
        duplicateDrops: this.kernelTotals.duplicateDrops + (tcp.duplicateDrops ?? 0),
        lostEvents: this.kernelTotals.lostEvents + tcp.lostEvents,
      };
    }
    this.latest.value = frame;
    this.version.value++;
    return true;
  }

  reset(runId: string | null = null): void {
    this.ring.clear();
    this.runId = runId;
    this.received = 0;
    this.totals = { requests: 0, errors: 0, bytes: 0, timeouts: 0 };
    this.kernelTotals = { retransmits: 0, closeRetransmits: 0, drops: 0, closeDrops: 0, duplicateDrops: 0, lostEvents: 0 };
    this.tallies.clear();
    this.lastSeq = -1;
    this.missed.value = 0;
    this.latest.value = null;
    this.version.value++;
  }

  private snap: { version: number; items: readonly BufferedFrame[] } | null = null;

  /** The buffered frames, oldest first; one shared array per version (every chart of a redraw reads the same one: do not mutate). */
  snapshot(): readonly BufferedFrame[] {
    const version = this.version.value;
    if (this.snap?.version !== version) this.snap = { version, items: this.ring.toArray() };
    return this.snap.items;
  }

  /** The newest `n` frames, newest first. */
  recent(n: number): RunFrame[] {
    const out: RunFrame[] = [];
    for (let k = 1; k <= Math.min(n, this.ring.length); k++) out.push(this.ring.at(-k)!.frame);
    return out;
  }
}
