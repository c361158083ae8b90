/**
 * Electron entry: one window, strict security settings, and IPC wiring to the LabService.
 * Deliberately thin: everything it drives is plain Node under electron/host and is tested
 * there; the engine runs in a utilityProcess so a native fault cannot take the window down.
 */
import { app, BrowserWindow, ipcMain, session, utilityProcess, IpcMainInvokeEvent } from 'electron';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EngineSupervisor, ENGINE_ENTRY, EngineChannel, restoreHostAffinityAfter } from './host/engine/supervisor';
import { LabService } from './host/labService';
import { dispatchLabCall } from './host/labDispatch';
import { IPC_CALL, IPC_EVENT, LabError, type LabSession } from './contract';
import type { EngineWireMessage } from './engine/protocol';


const RENDERER_INDEX = path.join(__dirname, '..', 'renderer', 'index.html');
const RENDERER_URL = pathToFileURL(RENDERER_INDEX).href;

function utilityEngine(): EngineChannel {
  const child = utilityProcess.fork(ENGINE_ENTRY, [], { serviceName: 'uring-lab engine', stdio: 'inherit' });
  // An engine that dies mid-run cannot give this process's threads back their CPUs (load.cpus).
  restoreHostAffinityAfter((listener) => child.on('exit', listener));
  return {
    send: (message) => child.postMessage(message),
    onMessage: (listener) => child.on('message', (message) => listener(message as EngineWireMessage | string)),
    onExit: (listener) => child.on('exit', (code) => listener(code, null)),
    kill: () => { child.kill(); },
  };
}

/** Only our own page's main frame may call the lab (Electron security checklist item 17). */
function senderIsTrusted(event: IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame;
  return frame !== null && frame.parent === null && frame.url.split(/[?#]/)[0] === RENDERER_URL;
}

/** Each window is its own LabApi client (it controls the runs it starts). */
const windowSessions = new Map<number, LabSession>();

function createWindow(lab: LabService): BrowserWindow {
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'uring-lab',
    backgroundColor: '#0f1419',
    webPreferences: {
      preload: path.join(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (event, url) => { if (url !== win.webContents.getURL()) event.preventDefault(); });
  const webContentsId = win.webContents.id;
  const client = lab.session(`window-${webContentsId}`);
  windowSessions.set(webContentsId, client);
  client.onEvent((event) => { if (!win.isDestroyed()) win.webContents.send(IPC_EVENT, event); });
  win.on('closed', () => { client.dispose(); windowSessions.delete(webContentsId); });
  void win.loadFile(RENDERER_INDEX);
  return win;
}

app.whenReady().then(() => {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  const lab = new LabService({ supervisor: new EngineSupervisor(utilityEngine) });
  ipcMain.handle(IPC_CALL, (event, method: unknown, params: unknown) => {
    if (!senderIsTrusted(event)) {
      return { ok: false, error: new LabError({ code: 'FORBIDDEN', message: 'lab calls are accepted only from the uring-lab window' }).toData() };
    }
    const client = windowSessions.get(event.sender.id);
    if (!client) return { ok: false, error: new LabError({ code: 'FORBIDDEN', message: 'this window has no lab session' }).toData() };
    return dispatchLabCall(client, method, params);
  });
  createWindow(lab);
  app.on('activate', () => { if (BrowserWindow.getAllWindows().length === 0) createWindow(lab); });
  // Quitting waits for the lab to close: a run under way ends interrupted and is saved in the
  // history before the process goes (lab.close is bounded by the engine's stop time limits).
  let closed = false;
  app.on('before-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    void lab.close().catch((err) => console.error(err)).finally(() => { closed = true; app.quit(); });
  });
}).catch((err) => {
  console.error(err);
  app.exit(1);
});

app.on('window-all-closed', () => app.quit());
