/**
 * When the engine takes a frame. Its timer ticks every frameIntervalMs, but a tick that comes
 * less than half an interval after the last frame is skipped (the next frame covers both). A
 * late tick (the first kernel read naming its first stacks, a stalled event loop) is followed by
 * one on the timer's schedule: Node schedules an interval from the start of its callback, so a
 * callback that took 95 ms left the next frame ~8 ms long, whose rate read 3.0M req/s beside
 * ~180k and whose p99 rested on a handful of requests.
 */
export class FrameClock {
  private readonly minFrameNs: number;

  /** `lastFrameNs`: the monotonic time the first frame's interval begins (the run's start). */
  constructor(frameIntervalMs: number, private lastFrameNs: number) {
    this.minFrameNs = (frameIntervalMs * 1e6) / 2;
  }

  /** Whether a tick at `nowNs` takes a frame. */
  due(nowNs: number): boolean {
    return nowNs - this.lastFrameNs >= this.minFrameNs;
  }

  /** A frame was taken whose interval ended at `endNs` (the snapshot's monotonicNs). */
  taken(endNs: number): void {
    this.lastFrameNs = endNs;
  }
}
