/**
 * This machine's last-level CPU cache, which a provided-buffer pool is compared with
 * (contract/bufferPool.ts: why, and the words). Read from the kernel's sysfs where it describes
 * the caches, else from glibc's cpuid reading (getconf): a VM may give sysfs no cache entries,
 * as this one does.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CacheInfo } from '../../contract';

/** "1024K", "32M" or a plain byte count, as sysfs writes a cache's size. */
export function parseCacheSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([KMG]?)\s*$/i.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G';
  const bytes = Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit];
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
      if (!Number.isInteger(level) || level < 1 || bytes === null) continue;
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
      if (Number.isSafeInteger(bytes) && bytes > 0) return { bytes, level, source: 'cpuid' };
    } catch {
      // No getconf, or it knows no such cache: the next level, or nothing.
    }
  }
  return null;
}

let cached: CacheInfo | null | undefined;

/** This machine's last-level cache (CPU 0's), read once per process. */
export function lastLevelCache(): CacheInfo | null {
  if (cached === undefined) cached = cacheFromSysfs('/sys/devices/system/cpu/cpu0/cache') ?? cacheFromCpuid();
  return cached;
}
