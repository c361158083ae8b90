/**
 * What a knob row says about the values around it before any run: advice the summary would
 * give afterwards, shown where the knob that acts on it is. One today: a buffer pool larger
 * than the CPU's last-level cache (the doctor's), on the hot-first row (contract/bufferPool.ts).
 */
import { coldPoolRemark, type DoctorReport, type Profile } from '../../../../electron/contract';

/** The row's remark, or null. `requested` reads the profile the next run would take. */
export function knobRemark(path: string, requested: (path: string) => unknown, report: DoctorReport | null): string | null {
  if (path !== 'server.bufferRing.hotFirst') return null;
  const server = {
    engine: requested('server.engine') as Profile['server']['engine'],
    rings: Number(requested('server.rings')),
    bufferRing: {
      count: Number(requested('server.bufferRing.count')),
      size: Number(requested('server.bufferRing.size')),
      hotFirst: requested('server.bufferRing.hotFirst') === true,
    },
  };
  if (![server.rings, server.bufferRing.count, server.bufferRing.size].every(Number.isFinite)) return null;
  return coldPoolRemark(server, report?.cache ?? null);
}
