/**
 * The engine process: loads the native addon and answers the host's supervisor. It exists so
 * that a fault in kernel-facing code takes down this process, never the window or the CLI.
 * The same file runs under child_process.fork (CLI, browser host, tests) and Electron's
 * utilityProcess (desktop), which differ only in how messages travel.
 *
 * Native start/stop run on libuv's thread pool (they connect, allocate and join threads), so
 * this process's event loop keeps answering: its heartbeat is what tells the host's watchdog
 * the engine is alive, and a missing heartbeat means it is hung (or SIGSTOPped).
 */
import { readFileSync } from 'node:fs';
import type * as Native from '../../native';
import { ENGINE_HEARTBEAT_MS, type EngineErrorData, type EngineResources, type EngineToHost, type HostToEngine } from './protocol';

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

function errorData(err: unknown): EngineErrorData {
  const e = err as { code?: string; message?: string; errno?: number; step?: string; fix?: string };
  return { code: e.code ?? 'ENGINE_ERROR', message: e.message ?? String(err), errno: e.errno, step: e.step, fix: e.fix };
}

/** What `config` needs (the native formula, with this process's memlock) and MemAvailable. */
function resourcesFor(config: Native.EngineConfig): EngineResources {
  let memAvailableBytes: number | null = null;
  try {
    const kib = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (kib) memAvailableBytes = Number(kib[1]) * 1024;
  } catch { /* reported as unknown */ }
  return { needs: native.memoryNeeds(config), memAvailableBytes };
}

// One native call at a time: the host's supervisor already serialises, this guards anyway.
let busy: Promise<void> = Promise.resolve();

function handle(message: HostToEngine): void {
  if (message.type === 'shutdown') {
    stopFrames();
    // A run still going: stop it synchronously so no native thread outlives the process.
    try { native.stop(); } catch { /* exiting anyway */ }
    process.exit(0);
  }
  busy = busy.then(() => handleNative(message)).catch(() => undefined);
}

async function handleNative(message: Exclude<HostToEngine, { type: 'shutdown' }>): Promise<void> {
  switch (message.type) {
    case 'plan': {
      try {
        post({ type: 'planned', resources: resourcesFor(message.config) });
      } catch (err) {
        post({ type: 'error', during: 'plan', error: errorData(err) });
      }
      return;
    }
    case 'start': {
      stopFrames();
      let started: Native.StartResult;
      try {
        started = await native.startAsync(message.config);
      } catch (err) {
        post({ type: 'error', during: 'start', error: errorData(err) });
        return;
      }
      // Zero the counters: the first frame must not carry the CPU of connecting and touching
      // buffers, nor requests from before the phase's time origin.
      const baseline = native.snapshot();
      post({ type: 'started', started, atNs: baseline?.monotonicNs ?? Number(process.hrtime.bigint()) });
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
        post({ type: 'stopped', final: await native.stopAsync() });
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
  }
}

if (parentPort) parentPort.on('message', (event) => handle(event.data as HostToEngine));
else process.on('message', (message) => handle(message as HostToEngine));
// A host that dies without saying goodbye must not leave a load generator running.
process.on('disconnect', () => handle({ type: 'shutdown' }));

setInterval(() => post({ type: 'heartbeat' }), ENGINE_HEARTBEAT_MS).unref();
post({ type: 'ready', pid: process.pid, protocol: native.PROTOCOL_VERSION });
