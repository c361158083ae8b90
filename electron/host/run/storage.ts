/**
 * The storage workload's target, decided and checked by the host before the engine starts.
 *
 * Safety, by construction: the engine only ever opens the path this module gives it, and that
 * is either a file the lab creates here (O_EXCL, in its data directory, deleted after the run)
 * or the path the user named in storage.path. On top of that:
 *  - a block device needs storage.allowDevice: true;
 *  - a write to a block device that is mounted (/proc/self/mounts, partitions included), swapped
 *    on (/proc/swaps) or held by another device (device mapper, RAID: /sys/.../holders) is refused;
 *  - a file the user named is opened read-only unless the pattern writes, is never extended
 *    (the engine uses at most min(fileSizeMiB, its size)), and is never filled or checked:
 *    its content is not the lab's to know.
 * Every refusal is one line naming the field, an `input` error (the CLI exits 2).
 */
import { randomInt } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmdirSync, statfsSync, statSync, unlinkSync, type Dirent, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { LabError, type Profile, type RejectedKnob, type RunSummary } from '../../contract';
import type { NativeEngineConfig, NativeStarted } from '../../engine/protocol';
import { labDataDir, labOwnedDirHolding, realPathOf, runsDirFromEnv } from '../labPaths';
import { makeFolders } from '../makeFolders';

/** What a storage run uses, and whether the lab owns it. */
export interface StoragePlan {
  /** The path the engine opens. */
  path: string;
  /** The lab created it (and deletes it after the run). */
  labCreated: boolean;
  /** The engine fills it with the pattern before each phase and checks every read. */
  verify: boolean;
  seed: number;
  deleted: boolean;
  /** storage.keep: a lab file is renamed out of the leftovers' way instead of deleted. */
  keep: boolean;
}

/**
 * Why a recursive mkdir failed, as the errno of the folder that refused: Node reports ENOENT for
 * a path whose existing parent is on a read-only filesystem, not the parent's EROFS (or EACCES).
 */
function mkdirCause(dir: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code !== 'ENOENT') return code;
  for (let at = dirname(dir); at !== dirname(at); at = dirname(at)) {
    if (!existsSync(at)) continue;
    try { accessSync(at, constants.W_OK); } catch (e) { return (e as NodeJS.ErrnoException).code ?? code; }
    // Root passes access(W_OK) on a read-only mount; a real write says so.
    try { rmdirSync(mkdtempSync(join(at, '.uring-lab-probe-'))); } catch (e) { return (e as NodeJS.ErrnoException).code ?? code; }
    return code;
  }
  return code;
}

/** Where the lab's test files live; one per run, named with the pid so leftovers are found. */
export function storageDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(labDataDir(env), 'storage');
}

const TEST_FILE = /^test-(\d+)-[0-9a-f]+\.dat$/;

function input(field: string, message: string, fix: string): LabError {
  return new LabError({ code: 'STORAGE_TARGET', kind: 'input', field, message: `${field}: ${message}`, fix });
}

const writes = (p: Profile) => p.storage.pattern === 'randwrite' || p.storage.pattern === 'write';

/** Removes test files left by lab processes that no longer exist (a host crash mid-run). */
function removeLeftovers(dir: string): void {
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const m = TEST_FILE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try { process.kill(pid, 0); } catch (e) { alive = (e as NodeJS.ErrnoException).code === 'EPERM'; }
    if (!alive) try { unlinkSync(join(dir, name)); } catch { /* someone else's race: fine */ }
  }
}

/** "MAJ:MIN" of a block device, or of the device holding a file. */
const devId = (rdev: number) => `${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00)}`;

/** The /sys/dev/block link target of MAJ:MIN, or null. */
function sysBlock(id: string): string | null {
  try { return readlinkSync(`/sys/dev/block/${id}`); } catch { return null; }
}

/**
 * Why writing to this block device would hurt something, or null: it (or one of its partitions,
 * or the disk it is a partition of) is mounted or swapped on, or another device holds it.
 */
