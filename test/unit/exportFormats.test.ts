/**
 * The profile exports (issue 10): golden files for each format from three representative
 * profiles (the default echo profile, a tuned echo profile that implies sysctls and boot
 * settings, and the storage IOPOLL preset), then what other tools make of them: `fio
 * --parse-only` accepts the fio job, `bash -n` the shell script, whose dry run prints the
 * commands — and the printed `uring-lab run` line, read back by the CLI's own --set parser,
 * is the exported profile again. Regenerate the golden files with UPDATE_GOLDEN=1 after a
 * deliberate change, and read the diff.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRunProfile } from '../../electron/host/verbProfiles';
import { LabError, type Profile } from '../../electron/contract';
import { loadProfileFile, parseProfile } from '../../electron/host/profiles';
import { EXPORT_FORMATS, exportProfile } from '../../electron/host/profiles/export';
import { kernelVersionIn } from '../../electron/host/profiles/export/common';
import { setArgument } from '../../electron/host/profiles/export/shell';
import { presetsDir } from '../../electron/host/profiles/presets';

const GOLDEN = path.join(__dirname, '../golden/export');
const work = mkdtempSync(path.join(tmpdir(), 'uring-lab-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TUNED_ECHO = parseProfile({
  kind: 'uring-lab/profile', schemaVersion: 1, name: 'tuned echo', description: "NAPI, huge pages, a pinned SQPOLL thread, NUMA node 0.\nIt's a test profile: quotes ' and \" and $HOME stay text.",
  topology: 'veth',
  server: {
    rings: 2, sqpoll: { enabled: true, cpu: 1 }, taskrun: 'default', napiBusyPollUs: 50, registeredBuffers: true, directDescriptors: true,
    bufferRing: { hugepages: true, size: 65536, count: 128 }, numa: { node: 0, cpus: [0, 1] },
  },
  load: { connections: 8, messageBytes: 4096 },
  duration: { warmupS: 0.5, measureS: 2 },
});
const PROFILES: Record<string, Profile> = {
  'loopback-default': loadProfileFile(path.join(presetsDir(), 'loopback-default.json')),
  'tuned-echo': TUNED_ECHO,
  'storage-iopoll': loadProfileFile(path.join(presetsDir(), 'storage-iopoll.json')),
};
const SUFFIX = { json: '.json', fio: '.fio', tuned: '.tuned.conf', shell: '.sh' } as const;

describe('export golden files', () => {
  for (const [name, profile] of Object.entries(PROFILES)) {
    for (const format of EXPORT_FORMATS) {
      it(`${name} as ${format}`, () => {
        const exported = exportProfile(profile, format);
        expect(exported.filename.endsWith(SUFFIX[format])).toBe(true);
        const file = path.join(GOLDEN, `${name}${SUFFIX[format]}`);
        if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, exported.text);
        expect(exported.text).toBe(readFileSync(file, 'utf8'));
      });
    }
  }
});

describe('what the other tools make of the exports', () => {
  it('fio --parse-only accepts every fio job', () => {
    for (const [name, profile] of Object.entries(PROFILES)) {
      const file = path.join(work, `${name}.fio`);
      writeFileSync(file, exportProfile(profile, 'fio').text);
      const r = spawnSync('fio', ['--parse-only', file], { encoding: 'utf8' });
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    }
  });

  it('a profile named "global" still makes a job (fio reads [global] as defaults)', () => {
    const file = path.join(work, 'global.fio');
    writeFileSync(file, exportProfile(parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'Global' }), 'fio').text);
    expect(readFileSync(file, 'utf8')).toMatch(/^\[uring-lab-global\]$/m);
    const r = spawnSync('fio', ['--parse-only', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('maps the ring knobs to fio options and lists the knobs fio has no word for', () => {
    const text = exportProfile(TUNED_ECHO, 'fio').text;
    for (const line of ['ioengine=io_uring', 'sqthread_poll=1', 'sqthread_poll_cpu=1', 'fixedbufs=1', 'registerfiles=1', 'numjobs=2', 'thread=1', 'cpus_allowed=0,1', 'numa_cpu_nodes=0', 'numa_mem_policy=bind:0', 'iodepth=32', 'bs=4096', 'rw=randread', 'direct=1', 'time_based=1', 'runtime=2000ms', 'ramp_time=500ms']) {
      expect(text.split('\n'), line).toContain(line);
    }
    expect(text).toMatch(/^;\s+server\.napiBusyPollUs = 50$/m);
    expect(exportProfile(PROFILES['storage-iopoll'], 'fio').text.split('\n')).toContain('hipri=1');
    // A write job on a path of the user's: fio will not refuse a mounted device as the lab does.
    const writes = exportProfile(parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage', storage: { path: '/dev/vdb', allowDevice: true, pattern: 'randwrite' } }), 'fio').text;
    expect(writes).toMatch(/^;\s+this job WRITES to its filename/m);
    expect(writes.split('\n')).toContain('filename=/dev/vdb');
    // The epoll baseline has no ring: a psync job, the ring knobs listed as without effect.
    const epoll = exportProfile(parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, server: { engine: 'epoll', sqpoll: { enabled: true } } }), 'fio').text;
    expect(epoll.split('\n')).toContain('ioengine=psync');
    expect(epoll).not.toMatch(/^sqthread_poll/m);
    expect(epoll).toMatch(/server\.sqpoll\.enabled = true \(does nothing with server\.engine epoll\)/);
  });

  it('refuses a value an INI file cannot carry, naming the knob', () => {
    const p = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage', storage: { path: '/tmp/a\nb' } });
    let err: unknown;
    try { exportProfile(p, 'fio'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).field).toBe('storage.path');
    expect((err as LabError).kind).toBe('input');
  });

  it('a fio job over a named file smaller than fileSizeMiB leaves the file as it was (fio lays out anew a file smaller than size=), and never creates a missing one', () => {
    const file = path.join(work, 'small.dat');
    const data = Buffer.alloc(1024 * 1024 + 1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    writeFileSync(file, data);
    const job = (target: string, pattern: string) => {
      const p = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage', storage: { path: target, pattern, direct: false }, duration: { warmupS: 0, measureS: 0.3 } });
      const jobFile = path.join(work, `${path.basename(target)}-${pattern}.fio`);
      writeFileSync(jobFile, exportProfile(p, 'fio').text);
      return spawnSync('fio', [jobFile, '--output-format=terse'], { encoding: 'utf8', timeout: 30_000 });
    };
    for (const pattern of ['randread', 'read']) {
      const r = job(file, pattern);
      expect(r.status, r.stderr).toBe(0);
      // Before: "Laying out IO file (1 file / 1024MiB)", and the file was 1 GiB of fio's bytes.
      expect(readFileSync(file).equals(data), pattern).toBe(true);
    }
    const missing = path.join(work, 'missing.dat');
    const r = job(missing, 'randread');
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/allow_file_create/);
    expect(spawnSync('test', ['-e', missing]).status).not.toBe(0);
  });

  it('a storage job is pinned by load.cpus, as the lab pins it; the server\'s NUMA knobs (echo only) pin nothing in it, and pin an echo profile\'s analogue', () => {
    const lines = (o: Record<string, unknown>) => exportProfile(parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, ...o }), 'fio').text.split('\n');
    const storage = lines({ workload: 'storage', load: { cpus: [1] }, server: { numa: { cpus: [0], node: 0 } } });
    expect(storage).toContain('cpus_allowed=1');
    expect(storage.filter((l) => /^(cpus_allowed|numa_)/.test(l))).toEqual(['cpus_allowed=1', 'cpus_allowed_policy=split']);
    const echo = lines({ load: { cpus: [1] }, server: { numa: { cpus: [0] } } });
    expect(echo.filter((l) => /^cpus_allowed=/.test(l))).toEqual(['cpus_allowed=0']);
  });

  it('refuses a storage path fio would read as another (; and # start a comment, spaces around a value are trimmed), and in no other format', () => {
    for (const [target, cause] of [['/tmp/data#2.img', /; and # in a job file/], ['/tmp/a;b', /; and # in a job file/], ['/tmp/x.img ', /trims the spaces/], [' /tmp/x.img', /trims the spaces/]] as const) {
      const p = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage', storage: { path: target, pattern: 'randwrite' } });
      let err: unknown;
      try { exportProfile(p, 'fio'); } catch (e) { err = e; }
      expect((err as LabError).field, target).toBe('storage.path');
      expect((err as LabError).message).toMatch(cause);
      expect(exportProfile(p, 'json').text).toContain(JSON.stringify(target));
    }
    // What fio itself makes of such a line: the file it would use is not the one named.
    const job = path.join(work, 'hash.fio');
    writeFileSync(job, '[j]\nfilename=/tmp/data#2.img\nsize=1M\nrw=read\n');
    expect(spawnSync('fio', ['--showcmd', job], { encoding: 'utf8' }).stdout).toMatch(/--filename=\/tmp\/data(\s|$)/);
  });

  it('refuses a storage path with a $ in a fio job (fio expands it into another file name), and in no other format', () => {
    for (const path of ['/tmp/${PWD}/x', '/tmp/$ncpus', '/tmp/a$HOME']) {
      const p = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, workload: 'storage', storage: { path } });
      let err: unknown;
      try { exportProfile(p, 'fio'); } catch (e) { err = e; }
      expect((err as LabError).field, path).toBe('storage.path');
      expect((err as LabError).message).toMatch(/fio expands \$/);
      expect(exportProfile(p, 'json').text).toContain(path);
    }
  });

  it('refuses to export a huge-page reservation larger than this machine (TuneD would apply it unasked), from tuned and shell', () => {
    const huge = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, server: { rings: 64, bufferRing: { size: 1048576, count: 32768, hugepages: true } } });
    for (const format of ['tuned', 'shell'] as const) {
      let err: unknown;
      try { exportProfile(huge, format); } catch (e) { err = e; }
      expect(err, format).toBeInstanceOf(LabError);
      expect((err as LabError).field).toBe('server.bufferRing.hugepages');
      expect((err as LabError).kind).toBe('input');
      expect((err as LabError).message).toMatch(/vm\.nr_hugepages=1048576 \(2048\.0 GiB/);
    }
    // json and fio set no sysctl; a reservation that fits is exported as before.
    expect(() => exportProfile(huge, 'json')).not.toThrow();
    const fits = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, server: { bufferRing: { size: 65536, count: 64, hugepages: true } } });
    expect(exportProfile(fits, 'tuned').text).toMatch(/^vm\.nr_hugepages=2$/m);
  });

  it('tuned.conf has the implied sysctls and boot settings, each after the comment naming its knob', () => {
    const lines = exportProfile(TUNED_ECHO, 'tuned').text.split('\n');
    const expectPair = (setting: string, knob: RegExp) => {
      const i = lines.indexOf(setting);
      expect(i, setting).toBeGreaterThan(0);
      expect(lines[i - 1]).toMatch(knob);
    };
    expectPair('kernel.io_uring_disabled=0', /^# server\.engine = "io_uring"/);
    expectPair('net.core.busy_poll=50', /^# server\.napiBusyPollUs = 50/);
    expectPair('net.core.busy_read=50', /^# server\.napiBusyPollUs = 50/);
    // 2 rings × ceil(128 × 64 KiB / 2 MiB) = 2 × 4 huge pages.
    expectPair('vm.nr_hugepages=8', /^# server\.bufferRing\.hugepages = true/);
    expectPair('kernel.numa_balancing=0', /^# server\.numa\.node = 0/);
    expectPair('cmdline_sqpoll=isolcpus=1 nohz_full=1', /^# server\.sqpoll\.cpu = 1/);
    expectPair('force_latency=cstate.id_no_zero:1|3', /^# server\.napiBusyPollUs = 50/);
    expect(lines.indexOf('[sysctl]')).toBeLessThan(lines.indexOf('[cpu]'));
    expect(lines.indexOf('[cpu]')).toBeLessThan(lines.indexOf('[bootloader]'));
    // The default profile implies only io_uring being enabled.
    const plain = exportProfile(PROFILES['loopback-default'], 'tuned').text;
    expect(plain.split('\n').filter((l) => /^[a-z_]+\.[a-z_.]+=/.test(l))).toEqual(['kernel.io_uring_disabled=0']);
    expect(plain).not.toContain('[bootloader]');
    expect(plain).not.toContain('[cpu]');
  });

  it('the shell script passes bash -n, and its dry run prints the commands that run the same profile', () => {
    for (const [name, profile] of Object.entries(PROFILES)) {
      const file = path.join(work, `${name}.sh`);
      writeFileSync(file, exportProfile(profile, 'shell').text);
      execFileSync('bash', ['-n', file]);
      for (const dry of [['--dry-run'], []]) {
        const r = spawnSync('bash', [file, ...dry], {
          encoding: 'utf8', input: '',
          env: { ...process.env, URING_LAB: '/opt/uring-lab/bin/uring-lab', ...(dry.length ? {} : { DRY_RUN: '1' }), PATH: `/usr/sbin:/sbin:${process.env.PATH}` },
        });
        expect(r.status, `${name} ${dry.join(' ')}: ${r.stderr}`).toBe(0);
        const printed = r.stdout.split('\n').filter((l) => l.startsWith('+ '));
        const run = printed.find((l) => l.startsWith('+ /opt/uring-lab/bin/uring-lab run'));
        expect(run, `${name}: the run command is printed`).toBeDefined();
        // Every printed command is a sysctl change or the run: the dry run changed nothing itself.
        for (const l of printed) expect(l).toMatch(/^\+ (sysctl -w [a-z_.]+=\d+|\/opt\/uring-lab\/bin\/uring-lab run( --set .+)?)$/);
        // Read the printed words back as bash would, then through the CLI's --set parser.
        const argv = execFileSync('bash', ['-c', `eval "set -- ${run!.slice(2)}"; printf '%s\\0' "$@"`], { encoding: 'utf8' }).split('\0').slice(0, -1);
        expect(argv.slice(0, 2)).toEqual(['/opt/uring-lab/bin/uring-lab', 'run']);
        const sets = argv.slice(2).filter((_, i) => i % 2 === 1);
        const again = buildRunProfile({ set: sets });
        expect({ ...again, description: profile.description }).toEqual(profile);
      }
    }
  });

  it('the shell script asks before it changes a sysctl', () => {
    const text = exportProfile(TUNED_ECHO, 'shell').text;
    expect(text).toMatch(/read -r -p "Set \$key from \$now to \$want/);
    expect(text).toMatch(/^set_sysctl net\.core\.busy_poll 50 exactly /m);
    expect(text).toMatch(/^set_sysctl vm\.nr_hugepages 8 at_least /m);
    // topology veth and registered buffers: their privileges are checked.
    expect(text).toMatch(/topology veth needs root or CAP_NET_ADMIN/);
    expect(text).toMatch(/ulimit -l/);
  });

  it('the shell script never lowers a machine-wide socket buffer cap it needs at least (it lowered net.core.rmem_max from 32 MiB to 8 MiB)', () => {
    const file = path.join(work, 'buffers.sh');
    writeFileSync(file, exportProfile(parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, server: { socket: { receiveBufferBytes: 8388608, sendBufferBytes: 8388608 } } }), 'shell').text);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^set_sysctl net\.core\.rmem_max 8388608 at_least /m);
    expect(text).toMatch(/^set_sysctl net\.core\.wmem_max 8388608 at_least /m);
    // A sysctl that reads a cap above the profile's, and one below it.
    const bin = path.join(work, 'stub-bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(path.join(bin, 'sysctl'), '#!/bin/bash\ncase "$*" in *rmem_max*) echo 33554432 ;; *wmem_max*) echo 212992 ;; *) echo 0 ;; esac\n', { mode: 0o755 });
    const r = spawnSync('bash', [file, '--dry-run'], { encoding: 'utf8', input: '', env: { ...process.env, URING_LAB: '/opt/uring-lab/bin/uring-lab', PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status, r.stderr).toBe(0);
    const changes = r.stdout.split('\n').filter((l) => l.startsWith('+ sysctl'));
    expect(changes).toEqual(['+ sysctl -w net.core.wmem_max=8388608']);
  });

  it('writes --set values the parser reads back as the same value', () => {
    for (const [p, v] of [['name', 'a b'], ['name', '123'], ['name', ' padded '], ['name', 'null'], ['storage.path', '/x y'], ['server.numa.cpus', [0, 3]], ['load.rateRps', 20000.5], ['server.sqpoll.cpu', null]] as const) {
      const profile = buildRunProfile({ set: [setArgument(p, v)] });
      expect(p.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], profile), `${p}=${JSON.stringify(v)}`).toEqual(v);
    }
  });

  it("reads the kernel a knob needs from its row's words", () => {
    expect(kernelVersionIn('defer: Linux 6.1; coop: Linux 5.19', 'coop')).toEqual([5, 19]);
    expect(kernelVersionIn('defer: Linux 6.1; coop: Linux 5.19', 'default')).toBeNull();
    expect(kernelVersionIn('Linux 6.0 (usage reports 6.2)', true)).toEqual([6, 0]);
    expect(kernelVersionIn('reserved huge pages (vm.nr_hugepages)', true)).toBeNull();
  });
});
