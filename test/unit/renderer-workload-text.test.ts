/**
 * What the live view and the summary call a run's numbers: req/s for echo, IOPS for storage
 * (read from the profile the run applied, or a summary's storage part), and the rate an open
 * loop offers (load.rateRps) — null for a closed loop and for storage jobs.
 */
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../electron/contract';
import { OPEN_LOOP_LATENCY, offeredRate, summaryWords, throughputWords } from '../../renderer/src/format/workloadText';
import { profile } from './renderer-fixtures';

describe('throughput words by workload', () => {
  it('echo counts requests per second, storage I/Os per second', () => {
    const echo = profile();
    expect(throughputWords(echo)).toEqual({ workload: 'echo', unit: 'req/s', noun: 'requests', per: 'req' });
    const storage = { ...profile(), workload: 'storage' as const };
    expect(throughputWords(storage)).toEqual({ workload: 'storage', unit: 'IOPS', noun: 'I/Os', per: 'I/O' });
    // nothing known yet (no phase, no profile): the echo workload's words
    expect(throughputWords(null).unit).toBe('req/s');
  });

  it("a summary's storage part says IOPS even where its applied profile says echo", () => {
    const storagePart = { workload: 'storage' } as NonNullable<RunSummary['storage']>;
    expect(summaryWords({ storage: storagePart, applied: profile() }).unit).toBe('IOPS');
    expect(summaryWords({ storage: null, applied: profile() }).unit).toBe('req/s');
    expect(summaryWords({ storage: undefined, applied: { ...profile(), workload: 'storage' } }).unit).toBe('IOPS');
  });

  it('the offered rate is load.rateRps of an open loop, null otherwise', () => {
    const open = profile();
    open.load.mode = 'open';
    open.load.rateRps = 2000;
    expect(offeredRate(open)).toBe(2000);
    expect(offeredRate({ ...open, load: { ...open.load, mode: 'closed' } })).toBeNull();
    // storage jobs ignore the load's mode: a queue depth, not a schedule
    expect(offeredRate({ ...open, workload: 'storage' })).toBeNull();
    expect(offeredRate(null)).toBeNull();
    expect(OPEN_LOOP_LATENCY).toMatch(/intended send time/);
  });
});
