/**
 * A provided-buffer pool that outgrows the CPU's last-level cache. The kernel takes buffers from
 * the ring's head and returned ones go to its tail, so with every free buffer in the ring
 * (server.bufferRing.hotFirst off) each receive fills the buffer returned longest ago. Once the
 * pool is larger than the last-level cache, that buffer has left it and every receive copies into
 * cold memory. Measured on this VM (cpuid's L3 508 MiB, 64 KiB buffers, 50 × 4 KiB, `run`, 2 s):
 * 128 and 256 MiB pools cost what 4 MiB does (6.0k ns of server CPU per request); 512 MiB cost
 * 7.4k against 5.8k hot first, and 1 GiB 13.3k against 6.0k (77k against 162k requests/s).
 * The numbers would show it only as a slower server: the run's summary (host/run/bufferPool.ts
 * reads the cache) and the knob panel's hot-first row name the cause and the knob.
 */
import { z } from 'zod';
import type { Profile } from './profile';

export const CacheInfoSchema = z.object({
  /** Bytes of one instance of the cache (what the cores sharing it share). */
  bytes: z.number().int().positive(),
  level: z.number().int().min(1),
  /** Where the size came from: the kernel's sysfs, or glibc's cpuid reading (getconf). */
  source: z.enum(['sysfs', 'cpuid']),
});
export type CacheInfo = z.infer<typeof CacheInfoSchema>;

type ServerKnobs = Pick<Profile['server'], 'engine' | 'rings'> & { bufferRing: Pick<Profile['server']['bufferRing'], 'count' | 'size' | 'hotFirst'> };

/** Bytes of provided buffers the server's workers hold, each ring its own pool. */
export function bufferPoolBytes(server: ServerKnobs): number {
  return server.rings * server.bufferRing.count * server.bufferRing.size;
}

/** Bytes in binary units, to one decimal under 100: "1.5 MiB", "64.0 KiB", "508 MiB" (the host's messages; the renderer's own formatBytes is decimal, for live rates). */
export function formatBinaryBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Sizes that are mostly powers of two, whole units bare: "64 MiB", "1.5 MiB", "508 MiB". */
export const poolBytesWords = (bytes: number): string => formatBinaryBytes(bytes).replace(/\.0 /, ' ');

/** The largest pool among a run's phases that is larger than the cache with hotFirst off; null when none is (or the engine was epoll, which has no pool, or the cache size is unknown). */
export function coldPool<S extends ServerKnobs>(servers: readonly S[], cache: CacheInfo | null): S | null {
  if (!cache) return null;
  return servers
    .filter((s) => s.engine === 'io_uring' && !s.bufferRing.hotFirst && bufferPoolBytes(s) > cache.bytes)
    .sort((a, b) => bufferPoolBytes(b) - bufferPoolBytes(a))[0] ?? null;
}

const cacheWords = (cache: CacheInfo) => `L${cache.level}, ${poolBytesWords(cache.bytes)}${cache.source === 'cpuid' ? ', as cpuid reports it' : ''}`;

/** The summary's warning (run, `server`): the pool, the cache and both fixes. */
export function coldPoolWarning(servers: readonly ServerKnobs[], cache: CacheInfo | null): string | null {
  const cold = coldPool(servers, cache);
  if (!cold || !cache) return null;
  const { rings, bufferRing } = cold;
  return `the buffer pool (${poolBytesWords(bufferPoolBytes(cold))}: ${rings > 1 ? `${rings} rings × ` : ''}${bufferRing.count} × ${poolBytesWords(bufferRing.size)}) `
    + `is larger than the CPU's last-level cache (${cacheWords(cache)}): `
    + 'with server.bufferRing.hotFirst off the kernel fills the buffer returned longest ago, which has left the cache, so every receive writes to cold memory; '
    + 'set server.bufferRing.hotFirst=true, or lower server.bufferRing.count';
}

/** The knob panel's remark on the hot-first row, before any run: shorter, the row names the knob. */
export function coldPoolRemark(server: ServerKnobs, cache: CacheInfo | null): string | null {
  if (!coldPool([server], cache) || !cache) return null;
  return `The buffer pool (${poolBytesWords(bufferPoolBytes(server))}) is larger than the CPU's last-level cache (${cacheWords(cache)}): with this off, every receive writes to memory that has left the cache.`;
}
