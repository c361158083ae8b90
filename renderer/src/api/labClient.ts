/**
 * Picks the LabApi transport: the Electron preload's `window.uringLab` (IPC) when present,
 * otherwise a WebSocket to the host that served this page (`uring-lab serve`).
 */
import { LabError, type LabApi } from '../../../electron/contract';
import { sessionStorageOf, tabClientId } from './clientId';
import { constantConnection, type ConnectionState, type LabConnection } from './connection';
import { labMethodsOver } from './labMethods';
import { WsLabApi } from './wsLabApi';
import { NO_TOKEN, buildWsUrl } from './wsUrl';

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
  /** The id this tab gives the host (WebSocket only): the host knows which client controls a run by it. */
  clientId: string | null;
}

/** A LabApi that refuses everything: the page cannot reach the host at all. */
function refusingLabApi(state: Extract<ConnectionState, { kind: 'refused' }>): LabApi {
  const refuse = () => Promise.reject(new LabError({ code: 'NO_TOKEN', message: state.message, fix: state.fix }));
  return { ...labMethodsOver(refuse), onEvent: () => () => {} };
}

export function createLabClient(win: Window = window): LabClient {
  if (win.uringLab) {
    return { api: win.uringLab, connection: constantConnection({ kind: 'ipc' }), transport: 'ipc', clientId: null };
  }
  const clientId = tabClientId(sessionStorageOf(win));
  const { url, token } = buildWsUrl(win.location, clientId);
  if (!token) return { api: refusingLabApi(NO_TOKEN), connection: constantConnection(NO_TOKEN), transport: 'ws', clientId };
  const api = new WsLabApi({ url });
  return { api, connection: api.connection, transport: 'ws', clientId };
}
