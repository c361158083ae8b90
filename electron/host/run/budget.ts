/**
 * Resource budget of a run, checked before anything starts. Valid knobs can still ask for
 * more memory than the machine has (16384 buffers × 1 MiB is 16 GiB; 4096 connections ×
 * 1 MiB messages is 8 GiB of load buffers): the engine would grow until the OOM killer
 * or the swap ends the session. The byte counts come from the native engine's own formula
 * (memoryNeeds, next to its allocations); the words and knob names are put here, once.
 */
import { formatBinaryBytes, LabError, Profile } from '../../contract';
import type { EngineResources } from '../../engine/protocol';

/** A run may use at most this share of the memory the kernel reports available. */
export const MEMORY_BUDGET_SHARE = 0.5;

/** Refuses a profile whose memory the machine cannot give; null when it fits. */
export function checkBudget(profile: Profile, resources: EngineResources): LabError | null {
  const { needs, memAvailableBytes } = resources;
  const { server, load } = profile;
  const storage = profile.workload === 'storage';
  const parts = [
    // Every server worker (server.rings) has its own pool.
    { bytes: needs.bufferRingBytes, words: `buffer ring ${server.rings > 1 ? `${server.rings} rings × ` : ''}${server.bufferRing.count} × ${formatBinaryBytes(server.bufferRing.size)} = ${formatBinaryBytes(needs.bufferRingBytes)}`, knobs: ['server.bufferRing.count', 'server.bufferRing.size', ...(server.rings > 1 ? ['server.rings'] : [])] },
    // A storage run's jobs hold queueDepth blocks each (native storage_memory counts them as load
    // buffers): the echo load's words here told a 32 GiB storage run to lower load.connections.
    storage
      ? { bytes: needs.loadBufferBytes, words: `storage blocks ${load.threads > 1 ? `${load.threads} jobs × ` : ''}${profile.storage.queueDepth} × ${formatBinaryBytes(profile.storage.blockBytes)} = ${formatBinaryBytes(needs.loadBufferBytes)}`, knobs: ['storage.blockBytes', 'storage.queueDepth', ...(load.threads > 1 ? ['load.threads'] : [])] }
    // With load.pipeline > 1 every connection holds a send slot per message in flight too.
      : { bytes: needs.loadBufferBytes, words: `load buffers ${load.connections} connections × ${load.pipeline > 1 ? `${formatBinaryBytes(load.messageBytes)} with pipeline ${load.pipeline}` : `2 × ${formatBinaryBytes(load.messageBytes)}`} = ${formatBinaryBytes(needs.loadBufferBytes)}`, knobs: ['load.connections', 'load.messageBytes', ...(load.pipeline > 1 ? ['load.pipeline'] : [])] },
    storage
      ? { bytes: needs.ringBytes + needs.connectionStateBytes, words: `rings and job state ${formatBinaryBytes(needs.ringBytes + needs.connectionStateBytes)}`, knobs: ['storage.queueDepth', 'load.threads'] }
      : { bytes: needs.ringBytes + needs.connectionStateBytes, words: `rings and connection state ${formatBinaryBytes(needs.ringBytes + needs.connectionStateBytes)}`, knobs: ['server.ringEntries', 'load.connections'] },
  ].sort((a, b) => b.bytes - a.bytes);
  const biggest = parts[0];
  const breakdown = parts.filter((p) => p.bytes > 0).map((p) => p.words).join(', ');

  if (memAvailableBytes !== null && needs.totalBytes > memAvailableBytes * MEMORY_BUDGET_SHARE) {
    return new LabError({
      code: 'RESOURCE_BUDGET',
      field: biggest.knobs[0],
      message: `this run needs ${formatBinaryBytes(needs.totalBytes)} of memory (${breakdown}) but the machine has ${formatBinaryBytes(memAvailableBytes)} available and a run may use half: ${formatBinaryBytes(memAvailableBytes * MEMORY_BUDGET_SHARE)}`,
      fix: `lower ${biggest.knobs.join(' or ')}`,
    });
  }
  // Without CAP_IPC_LOCK the kernel charges every ring's pages and the registered buffer
  // ring's pages (not the buffers) to the user's RLIMIT_MEMLOCK.
  const memlock = needs.memlockLimitBytes;
  if (!needs.memlockExempt && memlock !== null && needs.pinnedBytes > memlock) {
    return new LabError({
      code: 'RESOURCE_BUDGET',
      field: storage ? 'storage.queueDepth' : 'server.ringEntries',
      // A storage job locks its ring and, with registered buffers, its queueDepth blocks (memory_needs.c).
      message: storage
        ? `this run locks ${formatBinaryBytes(needs.pinnedBytes)} of memory (each job's io_uring ring${profile.server.registeredBuffers ? ' and its registered blocks' : ''}) but RLIMIT_MEMLOCK allows ${formatBinaryBytes(memlock)}, shared by all of this user's processes`
        : `this run locks ${formatBinaryBytes(needs.pinnedBytes)} of memory (io_uring rings and the buffer ring's registration) but RLIMIT_MEMLOCK allows ${formatBinaryBytes(memlock)}, shared by all of this user's processes`,
      fix: storage
        ? `raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in a systemd unit), or lower storage.queueDepth or load.threads${profile.server.registeredBuffers ? ', storage.blockBytes, or set server.registeredBuffers to false' : ''}`
        : 'raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in a systemd unit), or lower server.ringEntries, load.threads or server.bufferRing.count',
    });
  }
  return null;
}
