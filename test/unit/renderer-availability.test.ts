/**
 * The knob panel's availability: each knob gets the doctor's verdict for its path; an
 * unavailable knob is blocked (disabled) only while it is at its default, so a profile that
 * asks for it can be set back. The report is the doctor's real derivation (capabilitiesFrom +
 * knobAvailability) over a hand-built probe, so the words are the ones the host sends.
 */
import { describe, expect, it } from 'vitest';
import type { CapabilityProbe, ProbeResult } from '../../native';
import { DoctorReportSchema, knobAt, knobEntries, type DoctorReport, type KnobEntry } from '../../electron/contract';
import { capabilitiesFrom, knobAvailability as doctorKnobs } from '../../electron/host/doctor';
import { blockedByMachine, knobAvailability } from '../../renderer/src/components/knobs/availability';

const OK: ProbeResult = { available: true, errno: 0, code: 'OK', reason: 'accepted' };
const EINVAL: ProbeResult = { available: false, errno: 22, code: 'EINVAL', reason: 'Invalid argument' };
const PROBE: CapabilityProbe = {
  ring: OK, sqpoll: OK, deferTaskrun: OK, coopTaskrun: OK, iopollSocket: EINVAL, attachWq: OK, bufferRing: OK,
  incrementalBuffers: OK, napi: OK, registeredBuffers: OK, sparseFiles: OK, multishotAccept: OK, multishotRecv: OK,
  recvBundle: OK, minWait: OK, sendZeroCopy: OK, sendmsgZeroCopy: OK, ops: [], features: [],
};

function report(entries: KnobEntry[] = knobEntries()): DoctorReport {
  const capabilities = capabilitiesFrom(PROBE, null, { total: 0, free: 0, sizeBytes: 2 << 20 });
  return DoctorReportSchema.parse({
    kernel: { release: 'test' }, checks: [], hugepages: null, capabilities,
    numa: { nodes: [{ id: 0, cpus: [0, 1] }], source: 'sysfs', onlineCpus: [0, 1], allowedCpus: [0, 1] },
    knobs: doctorKnobs(capabilities, entries),
  });
}
const row = (path: string) => knobAt(path)!;

describe('knob availability in the panel', () => {
  it('every catalogue knob has a state; knobs that need nothing are available without a word', () => {
    const r = report();
    for (const entry of knobEntries()) {
      const a = knobAvailability(r, entry);
      expect(['available', 'unavailable'], entry.path).toContain(a.state);
      if (!entry.needs) expect(a).toMatchObject({ state: 'available', text: '', reason: null });
    }
  });

  it('IOPOLL: unavailable with the doctor reason (EINVAL on sockets) and the NAPI fix, blocked at its default', () => {
    const a = knobAvailability(report(), row('server.iopoll'));
    expect(a.state).toBe('unavailable');
    expect(a.text).toBe('not available on this machine');
    expect(a.reason).toMatch(/refuses socket ops \(EINVAL\)/);
    expect(a.fix).toMatch(/NAPI/);
    expect(blockedByMachine(a, false, false)).toBe(true);
    // asked for anyway (a loaded profile): can still be set back
    expect(blockedByMachine(a, true, false)).toBe(false);
    // a knob that is on by default (multishot) stays changeable, so it can be turned off
    expect(blockedByMachine(a, true, true)).toBe(false);
    // numbers: 0 / null are off
    expect(blockedByMachine(a, 0, 0)).toBe(true);
    expect(blockedByMachine(a, null, null)).toBe(true);
    expect(blockedByMachine(a, 1000, 1000)).toBe(false);
  });

  it('SQPOLL available here says so; huge pages without reserved pages carry the sysctl fix', () => {
    expect(knobAvailability(report(), row('server.sqpoll.enabled'))).toMatchObject({ state: 'available', text: 'available here', needs: 'sqpoll' });
    expect(knobAvailability(report(), row('server.bufferRing.hugepages')).fix).toMatch(/sysctl vm\.nr_hugepages=\d+/);
  });

  it('NAPI: available, with its note (no effect on lo)', () => {
    const base = row('server.iopoll');
    const napiRow = { ...base, path: 'test.napi', needs: 'napi' as const };
    const a = knobAvailability(report([napiRow]), napiRow);
    expect(a).toMatchObject({ state: 'available', reason: null });
    expect(a.note).toMatch(/no effect on lo/);
    expect(blockedByMachine(a, false, false)).toBe(false);
  });

  it('before the report: unknown for knobs that need something (checking…), never blocked', () => {
    const a = knobAvailability(null, row('server.iopoll'), true);
    expect(a).toMatchObject({ state: 'unknown', text: 'checking this machine…' });
    expect(blockedByMachine(a, false, false)).toBe(false);
    expect(knobAvailability(null, row('server.iopoll')).text).toBe('not checked yet');
    expect(knobAvailability(null, row('load.connections')).state).toBe('available');
  });

  it('a knob the doctor could not check (probe failed) is unknown with the reason, not blocked', () => {
    const capabilities = capabilitiesFrom(null, 'engine process exited (code 1)', null);
    const r = DoctorReportSchema.parse({ ...report(), capabilities, knobs: doctorKnobs(capabilities) });
    const a = knobAvailability(r, row('server.iopoll'));
    expect(a).toMatchObject({ state: 'unknown', text: 'the doctor could not check' });
    expect(a.reason).toMatch(/engine process exited/);
    expect(blockedByMachine(a, false, false)).toBe(false);
  });

  it('a knob the report does not list (a host older than the page) is unknown, not blocked', () => {
    const r = report();
    const missing = { ...row('server.iopoll'), path: 'server.fromTheFuture' };
    expect(knobAvailability(r, missing)).toMatchObject({ state: 'unknown', text: 'the doctor did not list this knob' });
  });
});
