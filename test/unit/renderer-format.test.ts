import { describe, expect, it } from 'vitest';
import { formatBytesPerSec, formatCompact, formatElapsed, formatInt, formatNs, formatPercent, formatUs, formatUsAxis } from '../../renderer/src/format/numbers';

describe('renderer number formatting', () => {
  it('percentages: one decimal, and two significant digits below 0.1 % so a small share is not "0.0 %"', () => {
    expect([0, 0.2, 0.1234, 1, 0.001, 0.002].map(formatPercent)).toEqual(['0.0 %', '20.0 %', '12.3 %', '100.0 %', '0.1 %', '0.2 %']);
    expect([0.00044, 0.0000123, -0.0005].map(formatPercent)).toEqual(['0.044 %', '0.0012 %', '-0.05 %']);
    expect([null, undefined, NaN, Infinity].map(formatPercent)).toEqual(['—', '—', '—', '—']);
  });

  it('formats latencies with units', () => {
    expect(formatUs(3.24)).toBe('3.2 µs');
    expect(formatUs(87.4)).toBe('87 µs');
    expect(formatUs(1240)).toBe('1.24 ms');
    expect(formatUs(12_400)).toBe('12.4 ms');
    expect(formatUs(2_500_000)).toBe('2.5 s');
    expect(formatUs(null)).toBe('—');
    expect(formatUsAxis(100)).toBe('100 µs');
    expect(formatUsAxis(1000)).toBe('1 ms');
    expect(formatUsAxis(10_000)).toBe('10 ms');
  });

  it('formats counts, rates and durations', () => {
    expect(formatInt(123456.7)).toBe('123,457');
    expect(formatCompact(950)).toBe('950');
    expect(formatCompact(125_000)).toBe('125k');
    expect(formatCompact(1_500_000)).toBe('1.5M');
    expect(formatBytesPerSec(58_100_000)).toBe('58.1 MB/s');
    expect(formatBytesPerSec(512)).toBe('512 B/s');
    expect(formatNs(850)).toBe('850 ns');
    expect(formatNs(2100)).toBe('2.1 µs');
    expect(formatElapsed(12_345)).toBe('12.3 s');
    expect(formatElapsed(725_000)).toBe('12 m 05 s');
  });
});
