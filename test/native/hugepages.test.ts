/**
 * server.bufferRing.hugepages: the provided-buffer pool mapped with MAP_HUGETLB (2 MiB pages).
 * Without reserved huge pages the mapping fails, the pool falls back to normal pages and
 * 'HUGEPAGES' is reported refused; with enough reserved (we run as root) it applies. The
 * machine's vm.nr_hugepages is always put back as it was.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { knobForSetting, KNOBS } from '../../electron/contract';
import { rejectedKnobs } from '../../electron/host/engine/adapter';
import { config, native, sleep, stopQuietly } from './engineHarness';

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const HUGE = 2 << 20;
const readHugepages = () => Number(readFileSync(NR_HUGEPAGES, 'utf8').trim());
/** Asks the kernel for n reserved huge pages; returns how many it really reserved. */
function setHugepages(n: number): number {
  try {
    writeFileSync(NR_HUGEPAGES, `${n}\n`);
  } catch {
    // Not permitted (no root, read-only /proc): report what is there.
  }
  return readHugepages();
}

// A 4096 × 2048 = 8 MiB pool: 4 huge pages.
const POOL = { count: 4096, size: 2048 };

afterEach(stopQuietly);

/** Runs a loaded engine for a moment; what start applied and refused, and the final snapshot. */
async function run(hugepages: boolean) {
  const messageBytes = 128;
  const started = native.start(config({ bufferRing: { ...POOL, hugepages }, load: { connections: 8, messageBytes }, maxDurationMs: 5000 }));
  await sleep(300);
  const fin = native.stop()!;
  // The load compares every echoed byte with what it sent (a mismatch counts as an error).
  expect(fin.errors).toBe(0);
  expect(fin.serverErrors).toBe(0);
  expect(fin.requests).toBeGreaterThan(0);
  expect(fin.bytes).toBe(fin.requests * messageBytes);
  return started;
}

describe('server.bufferRing.hugepages', () => {
  let original: string;
  beforeAll(() => {
    original = readFileSync(NR_HUGEPAGES, 'utf8').trim();
  });
  afterAll(() => {
    try {
      writeFileSync(NR_HUGEPAGES, `${original}\n`);
    } finally {
      expect(readFileSync(NR_HUGEPAGES, 'utf8').trim()).toBe(original);
    }
  });

  it('no huge pages reserved: refused with the mmap errno, the engine runs on normal pages and echoes intact', async (ctx) => {
    if (setHugepages(0) !== 0) ctx.skip(`could not set ${NR_HUGEPAGES} to 0`);
    const started = await run(true);
    expect(started.applied.server.bufferRing.hugepages).toBe(false);
    expect(started.refused).toHaveLength(1);
    const [r] = started.refused;
    expect(r.setting).toBe('HUGEPAGES');
    expect(r.cause).toBe('refused');
    expect(r.errno).toBeGreaterThan(0);
    expect(r.code).toMatch(/^E[A-Z]+$/);
    expect(r.errnoText.length).toBeGreaterThan(0);
    expect(r.requested).toBe(true);

    // The host puts it on the knob, with the catalogue's words.
    expect(knobForSetting('HUGEPAGES')?.path).toBe('server.bufferRing.hugepages');
    const [knob, ...rest] = rejectedKnobs(started.refused);
    expect(rest).toEqual([]);
    expect(knob.knob).toBe('server.bufferRing.hugepages');
    expect(knob.errno).toBe(r.errno);
    expect(knob.reason).toContain(KNOBS.server.bufferRing.hugepages.refusal!.refused.reason);
    expect(knob.fix).toBe(KNOBS.server.bufferRing.hugepages.refusal!.refused.fix);
  });

  it('enough huge pages reserved: applied, nothing refused, echoes intact', async (ctx) => {
    const want = 8; // the 8 MiB pool needs 4
    const got = setHugepages(want);
    if (got < (POOL.count * POOL.size) / HUGE) {
      console.log(`skipped: the kernel reserved ${got} of ${want} huge pages (${NR_HUGEPAGES})`);
      ctx.skip(`the kernel reserved only ${got} of ${want} huge pages`);
    }
    const started = await run(true);
    expect(started.refused).toEqual([]);
    expect(started.applied.server.bufferRing.hugepages).toBe(true);
  });

  it('two rings, huge pages for one pool only: not applied (one ring runs without), refused with its errno', async (ctx) => {
    const one = (POOL.count * POOL.size) / HUGE; // 4 pages: one ring's pool
    if (setHugepages(one) !== one) ctx.skip(`could not set ${NR_HUGEPAGES} to ${one}`);
    const started = native.start(config({ rings: 2, bufferRing: { ...POOL, hugepages: true }, load: { connections: 8 }, maxDurationMs: 5000 }));
    await sleep(300);
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
    // Worker 0's ring got its pages, worker 1's did not: reported as worker 0's result, it read
    // as applied beside its own refusal.
    expect(started.refused.map((r) => r.setting)).toEqual(['HUGEPAGES']);
    expect(started.applied.server.bufferRing.hugepages).toBe(false);
  });

  it('not requested: normal pages, never refused, whatever is reserved', async () => {
    const started = await run(false);
    expect(started.applied.server.bufferRing.hugepages).toBe(false);
    expect(started.refused).toEqual([]);
  });

  it('memoryNeeds counts the pool in whole 2 MiB pages when huge pages are requested', () => {
    const small = { count: 1024, size: 64 }; // 64 KiB
    const plain = native.memoryNeeds(config({ bufferRing: { ...small, hugepages: false } })).bufferRingBytes;
    const huge = native.memoryNeeds(config({ bufferRing: { ...small, hugepages: true } })).bufferRingBytes;
    expect(huge - plain).toBe(HUGE - small.count * small.size);
    // A pool of whole huge pages is not rounded further.
    const exact = native.memoryNeeds(config({ bufferRing: { ...POOL, hugepages: true } })).bufferRingBytes;
    expect(exact).toBe(native.memoryNeeds(config({ bufferRing: { ...POOL, hugepages: false } })).bufferRingBytes);
  });

  it('is type-checked like the other booleans', () => {
    const bad = config() as any;
    bad.server.bufferRing.hugepages = 'yes';
    expect(() => native.start(bad)).toThrow(/config\.server\.bufferRing\.hugepages must be a boolean \(got string\)/);
    delete bad.server.bufferRing.hugepages;
    expect(() => native.memoryNeeds(bad)).toThrow(/config\.server\.bufferRing\.hugepages must be a boolean \(got undefined\)/);
  });
});
