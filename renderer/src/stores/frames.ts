/**
 * The live frames of the shown run, for every component that draws them: one FrameBuffer
 * held raw (markRaw), outside deep reactivity; its own shallow refs (`version`, `latest`,
 * `missed`) are what components and charts react to.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, shallowRef, watch } from 'vue';
import type { RunFrame } from '../../../electron/contract';
import { FrameBuffer } from './frameBuffer';

/**
 * The numeric readouts (stats, counters, probe costs) follow the frames at most this often:
 * numbers changing ten times a second cannot be read, and each text update re-lays out and
 * repaints the page while the charts draw every frame. Twice a second, as a terminal monitor
 * refreshes at most: at four, the readouts' Vue updates, re-layout and repaint were a tenth
 * of the page's main-thread CPU on the 2-vCPU VM, which the time charts' frames then waited on.
 */
export const READOUT_REFRESH_MS = 500;

export const useFramesStore = defineStore('frames', () => {
  const buffer = shallowRef<FrameBuffer>(markRaw(new FrameBuffer()));
  /** The newest frame of the buffered run, for the numeric readouts. */
  const latest = computed(() => buffer.value.latest.value);
  /** `latest`, refreshed at most every READOUT_REFRESH_MS (a new run's first frame at once): what text readouts show. */
  const readout = shallowRef<RunFrame | null>(null);
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastAt = -Infinity;
  function refreshReadout(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    lastAt = Date.now();
    readout.value = buffer.value.latest.value;
  }
  watch(latest, (now, before) => {
    if (!now || !before || now.runId !== before.runId) return refreshReadout();
    // Halfway between this frame and the next (frames come every intervalMs), and only there:
    // the readouts' re-layout and repaint get an animation frame of their own instead of
    // landing, at a drifting phase, in one where the charts draw a frame. Not due by then: the
    // timer waits past the next frame, which moves it to its own halfway point; when frames
    // stop, it fires (the last frame always shows).
    if (timer) clearTimeout(timer);
    const half = Math.min(READOUT_REFRESH_MS, now.intervalMs > 0 ? now.intervalMs / 2 : 0);
    const dueIn = lastAt + READOUT_REFRESH_MS - Date.now();
    timer = setTimeout(refreshReadout, dueIn <= half ? half : Math.max(dueIn, 3 * half));
  });
  /** Frames of the shown run this page never got (the host no longer kept them, or gaps). */
  const lost = computed(() => buffer.value.missed.value);

  /** Feeds another buffer (main.ts keeps the default; tests pass their own). */
  function use(next: FrameBuffer): void {
    buffer.value = markRaw(next);
  }

  return { buffer, latest, readout, lost, use };
});