function deviceInUse(st: Stats): string | null {
  const id = devId(st.rdev);
  const self = sysBlock(id);
  // Same device, a partition of it (its sysfs path below ours), or the disk it belongs to.
  const related = (otherId: string) => {
    if (otherId === id) return true;
    const other = sysBlock(otherId);
    return !!(self && other && (other.startsWith(`${self}/`) || self.startsWith(`${other}/`)));
  };
  const sourceOf = (source: string): string | null => {
    if (!source.startsWith('/')) return null;
    try {
      const s = statSync(source);
      return s.isBlockDevice() ? devId(s.rdev) : null;
    } catch { return null; }
  };
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [source, mountpoint] = line.split(' ');
    if (!source) continue;
    const other = sourceOf(source.replace(/\\040/g, ' '));
    if (other && related(other)) return `it is mounted (${source} on ${mountpoint})`;
  }
  // Mounts whose source is not a device node (e.g. overlay) still name their st_dev.
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length > 4 && related(f[2])) return `it is mounted (${f[4]})`;
    }
  } catch { /* mounts above were checked */ }
  try {
    for (const line of readFileSync('/proc/swaps', 'utf8').split('\n').slice(1)) {
      const other = sourceOf(line.split(/\s+/)[0] ?? '');
      if (other && related(other)) return `it is in use as swap (${line.split(/\s+/)[0]})`;
    }
  } catch { /* no swap accounting: nothing swapped */ }
  if (self) {
    try {
      const holders = readdirSync(join('/sys/dev/block', id, 'holders'));
      if (holders.length) return `another device holds it (${holders.join(', ')})`;
    } catch { /* no holders directory */ }
  }
  return null;
}

/**
 * The logical block size of the block device `id` (MAJ:MIN) or of the disk it is a partition of
 * (a partition has no queue/ of its own), with the device's name; null where there is none (a
 * filesystem without a block device: tmpfs, overlay, NFS).
 */
function logicalBlockOf(id: string): { bytes: number; device: string } | null {
  for (const at of [join('/sys/dev/block', id), join('/sys/dev/block', id, '..')]) {
    try {
      const bytes = Number(readFileSync(join(at, 'queue', 'logical_block_size'), 'utf8').trim());
      const device = basename(sysBlock(id) ?? id);
      if (bytes > 0) return { bytes, device };
    } catch { /* not here */ }
  }
  return null;
}

/**
 * O_DIRECT I/O must be a multiple of the device's logical block size: a 512 B block on a 4 KiB
 * device failed its first I/O with EINVAL, as a run failure naming storage.path (exit 1). It is
 * the block size that is wrong, and it can be known before anything starts.
 */
function checkDirectAlignment(profile: Profile, id: string, path: string): void {
  const s = profile.storage;
  if (!s.direct) return;
  const lbs = logicalBlockOf(id);
  if (!lbs || s.blockBytes % lbs.bytes === 0) return;
  throw input('storage.blockBytes', `O_DIRECT on ${path} needs whole logical blocks of ${lbs.device}: ${lbs.bytes} B, and storage.blockBytes ${s.blockBytes} is not a multiple of it`,
    `set storage.blockBytes to ${lbs.bytes} or a multiple of it, or storage.direct to false`);
}

/**
 * A named target this run may not open as it needs (read, or read and write for a write
 * pattern): said before anything starts, with why. These failed the engine's open or first I/O
 * (exit 1, "check storage.path exists and this user may open it").
 */
function checkAccess(profile: Profile, path: string): void {
  const write = writes(profile);
  try { accessSync(path, write ? constants.R_OK | constants.W_OK : constants.R_OK); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EACCES';
    const [cause, fix] = code === 'EROFS' ? ['its filesystem is read-only', 'put the file on a writable one, or use a read pattern']
      : code === 'EPERM' ? ['it is immutable or append-only (lsattr shows i or a)', 'chattr -i -a it, name another file, or use a read pattern']
        : [`this user may not ${write ? 'write' : 'read'} it`, 'change its permissions, run as a user who may, or name another file'];
    throw input('storage.path', `${path} cannot be opened to ${write ? profile.storage.pattern : 'read'} (${code}): ${cause}`, fix);
  }
}

/**
 * Checks the profile's storage target and makes the lab's test file when it has to. Returns
 * null for other workloads. Throws one-line input errors naming the field.
 */
