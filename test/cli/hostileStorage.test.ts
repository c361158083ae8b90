/**
 * Hostile inputs to the storage workload, end to end through the CLI: targets that reach the
 * lab's own data by a way the path check alone cannot see (a hard link is the same inode under
 * another name, and the engine writes in place).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/electron/cli.js');
// On the repository's disk, as the hard links must share a filesystem with the lab's data.
const dir = mkdtempSync(path.join(ROOT, '.hostile-storage-'));
const xdg = path.join(dir, 'xdg');
const runsDir = path.join(dir, 'history');
const runtime = path.join(dir, 'run');
mkdirSync(runtime);
const env = { ...process.env, XDG_DATA_HOME: xdg, XDG_RUNTIME_DIR: runtime, URING_LAB_RUNS_DIR: runsDir };

function run(...sets: string[]) {
  const args = ['run', '--json', '--duration', '0.3', '--set', 'workload=storage', '--set', 'duration.warmupS=0.1', '--set', 'storage.direct=false'];
  for (const s of sets) args.push('--set', s);
  return spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000 });
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('storage workload: hard links into the lab\'s data', () => {
  it('a writing run through a hard link to a saved profile or a saved run is exit 2, one line, the file untouched; reading through it runs', () => {
    const savedProfile = path.join(xdg, 'uring-lab', 'profiles', 'mine.json');
    mkdirSync(path.dirname(savedProfile), { recursive: true });
    writeFileSync(savedProfile, Buffer.alloc(64 << 10, 0x20));
    const savedRun = path.join(runsDir, 'run-x', 'frames.jsonl');
    mkdirSync(path.dirname(savedRun), { recursive: true });
    writeFileSync(savedRun, Buffer.alloc(64 << 10, 0x7b));
    const before = [readFileSync(savedProfile), readFileSync(savedRun)];
    for (const [target, pattern] of [[savedProfile, 'write'], [savedRun, 'randwrite']] as const) {
      const link = path.join(dir, `innocent-${path.basename(target)}.dat`);
      linkSync(target, link);
      const r = run(`storage.path=${link}`, `storage.pattern=${pattern}`, 'storage.fileSizeMiB=1');
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`storage.path: refusing to ${pattern} ${link}: it is a hard link to ${target}`);
    }
    expect(readFileSync(savedProfile).equals(before[0]!)).toBe(true);
    expect(readFileSync(savedRun).equals(before[1]!)).toBe(true);
    const read = run(`storage.path=${path.join(dir, 'innocent-mine.json.dat')}`, 'storage.pattern=randread', 'storage.fileSizeMiB=1');
    expect(read.status, read.stderr).toBe(0);
    expect(readFileSync(savedProfile).equals(before[0]!)).toBe(true);
  }, 60_000);

  it('a hard-linked file of the user\'s own, outside the lab\'s data, is still written', () => {
    const mine = path.join(dir, 'scratch.dat');
    writeFileSync(mine, Buffer.alloc(64 << 10, 0x41));
    linkSync(mine, path.join(dir, 'scratch-link.dat'));
    const r = run(`storage.path=${mine}`, 'storage.pattern=write', 'storage.fileSizeMiB=1');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).requests).toBeGreaterThan(0);
  }, 60_000);
});

describe('storage workload: IOPOLL on a file with no block device', () => {
  it('a tmpfs file: refused with EOPNOTSUPP naming tmpfs and no device, not a device without poll queues that NVMe would fix', (ctx) => {
    if (!existsSync('/dev/shm')) ctx.skip('no /dev/shm (tmpfs) on this machine');
    const shm = mkdtempSync('/dev/shm/uring-lab-hostile-');
    try {
      const file = path.join(shm, 'f.dat');
      writeFileSync(file, Buffer.alloc(1 << 20, 0x61));
      const r = spawnSync(process.execPath, [CLI, 'run', '--json', '--duration', '0.3', '--set', 'workload=storage', '--set', 'duration.warmupS=0.1',
        '--set', `storage.path=${file}`, '--set', 'server.iopoll=true', '--set', 'storage.fileSizeMiB=1'], { env, encoding: 'utf8', timeout: 30_000 });
      // O_DIRECT on tmpfs is a kernel matter (6.6+ takes it); where it is refused there is no IOPOLL verdict to check.
      if (r.status === 2 && /EINVAL|direct/i.test(r.stderr)) ctx.skip(`this kernel refuses O_DIRECT on tmpfs: ${r.stderr.trim()}`);
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout);
      const iopoll = summary.rejected.find((k: { knob: string }) => k.knob === 'server.iopoll');
      expect(iopoll.code).toBe('EOPNOTSUPP');
      expect(iopoll.reason).toContain(`${file} is on a tmpfs filesystem, which has no block device under it`);
      expect(iopoll.reason).not.toMatch(/device \d+:\d+ holding/);
      expect(iopoll.fix).toMatch(/^set server\.iopoll to false, or name a file/);
      expect(summary.applied.server.iopoll).toBe(false);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('storage workload: more memory than the machine has', () => {
  it('is exit 2 naming the storage knobs that hold it (jobs × queue depth × block), not the echo load\'s connections', () => {
    // 64 jobs × 4096 × 16 MiB = 4 TiB: past half of any machine's available memory.
    const r = run('storage.blockBytes=16777216', 'storage.queueDepth=4096', 'load.threads=64');
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('storage blocks 64 jobs × 4096 × 16.0 MiB = 4.0 TiB');
    expect(r.stderr).toMatch(/; lower storage\.blockBytes or storage\.queueDepth or load\.threads$/m);
    expect(r.stderr).not.toMatch(/load\.connections|load buffers/);
  }, 60_000);
});

describe('storage workload: a data folder without room for the test file', () => {
  it('is exit 2 naming storage.fileSizeMiB and the room there, before the engine writes anything', (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('not root: cannot mount a small tmpfs in a private mount namespace');
    // An 8 MiB tmpfs in a mount namespace of this test's own, as the lab's data folder.
    const small = path.join(dir, 'small');
    mkdirSync(small);
    const script = `mount -t tmpfs -o size=8m tmpfs "$2" && XDG_DATA_HOME="$2" "$0" "$1" run --json --duration 0.3 --set workload=storage --set storage.fileSizeMiB=64; echo "rc=$?"; ls -A "$2/uring-lab/storage"`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, process.execPath, CLI, small], { env, encoding: 'utf8', timeout: 30_000 });
    if (r.error || /unshare:/.test(r.stderr)) ctx.skip(`unshare -m refused: ${r.error?.message ?? r.stderr.trim()}`);
    const [rc, ...left] = r.stdout.trim().split('\n');
    expect(rc, r.stderr).toBe('rc=2');
    expect(left).toEqual([]);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^uring-lab: storage\.fileSizeMiB: the test file of 64 MiB does not fit in .*, which has [0-9]+ MiB free; lower storage\.fileSizeMiB to at most [0-9]+/);
  }, 60_000);
});

describe('storage workload: the kernel\'s pseudo filesystems are no target', () => {
  it('a sysfs or procfs file is exit 2 naming the filesystem, whatever the pattern (only reads are tried here)', () => {
    // A sysfs attribute reports 4096 bytes, so the size check alone let it through; with
    // storage.direct=false a writing pattern would write the test pattern into the kernel's controls.
    for (const [file, fs] of [['/sys/kernel/mm/transparent_hugepage/enabled', 'sysfs'], ['/proc/self/status', 'procfs']] as const) {
      if (!existsSync(file)) continue;
      const r = run(`storage.path=${file}`, 'storage.pattern=randread', 'storage.blockBytes=512');
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`storage.path: ${file} is on ${fs}, the kernel's own interface, not storage`);
    }
  }, 60_000);
});
