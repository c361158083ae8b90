/**
 * The `uring-lab` command line as users' scripts call it: real runs of the built CLI against
 * the native engine, checked against the RunSummary contract.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DoctorReportSchema, KNOBS, PROBE_NAMES, RunSummarySchema } from '../../electron/contract';
import { CLI, cliSync as cli, inScratch } from './cliProcess';

/** Keys DESIGN.md promises in every RunSummary. */
const DESIGN_KEYS = ['throughputRps', 'latencyUs', 'requests', 'errors', 'serverCpuNsPerReq', 'loadCpuNsPerReq', 'applied', 'rejected', 'probes', 'kernel', 'histogram', 'frames'];

describe('uring-lab --help', () => {
  // Read in a 100-column terminal: a line past it wraps mid-word (one did, after an edit). The
  // synopsis lines (`uring-lab VERB [options]`) are the exception: one line each, to copy.
  it('every verb\'s usage text fits 100 columns, the synopsis lines aside', () => {
    const verbs = [[], ['run'], ['server'], ['load'], ['ab'], ['runs'], ['diagnose'], ['export'], ['doctor'], ['serve']];
    for (const verb of verbs) {
      const r = cli(...verb, '--help');
      expect(r.code, `${verb.join(' ')} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout.length, verb.join(' ')).toBeGreaterThan(0);
      const wide = r.stdout.split('\n').filter((line) => line.length > 100 && !/^(Usage: )?uring-lab /.test(line.trim()));
      expect(wide, `uring-lab ${verb.join(' ')} --help`).toEqual([]);
    }
  });
});

describe('uring-lab run', () => {
  it('--json prints one RunSummary of a real run', () => {
    const r = cli('run', '--duration', '2', '--set', 'duration.warmupS=0.5', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const raw = JSON.parse(lines[0]);
    for (const key of DESIGN_KEYS) expect(raw).toHaveProperty(key);
    for (const key of ['p50', 'p90', 'p99', 'p999', 'max']) expect(raw.latencyUs).toHaveProperty(key);
    const s = RunSummarySchema.parse(raw);
    expect(s.requests).toBeGreaterThan(1000);
    expect(s.errors).toBe(0);
    // The lab's own server echoed every byte it was sent, warm-up included.
    expect(s.mismatches).toBe(0);
    expect(s.warmupMismatches).toBe(0);
    expect(s.throughputRps).toBeGreaterThan(0);
    expect(s.measuredS).toBeGreaterThan(1.5);
    expect(s.latencyUs.p50).toBeGreaterThan(0);
    expect(s.latencyUs.p99).toBeGreaterThanOrEqual(s.latencyUs.p50);
    expect(s.latencyUs.max).toBeGreaterThanOrEqual(s.latencyUs.p999);
    // ~10 frames a second over warm-up plus the measured window
    expect(s.frames).toBeGreaterThanOrEqual(20);
    // the histogram's counts are the measured requests
    expect(s.histogram.counts.reduce((sum, [, c]) => sum + c, 0)).toBe(s.requests);
    expect(s.serverCpuNsPerReq).toBeGreaterThan(0);
    expect(s.loadCpuNsPerReq).toBeGreaterThan(0);
    expect(s.applied.server.sqpoll.enabled).toBe(false);
    // Every eBPF probe is listed: attached, or not with its reason (test/cli/probes.test.ts checks them in depth).
    expect(s.probes.map((p) => p.name).sort()).toEqual([...PROBE_NAMES].sort());
    for (const p of s.probes) expect(p.attached || p.reason.length > 0).toBe(true);
  });

  it('--set server.sqpoll.enabled=true is applied, or refused with the kernel errno', () => {
    const r = cli('run', '--duration', '1', '--set', 'duration.warmupS=0.2', '--set', 'server.sqpoll.enabled=true', '--json');
    expect(r.code).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    const refused = s.rejected.find((k) => k.knob === 'server.sqpoll.enabled');
    if (refused) {
      expect(refused.errno).toBeGreaterThan(0);
      expect(s.applied.server.sqpoll.enabled).toBe(false);
    } else {
      expect(s.applied.server.sqpoll.enabled).toBe(true);
      expect(s.ring.flags).toContain('SQPOLL');
      // SQPOLL excludes DEFER_TASKRUN: the default taskrun=defer must be reported as refused
      const taskrun = s.rejected.find((k) => k.knob === 'server.taskrun');
      expect(taskrun?.code).toBe('EINVAL');
      expect(s.applied.server.taskrun).not.toBe('defer');
    }
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });

  it('the human summary has the server loop\'s own counts per request and its CPU split, without probes (epoll\'s in its own words)', () => {
    const human = (...sets: string[]) => {
      const r = cli('run', '--duration', '0.5', '--set', 'duration.warmupS=0.2', '--set', 'probes.enabled=false', ...sets.flatMap((kv) => ['--set', kv]));
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const uring = human();
    expect(uring).toMatch(/^ {2}server loop {2}\d+\.\d\d enters, \d+\.\d\d CQEs, 1\.00 recvs, 1\.00 sends per request · 0 ENOBUFS, 0 CQ overflows$/m);
    expect(uring).toMatch(/^ {2}server CPU {3}per request: user [\d,]+ ns, system [\d,]+ ns$/m);
    const epoll = human('server.engine=epoll');
    expect(epoll).toMatch(/^ {2}server loop {2}\d+\.\d\d epoll_waits, \d+\.\d\d events, 1\.00 recvs, 1\.00 sends per request$/m);
    const sqpoll = human('server.sqpoll.enabled=true', 'server.taskrun=default', 'server.quietSends=false', 'server.recvOnReady=false');
    if (/SQPOLL on/.test(sqpoll)) expect(sqpoll).toMatch(/^ {2}server CPU {3}per request: user [\d,]+ ns, system [\d,]+ ns, SQPOLL thread [\d,]+ ns \(\d+ % busy, the rest idle spin\)$/m);
    // server.minWaitUs: how many waits it batched, or that it never did (one connection). 200
    // connections: the lab's load sends in bursts, and at 50 its batches often hold half of them
    // or more, which never wait.
    const batched = human('server.minWaitUs=100', 'load.connections=200');
    expect(batched).toMatch(/^ {2}server loop {2}.* CQ overflows · [\d,]+ batched waits \(\d+(\.\d)? % of enters\)$/m);
    const lone = human('server.minWaitUs=100', 'load.connections=1', 'load.messageBytes=1048576', 'server.bufferRing.size=4096');
    expect(lone).toMatch(/^ {2}server loop {2}.* CQ overflows · no batched waits \(completions never came from 4 or more connections, fewer than half of those open, at once: minWaitUs changed nothing\)$/m);
  });

  it('--set server.registeredRingFd=true registers the server ring\'s fd (Linux 5.18+)', () => {
    const r = cli('run', '--duration', '1', '--set', 'duration.warmupS=0.2', '--set', 'server.registeredRingFd=true', '--json');
    expect(r.code).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.applied.server.registeredRingFd).toBe(true);
    expect(s.rejected.find((k) => k.knob === 'server.registeredRingFd')).toBeUndefined();
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });

  it('--set server.sendZeroCopy=true on loopback: the summary says the kernel copied every SEND_ZC, with the counts the frames have', () => {
    const r = cli('run', '--duration', '1', '--set', 'duration.warmupS=0.2', '--set', 'probes.enabled=false', '--set', 'server.sendZeroCopy=true', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.applied.server.sendZeroCopy).toBe(true);
    expect(s.errors).toBe(0);
    const e = s.engine!;
    // Loopback: the notifications reported every SEND_ZC as copied, none in place.
    expect(e.zeroCopySends).toBe(0);
    expect(e.copiedSends).toBeGreaterThan(0);
    const zc = s.warnings.filter((w) => w.startsWith('SEND_ZC: '));
    expect(zc, s.warnings.join('\n')).toHaveLength(1);
    expect(zc[0]).toContain(`0 zero-copy, ${e.copiedSends.toLocaleString('en-US')} copied by the kernel (the kernel copies every SEND_ZC whose data is delivered on this machine`);
    expect(zc[0].includes('past the budget')).toBe(e.zeroCopyFallbacks > 0);
    // Without SEND_ZC nothing is said (the first test's default run has no such warning either).
    const plain = RunSummarySchema.parse(JSON.parse(cli('run', '--duration', '0.3', '--set', 'duration.warmupS=0.1', '--set', 'probes.enabled=false', '--json').stdout));
    expect(plain.engine!.copiedSends + plain.engine!.zeroCopySends).toBe(0);
    expect(plain.warnings.join('\n')).not.toMatch(/SEND_ZC/);
  });

  it('--set server.iopoll=true is refused (EINVAL: sockets on an IOPOLL ring) and the run goes on without it', () => {
    const r = cli('run', '--duration', '1', '--set', 'server.iopoll=true', '--json');
    expect(r.code).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.applied.server.iopoll).toBe(false);
    const iopoll = s.rejected.find((k) => k.knob === 'server.iopoll');
    expect(iopoll?.code).toBe('EINVAL');
    expect(iopoll?.requested).toBe(true);
    expect(iopoll?.reason).toContain(KNOBS.server.iopoll.refusal!.refused.reason);
    expect(iopoll?.fix).toBe(KNOBS.server.iopoll.refusal!.refused.fix);
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });

  it('--set server.bufferRing.hugepages=true applies, or is refused with the catalogue\'s words, and the run goes on', () => {
    // vm.nr_hugepages is left as it is on this machine (usually 0: refused with ENOMEM).
    const r = cli('run', '--duration', '1', '--set', 'server.bufferRing.hugepages=true', '--json');
    expect(r.code).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    const huge = s.rejected.find((k) => k.knob === 'server.bufferRing.hugepages');
    if (s.applied.server.bufferRing.hugepages) {
      expect(huge).toBeUndefined();
    } else {
      expect(huge).toBeDefined();
      expect(huge!.errno).toBeGreaterThan(0);
      expect(huge!.requested).toBe(true);
      expect(huge!.reason).toContain(KNOBS.server.bufferRing.hugepages.refusal!.refused.reason);
      expect(huge!.fix).toBe(KNOBS.server.bufferRing.hugepages.refusal!.refused.fix);
    }
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });

  it('runs a profile file with a large message size', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-cli-'));
    const file = path.join(dir, 'big.json');
    writeFileSync(file, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'big-messages', load: { connections: 4, messageBytes: 65536 }, duration: { warmupS: 0.2, measureS: 1 } }));
    const r = cli('run', '--profile', file, '--json');
    expect(r.code).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.profileName).toBe('big-messages');
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
    expect(s.bytes).toBe(s.requests * 65536);
  });

  // util-linux's `script` gives the CLI a terminal (setup.sh installs bsdutils, which has it).
  const haveScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!haveScript)('on a terminal: counts its set-up, then shows progress, then prints the summary', async () => {
    await inScratch('uring-lab-tty-', (env) => {
      const cmd = [process.execPath, CLI, 'run', '--duration', '1.2', '--set', 'duration.warmupS=0.3', '--set', 'load.connections=200', '--set', 'load.messageBytes=65536']
        .map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 90_000, env });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const out = r.stdout;
      // What is being set up, and for how long so far, before anything is measured.
      const setUp = out.indexOf('setting up 200 connections × 64.0 KiB messages (0 s)');
      expect(setUp, out).toBeGreaterThanOrEqual(0);
      // The first frame clears that line: a progress line (\r, clear to its end) follows it.
      const progress = out.search(/\r\x1b\[K {2}\d+\.\d s {2}[\d,]+ req\/s {2}p99 \d+ µs/);
      expect(progress, out).toBeGreaterThan(setUp);
      expect(out.lastIndexOf('setting up')).toBeLessThan(progress);
      const summary = out.search(/run run-\S+ — default, kernel \S+: completed/);
      expect(summary).toBeGreaterThan(progress);
      expect(out).toMatch(/throughput +[\d,]+ req\/s over/);
    });
  }, 120_000);

  it.skipIf(!haveScript)('--json on a terminal writes no set-up or progress line: the summary alone', async () => {
    await inScratch('uring-lab-tty-', (env) => {
      const cmd = [process.execPath, CLI, 'run', '--duration', '0.5', '--set', 'duration.warmupS=0.2', '--json'].map((a) => `'${a}'`).join(' ');
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 90_000, env });
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).not.toMatch(/setting up|req\/s {2}p99/);
      expect(RunSummarySchema.parse(JSON.parse(r.stdout.trim())).status).toBe('completed');
    });
  }, 120_000);
});

describe('uring-lab --version', () => {
  it.each([['--version'], ['-V'], ['version']])('%s prints the version package.json ships, exit 0', (flag) => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    const r = cli(flag);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`uring-lab ${version}\n`);
  });
});

describe('uring-lab doctor', () => {
  it('--json reports the kernel, io_uring_disabled, SQPOLL and memlock with reasons', () => {
    const r = cli('doctor', '--json');
    expect(r.code).toBe(0);
    const report = DoctorReportSchema.parse(JSON.parse(r.stdout));
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    for (const id of ['kernel', 'io_uring_disabled', 'io_uring', 'sqpoll', 'memlock', 'iopoll']) {
      expect(byId.has(id), id).toBe(true);
      expect(byId.get(id)!.reason.length).toBeGreaterThan(10);
    }
    expect(report.kernel.release).toMatch(/^\d+\.\d+/);
    expect(byId.get('io_uring')!.ok).toBe(true);
    // Sockets on an IOPOLL ring are refused by every kernel; the doctor must say so.
    expect(byId.get('iopoll')!.ok).toBe(false);
    expect(byId.get('iopoll')!.value).toBe('EINVAL');
    for (const c of report.checks) if (c.ok === false) expect(c.fix, c.id).toBeTruthy();
  });

  it('prints a readable report without --json', () => {
    const r = cli('doctor');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SQPOLL/);
    expect(r.stdout).toMatch(/kernel\.io_uring_disabled/);
  });
});