export function planStorage(profile: Profile, env: NodeJS.ProcessEnv = process.env): StoragePlan | null {
  if (profile.workload !== 'storage') return null;
  const s = profile.storage;
  if (profile.server.engine !== 'io_uring') {
    throw input('server.engine', `the storage workload runs io_uring jobs; '${profile.server.engine}' has nothing to offer it`, "set server.engine to 'io_uring' (or leave it at its default)");
  }
  if (profile.server.iopoll && !s.direct) {
    throw input('server.iopoll', 'IOPOLL polls O_DIRECT I/O only; with storage.direct false every I/O would fail', 'set storage.direct to true, or server.iopoll to false');
  }
  const seed = randomInt(1, 2 ** 47);
  if (s.path === null) {
    const dir = storageDir(env);
    try { makeFolders(dir, 0o700); } catch (e) {
      throw input('storage.path', `cannot make the lab's data directory ${dir} (${mkdirCause(dir, e)})`, 'set XDG_DATA_HOME to a writable directory on a disk, or name a file in storage.path');
    }
    removeLeftovers(dir);
    // The engine fills the whole region before measuring: a folder without room for it failed
    // the run part-way (exit 1, ENOSPC after writing what fitted) instead of refusing the input.
    const want = s.fileSizeMiB * 2 ** 20;
    let room: number | null = null;
    try { const fs = statfsSync(dir); room = fs.bavail * fs.bsize; } catch { /* unknown: the fill will say */ }
    if (room !== null && want > room) {
      throw input('storage.fileSizeMiB', `the test file of ${s.fileSizeMiB} MiB does not fit in ${dir}, which has ${Math.floor(room / 2 ** 20)} MiB free`, `lower storage.fileSizeMiB to at most ${Math.max(1, Math.floor(room / 2 ** 20))}, free space there, or set XDG_DATA_HOME to a folder on a larger disk`);
    }
    checkDirectAlignment(profile, devId(statSync(dir).dev), dir);
    const path = join(dir, `test-${process.pid}-${randomInt(2 ** 40).toString(16)}.dat`);
    // O_EXCL: the lab writes only a file it has just created itself.
    closeSync(openSync(path, 'wx', 0o600));
    return { path, labCreated: true, verify: true, seed, deleted: false, keep: s.keep };
  }

  // No path holds a NUL byte (the kernel ends it there); Node's ERR_INVALID_ARG_VALUE read as a
  // permissions problem ("check the path and its permissions").
  if (s.path.includes('\0')) {
    throw input('storage.path', `${JSON.stringify(s.path).slice(0, 200)} holds a NUL byte (\\u0000), which no file path can contain`, 'remove the \\u0000 from storage.path');
  }
  const path = resolve(s.path);
  let st: Stats;
  try { st = statSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw input('storage.path', `${path} cannot be used (${code}); the lab creates a test file only when storage.path is unset (null)`, code === 'ENOENT' ? 'name an existing file or device, or leave storage.path unset (null) for a test file' : 'check the path and its permissions');
  }
  if (st.isBlockDevice()) {
    if (!s.allowDevice) {
      throw input('storage.path', `${path} is a block device; the lab uses one only when storage.allowDevice is true`, 'set storage.allowDevice to true if you mean it, or name a regular file');
    }
    if (writes(profile)) {
      const busy = deviceInUse(st);
      if (busy) throw input('storage.path', `refusing to ${profile.storage.pattern} ${path}: ${busy}`, 'use a device nothing uses (unmount it first), a file, or a read pattern');
    }
    checkAccess(profile, path);
    checkDirectAlignment(profile, devId(st.rdev), path);
    return { path: realpathSync(path), labCreated: false, verify: false, seed, deleted: false, keep: false };
  }
  if (!st.isFile()) {
    throw input('storage.path', `${path} is neither a regular file nor a block device`, 'name a file or a block device');
  }
  // sysfs, procfs, efivarfs and the like report sizes (a sysfs attribute says 4096) but are the
  // kernel's controls, not storage: a writing pattern (a shared profile's storage.path is enough)
  // would write the test pattern into them, and a read measures nothing of a disk.
  const pseudo = pseudoFilesystemOf(path);
  if (pseudo) {
    throw input('storage.path', `${path} is on ${pseudo}, the kernel's own interface, not storage`, 'name a file on a disk, or a block device with storage.allowDevice, or leave storage.path unset (null) for a test file');
  }
  if (st.size < s.blockBytes) {
    throw input('storage.path', `${path} holds ${st.size} bytes, less than one block of ${s.blockBytes}; the lab never extends a file it did not create`, 'name a larger file, or leave storage.path unset (null) for a test file');
  }
  checkAccess(profile, path);
  checkDirectAlignment(profile, devId(st.dev), path);
  const real = realpathSync(path);
  // The lab's own files (saved runs, profiles) are not a write target; its kept test files are.
  const owned = writes(profile) ? labOwnedDirHolding(real, env) : null;
  if (owned && !real.startsWith(`${realPathOf(storageDir(env))}/`)) {
    throw input('storage.path', `refusing to ${profile.storage.pattern} ${real}: it is inside ${owned}, the lab's own data (saved runs, profiles), which the run would overwrite`, 'name a file outside it, use a read pattern, or leave storage.path unset (null) for a test file');
  }
  // A hard link outside the lab's folders is the same inode as the saved run or profile it
  // links to, and the engine writes in place: the path check alone let a writing run through
  // /tmp/x.dat (ln ~/.local/share/uring-lab/profiles/mine.json /tmp/x.dat) overwrite the profile.
  const twin = writes(profile) && st.nlink > 1 ? labOwnedLinkOf(statSync(real), env) : null;
  if (twin) {
    throw input('storage.path', `refusing to ${profile.storage.pattern} ${real}: it is a hard link to ${twin}, the lab's own data (saved runs, profiles), which the run would overwrite`, 'name a file outside it, use a read pattern, or leave storage.path unset (null) for a test file');
  }
  return { path: real, labCreated: false, verify: false, seed, deleted: false, keep: false };
}

