import { describe, expect, it } from 'vitest';
import { createDrawScheduler, type ChartsDrawnDetail } from '../../renderer/src/charts/drawScheduler';

/** A scheduler on a fake clock: each draw advances it by its cost; frames run when the test says. */
function harness(budgetMs = 24) {
  let clock = 0;
  let frames: Array<(t: number) => void> = [];
  const log: string[] = [];
  const passes: ChartsDrawnDetail[] = [];
  const errors: unknown[] = [];
  const s = createDrawScheduler({
    raf: (cb) => (frames.push(cb), frames.length),
    now: () => clock,
    drawn: (d) => passes.push(d),
    failed: (e) => errors.push(e),
    budgetMs,
  });
  const chart = (name: string, costMs: number | (() => number)) =>
    s.slot(() => {
      log.push(name);
      clock += typeof costMs === 'number' ? costMs : costMs();
    });
  /** Runs the animation frames requested so far (one vsync); returns what drew in it. */
  const frame = () => {
    const run = frames;
    frames = [];
    const from = log.length;
    clock += 16.7;
    for (const cb of run) cb(clock);
    return log.slice(from);
  };
  return { chart, frame, log, passes, errors, pendingFrames: () => frames.length };
}

describe('the charts’ draw queue', () => {
  it('draws a streaming frame’s charts in one animation frame, each once however often asked', () => {
    const h = harness();
    const charts = ['throughput', 'client', 'uring', 'runqueue'].map((n) => h.chart(n, n === 'throughput' ? 2.5 : 1.4));
    for (let i = 0; i < 3; i++) charts.forEach((c) => c.request());
    expect(h.pendingFrames()).toBe(1);
    expect(h.frame()).toEqual(['throughput', 'client', 'uring', 'runqueue']);
    expect(h.passes.at(-1)!.pending).toBe(0);
    expect(h.pendingFrames()).toBe(0);
  });

  it('spreads full redraws that would overrun the budget over frames, the slow one in a frame of its own', () => {
    const h = harness(24);
    // Learned costs: a run's end makes every chart redraw in full (the ECharts plot ~30 ms).
    const costs: Record<string, number> = { throughput: 8, client: 8, uring: 3, runqueue: 3, percentile: 30 };
    const charts = Object.keys(costs).map((n) => h.chart(n, () => costs[n]!));
    charts.forEach((c) => c.request());
    // First pass: no cost known yet (expected 0), so all of them fit.
    expect(h.frame()).toEqual(['throughput', 'client', 'uring', 'runqueue', 'percentile']);
    // Now every cost is known: the percentile plot no longer joins a frame the others filled.
    charts.forEach((c) => c.request());
    expect(h.frame()).toEqual(['throughput', 'client', 'uring', 'runqueue']);
    expect(h.passes.at(-1)!.pending).toBe(1);
    expect(h.frame()).toEqual(['percentile']);
    expect(h.passes.at(-1)!.pending).toBe(0);
    // A chart asked again while others wait keeps its place behind them (no starvation).
    charts[4]!.request();
    charts[0]!.request();
    expect(h.frame()).toEqual(['percentile']);
    expect(h.frame()).toEqual(['throughput']);
  });

  it('always draws at least one chart per frame, even one costlier than the whole budget', () => {
    const h = harness(24);
    const slow = h.chart('slow', 60);
    const fast = h.chart('fast', 1);
    slow.request();
    fast.request();
    expect(h.frame()).toEqual(['slow']);
    expect(h.frame()).toEqual(['fast']);
    slow.request();
    expect(h.frame()).toEqual(['slow']);
  });

  it('keeps drawing the others when one chart throws, and reports the error', () => {
    const h = harness();
    const bad = h.chart('bad', () => {
      throw new Error('boom');
    });
    const good = h.chart('good', 1);
    bad.request();
    good.request();
    expect(h.frame()).toEqual(['bad', 'good']);
    expect(h.errors.map((e) => (e as Error).message)).toEqual(['boom']);
    expect(h.passes.at(-1)!.pending).toBe(0);
  });

  it('drops a cancelled chart (unmounted) from the queue', () => {
    const h = harness();
    const a = h.chart('a', 1);
    const b = h.chart('b', 1);
    a.request();
    b.request();
    a.cancel();
    expect(h.frame()).toEqual(['b']);
    a.cancel(); // twice: harmless
    a.request();
    expect(h.frame()).toEqual(['a']);
  });

  it('reports each pass’s animation-frame time, the data frame’s last chart included when it spilled', () => {
    const h = harness(10);
    const a = h.chart('a', 8);
    const b = h.chart('b', 8);
    a.request();
    b.request();
    h.frame(); // learns the costs: a and b (b's unknown cost fits after a's 8 ms)
    a.request();
    b.request();
    h.frame();
    h.frame();
    const [p1, p2] = h.passes.slice(-2);
    expect(p1!.pending).toBe(1);
    expect(p2!.pending).toBe(0);
    // The next vsync after the first pass (which spent a's 8 ms).
    expect(p2!.frameStart - p1!.frameStart).toBeCloseTo(8 + 16.7, 5);
  });
});
