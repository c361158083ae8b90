/**
 * A provided-buffer pool that outgrows the CPU's last-level cache. The kernel takes buffers from
 * the ring's head and returned ones go to its tail, so with every free buffer in the ring
 * (server.bufferRing.hotFirst off) each receive fills the buffer returned longest ago. Once the
 * pool is larger than the last-level cache, that buffer has left it and every receive copies into
 * cold memory. Measured on this VM (cpuid's L3 508 MiB, 64 KiB buffers, 50 × 4 KiB, `run`, 2 s):
 * 128 and 256 MiB pools cost what 4 MiB does (6.0k ns of server CPU per request); 512 MiB cost
 * 7.4k against 5.8k hot first, and 1 GiB 13.3k against 6.0k (77k against 162k requests/s).
 * The numbers would show it only as a slower server; this names the cause and the knob.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Profile } from '../../contract';
import { formatBytes } from './budget';

export interface CacheInfo {
  /** Bytes of one instance of the cache (what the cores sharing it share). */
  bytes: number;
  level: number;
  /** Where the size came from: the kernel's sysfs, or glibc's cpuid reading (getconf). */
  source: 'sysfs' | 'cpuid';
}

/** "1024K", "32M" or a plain byte count, as sysfs writes a cache's size. */
export function parseCacheSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([KMG]?)\s*$/i.exec(text);
  if (!m) return null;
  const bytes = Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return bytes > 0 ? bytes : null;
}

/** The highest-level data or unified cache sysfs lists for a CPU; null when it lists none. */
export function cacheFromSysfs(cacheDir: string): CacheInfo | null {
  let best: CacheInfo | null = null;
  let entries: string[];
  try {
    entries = readdirSync(cacheDir).filter((e) => /^index\d+$/.test(e));
  } catch {
    return null;
  }
  for (const entry of entries) {
    try {
      const dir = path.join(cacheDir, entry);
      if (readFileSync(path.join(dir, 'type'), 'utf8').trim() === 'Instruction') continue;
      const level = Number(readFileSync(path.join(dir, 'level'), 'utf8').trim());
      const bytes = parseCacheSize(readFileSync(path.join(dir, 'size'), 'utf8'));
      if (!Number.isInteger(level) || bytes === null) continue;
      if (!best || level > best.level) best = { bytes, level, source: 'sysfs' };
    } catch {
      // One unreadable entry leaves the others.
    }
  }
  return best;
}

function cacheFromCpuid(): CacheInfo | null {
  for (const level of [3, 2]) {
    try {
      const out = execFileSync('getconf', [`LEVEL${level}_CACHE_SIZE`], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
      const bytes = Number(out.trim());
      if (Number.isFinite(bytes) && bytes > 0) return { bytes, level, source: 'cpuid' };
    } catch {
      // No getconf, or it knows no such cache: the next level, or nothing.
    }
  }
  return null;
}

let cached: CacheInfo | null | undefined;

/**
 * This machine's last-level cache: sysfs where the kernel describes the caches, else what
 * glibc reads from cpuid (a VM may give sysfs no cache entries, as this one does). Read once.
 */
export function lastLevelCache(): CacheInfo | null {
  if (cached === undefined) cached = cacheFromSysfs('/sys/devices/system/cpu/cpu0/cache') ?? cacheFromCpuid();
  return cached;
}

type ServerKnobs = Profile['server'];

/** Sizes here are powers of two: "64 MiB", not formatBytes' "64.0 MiB". */
const bytesWords = (bytes: number): string => formatBytes(bytes).replace(/\.0 /, ' ');

/** Bytes of provided buffers the server's workers hold, each ring its own pool. */
export function bufferPoolBytes(server: ServerKnobs): number {
  return server.rings * server.bufferRing.count * server.bufferRing.size;
}

/**
 * The warning for the largest pool among a run's phases that is larger than the last-level cache
 * with hotFirst off; null when none is (or the engine was epoll, which has no pool, or the
 * cache size is unknown).
 */
export function coldPoolWarning(servers: readonly ServerKnobs[], cache: CacheInfo | null): string | null {
  if (!cache) return null;
  const cold = servers
    .filter((s) => s.engine === 'io_uring' && !s.bufferRing.hotFirst && bufferPoolBytes(s) > cache.bytes)
    .sort((a, b) => bufferPoolBytes(b) - bufferPoolBytes(a))[0];
  if (!cold) return null;
  const { rings, bufferRing } = cold;
  return `the buffer pool (${bytesWords(bufferPoolBytes(cold))}: ${rings > 1 ? `${rings} rings × ` : ''}${bufferRing.count} × ${bytesWords(bufferRing.size)}) `
    + `is larger than the CPU's last-level cache (L${cache.level}, ${bytesWords(cache.bytes)}${cache.source === 'cpuid' ? ', as cpuid reports it' : ''}): `
    + 'with server.bufferRing.hotFirst off the kernel fills the buffer returned longest ago, which has left the cache, so every receive writes to cold memory; '
    + 'set server.bufferRing.hotFirst=true, or lower server.bufferRing.count';
}