/** Most entries looked at for a hard link into the lab's folders (a history is a few thousand). */
const MAX_LINK_SCAN = 200_000;

/**
 * A file in the lab's own folders (run history, saved profiles; not its storage test files) that
 * is the same inode as `st`, or null. Hard links cannot leave a filesystem, so only folders on
 * `st`'s device are walked. A walk cut short by MAX_LINK_SCAN answers as if one were found: an
 * unknown is not a licence to overwrite.
 */
function labOwnedLinkOf(st: Stats, env: NodeJS.ProcessEnv): string | null {
  const roots = [labDataDir(env)];
  try { roots.push(runsDirFromEnv(env)); } catch { /* a bad URING_LAB_RUNS_DIR is the history's error */ }
  const skip = realPathOf(storageDir(env));
  let seen = 0;
  const stack: string[] = [];
  for (const root of roots) {
    const real = realPathOf(root);
    try { if (statSync(real).dev === st.dev) stack.push(real); } catch { /* not there: nothing to overwrite */ }
  }
  const visited = new Set<string>();
  while (stack.length) {
    const folder = stack.pop()!;
    if (folder === skip || visited.has(folder)) continue;
    visited.add(folder);
    let entries: Dirent[];
    try { entries = readdirSync(folder, { withFileTypes: true }); } catch { continue; }
    for (const e of entries) {
      if (++seen > MAX_LINK_SCAN) return `a file in ${folder} (more than ${MAX_LINK_SCAN} files to compare)`;
      const p = join(folder, e.name);
      if (e.isDirectory()) { stack.push(p); continue; }
      if (!e.isFile()) continue;
      try {
        const other = lstatSync(p);
        if (other.ino === st.ino && other.dev === st.dev) return p;
      } catch { /* gone meanwhile */ }
    }
  }
  return null;
}

/** statfs f_type of the kernel's pseudo filesystems (linux/magic.h). */
const PSEUDO_FS: Record<number, string> = {
  0x62656572: 'sysfs', 0x9fa0: 'procfs', 0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x63677270: 'cgroup2',
  0x27e0eb: 'cgroup', 0x73636673: 'securityfs', 0xde5e81e4: 'efivarfs', 0x62656570: 'configfs', 0xcafe4a11: 'bpffs',
  0x6165676c: 'pstore', 0xf97cff8c: 'selinuxfs', 0x42494e4d: 'binfmt_misc',
};

/** The pseudo filesystem (sysfs, procfs, …) holding `path`, or null. */
function pseudoFilesystemOf(path: string): string | null {
  try { return PSEUDO_FS[statfsSync(path).type] ?? null; } catch { return null; }
}

/** The engine config of a storage run: the target and how to treat it. */
export function withStoragePlan(config: NativeEngineConfig, plan: StoragePlan | null): NativeEngineConfig {
  if (!plan || !config.storage) return config;
  return { ...config, storage: { ...config.storage, path: plan.path, fill: plan.labCreated, verify: plan.verify, seed: plan.seed } };
}

/**
 * Deletes the lab's test file (once); a file the user named is never touched. With
 * storage.keep, a run that started (`ran`) keeps it instead, renamed `kept-<time>-<random>.dat`:
 * the test-<pid>-… name would be taken for a dead run's leftover and deleted by the next
 * storage run. A start that failed deletes it whatever keep says (nothing was measured on it).
 */
