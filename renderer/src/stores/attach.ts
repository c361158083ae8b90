/**
 * Connects the stores to a LabApi transport: main.ts does this once with the real client;
 * tests pass a fake client and a buffer of their own.
 */
import type { LabClient } from '../api/labClient';
import { useAbStore } from './ab';
import { useConnectionStore } from './connection';
import type { FrameBuffer } from './frameBuffer';
import { useFramesStore } from './frames';
import { useHistoryStore } from './history';
import { useRunStore } from './run';

export function attachLab(client: LabClient, buffer?: FrameBuffer): void {
  if (buffer) useFramesStore().use(buffer);
  // The run store follows the connection from its first state on, so it exists first.
  const run = useRunStore();
  const ab = useAbStore();
  // A/B events go to the A/B store; every other event is the run store's.
  useConnectionStore().attach(client, (event) => {
    if (event.type === 'abProgress' || event.type === 'abEnded') ab.handleEvent(event);
    else if (event.type === 'historyChanged') useHistoryStore().handleChange(event);
    else run.handleEvent(event);
  });
}
