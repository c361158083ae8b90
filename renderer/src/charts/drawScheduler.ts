/**
 * The page's one queue of chart redraws, run in animation frames. Each chart (the throughput
 * canvas, the three heatmaps, the ECharts percentile plot) owns a slot and asks for a redraw
 * when its data, phases or size change; requests coalesce to one redraw per slot.
 *
 * Why one queue instead of a requestAnimationFrame per chart: while a run streams, all of them
 * redraw in the frame after each data frame and fit easily (~7 ms on this VM's 2 CPUs). But when
 * everything changes at once (a run's end, when the summary replaces the live data; a window
 * resize; a phase change) each chart's full redraw landed in the same animation frame: at a
 * run's stop, 52 ms of chart callbacks in one frame (an ECharts redraw alone 30 ms), a long
 * task that froze the page. The queue runs the slots in order while their expected cost (each
 * slot's last duration) fits the frame's budget; the others draw in the next frame, first.
 * At least one slot runs per frame, so a slow chart delays the others by one frame at most.
 *
 * After every pass the window gets a CHARTS_DRAWN_EVENT (detail: the pass's animation-frame
 * time and the slots still queued), so a measurement (npm run bench:ui) can time a data frame
 * to the pass that drew its last chart, a spilled redraw included.
 */

/**
 * Chart work one animation frame takes on before the rest waits for the next frame (ms). Above
 * the streaming redraws even when this VM's other work doubles their wall time (2 × ~7 ms), so
 * a data frame's charts stay in one frame; low enough that with the frame's style, layout,
 * paint and commit after it (10–20 ms) the frame stays under a long task's 50 ms.
 */
export const FRAME_DRAW_BUDGET_MS = 24;

/** Dispatched on window after each pass: `detail` is a ChartsDrawnDetail. */
export const CHARTS_DRAWN_EVENT = 'uringlab:charts-drawn';

export interface ChartsDrawnDetail {
  /** The animation frame's time (the rAF callback's argument, performance.now() time base). */
  frameStart: number;
  /** Slots still waiting for a later frame (0: every requested redraw is done). */
  pending: number;
}

export interface DrawSlot {
  /** Queues this slot's redraw (no-op when already queued). */
  request(): void;
  /** Takes it out of the queue (on unmount). */
  cancel(): void;
}

export interface DrawSchedulerEnv {
  raf: (cb: (t: number) => void) => number;
  now: () => number;
  /** Called after each pass. */
  drawn?: (detail: ChartsDrawnDetail) => void;
  /** A slot's draw threw: reported here, the other slots still run. */
  failed?: (err: unknown) => void;
  budgetMs?: number;
}

interface Slot {
  draw: () => void;
  queued: boolean;
  /** How long its last draw took (ms): what it is expected to take next. */
  lastMs: number;
}

export interface DrawScheduler {
  slot(draw: () => void): DrawSlot;
}

export function createDrawScheduler(env: DrawSchedulerEnv): DrawScheduler {
  const budget = env.budgetMs ?? FRAME_DRAW_BUDGET_MS;
  const queue: Slot[] = [];
  let pendingFrame = false;

  function pass(frameStart: number) {
    pendingFrame = false;
    const start = env.now();
    let spent = 0;
    while (queue.length) {
      const slot = queue[0]!;
      if (spent > 0 && spent + slot.lastMs > budget) break;
      queue.shift();
      slot.queued = false;
      const t = env.now();
      try {
        slot.draw();
      } catch (err) {
        env.failed?.(err);
      }
      const end = env.now();
      slot.lastMs = end - t;
      spent = end - start;
    }
    if (queue.length) ask();
    env.drawn?.({ frameStart, pending: queue.length });
  }

  function ask() {
    if (pendingFrame) return;
    pendingFrame = true;
    env.raf(pass);
  }

  return {
    slot(draw) {
      const s: Slot = { draw, queued: false, lastMs: 0 };
      return {
        request() {
          if (s.queued) return;
          s.queued = true;
          queue.push(s);
          ask();
        },
        cancel() {
          if (!s.queued) return;
          s.queued = false;
          queue.splice(queue.indexOf(s), 1);
        },
      };
    },
  };
}

let pageScheduler: DrawScheduler | null = null;

/** The page's scheduler (created on first use: the charts share its queue). */
export function chartDrawScheduler(): DrawScheduler {
  pageScheduler ??= createDrawScheduler({
    raf: (cb) => requestAnimationFrame(cb),
    now: () => performance.now(),
    drawn: (detail) => window.dispatchEvent(new CustomEvent<ChartsDrawnDetail>(CHARTS_DRAWN_EVENT, { detail })),
    // Thrown outside the pass, so it reaches the console and error reporting as any uncaught error would.
    failed: (err) =>
      queueMicrotask(() => {
        throw err;
      }),
  });
  return pageScheduler;
}
