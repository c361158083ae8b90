/**
 * The live frames of the shown run, for every component that draws them: one FrameBuffer
 * held raw (markRaw), outside deep reactivity; its own shallow refs (`version`, `latest`,
 * `missed`) are what components and charts react to.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, shallowRef } from 'vue';
import { FrameBuffer } from './frameBuffer';

export const useFramesStore = defineStore('frames', () => {
  const buffer = shallowRef<FrameBuffer>(markRaw(new FrameBuffer()));
  /** The newest frame of the buffered run, for the numeric readouts. */
  const latest = computed(() => buffer.value.latest.value);
  /** Frames of the shown run this page never got (the host no longer kept them, or gaps). */
  const lost = computed(() => buffer.value.missed.value);

  /** Feeds another buffer (main.ts keeps the default; tests pass their own). */
  function use(next: FrameBuffer): void {
    buffer.value = markRaw(next);
  }

  return { buffer, latest, lost, use };
});
