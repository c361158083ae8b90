/**
 * The engine process: loads the native addon and answers the host's supervisor. It exists so
 * that a fault in kernel-facing code takes down this process, never the window or the CLI.
 * The same file runs under child_process.fork (CLI, browser host, tests) and Electron's
 * utilityProcess (desktop), which differ only in how messages travel.
 */
import type * as Native from '../../native';
import type { EngineToHost, HostToEngine } from './protocol';

const native: typeof Native = require('../../../native');

interface ParentPortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;

function post(message: EngineToHost): void {
  if (parentPort) parentPort.postMessage(message);
  else process.send?.(message);
}

let frameTimer: NodeJS.Timeout | null = null;

function stopFrames(): void {
  if (frameTimer) clearInterval(frameTimer);
  frameTimer = null;
}

function errorData(err: unknown): { code: string; message: string; errno?: number; knob?: string } {
  const e = err as { code?: string; message?: string; errno?: number; knob?: string };
  return { code: e.code ?? 'ENGINE_ERROR', message: e.message ?? String(err), errno: e.errno, knob: e.knob };
}

function handle(message: HostToEngine): void {
  switch (message.type) {
    case 'start': {
      stopFrames();
      let started: Native.StartResult;
      try {
        started = native.start(message.config);
      } catch (err) {
        post({ type: 'error', during: 'start', error: errorData(err) });
        return;
      }
      post({ type: 'started', started });
      // Snapshots are taken here, next to the native engine, so their spacing does not
      // depend on the host's event loop or on IPC latency.
      frameTimer = setInterval(() => {
        try {
          const snapshot = native.snapshot();
          if (snapshot) post({ type: 'snapshot', snapshot });
        } catch (err) {
          post({ type: 'error', during: 'snapshot', error: errorData(err) });
        }
      }, message.frameIntervalMs);
      return;
    }
    case 'stop': {
      stopFrames();
      try {
        post({ type: 'stopped', final: native.stop() });
      } catch (err) {
        post({ type: 'error', during: 'stop', error: errorData(err) });
      }
      return;
    }
    case 'probe': {
      try {
        post({ type: 'probed', capabilities: native.probeCapabilities() });
      } catch (err) {
        post({ type: 'error', during: 'probe', error: errorData(err) });
      }
      return;
    }
    case 'shutdown': {
      stopFrames();
      try { native.stop(); } catch { /* exiting anyway */ }
      process.exit(0);
    }
  }
}

if (parentPort) parentPort.on('message', (event) => handle(event.data as HostToEngine));
else process.on('message', (message) => handle(message as HostToEngine));
// A host that dies without saying goodbye must not leave a load generator running.
process.on('disconnect', () => handle({ type: 'shutdown' }));

post({ type: 'ready', pid: process.pid });
