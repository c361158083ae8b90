/**
 * contextBridge: exposes exactly the LabApi as `window.uringLab`, nothing else. Failures are
 * rejected as plain {code, message, field, fix} objects because contextBridge strips every
 * property but `message` from Error instances.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { LabApi, LabEvent } from './contract';

// Sandboxed preloads can only require 'electron', so the channel names are repeated here
// rather than imported from main.ts.
const IPC_CALL = 'uring-lab:call';
const IPC_EVENT = 'uring-lab:event';

type CallResult = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string; field?: string; fix?: string } };

async function call<T>(method: string, params?: unknown): Promise<T> {
  const response = (await ipcRenderer.invoke(IPC_CALL, method, params)) as CallResult;
  if (response.ok) return response.result as T;
  throw response.error;
}

const uringLab: LabApi = {
  getStatus: () => call('getStatus'),
  startRun: (params) => call('startRun', params),
  stopRun: () => call('stopRun'),
  setKnob: (params) => call('setKnob', params),
  takeControl: () => call('takeControl'),
  getFrames: (params) => call('getFrames', params),
  doctor: () => call('doctor'),
  onEvent: (listener) => {
    const handler = (_event: unknown, labEvent: LabEvent) => listener(labEvent);
    ipcRenderer.on(IPC_EVENT, handler);
    return () => { ipcRenderer.removeListener(IPC_EVENT, handler); };
  },
};

contextBridge.exposeInMainWorld('uringLab', uringLab);
