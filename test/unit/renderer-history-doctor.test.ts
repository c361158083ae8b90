/**
 * The doctor's checks this round added, which the Doctor view shows (issue 10, "Doctor,
 * complete"): IOPOLL on block devices (queue/io_poll from sysfs), namespaces/veth permission,
 * fio on PATH, and locked memory judged against what the chosen profile locks. Sysfs, PATH
 * and the engine's memory plan are passed in, so each verdict is tested both ways.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DoctorReportSchema } from '../../electron/contract';
import type { NativeMemoryNeeds } from '../../electron/engine/protocol';
import { blockPollCheck, fioCheck, memlockCheck, netnsCheck, readBlockPoll, runDoctor } from '../../electron/host/doctor';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'doctor-views-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sysBlock(devices: Record<string, string | null>): string {
  const dir = mkdtempSync(path.join(tmp, 'block-'));
  for (const [name, ioPoll] of Object.entries(devices)) {
    mkdirSync(path.join(dir, name, 'queue'), { recursive: true });
    if (ioPoll !== null) writeFileSync(path.join(dir, name, 'queue', 'io_poll'), `${ioPoll}\n`);
  }
  return dir;
}

const needs = (over: Partial<NativeMemoryNeeds>): NativeMemoryNeeds => ({
  bufferRingBytes: 0, loadBufferBytes: 0, ringBytes: 0, connectionStateBytes: 0, totalBytes: 0,
  pinnedBytes: 0, memlockExempt: false, memlockLimitBytes: 8 << 20, ...over,
});

describe('doctor: IOPOLL on block devices', () => {
  it('names the devices with poll queues', () => {
    const devices = readBlockPoll(sysBlock({ nvme0n1: '1', vda: '0', ram0: '0', zram0: '0' }));
    expect(devices).toEqual([{ name: 'nvme0n1', ioPoll: true }, { name: 'vda', ioPoll: false }]);
    expect(blockPollCheck(devices, '2')).toMatchObject({ id: 'iopoll_storage', ok: true, value: 'nvme0n1', reason: expect.stringMatching(/nvme\.poll_queues=2/) });
  });

  it('without poll queues says a storage IOPOLL run is refused, with the fix for the driver', () => {
    const virtio = blockPollCheck(readBlockPoll(sysBlock({ vda: '0', loop0: '0' })), null);
    expect(virtio).toMatchObject({ ok: false, value: 'no poll queues', reason: expect.stringMatching(/io_poll=0 on vda.*rejected \(EOPNOTSUPP: no poll queues\)/) });
    expect(virtio.fix).toMatch(/virtio-blk/);
    const nvme = blockPollCheck(readBlockPoll(sysBlock({ nvme0n1: '0' })), '0');
    expect(nvme.fix).toMatch(/nvme\.poll_queues=N/);
    expect(blockPollCheck(readBlockPoll(path.join(tmp, 'no-such-dir')), null)).toMatchObject({ ok: false, reason: expect.stringMatching(/no block devices/) });
  });
});

describe('doctor: namespaces and veth', () => {
  it('passes the topology check\'s own refusal through, or says it can run', () => {
    expect(netnsCheck(() => null)).toMatchObject({ id: 'netns', ok: true });
    const refused = netnsCheck(() => ({ code: 'TOPOLOGY_NEEDS_NET_ADMIN', message: 'needs root or CAP_NET_ADMIN', fix: 'run as root' }));
    expect(refused).toMatchObject({ ok: false, value: 'no CAP_NET_ADMIN', reason: 'needs root or CAP_NET_ADMIN', fix: 'run as root' });
    expect(netnsCheck(() => ({ code: 'TOPOLOGY_NEEDS_IPROUTE2', message: 'no ip' }))).toMatchObject({ ok: false, value: 'no ip command' });
    expect(netnsCheck()).toMatchObject({ ok: null });
  });
});

describe('doctor: fio', () => {
  it('finds fio on PATH with its version, or says how to install it', async () => {
    const bin = mkdtempSync(path.join(tmp, 'bin-'));
    writeFileSync(path.join(bin, 'fio'), '#!/bin/sh\necho fio-9.99\n');
    chmodSync(path.join(bin, 'fio'), 0o755);
    expect(await fioCheck(`/nonexistent:${bin}`)).toMatchObject({ id: 'fio', ok: true, value: 'fio-9.99' });
    expect(await fioCheck('/nonexistent')).toMatchObject({ ok: false, value: 'absent', fix: expect.stringMatching(/apt-get install fio/) });
  });
});

describe('doctor: locked memory against the chosen profile', () => {
  it('compares what the profile locks with the limit', () => {
    expect(memlockCheck({ needs: needs({ pinnedBytes: 1 << 20 }), error: null })).toMatchObject({ ok: true, value: '8.0 MiB', reason: expect.stringMatching(/locks 1\.0 MiB of the 8\.0 MiB allowed/) });
    const over = memlockCheck({ needs: needs({ pinnedBytes: 9 << 20 }), error: null });
    expect(over).toMatchObject({ ok: false, reason: expect.stringMatching(/locks 9\.0 MiB .* limit is 8\.0 MiB/), fix: expect.stringMatching(/ulimit -l/) });
    expect(memlockCheck({ needs: needs({ pinnedBytes: 9 << 20, memlockLimitBytes: null }), error: null })).toMatchObject({ ok: true, value: 'unlimited' });
    expect(memlockCheck({ needs: needs({ memlockExempt: true }), error: null })).toMatchObject({ ok: true, reason: expect.stringMatching(/CAP_IPC_LOCK/) });
  });

  it('without a plan judges the bare limit and says why the profile is unknown', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax locked memory         65536                65536                bytes\n';
    expect(memlockCheck({ needs: null, error: 'engine not built' }, limits, false)).toMatchObject({ ok: false, value: '64.0 KiB', reason: expect.stringMatching(/unknown \(engine not built\)/) });
    expect(memlockCheck({ needs: null, error: null }, limits.replace(/65536 {16}65536/, 'unlimited            unlimited'), false)).toMatchObject({ ok: true, value: 'unlimited' });
  });

  it('this machine: the report validates and carries the new checks', async () => {
    const report = DoctorReportSchema.parse(await runDoctor(undefined, async () => needs({ pinnedBytes: 4096 }), () => null));
    expect(report.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['iopoll_storage', 'netns', 'fio', 'memlock']));
    expect(report.checks.find((c) => c.id === 'memlock')!.reason).toMatch(/current profile locks 4\.0 KiB/);
  });
});
