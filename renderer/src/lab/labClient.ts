/**
 * Picks the LabApi transport: the Electron preload's `window.uringLab` (IPC) when present,
 * otherwise a WebSocket to the host that served this page (`uring-lab serve`).
 */
import { LabError, type LabApi } from '../../../electron/contract';
import { constantConnection, type ConnectionState, type LabConnection } from './connection';
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
  /** The id this tab gives the host (WebSocket only): the host knows which client controls a run by it. */
  clientId: string | null;
}

const CLIENT_ID_KEY = 'uring-lab.clientId';

/**
 * A per-tab client id kept in sessionStorage, so a reload or a reconnect after the host
 * restarted is the same client (and keeps control of its run), while another tab is another client.
 */
export function tabClientId(storage: Pick<Storage, 'getItem' | 'setItem'> | null): string {
  try {
    const kept = storage?.getItem(CLIENT_ID_KEY);
    if (kept && /^[0-9a-f]{32}$/.test(kept)) return kept;
  } catch {
    // Storage disabled: an id for this page load only.
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    storage?.setItem(CLIENT_ID_KEY, id);
  } catch {
    // as above
  }
  return id;
}

const NO_TOKEN: Extract<ConnectionState, { kind: 'refused' }> = {
  kind: 'refused',
  reason: 'no-token',
  message: 'This page was opened without its access token',
  fix: 'open the exact URL printed by `uring-lab serve` (it ends in ?token=…)',
};

/** A LabApi that refuses everything: the page cannot reach the host at all. */
function refusingLabApi(state: Extract<ConnectionState, { kind: 'refused' }>): LabApi {
  const refuse = () => Promise.reject(new LabError({ code: 'NO_TOKEN', message: state.message, fix: state.fix }));
  return {
    getStatus: refuse,
    startRun: refuse,
    stopRun: refuse,
    setKnob: refuse,
    takeControl: refuse,
    getFrames: refuse,
    doctor: refuse,
    onEvent: () => () => {},
  };
}

function sessionStorageOrNull(win: Window): Storage | null {
  try {
    return win.sessionStorage;
  } catch {
    return null;
  }
}

export function createLabClient(win: Window = window): LabClient {
  if (win.uringLab) {
    return { api: win.uringLab, connection: constantConnection({ kind: 'ipc' }), transport: 'ipc', clientId: null };
  }
  const clientId = tabClientId(sessionStorageOrNull(win));
  const { url, token } = buildWsUrl(win.location, clientId);
  if (!token) return { api: refusingLabApi(NO_TOKEN), connection: constantConnection(NO_TOKEN), transport: 'ws', clientId };
  const api = new WsLabApi({ url });
  return { api, connection: api.connection, transport: 'ws', clientId };
}
