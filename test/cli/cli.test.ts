/**
 * The `uring-lab` command line as users' scripts call it: real runs of the built CLI against
 * the native engine, checked against the RunSummary contract.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DoctorReportSchema, KNOBS, PROBE_NAMES, RunSummarySchema } from '../../electron/contract';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');
const PRESET = path.join(__dirname, '../../resources/profiles/loopback-default.json');
const STORAGE_PRESET = path.join(__dirname, '../../resources/profiles/storage-randread.json');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A private runtime, data and history folder for one test (removed after it): its runs share nothing. */
async function inScratch(prefix: string, body: (env: NodeJS.ProcessEnv, tmp: string) => unknown): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), prefix));
  const env = { ...process.env, XDG_RUNTIME_DIR: path.join(tmp, 'rt'), XDG_DATA_HOME: path.join(tmp, 'data'), URING_LAB_RUNS_DIR: path.join(tmp, 'runs') };
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  try {
    await body(env, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

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
    const sqpoll = human('server.sqpoll.enabled=true', 'server.taskrun=default', 'server.quietSends=false');
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

  it.each([
    [['run', '--set', 'server.sqpol.enabled=true'], /server\.sqpol/],
    [['run', '--set', 'server.sqpoll.enabled=maybe'], /server\.sqpoll\.enabled/],
    [['run', '--set', 'load.connections=-3'], /load\.connections/],
    [['run', '--set', 'server.sqpoll'], /server\.sqpoll/],
    [['run', '--duration', 'soon'], /--duration/],
    [['run', '--profile', '/nonexistent/p.json'], /\/nonexistent\/p\.json/],
    [['run', '--frobnicate'], /--frobnicate/],
    [['serve', '--port', 'http'], /--port/],
    [['explode'], /unknown command "explode"/],
    [['run', '--duration', '-1'], /--duration.*--duration=-1/],
    [['run', '--duration', '1e400'], /--duration "1e400"/],
    [['run', '--profile', '/etc'], /\/etc: is a directory/],
    [['run', '--profile', '/dev/zero'], /\/dev\/zero: is a character device/],
    [['serve', '--token-file', '/etc/passwd'], /token file \/etc\/passwd does not hold a token/],
    [['serve', '--token-file', '/proc/self/mem'], /token file \/proc\/self\/mem cannot be read \(EIO\)/],
    // Every verb's flags: a single-valued flag given twice (the last silently won), an empty
    // value (`--profile "$UNSET"` measured the defaults), numbers only as plain decimals.
    [['run', '--profile', ''], /run: --profile is empty/],
    [['server', '--profile=', '--duration', '1'], /server: --profile is empty/],
    [['load', '--target', '127.0.0.1:1', '--target', '127.0.0.1:2'], /load: --target is given more than once/],
    [['run', '--duration', '1', '--duration', '2'], /run: --duration is given more than once/],
    [['run', '--duration', '0x2'], /--duration "0x2"/],
    // A knob set twice, a group and a key in it, or --duration beside duration.measureS.
    [['run', '--set', 'server.rings=2', '--set', 'server.rings=3'], /--set server\.rings: given twice \(server\.rings=2, then server\.rings=3\)/],
    [['run', '--set', 'server.sqpoll={"enabled":true}', '--set', 'server.sqpoll.enabled=false'], /--set server\.sqpoll\.enabled: given twice/],
    [['run', '--duration', '1', '--set', 'duration.measureS=0.5'], /--duration and --set duration\.measureS both give the measured seconds/],
    [['load', '--target', '127.0.0.1:9', '--set', 'load.connections=2', '--set', 'load.connections=3'], /--set load\.connections: given twice/],
    [['server', '--set', 'server.rings=2', '--set', 'server.rings=2'], /--set server\.rings: given twice/],
    [['server', '--duration', ' 1'], /--duration " 1"/],
    [['export', PRESET, '--format', 'json', '--format', 'fio'], /export: --format is given more than once/],
    [['runs', 'export', 'run-x', '--format', 'json', '--format', 'csv'], /runs export: --format is given more than once/],
    [['diagnose', 'run-x', '--k', '1', '--k', '2'], /diagnose: --k is given more than once/],
    [['ab', PRESET, PRESET, '--rounds', '1', '--rounds', '2'], /ab: --rounds is given more than once/],
    [['ab', PRESET, PRESET, '--rounds', '0b1'], /--rounds "0b1"/],
    // Every numeric flag of every verb: serve's port and diagnose's factors read Number() text.
    [['serve', '--port', '0x1'], /--port "0x1" is not a TCP port/],
    [['serve', '--port', ' 0'], /--port " 0" is not a TCP port/],
    [['serve', '--port', '1.0'], /--port "1\.0" is not a TCP port/],
    [['diagnose', 'run-x', '--k', '0x2'], /--k "0x2" is not a number/],
    [['diagnose', 'run-x', '--k', ' 4 '], /--k " 4 " is not a number/],
    [['diagnose', 'run-x', '--max-factor', '+4'], /--max-factor "\+4" is not a number/],
    [['diagnose', 'run-x', '--max-factor', '0o7'], /--max-factor "0o7" is not a number/],
    [['ab', 'export', 'ab-x', '--format', 'json', '--format', 'html'], /ab export: --format is given more than once/],
    // A/B arms of different workloads: echo req/s against storage IOPS.
    [['ab', PRESET, STORAGE_PRESET, '--rounds', '1'], /A measures the echo workload and B the storage one/],
    [['ab', PRESET, PRESET, '--warmup', '-1'], /ab: option '--warmup' argument is ambiguous.*--warmup=-1/],
    // A value that starts with '-': the fix writes the value as typed, through every verb's parser.
    [['run', '--duration', '-3'], /run: option '--duration' argument is ambiguous.*e\.g\. --duration=-3 /],
    [['runs', 'list', '--limit', '-7'], /runs list: option '--limit' argument is ambiguous.*e\.g\. --limit=-7 /],
    [['diagnose', 'run-x', '--k', '-2.5'], /diagnose: option '--k' argument is ambiguous.*e\.g\. --k=-2\.5 /],
    [['export', PRESET, '--format', '-fio'], /export: option '--format' argument is ambiguous.*e\.g\. --format=-fio /],
    [['ab', 'export', 'ab-x', '--format', '-md'], /ab export: option '--format' argument is ambiguous.*e\.g\. --format=-md /],
    [['load', '--target', '-\x1b[31mx'], /load: option '--target' argument is ambiguous.*e\.g\. --target=-\\x1b\[31mx /],
    [['runs', 'show', 'run-x', '--frobnicate'], /runs show: unknown option '--frobnicate'/],
    [[], /no command given/],
    [['runs'], /runs: no subcommand given/],
  ])('bad input %j exits 2 with a one-line error naming it', (args, pattern) => {
    const r = cli(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(lines[0]).toMatch(/^uring-lab: /);
  });
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

describe('signals at any moment', () => {
  // Ctrl-C while the CLI was still loading its modules was lost (the verb's handler replaced the
  // first one and the pending signal went with it): the run went on and completed, exit 0.
  it('a SIGINT from 0.1 to 0.5 s after the start is never lost: exit 130 with one line (or death by the signal before Node runs our code)', async () => {
    await inScratch('uring-lab-early-signal-', async (env) => {
    for (const delayMs of [100, 150, 200, 300, 500]) {
      const child = spawn(process.execPath, [CLI, 'run', '--duration', '3', '--set', 'load.connections=2', '--set', 'probes.enabled=false', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.stdout!.resume();
      const timer = setTimeout(() => child.kill('SIGINT'), delayMs);
      const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
      clearTimeout(timer);
      expect(code, `SIGINT at ${delayMs} ms: ${stderr}`).not.toBe(0);
      if (signal === null) {
        expect(code, `SIGINT at ${delayMs} ms`).toBe(130);
        expect(stderr.trim().split('\n'), `SIGINT at ${delayMs} ms`).toHaveLength(1);
      } else {
        expect(signal).toBe('SIGINT');
      }
    }
    });
  }, 60_000);
});

describe('signals delivered twice', () => {
  // `timeout` signals its child and then its process group: the CLI gets the same SIGTERM twice
  // within milliseconds, which took the "second signal: exit at once" path and lost the summary.
  it('the same signal twice, 1 ms apart, is one interruption: exit 130 with the partial summary', async () => {
    await inScratch('uring-lab-double-signal-', async (env) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(process.execPath, [CLI, 'run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--set', 'probes.enabled=false', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
      child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      // Measuring by then (the start takes well under 3 s here).
      await new Promise((r) => setTimeout(r, 3000));
      // As `timeout` sends them (to the child, then to its process group): 1 ms apart here, so the
      // kernel does not merge them into one pending signal.
      child.kill(signal);
      await new Promise((r) => setTimeout(r, 1));
      child.kill(signal);
      const code = await exited;
      expect(code, `${signal}: ${stderr}`).toBe(130);
      expect(stderr, signal).not.toMatch(/again/);
      const summary = RunSummarySchema.parse(JSON.parse(stdout));
      expect(summary.status).toBe('interrupted');
      expect(summary.failure?.message).toMatch(new RegExp(`interrupted by ${signal}`));
    }
    });
  }, 90_000);
});

describe('a history that cannot take the run', () => {
  // The run used to go ahead, unsaved, and print a runId nobody could find (exit 0).
  it('a URING_LAB_RUNS_DIR that is a file, an immutable folder or a bad URING_LAB_RUNS_MAX: exit 2 before anything starts', async () => {
    await inScratch('uring-lab-runs-dir-', (env, tmp) => {
      const file = path.join(tmp, 'a-file');
      writeFileSync(file, 'not a folder\n');
      const frozen = path.join(tmp, 'frozen');
      mkdirSync(frozen);
      const chattr = spawnSync('chattr', ['+i', frozen]);
      try {
        const cases: Array<[NodeJS.ProcessEnv, string[], RegExp]> = [
          [{ ...env, URING_LAB_RUNS_DIR: file }, ['run', '--duration', '1', '--json'], /runs cannot be saved in .*a-file \(it is not a folder\); nothing was started/],
          [{ ...env, URING_LAB_RUNS_MAX: 'abc' }, ['run', '--duration', '1', '--json'], /URING_LAB_RUNS_MAX=abc is not a positive whole number/],
          [{ ...env, URING_LAB_RUNS_DIR: file }, ['load', '--target', '127.0.0.1:9', '--duration', '1'], /runs cannot be saved/],
          [{ ...env, URING_LAB_RUNS_DIR: file }, ['ab', PRESET, PRESET, '--rounds', '1', '--duration', '1'], /runs cannot be saved/],
        ];
        if (chattr.status === 0) cases.push([{ ...env, URING_LAB_RUNS_DIR: frozen }, ['run', '--duration', '1'], /runs cannot be saved in .*frozen \(EPERM\)/]);
        for (const [caseEnv, args, pattern] of cases) {
          const r = spawnSync(process.execPath, [CLI, ...args], { env: caseEnv, encoding: 'utf8', timeout: 60_000 });
          expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
          expect(r.stdout).toBe('');
          const lines = r.stderr.trim().split('\n');
          expect(lines, r.stderr).toHaveLength(1);
          expect(lines[0]).toMatch(pattern);
        }
      } finally {
        if (chattr.status === 0) spawnSync('chattr', ['-i', frozen]);
      }
    });
  }, 90_000);
});

describe('stdout that cannot be written', () => {
  // A full disk (/dev/full: ENOSPC) threw from the stream's error event: a 20-line stack trace.
  it('one line naming the write error, exit 1, for a verb that prints and for a run', async () => {
    await inScratch('uring-lab-enospc-', async (env) => {
    for (const args of [['export', PRESET, '--format', 'json'], ['runs', 'list'], ['run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--set', 'probes.enabled=false', '--json']]) {
      const r = spawnSync('bash', ['-c', '"$0" "$@" > /dev/full', process.execPath, CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^uring-lab: could not write to stdout \(ENOSPC: no space left on device/);
    }
    });
  }, 90_000);
});

describe('a reader that leaves early (| head -c 1)', () => {
  it('every verb that prints a saved run ends as it would have, with no EPIPE stack trace', async () => {
    await inScratch('uring-lab-epipe-', async (env) => {
    const run = spawnSync(process.execPath, [CLI, 'run', '--duration', '1', '--set', 'load.connections=2', '--set', 'probes.enabled=false', '--json'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const runId = JSON.parse(run.stdout).runId as string;
    // Outputs well over a pipe's 64 KiB, so the writer meets the closed pipe.
    for (const args of [['runs', 'show', runId, '--json'], ['runs', 'export', runId, '--format', 'json']]) {
      const r = spawnSync('bash', ['-c', `"$0" "$@" | head -c 1 >/dev/null; echo "rc=\${PIPESTATUS[0]}" >&2`, process.execPath, CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr.trim(), args.join(' ')).toBe('rc=0');
    }
    });
  }, 60_000);
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
