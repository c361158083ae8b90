/**
 * The knob panel's remark on the hot-first row: a buffer pool (as the next run would take it)
 * larger than the doctor's last-level cache, with hot first off.
 */
import { describe, expect, it } from 'vitest';
import { knobRemark } from '../../renderer/src/components/knobs/remarks';
import type { DoctorReport } from '../../electron/contract';

const report = (cache: DoctorReport['cache']) => ({ cache }) as DoctorReport;
const L3 = { bytes: 32 << 20, level: 3, source: 'sysfs' } as const;
const profile = (over: Record<string, unknown> = {}) => (path: string) => ({
  'server.engine': 'io_uring', 'server.rings': 1, 'server.bufferRing.count': 64, 'server.bufferRing.size': 65536, 'server.bufferRing.hotFirst': false, ...over,
})[path];

describe('knob remarks', () => {
  it('the hot-first row warns of a pool larger than the cache, and names both sizes', () => {
    expect(knobRemark('server.bufferRing.hotFirst', profile({ 'server.bufferRing.count': 1024 }), report(L3)))
      .toBe("The buffer pool (64 MiB) is larger than the CPU's last-level cache (L3, 32 MiB): with this off, every receive writes to memory that has left the cache.");
    // Every ring holds its own pool.
    expect(knobRemark('server.bufferRing.hotFirst', profile({ 'server.rings': 2, 'server.bufferRing.count': 512, 'server.bufferRing.size': 65536 }), report(L3))).toMatch(/^The buffer pool \(64 MiB\)/);
  });

  it('nothing once hot first is on, for a pool that fits, for epoll, without a cache size, or on any other row', () => {
    const big = { 'server.bufferRing.count': 1024 };
    expect(knobRemark('server.bufferRing.hotFirst', profile({ ...big, 'server.bufferRing.hotFirst': true }), report(L3))).toBeNull();
    expect(knobRemark('server.bufferRing.hotFirst', profile(), report(L3))).toBeNull();
    expect(knobRemark('server.bufferRing.hotFirst', profile({ ...big, 'server.engine': 'epoll' }), report(L3))).toBeNull();
    expect(knobRemark('server.bufferRing.hotFirst', profile(big), report(null))).toBeNull();
    expect(knobRemark('server.bufferRing.hotFirst', profile(big), null)).toBeNull();
    expect(knobRemark('server.bufferRing.count', profile(big), report(L3))).toBeNull();
  });
});
