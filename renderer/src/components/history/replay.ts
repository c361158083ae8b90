/**
 * A saved run shown with the live view's own chart components, "as it was": the components
 * read the frames and run stores, so the replay gets a Pinia of its own (a small Vue app
 * mounted inside the History view) whose stores are fed the stored phases, frames and the
 * terminal event through their public actions (run.handleEvent, frames.use). The page's live
 * stores are never touched: a run started meanwhile, in this window or another, goes on as usual.
 */
import { createPinia, getActivePinia, setActivePinia, type Pinia } from 'pinia';
import { createApp, type Component } from 'vue';
import type { LabEvent } from '../../../../electron/contract';
import type { OpenedRun } from '../../stores/history';
import { FrameBuffer } from '../../stores/frameBuffer';
import { useFramesStore } from '../../stores/frames';
import { useRunStore } from '../../stores/run';

/** Feeds `opened` into the stores of `pinia`: phases, every frame, then how the run ended. */
export function loadReplay(pinia: Pinia, opened: OpenedRun): void {
  const page = getActivePinia();
  try {
    feed(pinia, opened);
  } finally {
    // useStore(pinia) made the replay's Pinia the active one; code outside components uses the page's.
    if (page) setActivePinia(page);
  }
}

function feed(pinia: Pinia, opened: OpenedRun): void {
  const { runId, meta, frames } = opened;
  // The whole stored run (not the live view's 60 s ring): one column per frame.
  const buffer = new FrameBuffer(Math.max(1, frames.length));
  useFramesStore(pinia).use(buffer);
  const run = useRunStore(pinia);
  for (const phase of meta.phases) run.handleEvent({ type: 'phase', runId, phase });
  // The run store's frame event is for live frames (adopting a run, fetching missed ones); once
  // the run is adopted (by its phases, else its first frame) the stored frames go straight into
  // the buffer, as that event would put them: a third of the time for an hour-long run.
  let rest = frames;
  if (run.runId !== runId && frames[0]) {
    run.handleEvent({ type: 'frame', frame: frames[0] });
    rest = frames.slice(1);
  }
  for (const frame of rest) buffer.push(frame);
  const summary = meta.summary;
  if (!summary) return; // a run whose host died: its frames are all there is
  // 'failed' would also raise the page's error banner in a live view; here the summary says it.
  // An interruption's reason is kept only for a recovered run; the summary panel words the rest.
  const reason = meta.recovered?.reason;
  const end: LabEvent = summary.status === 'interrupted' && reason ? { type: 'interrupted', runId, reason, summary } : { type: 'ended', runId, summary };
  run.handleEvent(end);
}

/**
 * Mounts `root` (the replay's charts) on `el` with a fresh Pinia holding `opened`; returns the
 * unmount. The page's Pinia stays the active one for code outside components.
 */
export function mountReplay(el: Element, root: Component, opened: OpenedRun): () => void {
  const page = getActivePinia();
  const pinia = createPinia();
  const app = createApp(root).use(pinia);
  try {
    loadReplay(pinia, opened);
    app.mount(el);
  } finally {
    // The replay's components made the replay's Pinia the active one as they mounted.
    if (page) setActivePinia(page);
  }
  return () => {
    app.unmount();
    if (page) setActivePinia(page);
  };
}
