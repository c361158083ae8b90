/**
 * Connects the stores to a LabApi transport: main.ts does this once with the real client;
 * tests pass a fake client and a buffer of their own.
 */
import type { LabClient } from '../api/labClient';
import { useConnectionStore } from './connection';
import type { FrameBuffer } from './frameBuffer';
import { useFramesStore } from './frames';
import { useRunStore } from './run';

export function attachLab(client: LabClient, buffer?: FrameBuffer): void {
  if (buffer) useFramesStore().use(buffer);
  // The run store follows the connection from its first state on, so it exists first.
  const run = useRunStore();
  useConnectionStore().attach(client, run.handleEvent);
}
