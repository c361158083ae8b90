/**
 * Shared harness for the native engine tests: the addon, a small engine config with
 * overrides, and a stop that never throws (so one failing test cannot leave the engine
 * running for the next).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type * as Native from '../../native';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { defaultProfile } from '../../electron/host/profiles';

export const native: typeof Native = createRequire(__filename)('../../native');

export type EngineConfig = Native.EngineConfig;

/**
 * A small protocol v1 engine config: every engine knob at the catalogue's default (so a new
 * knob needs no edit here), with smaller rings and fewer connections for quick tests; server
 * knobs are given flat (ringEntries, sqpoll, ...).
 */
export function config(over: Partial<Omit<Native.ServerConfig, 'sqpoll' | 'bufferRing'>> & {
  port?: number;
  sqpoll?: Partial<Native.ServerConfig['sqpoll']>;
  bufferRing?: Partial<Native.ServerConfig['bufferRing']>;
  load?: Partial<Native.LoadConfig>;
  maxDurationMs?: number;
} = {}): EngineConfig {
  const base = nativeConfigFor(defaultProfile(), over.maxDurationMs ?? 10_000);
  const { port, load, sqpoll, bufferRing, maxDurationMs: _bound, ...server } = over;
  return {
    ...base,
    port: port ?? 0,
    server: {
      ...base.server,
      ringEntries: 256,
      ...server,
      sqpoll: { ...base.server.sqpoll, ...sqpoll },
      bufferRing: { ...base.server.bufferRing, count: 1024, ...bufferRing },
    },
    load: { ...base.load, connections: 8, ...load },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stops whatever runs and never throws, so one failing test cannot leave the engine running
 * for the next. A startAsync/stopAsync still in flight makes stop() refuse with EBUSY: wait for
 * it to settle, then stop.
 */
export async function stopQuietly(): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      native.stop();
      return;
    } catch (e: any) {
      if (e?.code !== 'EBUSY' || Date.now() - t0 > 10_000) return;
    }
    await sleep(20);
  }
}

/** Sum of the counts of a sparse histogram. */
export const histTotal = (h: Native.SparseHistogram) => h.reduce((s, [, c]) => s + c, 0);

const lowerBoundsUs = native.histogramLayout().lowerBoundsUs;

/** Lower bound (µs) of the bucket holding quantile q of a sparse histogram. */
export function quantileUs(h: Native.SparseHistogram, q: number): number {
  const total = histTotal(h);
  let seen = 0;
  for (const [i, c] of h) {
    seen += c;
    if (seen >= q * total) return lowerBoundsUs[i];
  }
  return 0;
}

/**
 * The BPF programs process `pid` holds (by prog or link fd), by id, from /proc/PID/fdinfo:
 * exact for one process, whatever else is loaded on the machine.
 */
export function heldProgramIds(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf-prog' && target !== 'anon_inode:bpf_link') continue;
    const m = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m) ids.add(Number(m[1]));
  }
  return [...ids];
}

/** The BPF maps process `pid` holds, by id (its probes' maps: programs hold theirs too). */
export function heldMapIds(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-map') continue;
      const m = /^map_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      continue;
    }
  }
  return ids;
}

/** The BPF links process `pid` holds (each attached program holds one). */
export function heldLinkCount(pid: number | 'self' = 'self'): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf_link') n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Whether the kernel still has BPF program or map `id` (anyone's), by bpftool. */
export function bpfObjectExists(kind: 'prog' | 'map', id: number): boolean {
  try {
    execFileSync('bpftool', [kind, 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A copy of the built probe helper in a fresh folder `nobody` can reach (the tests give it file
 * capabilities with setcap, which the build tree's copy must not get). The caller removes `dir`.
 */
export function probeHelperCopy(prefix: string): { dir: string; helper: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const helper = join(dir, 'uring-lab-probe-helper');
  chmodSync(dir, 0o755);
  copyFileSync(join(dirname(native.addonPath), 'uring-lab-probe-helper'), helper);
  chmodSync(helper, 0o755);
  return { dir, helper };
}

/** A node process that loads the addon, attaches probes with `options` (JSON) and then idles:
 *  resolves once it has attached, for tests of what is left after it dies. */
export async function childWithProbesAttached(options: object): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `
      const n = require(${JSON.stringify(join(dirname(native.addonPath), '..', '..'))});
      n.probesAttach({ tgid: process.pid, ...${JSON.stringify(options)} });
      console.log('attached');
      setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('attached') && resolve());
      child.on('exit', () => reject(new Error('child exited before attaching')));
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}
