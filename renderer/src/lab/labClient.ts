/**
 * Picks the LabApi transport: the Electron preload's `window.uringLab` (IPC) when present,
 * otherwise a WebSocket to the host that served this page (`uring-lab serve`).
 */
import type { LabApi } from '../../../electron/contract';
import { constantConnection, type LabConnection } from './connection';
import { WsLabApi, buildWsUrl } from './wsLabApi';

declare global {
  interface Window {
    /** Exposed by the Electron preload via contextBridge. */
    uringLab?: LabApi;
  }
}

export interface LabClient {
  api: LabApi;
  connection: LabConnection;
  transport: 'ipc' | 'ws';
  /** Why the client may not work at all (e.g. no token in the URL); shown as an error. */
  problem: { code: string; message: string; fix?: string } | null;
}

export function createLabClient(win: Window = window): LabClient {
  if (win.uringLab) {
    return { api: win.uringLab, connection: constantConnection({ kind: 'ipc' }), transport: 'ipc', problem: null };
  }
  const { url, token } = buildWsUrl(win.location);
  const api = new WsLabApi({ url });
  return {
    api,
    connection: api.connection,
    transport: 'ws',
    problem: token
      ? null
      : {
          code: 'NO_TOKEN',
          message: 'This page was opened without its access token',
          fix: 'open the exact URL printed by `uring-lab serve` (it ends in ?token=…)',
        },
  };
}