export function releaseStorage(plan: StoragePlan | null, ran = false): void {
  if (!plan || !plan.labCreated || plan.deleted) return;
  if (plan.keep && ran) {
    if (isLabTestFile(plan.path)) {
      const kept = join(dirname(plan.path), `kept-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomInt(2 ** 40).toString(16)}.dat`);
      try { renameSync(plan.path, kept); plan.path = kept; } catch { /* kept under its own name: still not deleted */ }
    }
    return;
  }
  try { unlinkSync(plan.path); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return; }
  plan.deleted = true;
}

/** Is this file name one of the lab's test files? (tests, leftovers) */
export function isLabTestFile(path: string): boolean {
  return TEST_FILE.test(basename(path));
}

/**
 * The IOPOLL refusal with the device named and the fix for that device: NVMe has poll queues
 * when booted with nvme.poll_queues=N; virtio-blk and most others have none.
 */
export function storageRefusalWords(rejected: RejectedKnob[], started: NativeStarted): RejectedKnob[] {
  const st = started.storage;
  if (!st) return rejected;
  return rejected.map((r) => {
    if (r.knob !== 'server.iopoll' || r.code !== 'EOPNOTSUPP') return r;
    // No block device behind the file (tmpfs, a FUSE or network filesystem: st_dev is an
    // anonymous 0:N): "device 0:27 … has no poll queues; NVMe has them" misled, as no boot
    // option could ever make such a file pollable.
    // (btrfs also has anonymous st_dev numbers but sits on disks: only these types are named so.)
    const fsType = st.device || st.devMajor !== 0 ? null : filesystemOf(`${st.devMajor}:${st.devMinor}`);
    if (fsType && NO_BLOCK_DEVICE_FS.test(fsType)) {
      return {
        ...r,
        reason: `${st.path} is on a ${fsType} filesystem, which has no block device under it (st_dev ${st.devMajor}:${st.devMinor}), so there is no device queue to poll: the first I/O failed with EOPNOTSUPP and the jobs ran interrupt-driven (${r.code})`,
        fix: 'set server.iopoll to false, or name a file (or device) on a disk with poll queues (NVMe booted with nvme.poll_queues=N) in storage.path',
      };
    }
    const dev = st.device ? `${st.device} (${st.devMajor}:${st.devMinor})` : `device ${st.devMajor}:${st.devMinor}`;
    const fix = st.device.startsWith('nvme')
      ? `boot with nvme.poll_queues=N on the kernel command line (N > 0; see /sys/block/${st.device.replace(/p\d+$/, '')}/queue/io_poll), or set server.iopoll to false`
      : st.device.startsWith('vd')
        ? 'virtio-blk has no poll queues, so there is nothing to enable on this device: set server.iopoll to false (NVMe with nvme.poll_queues=N polls)'
        : 'this device driver offers no poll queues (NVMe does with nvme.poll_queues=N on the kernel command line): set server.iopoll to false';
    return {
      ...r,
      reason: `${dev} holding ${st.path} accepted the IOPOLL ring and then failed the first I/O with EOPNOTSUPP: it has no poll queues; the jobs ran interrupt-driven (${r.code}: ${r.reason.split('(EOPNOTSUPP: ')[1]?.replace(/\)$/, '') ?? 'Operation not supported'})`,
      fix,
    };
  });
}

/** Filesystems with no block device of their own (memory, network, FUSE). */
const NO_BLOCK_DEVICE_FS = /^(tmpfs|ramfs|hugetlbfs|devtmpfs|nfs4?|cifs|smb3|9p|virtiofs|fuse(\..+)?)$/;

/** The filesystem type mounted from MAJ:MIN (/proc/self/mountinfo), or null. */
function filesystemOf(id: string): string | null {
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const dash = f.indexOf('-');
      if (f[2] === id && dash > 0 && f[dash + 1]) return f[dash + 1];
    }
  } catch { /* no mountinfo: the type goes unnamed */ }
  return null;
}

/** The summary's `storage` part. */
export function storageSummary(plan: StoragePlan, started: NativeStarted, profile: Profile, bytes: number, measuredS: number): NonNullable<RunSummary['storage']> {
  const st = started.storage;
  return {
    workload: 'storage',
    path: plan.path,
    labCreated: plan.labCreated,
    deleted: plan.deleted,
    device: st?.device ?? '',
    blockDevice: st?.blockDevice ?? false,
    sizeBytes: st?.sizeBytes ?? 0,
    verified: plan.verify,
    pattern: profile.storage.pattern,
    blockBytes: profile.storage.blockBytes,
    queueDepth: profile.storage.queueDepth,
    jobs: started.loadThreads,
    bytesPerS: measuredS > 0 ? bytes / measuredS : 0,
  };
}
