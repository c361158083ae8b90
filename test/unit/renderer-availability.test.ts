/**
 * The knob panel's availability: each knob gets the doctor's verdict for its path; an
 * unavailable knob is blocked (disabled) only while it is at its default, so a profile that
 * asks for it can be set back. The report is the doctor's real derivation (capabilitiesFrom +
 * knobAvailability) over a hand-built probe, so the words are the ones the host sends.
 */
import { describe, expect, it } from 'vitest';
import type { CapabilityProbe, ProbeResult } from '../../native';
import { DoctorReportSchema, knobAt, knobEntries, type DoctorReport, type KnobEntry, type Workload } from '../../electron/contract';
import { capabilitiesFrom, knobAvailability as doctorKnobs } from '../../electron/host/doctor';
import { blockedByMachine, knobApplies, knobAvailability } from '../../renderer/src/components/knobs/availability';

const OK: ProbeResult = { available: true, errno: 0, code: 'OK', reason: 'accepted' };
const EINVAL: ProbeResult = { available: false, errno: 22, code: 'EINVAL', reason: 'Invalid argument' };
const PROBE: CapabilityProbe = {
  ring: OK, sqpoll: OK, deferTaskrun: OK, coopTaskrun: OK, iopollSocket: EINVAL, attachWq: OK, bufferRing: OK,
  incrementalBuffers: OK, napi: OK, registeredBuffers: OK, sparseFiles: OK, multishotAccept: OK, multishotRecv: OK, shortSlice: OK, tcpDiag: OK, tcpDestroyEvents: OK,
  recvBundle: OK, minWait: OK, sendZeroCopy: OK, sendmsgZeroCopy: OK, ops: [], features: [],
  copyDistance: { code: 'OK', reason: 'measured', blockBytes: 65536, nearOffset: 16, farOffset: 64, nearNs: 13600, farNs: 13541 }, syscallCost: { calls: 20000, getppidNs: 71, enterCode: 'OK', enterNs: 84 },
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

describe('knobs by workload', () => {
  const paths = (w: Workload) => knobEntries().filter((e) => knobApplies(e, w)).map((e) => e.path);

  it('IOPOLL: the doctor\'s socket verdict holds for echo only; for storage it is enabled (the run checks the device)', () => {
    const r = report();
    const echo = knobAvailability(r, row('server.iopoll'), false, 'echo');
    expect(echo.state).toBe('unavailable');
    expect(blockedByMachine(echo, false, false)).toBe(true);
    const storage = knobAvailability(r, row('server.iopoll'), false, 'storage');
    expect(storage).toEqual({ state: 'available', needs: null, text: '', reason: null, fix: null, note: null });
    expect(blockedByMachine(storage, false, false)).toBe(false);
    // the default workload is echo: the verdict callers without a workload get
    expect(knobAvailability(r, row('server.iopoll')).state).toBe('unavailable');
    // before the report too: nothing to wait for on storage
    expect(knobAvailability(null, row('server.iopoll'), true, 'storage').state).toBe('available');
    // other needs hold whatever the workload (SQPOLL is probed once for both)
    expect(knobAvailability(r, row('server.sqpoll.enabled'), false, 'storage')).toMatchObject({ state: 'available', needs: 'sqpoll' });
  });

  it('a row with needsFor has needs, and only IOPOLL narrows its need', () => {
    const narrowed = knobEntries().filter((e) => e.needsFor);
    expect(narrowed.map((e) => e.path)).toEqual(['server.iopoll']);
    for (const e of narrowed) expect(e.needs, e.path).toBeTruthy();
  });

  it('storage shows its own rows and the ring knobs its jobs use, not the echo server\'s or the load\'s sockets', () => {
    const storage = paths('storage');
    for (const e of knobEntries().filter((e) => e.path.startsWith('storage.'))) expect(storage, e.path).toContain(e.path);
    // the job rings: what electron/host/run/storage.ts and native/src/loads/storage_load.c use
    for (const p of ['workload', 'server.engine', 'server.ringEntries', 'server.sqpoll.enabled', 'server.sqpoll.cpu', 'server.sqpoll.idleMs',
      'server.taskrun', 'server.registeredRingFd', 'server.iopoll', 'server.registeredBuffers', 'server.directDescriptors', 'load.threads',
      // load.cpus pins the jobs (storage_load.c load_pin_self), as it pins echo load threads
      'load.cpus', 'duration.warmupS', 'duration.measureS']) expect(storage, p).toContain(p);
    for (const p of ['load.connections', 'load.messageBytes', 'load.mode', 'load.rateRps', 'load.pipeline', 'load.timeoutMs', 'server.numa.cpus',
      'server.rings', 'server.sqpoll.shared', 'server.bufferRing.size', 'server.bufferRing.count', 'server.multishot', 'server.sendZeroCopy',
      'server.napiBusyPollUs', 'server.numa.node', 'topology']) expect(storage, p).not.toContain(p);
  });

  it('echo shows every row but the storage ones', () => {
    const echo = paths('echo');
    expect(echo).toEqual(knobEntries().filter((e) => !e.path.startsWith('storage.')).map((e) => e.path));
    // no row applies to no workload
    for (const e of knobEntries()) expect(knobApplies(e, 'echo') || knobApplies(e, 'storage'), e.path).toBe(true);
  });
});
