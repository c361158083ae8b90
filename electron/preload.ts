/**
 * contextBridge: exposes exactly the LabApi as `window.uringLab`, nothing else, derived from
 * the contract's method names (so a new LabApi method needs no edit here). Failures are
 * rejected as plain {code, kind, message, field, fix} objects because contextBridge strips
 * every property but `message` from Error instances.
 *
 * Sandboxed preloads can only require 'electron': scripts/post-build.mjs bundles this file
 * with the zod-free method list (contract/labMethods.ts) into dist/electron/preload.js.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { LabApi, LabCallResult, LabEvent } from './contract';
import { IPC_CALL, IPC_EVENT, LAB_METHOD_NAMES } from './contract/labMethods';

async function call(method: string, params?: unknown): Promise<unknown> {
  const response = (await ipcRenderer.invoke(IPC_CALL, method, params)) as LabCallResult;
  if (response.ok) return response.result;
  throw response.error;
}

const methods = Object.fromEntries(LAB_METHOD_NAMES.map((method) => [method, (params?: unknown) => call(method, params)]));

const uringLab = {
  ...methods,
  onEvent: (listener: (event: LabEvent) => void) => {
    const handler = (_event: unknown, labEvent: LabEvent) => listener(labEvent);
    ipcRenderer.on(IPC_EVENT, handler);
    return () => { ipcRenderer.removeListener(IPC_EVENT, handler); };
  },
} as LabApi;

contextBridge.exposeInMainWorld('uringLab', uringLab);
