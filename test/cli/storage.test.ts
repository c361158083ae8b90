/**
 * `uring-lab run` with workload "storage", end to end through the CLI: the lab's test file is
 * created in the data directory ($XDG_DATA_HOME/uring-lab/storage), every read is checked and
 * the file is gone afterwards; IOPOLL is refused with EOPNOTSUPP naming the device; and the
 * safety rules, with real targets: a block device needs storage.allowDevice, a write to a
 * mounted device is refused (a loop device over a scratch file, so even a broken check could
 * only hurt that file), a file the user named is written only within its own size, and
 * nothing else in the data directory is touched.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enginePidOf, runningRunOf } from './cliProcess';
import { threadsOf } from '../procThreads';

const ROOT = path.join(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/electron/cli.js');
// On the repository's disk: the lab's file needs O_DIRECT, which tmpfs refuses.
const dir = mkdtempSync(path.join(ROOT, '.storage-cli-'));
const xdg = path.join(dir, 'xdg');
const storageDir = path.join(xdg, 'uring-lab', 'storage');
// A private runtime directory: other lab runs on this machine (other test files, other users)
// would otherwise mark these runs as shared (exit 1); these tests check behaviour, not numbers.
const runtime = path.join(dir, 'run');
mkdirSync(runtime);
const env = { ...process.env, XDG_DATA_HOME: xdg, XDG_RUNTIME_DIR: runtime };

function cli(...sets: string[]) {
  const args = ['run', '--json', '--duration', '0.6', '--set', 'workload=storage', '--set', 'duration.warmupS=0.2'];
  for (const s of sets) args.push('--set', s);
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, summary: r.status === 0 ? JSON.parse(r.stdout) : null };
}

const testFiles = () => (existsSync(storageDir) ? readdirSync(storageDir).filter((n) => n.startsWith('test-')) : []);

let loopDev = '';
let loopMnt = '';
beforeAll(() => {
  mkdirSync(storageDir, { recursive: true });
  // A scratch block device: a loop device over a 16 MiB file with ext4 on it.
  const img = path.join(dir, 'loop.img');
  writeFileSync(img, Buffer.alloc(16 << 20));
  const lo = spawnSync('losetup', ['--find', '--show', img], { encoding: 'utf8' });
  if (lo.status === 0) {
    loopDev = lo.stdout.trim();
    // No lazy inode-table/journal init: the kernel would write it in the background while mounted.
    spawnSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', loopDev]);
    loopMnt = path.join(dir, 'mnt');
    mkdirSync(loopMnt);
    if (spawnSync('mount', [loopDev, loopMnt]).status !== 0) loopMnt = '';
  }
});
afterAll(() => {
  if (loopMnt) spawnSync('umount', [loopMnt]);
  if (loopDev) spawnSync('losetup', ['-d', loopDev]);
  rmSync(dir, { recursive: true, force: true });
});

describe('uring-lab run, workload storage', () => {
  it('O_DIRECT randread of the lab\'s test file: every read verified, the file deleted, nothing else touched', () => {
    const sentinel = path.join(storageDir, 'keep-me.dat');
    writeFileSync(sentinel, 'not the lab\'s');
    const r = cli('storage.fileSizeMiB=64');
    expect(r.code, r.stderr).toBe(0);
    const s = r.summary;
    expect(s.storage).toMatchObject({ workload: 'storage', labCreated: true, deleted: true, verified: true, pattern: 'randread', sizeBytes: 64 << 20, blockBytes: 4096, queueDepth: 32, jobs: 1 });
    expect(s.storage.path.startsWith(storageDir)).toBe(true);
    expect(s.storage.device).not.toBe('');
    expect(s.requests).toBeGreaterThan(100);
    expect(s.errors).toBe(0);
    expect(s.storage.bytesPerS).toBeGreaterThan(0);
    expect(s.serverCpuNsPerReq).toBeNull();
    // No connections: nothing to say about their service (not a zero-connection evenness).
    expect(s.perConnection).toBeNull();
    expect(s.phases[0]!.perConnection).toBeNull();
    expect(existsSync(s.storage.path)).toBe(false);
    expect(testFiles()).toEqual([]);
    expect(readFileSync(sentinel, 'utf8')).toBe('not the lab\'s');
  }, 30_000);

  it('randwrite on the lab\'s file, then the same file is gone; SQPOLL jobs submitting batches of 4; a batch of 0 is exit 2', () => {
    const r = cli('storage.fileSizeMiB=16', 'storage.pattern=randwrite', 'server.sqpoll.enabled=true', 'server.taskrun=default', 'storage.submitBatch=4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.storage).toMatchObject({ pattern: 'randwrite', labCreated: true, deleted: true });
    expect(r.summary.applied.server.sqpoll.enabled).toBe(true);
    expect(r.summary.applied.storage.submitBatch).toBe(4);
    expect(r.summary.requests).toBeGreaterThan(100);
    expect(r.summary.errors).toBe(0);
    expect(testFiles()).toEqual([]);
    const zero = cli('storage.submitBatch=0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/storage\.submitBatch must be a whole number from 1 to 4096/);
    expect(zero.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);

  it('storage.keep: the test file outlives the run under a kept- name the next run\'s clean-up leaves alone', () => {
    const r = cli('storage.fileSizeMiB=16', 'storage.keep=true');
    expect(r.code, r.stderr).toBe(0);
    const kept = r.summary.storage.path as string;
    expect(r.summary.storage).toMatchObject({ labCreated: true, deleted: false });
    expect(path.basename(kept)).toMatch(/^kept-\d{14}-[0-9a-f]+\.dat$/);
    expect(statSync(kept).size).toBe(16 << 20);
    expect(testFiles()).toEqual([]);
    // A later run (which removes dead runs' test-<pid>-… leftovers) does not take it.
    expect(cli('storage.fileSizeMiB=16').code).toBe(0);
    expect(existsSync(kept)).toBe(true);
    unlinkSync(kept);
  }, 30_000);

  it('IOPOLL on this disk: refused with EOPNOTSUPP, the device named, the run completes without it', () => {
    const r = cli('storage.fileSizeMiB=16', 'server.iopoll=true');
    expect(r.code, r.stderr).toBe(0);
    const refusal = r.summary.rejected.find((x: { knob: string }) => x.knob === 'server.iopoll');
    expect(refusal).toMatchObject({ errno: 95, code: 'EOPNOTSUPP', requested: true });
    expect(refusal.reason).toContain(r.summary.storage.device);
    expect(refusal.reason).toContain('no poll queues');
    expect(refusal.fix).toMatch(/poll_queues|virtio/);
    expect(r.summary.applied.server.iopoll).toBe(false);
    expect(r.summary.errors).toBe(0);
    expect(r.summary.requests).toBeGreaterThan(100);
  }, 30_000);

  it('SIGINT mid-run: exit 130 with the partial summary, and the test file is deleted all the same', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--json', '--duration', '30', '--set', 'workload=storage', '--set', 'storage.fileSizeMiB=16', '--set', 'duration.warmupS=0'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const t0 = Date.now();
    while (testFiles().length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    const [name] = testFiles();
    expect(name).toBeDefined();
    // Filled, started (registered among the active runs), measuring: a fixed wait after the file
    // appeared assumed how fast the fill and start are on a machine another test file shares.
    await runningRunOf(child.pid!, runtime);
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const summary = JSON.parse(stdout);
    expect(summary.status).toBe('interrupted');
    expect(summary.storage).toMatchObject({ labCreated: true, deleted: true });
    expect(summary.storage.path.endsWith(name)).toBe(true);
    expect(testFiles()).toEqual([]);
  }, 30_000);

  it('runs show and the Markdown export of a storage run give its IOPS, bytes/s, device and file, and list no echo knob as applied', () => {
    const r = cli('storage.fileSizeMiB=16');
    expect(r.code, r.stderr).toBe(0);
    const show = spawnSync(process.execPath, [CLI, 'runs', 'show', r.summary.runId], { env, encoding: 'utf8' });
    expect(show.status, show.stderr).toBe(0);
    const md = spawnSync(process.execPath, [CLI, 'runs', 'export', r.summary.runId, '--format', 'md'], { env, encoding: 'utf8' });
    expect(md.status, md.stderr).toBe(0);
    for (const text of [show.stdout, md.stdout]) {
      expect(text).toMatch(/^\| IOPS \| p50 µs .*\| I\/Os \|/m);
      expect(text).toMatch(new RegExp(`^Storage: randread 4096 B × QD 32 × 1 job: [\\d,]+ IOPS, [\\d.]+ MiB/s on ${r.summary.storage.device}, .*test-.*\\.dat \\(the lab's test file, deleted\\), every read checked\\.$`, 'm'));
      // Before: the receive path's knobs, which a storage run never uses, listed as applied.
      expect(text).not.toMatch(/server\.(multishot|recvOnReady|quietSends|bufferRing)/);
    }
  }, 30_000);

  it('load.cpus pins the storage jobs as it pins an echo load; an echo-only knob (server.numa.cpus) is said unused and shown at its default, not applied', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--json', '--duration', '1.5', '--set', 'workload=storage', '--set', 'storage.fileSizeMiB=16', '--set', 'duration.warmupS=0',
      '--set', 'load.threads=2', '--set', 'load.cpus=1', '--set', 'server.numa.cpus=0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const engine = await enginePidOf(child.pid!);
    await runningRunOf(child.pid!, runtime);
    const allowed = threadsOf(engine).filter((t) => t.comm === 'uring-storage')
      .map((t) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${engine}/task/${t.tid}/status`, 'utf8'))![1]);
    // Before: both jobs kept the process's whole affinity (0-1), while the lab moved its own
    // bookkeeping threads off CPU 1 for them.
    expect(allowed).toEqual(['1', '1']);
    expect(await exited).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.applied.load.cpus).toEqual([1]);
    expect(summary.applied.server.numa.cpus).toBeNull();
    expect(summary.warnings).toContain('knobs of echo runs this storage run did not use: server.numa.cpus = [0]');
  }, 30_000);

  it('a ring too small for the queue depth is raised by the engine, and the summary says so (it was silent)', () => {
    const r = cli('storage.fileSizeMiB=16', 'storage.queueDepth=64', 'server.ringEntries=8');
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.applied.server.ringEntries).toBe(128);
    expect(r.summary.warnings.join(' | ')).toMatch(/the engine set server\.ringEntries to 128 \(asked 8\)/);
    // Asked what it can have: no such line.
    const fits = cli('storage.fileSizeMiB=16', 'storage.queueDepth=64', 'server.ringEntries=128');
    expect(fits.summary.warnings.join(' | ')).not.toMatch(/the engine set/);
  }, 30_000);

  /** Some process has the file open (its /proc/PID/fd links). */
  const heldOpen = (file: string): boolean => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === file; } catch { return false; }
      });
    } catch { return false; }
  });

  it('a file that shrinks under the run: exit 1, its errors named as failed I/Os in the line and the warning', async () => {
    const file = path.join(dir, 'shrinks.dat');
    writeFileSync(file, Buffer.alloc(64 << 20));
    const child = spawn(process.execPath, [CLI, 'run', '--json', '--duration', '2', '--set', 'workload=storage', `--set`, `storage.path=${file}`, '--set', 'duration.warmupS=0'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    // Started and measuring: the engine holds the file open (a fixed 1 s sleep raced a slow
    // start here, and the run then read a file already cut to 1 MiB, without an error).
    await expect.poll(() => heldOpen(file), { timeout: 15_000, interval: 50 }).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    spawnSync('truncate', ['-s', '1M', file]);
    expect(await exited, stderr).toBe(1);
    const summary = JSON.parse(stdout);
    expect(summary.errors).toBeGreaterThan(0);
    expect(stderr).toMatch(/errors \(failed I\/Os/);
    const warning = summary.warnings.find((w: string) => /failed I\/Os/.test(w));
    expect(warning, summary.warnings.join(' | ')).toMatch(/^\d+ failed I\/Os .*shrinks under the run/);
    expect(summary.warnings.join(' ')).not.toMatch(/connections|echoes/);
  }, 30_000);

  it('a block device without storage.allowDevice: exit 2 naming the field, before anything runs', () => {
    const dev = loopDev || '/dev/vda';
    const r = cli(`storage.path=${dev}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('storage.path');
    expect(r.stderr).toContain('allowDevice');
  });

  it('a write to a mounted device is refused (exit 2); a read of it with allowDevice runs', () => {
    if (!loopMnt) return expect.fail('no loop device could be set up and mounted (losetup/mkfs.ext4/mount as root)');
    const before = readFileSync(path.join(dir, 'loop.img'));
    const w = cli(`storage.path=${loopDev}`, 'storage.allowDevice=true', 'storage.pattern=randwrite');
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/storage\.path: refusing to randwrite .* mounted/);
    const r = cli(`storage.path=${loopDev}`, 'storage.allowDevice=true', 'storage.fileSizeMiB=64');
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.storage).toMatchObject({ blockDevice: true, labCreated: false, verified: false, sizeBytes: 16 << 20 });
    expect(r.summary.storage.device).toMatch(/^loop\d+$/);
    expect(r.summary.errors).toBe(0);
    expect(readFileSync(path.join(dir, 'loop.img')).equals(before)).toBe(true);
  }, 30_000);

  it('a file the user named is written only within its own size; a missing path is exit 2', () => {
    const mine = path.join(dir, 'mine.dat');
    writeFileSync(mine, Buffer.alloc(1 << 20, 0xab));
    const r = cli(`storage.path=${mine}`, 'storage.pattern=write', 'storage.fileSizeMiB=64');
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.storage).toMatchObject({ labCreated: false, deleted: false, verified: false, sizeBytes: 1 << 20 });
    expect(statSync(mine).size).toBe(1 << 20); // never extended
    expect(readFileSync(mine).readBigUInt64LE(8) ^ 8n).toBe(readFileSync(mine).readBigUInt64LE(0)); // the lab's pattern: word at o = o ^ seed
    expect(existsSync(mine)).toBe(true); // not the lab's to delete

    const missing = cli(`storage.path=${path.join(dir, 'nope.dat')}`, 'storage.pattern=write');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('storage.path');
    expect(existsSync(path.join(dir, 'nope.dat'))).toBe(false);
    closeSync(openSync(mine, 'r'));
  }, 30_000);

  // A write run told to use a file of the lab's own data overwrote a saved run's frames (exit 0),
  // where --out refused the same folder: every path the lab writes goes through one check.
  it('a writing run on a file of the lab\'s own data (run history, saved profiles, through a symlink too): exit 2, the file untouched; reading it runs', () => {
    const runsDir = path.join(dir, 'history');
    const savedRun = path.join(runsDir, 'run-x', 'frames.jsonl');
    mkdirSync(path.dirname(savedRun), { recursive: true });
    writeFileSync(savedRun, Buffer.alloc(1 << 20, 0x7b));
    const profiles = path.join(xdg, 'uring-lab', 'profiles');
    mkdirSync(profiles, { recursive: true });
    const savedProfile = path.join(profiles, 'mine.json');
    writeFileSync(savedProfile, Buffer.alloc(64 << 10, 0x20));
    const link = path.join(dir, 'innocent.dat');
    symlinkSync(savedRun, link);
    const historyEnv = { ...env, URING_LAB_RUNS_DIR: runsDir };
    const run = (...sets: string[]) => {
      const args = ['run', '--json', '--duration', '0.6', '--set', 'workload=storage', '--set', 'duration.warmupS=0.2'];
      for (const x of sets) args.push('--set', x);
      return spawnSync(process.execPath, [CLI, ...args], { env: historyEnv, encoding: 'utf8', timeout: 30_000 });
    };
    const before = [readFileSync(savedRun), readFileSync(savedProfile)];
    for (const [target, pattern, owner] of [[savedRun, 'write', runsDir], [savedProfile, 'randwrite', path.join(xdg, 'uring-lab')], [link, 'write', runsDir]] as const) {
      const r = run(`storage.path=${target}`, `storage.pattern=${pattern}`);
      expect(r.status, `${target}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`storage\\.path: refusing to ${pattern} .*: it is inside ${owner.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, the lab's own data`));
    }
    expect(readFileSync(savedRun).equals(before[0]!)).toBe(true);
    expect(readFileSync(savedProfile).equals(before[1]!)).toBe(true);
    const read = run(`storage.path=${savedRun}`, 'storage.pattern=randread', 'storage.direct=false');
    expect(read.status, read.stderr).toBe(0);
    expect(readFileSync(savedRun).equals(before[0]!)).toBe(true);
  }, 60_000);

  // A read-only filesystem, in a mount namespace of this test's own (root; unshare from util-linux).
  it('O_DIRECT blocks smaller than the device\'s logical block, and an immutable file to write: exit 2 naming the field, the size needed and the fix, before anything runs', () => {
    const img = path.join(dir, 'lbs4k.img');
    writeFileSync(img, Buffer.alloc(8 << 20));
    const lo = spawnSync('losetup', ['--find', '--show', '--sector-size', '4096', img], { encoding: 'utf8' });
    expect(lo.status, lo.stderr).toBe(0);
    const dev = lo.stdout.trim();
    try {
      const small = cli(`storage.path=${dev}`, 'storage.allowDevice=true', 'storage.blockBytes=512', 'storage.fileSizeMiB=8');
      // Before: the first I/O's EINVAL, exit 1, blamed on storage.path.
      expect(small.code, small.stderr).toBe(2);
      expect(small.stderr.trim().split('\n')).toHaveLength(1);
      expect(small.stderr).toMatch(/storage\.blockBytes: O_DIRECT on .*loop\d+ needs whole logical blocks of loop\d+: 4096 B, and storage\.blockBytes 512 is not a multiple of it; set storage\.blockBytes to 4096/);
      const whole = cli(`storage.path=${dev}`, 'storage.allowDevice=true', 'storage.blockBytes=8192', 'storage.fileSizeMiB=8');
      expect(whole.code, whole.stderr).toBe(0);
      expect(whole.summary.errors).toBe(0);
      // Buffered I/O has no such rule.
      expect(cli(`storage.path=${dev}`, 'storage.allowDevice=true', 'storage.blockBytes=512', 'storage.fileSizeMiB=8', 'storage.direct=false').code).toBe(0);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
    const frozen = path.join(dir, 'immutable.dat');
    writeFileSync(frozen, Buffer.alloc(1 << 20, 7));
    expect(spawnSync('chattr', ['+i', frozen]).status).toBe(0);
    try {
      const w = cli(`storage.path=${frozen}`, 'storage.pattern=randwrite', 'storage.direct=false');
      expect(w.code, w.stderr).toBe(2);
      expect(w.stderr).toMatch(/storage\.path: .*immutable\.dat cannot be opened to randwrite \(EPERM\): it is immutable or append-only .*; chattr -i -a it/);
      expect(cli(`storage.path=${frozen}`, 'storage.direct=false').code).toBe(0);
    } finally {
      spawnSync('chattr', ['-i', frozen]);
    }
    expect(readFileSync(frozen).equals(Buffer.alloc(1 << 20, 7))).toBe(true);
  }, 60_000);

  it('a read-only filesystem is named as such: a write to a file there (its fix said once), and the lab\'s data folder there (EROFS, not ENOENT)', (ctx) => {
    if (spawnSync('unshare', ['-m', '--propagation', 'private', 'true']).status !== 0) {
      console.log('skipped: a private mount namespace is needed (root and util-linux unshare) to mount a read-only folder');
      ctx.skip();
    }
    const ro = mkdtempSync(path.join(dir, 'ro-'));
    writeFileSync(path.join(ro, 'w.dat'), Buffer.alloc(1 << 20));
    const inside = (args: string, xdgHome: string) => spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c',
      `mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$1" "$2" run --json --duration 0.5 --set workload=storage --set storage.fileSizeMiB=1 ${args}`, ro, process.execPath, CLI],
    { env: { ...env, XDG_DATA_HOME: xdgHome }, encoding: 'utf8', timeout: 30_000 });
    const write = inside(`--set storage.path=${path.join(ro, 'w.dat')} --set storage.pattern=randwrite`, xdg);
    // Bad input, known before anything starts (it was the engine's open failing: exit 1).
    expect(write.status, write.stderr).toBe(2);
    const line = write.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/storage\.path: .*w\.dat cannot be opened to randwrite \(EROFS\): its filesystem is read-only; put the file on a writable one/);
    expect(line.split('its filesystem is read-only')).toHaveLength(2);
    // Reading it there is fine.
    const read = inside(`--set storage.path=${path.join(ro, 'w.dat')} --set storage.direct=false`, xdg);
    expect(read.status, read.stderr).toBe(0);
    const lab = inside('', ro);
    expect(lab.status, lab.stderr).toBe(2);
    expect(lab.stderr).toMatch(/cannot make the lab's data directory .* \(EROFS\)/);
  }, 30_000);
});
