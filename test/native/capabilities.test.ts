/**
 * probeCapabilities(): each capability a knob needs, tried on throw-away rings (registrations,
 * multishot requests) or read from what the kernel states (feature bits, io_uring_get_probe).
 * What a kernel of a given version must offer is a fact of that version: on this machine
 * (6.18, CONFIG_NET_RX_BUSY_POLL=y) every one of them is there, and IOPOLL on sockets is not.
 * A probe that says otherwise on a kernel that has the feature is a bug in the probe.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import type { CapabilityProbe, ProbeResult } from '../../native';
import { DoctorReportSchema, knobEntries } from '../../electron/contract';
import { runDoctor } from '../../electron/host/doctor';
import { native } from './engineHarness';

/** [major, minor] of the running kernel. */
function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  if (!m) throw new Error(`cannot read the kernel version from ${os.release()}`);
  return [Number(m[1]), Number(m[2])];
}
const atLeast = (major: number, minor: number) => {
  const [a, b] = kernelVersion();
  return a > major || (a === major && b >= minor);
};

/** The kernel version each probe's capability arrived in. */
const SINCE: Record<string, [number, number]> = {
  bufferRing: [5, 19],
  multishotAccept: [5, 19],
  multishotRecv: [6, 0],
  sendZeroCopy: [6, 0],
  sendmsgZeroCopy: [6, 1],
  napi: [6, 9],
  recvBundle: [6, 10],
  incrementalBuffers: [6, 12],
  minWait: [6, 12],
  shortSlice: [6, 12],
  registeredBuffers: [5, 1],
  sparseFiles: [5, 19],
  attachWq: [5, 11],
  tcpDiag: [4, 6],
  tcpDestroyEvents: [4, 6],
};

const openFds = () => readdirSync('/proc/self/fd').length;
const tasks = () => readdirSync('/proc/self/task').length;
const baseTasks = tasks();

describe('probeCapabilities on this kernel', () => {
  const caps: CapabilityProbe = native.probeCapabilities();

  it('gives every capability as available with an errno, and the two agree', () => {
    for (const key of Object.keys(SINCE)) {
      const r = (caps as unknown as Record<string, ProbeResult>)[key];
      expect(r, key).toBeDefined();
      expect(typeof r.available, key).toBe('boolean');
      expect(r.available, key).toBe(r.errno === 0 && r.code === 'OK');
    }
  });

  it('reports what a kernel of this version offers: bundles, min-wait, incremental buffers, NAPI, SEND_ZC …', () => {
    expect(atLeast(6, 12), `this test's facts are for 6.12+, the kernel is ${os.release()}`).toBe(true);
    for (const [key, [major, minor]] of Object.entries(SINCE)) {
      const r = (caps as unknown as Record<string, ProbeResult>)[key]!;
      if (atLeast(major, minor)) expect({ key, ...r }).toMatchObject({ key, available: true, errno: 0, code: 'OK' });
    }
    // The stated ones agree with the raw lists they come from.
    expect(caps.features).toContain('RECVSEND_BUNDLE');
    expect(caps.features).toContain('MIN_TIMEOUT');
    expect(caps.ops).toContain('SEND_ZC');
    expect(caps.ops).toContain('SENDMSG_ZC');
  });

  it('measures the kernel\'s copy into a buffer 16 B and 64 B into its page (and shows the Zen 3 penalty on the CPU it was found on)', () => {
    const m = caps.copyDistance;
    expect(m).toMatchObject({ code: 'OK', blockBytes: 65536, nearOffset: 16, farOffset: 64 });
    // A 64 KiB write + read through a pipe: more than the copies alone at 100 GB/s, less than 10 ms.
    for (const ns of [m.nearNs!, m.farNs!]) expect(ns).toBeGreaterThan(1300);
    for (const ns of [m.nearNs!, m.farNs!]) expect(ns).toBeLessThan(10_000_000);
    // AMD family 25 model 1 (EPYC Milan, Zen 3) with FSRM: rep movsb runs ~0.5 ns/byte when
    // the destination is 1-31 B past the source; measured 2.8x (37 vs 13.5 µs) on this VM.
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    const milan = /^vendor_id\s*:\s*AuthenticAMD$/m.test(cpuinfo) && /^cpu family\s*:\s*25$/m.test(cpuinfo) && /^model\s*:\s*1$/m.test(cpuinfo) && /^flags\s*:.*\bfsrm\b/m.test(cpuinfo);
    if (milan) expect(m.nearNs! / m.farNs!).toBeGreaterThanOrEqual(1.5);
    else console.log(`copy distance: ${m.nearNs} vs ${m.farNs} ns (not the Zen 3 model the penalty was measured on: no ratio asserted)`);
  });

  it('measures what a system call costs: getppid and an io_uring_enter with nothing to do', () => {
    const m = caps.syscallCost;
    expect(m).toMatchObject({ calls: 20000, enterCode: 'OK' });
    // A real entry into the kernel (no call answered in user space costs 10 ns), and the best of
    // five rounds stays under 100 µs even on a guest whose calls the hypervisor handles.
    for (const ns of [m.getppidNs, m.enterNs!]) {
      expect(ns).toBeGreaterThan(10);
      expect(ns).toBeLessThan(100_000);
    }
    console.log(`system call: getppid ${m.getppidNs.toFixed(1)} ns, io_uring_enter ${m.enterNs!.toFixed(1)} ns`);
  });

  it('IOPOLL on a socket is refused with EINVAL: the ring takes the flag, the socket op does not', () => {
    expect(caps.iopollSocket).toMatchObject({ available: false, errno: 22, code: 'EINVAL' });
    expect(caps.sqpoll.available).toBe(true);
  });

  it('leaves no file descriptor or thread behind (rings, sockets, listeners, SQPOLL threads)', async () => {
    native.probeCapabilities(); // warm: the first call may open what the addon keeps
    await expect.poll(tasks, { timeout: 5000 }).toBeLessThanOrEqual(baseTasks);
    const before = openFds();
    for (let i = 0; i < 20; i++) native.probeCapabilities();
    expect(openFds()).toBe(before);
    // SQPOLL and io-wq threads belong to this process until their rings' teardown finishes
    await expect.poll(tasks, { timeout: 5000 }).toBeLessThanOrEqual(baseTasks);
  });

  it('the doctor over this probe: every knob usable here but IOPOLL on sockets (and huge pages while none are free)', async () => {
    const report = DoctorReportSchema.parse(await runDoctor(async () => native.probeCapabilities()));
    expect(report.knobs.map((k) => k.path)).toEqual(knobEntries().map((e) => e.path));
    const unusable = report.knobs.filter((k) => !k.available).map((k) => k.path);
    const expected = ['server.iopoll'];
    if (!report.hugepages || report.hugepages.free === 0) expected.push('server.bufferRing.hugepages');
    expect(unusable.sort()).toEqual(expected.sort());
    for (const k of report.knobs.filter((k) => !k.available)) {
      expect(k.reason, k.path).toBeTruthy();
      expect(k.fix, k.path).toBeTruthy();
    }
    expect(report.knobs.find((k) => k.path === 'server.napiBusyPollUs')?.note ?? 'no napi row yet: no effect on lo').toMatch(/no effect on lo/);
  });
});
