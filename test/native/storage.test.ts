/**
 * The storage workload on the real engine and this machine's disk: O_DIRECT random reads of a
 * file the lab filled with its pattern (every block checked), writes read back and checked,
 * IOPOLL refused per request by a device without poll queues (virtio-blk here), and the
 * verification itself shown able to fail. Files live under the repository's own disk (tmpfs
 * refuses O_DIRECT), in a folder removed afterwards.
 */
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { config, histTotal, native, sleep, stopQuietly, type EngineConfig } from './engineHarness';

const dir = mkdtempSync(join(__dirname, '..', '..', '.storage-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(stopQuietly);

type Storage = NonNullable<EngineConfig['storage']>;

function storageConfig(storage: Partial<Storage> & { path: string }, server: Parameters<typeof config>[0] = {}, threads = 1): EngineConfig {
  const base = config({ ...server, load: { threads } });
  return {
    ...base,
    // The load's echo knobs do not apply to storage jobs; present so the config parses whatever
    // the catalogue's load rows are at the moment.
    load: { mode: 'closed', pipeline: 1, rateRps: null, timeoutMs: 0, cpus: null, ...base.load } as EngineConfig['load'],
    workload: 'storage',
    storage: { fileSizeMiB: 64, blockBytes: 4096, pattern: 'randread', queueDepth: 32, direct: true, ...storage },
  };
}

/** Runs the config for `ms` and returns the start result and the summed snapshots. */
async function run(cfg: EngineConfig, ms: number) {
  const started = await native.startAsync(cfg);
  let requests = 0, errors = 0, bytes = 0, hist = 0;
  /** Each snapshot's own requests and bytes (mid-run ones included). */
  const slices: { requests: number; bytes: number }[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    await sleep(100);
    const s = native.snapshot();
    if (s) { requests += s.requests; errors += s.errors; bytes += s.bytes; hist += histTotal(s.histogram); slices.push({ requests: s.requests, bytes: s.bytes }); }
  }
  const f = await native.stopAsync();
  requests += f!.requests; errors += f!.errors; bytes += f!.bytes; hist += histTotal(f!.histogram);
  slices.push({ requests: f!.requests, bytes: f!.bytes });
  return { started, requests, errors, bytes, hist, slices };
}

/** The pattern in JS: the 8-byte word at file offset o is o ^ seed (little-endian). */
function patternHolds(buf: Buffer, seed: bigint): boolean {
  for (let o = 0; o < buf.length; o += 8) if (buf.readBigUInt64LE(o) !== (BigInt(o) ^ seed)) return false;
  return true;
}

describe('storage workload', () => {
  it('O_DIRECT randread of a 64 MiB file the lab filled: every block verified, latency recorded', async () => {
    const path = join(dir, 'randread.dat');
    closeSync(openSync(path, 'wx'));
    const r = await run(storageConfig({ path, fill: true, verify: true, seed: 12345 }, {}, 2), 1500);
    expect(r.started.storage).toMatchObject({ path, sizeBytes: 64 << 20, filled: true, verified: true, blockDevice: false });
    expect(r.started.storage!.device).not.toBe('');
    expect(r.started.loadThreads).toBe(2);
    expect(r.requests).toBeGreaterThan(1000);
    expect(r.hist).toBe(r.requests);
    expect(r.bytes).toBe(r.requests * 4096);
    // In every snapshot, not only in sum: bytes and requests come from one read.
    expect(r.slices.filter((x) => x.bytes !== x.requests * 4096)).toEqual([]);
    expect(r.errors).toBe(0);
    expect(statSync(path).size).toBe(64 << 20);
  }, 20_000);

  it('the check can fail: reading the same file with another seed counts every block as an error', async () => {
    const path = join(dir, 'wrongseed.dat');
    closeSync(openSync(path, 'wx'));
    await run(storageConfig({ path, fileSizeMiB: 4, fill: true, verify: true, seed: 1 }), 300);
    const r = await run(storageConfig({ path, fileSizeMiB: 4, verify: true, seed: 2 }), 500);
    expect(r.requests).toBeGreaterThan(100);
    // The probe read counts too: at least one error per completed read.
    expect(r.errors).toBeGreaterThanOrEqual(r.requests);
  }, 20_000);

  it('sequential writes lay the pattern over the whole file; a verified randread reads it back', async () => {
    const path = join(dir, 'write.dat');
    closeSync(openSync(path, 'wx'));
    await run(storageConfig({ path, fileSizeMiB: 4, fill: true, seed: 7 }), 200); // sized and filled with seed 7
    const w = await run(storageConfig({ path, fileSizeMiB: 4, pattern: 'write', queueDepth: 8, seed: 99 }), 1000);
    expect(w.errors).toBe(0);
    expect(w.bytes).toBeGreaterThan(4 << 20); // wrapped at least once: every block rewritten
    expect(patternHolds(readFileSync(path), 99n)).toBe(true);
    const r = await run(storageConfig({ path, fileSizeMiB: 4, verify: true, seed: 99 }), 500);
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
  }, 20_000);

  it('randwrite with registered buffers and a registered file, then a verified read-back', async () => {
    const path = join(dir, 'randwrite.dat');
    closeSync(openSync(path, 'wx'));
    const w = await run(storageConfig({ path, fileSizeMiB: 8, pattern: 'randwrite', fill: true, seed: 5 },
      { registeredBuffers: true, directDescriptors: true }), 800);
    expect(w.started.applied.server.registeredBuffers).toBe(true);
    expect(w.started.applied.server.directDescriptors).toBe(true);
    expect(w.requests).toBeGreaterThan(100);
    expect(w.errors).toBe(0);
    const r = await run(storageConfig({ path, fileSizeMiB: 8, verify: true, seed: 5 }, { registeredBuffers: true }), 500);
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
    expect(patternHolds(readFileSync(path), 5n)).toBe(true);
  }, 20_000);

  it('IOPOLL: the ring is accepted, the first read fails with EOPNOTSUPP, IOPOLL is refused and the run goes on without it', async () => {
    const path = join(dir, 'iopoll.dat');
    closeSync(openSync(path, 'wx'));
    const r = await run(storageConfig({ path, fileSizeMiB: 8, fill: true, verify: true, seed: 3 }, { iopoll: true }), 600);
    const refusal = r.started.refused.find((x) => x.setting === 'IOPOLL');
    expect(refusal).toMatchObject({ cause: 'no_poll_queues', code: 'EOPNOTSUPP', requested: true });
    expect(r.started.applied.server.iopoll).toBe(false);
    expect(r.started.ring.flags).not.toContain('IOPOLL');
    expect(r.started.storage!.device).toMatch(/^vd|^nvme|^sd|^loop/);
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
  }, 20_000);

  it('SQPOLL jobs complete verified reads', async () => {
    const path = join(dir, 'sqpoll.dat');
    closeSync(openSync(path, 'wx'));
    const r = await run(storageConfig({ path, fileSizeMiB: 8, fill: true, verify: true, seed: 11 }, { sqpoll: { enabled: true }, taskrun: 'default' }), 600);
    expect(r.started.applied.server.sqpoll.enabled).toBe(true);
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
  }, 20_000);

  it('a SQPOLL job: its thread CPU counts its SQPOLL helper, its busy time (the saturation check) only itself, within the interval', async () => {
    const path = join(dir, 'sqpoll-busy.dat');
    closeSync(openSync(path, 'wx'));
    await native.startAsync(storageConfig({ path, fileSizeMiB: 8, fill: true, seed: 5 }, { sqpoll: { enabled: true, idleMs: 1000 }, taskrun: 'default' }));
    const s0 = native.snapshot()!;
    await sleep(500);
    const s1 = native.snapshot()!;
    await native.stopAsync();
    const wall = s1.monotonicNs - s0.monotonicNs;
    expect(s1.loadThreadBusyNs).toHaveLength(1);
    const [busy] = s1.loadThreadBusyNs;
    const [cpu] = s1.loadThreadCpuNs;
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(cpu);
    // One thread cannot be busy longer than the interval (slack for the reads' spread)...
    expect(busy).toBeLessThanOrEqual(wall * 1.02 + 2e6);
    // ...while with its SQPOLL thread spinning beside it the job's CPU is more than itself.
    expect(cpu - busy).toBeGreaterThan(wall * 0.2);
  }, 20_000);

  it('submitBatch: batches of 1, of 3 (not a divisor of QD 8) and of more than the queue depth keep every slot reading verified blocks', async () => {
    const path = join(dir, 'batch.dat');
    closeSync(openSync(path, 'wx'));
    await run(storageConfig({ path, fileSizeMiB: 4, fill: true, seed: 21 }), 200);
    for (const submitBatch of [1, 3, 64]) {
      const r = await run(storageConfig({ path, fileSizeMiB: 4, queueDepth: 8, submitBatch, verify: true, seed: 21 }), 400);
      // A slot lost or given two I/Os would stall the job or fail the check (wrong block's words).
      expect(r.requests, `submitBatch ${submitBatch}`).toBeGreaterThan(100);
      expect(r.hist).toBe(r.requests);
      expect(r.errors).toBe(0);
    }
    await expect(native.startAsync(storageConfig({ path, submitBatch: 0 }))).rejects.toThrow(/storage\.submitBatch must be between 1 and 4096/);
  }, 20_000);

  it('a missing target fails the start at STORAGE_OPEN with ENOENT', async () => {
    await expect(native.startAsync(storageConfig({ path: join(dir, 'nope.dat') }))).rejects.toMatchObject({ step: 'STORAGE_OPEN', code: 'ENOENT' });
  });
});
