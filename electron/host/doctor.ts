/**
 * The system doctor: what this machine offers the lab, each item with the reason behind it
 * and a fix where something is missing. io_uring capabilities are probed by creating real
 * rings in the engine process, because only the kernel knows what it will accept. A ring flag
 * a knob needs is explained in that knob's catalogue words (its kernel need, its fix), so the
 * doctor and a refused run say the same thing.
 *
 * Knob availability: a catalogue row names the capability it needs (`needs`, knobs.ts); this
 * file turns the probe into one verdict per capability (CAPABILITIES below) and gives every
 * catalogue knob its capability's verdict. The UI disables an unavailable knob with these words.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
import { accessSync, constants as fsConstants, existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { ringRefusalCause } from './ioUringAccess';
import { probeFdReserve } from '../engine/probeFds';
import {
  allowedCpuListIn, formatCpuList, knobAt, knobEntries, oneLineText, parseCpuList, type DoctorCapability, type DoctorCheck, type DoctorKnob, type DoctorNuma, type DoctorReport,
  type KnobEntry, type CacheInfo, poolBytesWords,
} from '../contract';
import type { CapabilityProbe, NativeMemoryNeeds } from '../engine/protocol';
import { lastLevelCache } from './run/bufferPool';

export type CapabilityProber = () => Promise<CapabilityProbe>;
export type Hugepages = NonNullable<DoctorReport['hugepages']>;

/** What the chosen profile would lock and allocate (the engine's own formula), for the memlock check. */
export type MemoryPlanner = () => Promise<NativeMemoryNeeds>;

/** Why topology "veth" cannot run here, or null (run/veth.ts's vethRefusal; passed in, so this file stays free of the run modules). */
export type VethRefusal = () => { code: string; message: string; fix?: string } | null;

/** The eBPF probe checks: each probe attached for a moment in the engine process, its privileges, the helper (run/probes.ts's probeDoctorChecks; passed in like veth). */
export type ProbeChecks = () => Promise<DoctorCheck[]>;

export async function runDoctor(probe?: CapabilityProber, plan?: MemoryPlanner, veth?: VethRefusal, probes?: ProbeChecks): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const release = os.release();
  checks.push({ id: 'kernel', label: 'Kernel', ok: true, value: release, reason: `Linux ${release} on ${os.arch()}` });
  checks.push(ioUringDisabledCheck());

  let caps: CapabilityProbe | null = null;
  let probeError: string | null = null;
  if (probe) {
    try { caps = await probe(); } catch (err) { probeError = (err as Error).message; }
  }
  const hugepages = readHugepages(readText('/proc/meminfo') ?? '');
  const numa = readNuma();
  const noRing = noRingOf(caps);
  const capabilities = capabilitiesFrom(caps, probeError, hugepages, numa, noRing);
  checks.push(...ioUringChecks(caps, probeError));
  checks.push(...capabilityChecks(capabilities));
  checks.push(memlockCheck(await planned(plan)));
  checks.push(openFilesCheck());
  checks.push(btfCheck());
  checks.push(tracefsCheck());
  if (probes) checks.push(...await probes());
  checks.push(numaCheck(numa));
  checks.push(cpusCheck(numa));
  const cache = lastLevelCache();
  checks.push(lastLevelCacheCheck(cache));
  checks.push(cpuClockCheck());
  checks.push(firstTouchCheck());
  checks.push(hugepagesCheck(hugepages));
  checks.push(copyDistanceCheck(caps?.copyDistance ?? null));
  checks.push(syscallCostCheck(caps?.syscallCost ?? null));
  checks.push(blockPollCheck(readBlockPoll()));
  checks.push(netnsCheck(veth));
  checks.push(congestionCheck());
  checks.push(socketBufferCheck());
  checks.push(await fioCheck());
  return { kernel: { release }, checks, numa, hugepages, cache, capabilities, knobs: knobAvailability(capabilities, knobEntries(), noRing) };
}

/** Bytes for people, in binary units ("8.0 MiB"). */
function bytesText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function readText(path: string): string | null {
  try { return readFileSync(path, 'utf8').trim(); } catch { return null; }
}

function ioUringDisabledCheck(): DoctorCheck {
  const value = readText('/proc/sys/kernel/io_uring_disabled');
  if (value === null) {
    return { id: 'io_uring_disabled', label: 'kernel.io_uring_disabled', ok: null, value: 'absent', reason: 'the sysctl does not exist (kernels before 6.6); io_uring can only be blocked by seccomp or the kernel config here' };
  }
  switch (value) {
    case '0':
      return { id: 'io_uring_disabled', label: 'kernel.io_uring_disabled', ok: true, value, reason: 'io_uring is enabled for every process' };
    case '1':
      return { id: 'io_uring_disabled', label: 'kernel.io_uring_disabled', ok: process.getuid?.() === 0, value, reason: 'io_uring is limited to privileged processes and members of kernel.io_uring_group', fix: 'run as root, add your group to kernel.io_uring_group, or `sysctl -w kernel.io_uring_disabled=0`' };
    default:
      return { id: 'io_uring_disabled', label: 'kernel.io_uring_disabled', ok: false, value, reason: 'io_uring is disabled for all processes: every ring setup returns EPERM', fix: '`sysctl -w kernel.io_uring_disabled=0` (and persist it in /etc/sysctl.d/)' };
  }
}

function ioUringChecks(caps: CapabilityProbe | null, probeError: string | null): DoctorCheck[] {
  if (!caps) {
    const reason = probeError ? `probe failed: ${probeError}` : 'not probed';
    return [{ id: 'io_uring', label: 'io_uring ring', ok: null, value: 'unknown', reason, fix: 'build the native addon (npm run build:native) and run `uring-lab doctor` again' }];
  }
  const checks: DoctorCheck[] = [];
  const ring = caps.ring;
  checks.push(ring.errno === 0
    ? { id: 'io_uring', label: 'io_uring ring', ok: true, value: 'available', reason: `a ring was created; features: ${caps.features.join(', ') || 'none reported'}` }
    : { id: 'io_uring', label: 'io_uring ring', ok: false, value: ring.code, reason: `io_uring_setup failed with ${ring.code}: ${ring.reason}`, fix: ring.code === 'EPERM' || ring.code === 'EACCES' ? ringRefusalCause().fix : 'use a kernel with CONFIG_IO_URING=y' });
  if (ring.errno !== 0) return checks;

  const needed = ['ACCEPT', 'RECV', 'SEND', 'READ', 'PROVIDE_BUFFERS', 'SEND_ZC'];
  const missing = needed.filter((op) => !caps.ops.includes(op));
  checks.push({ id: 'io_uring_ops', label: 'io_uring ops', ok: missing.length === 0, value: `${caps.ops.length} supported`, reason: `${missing.length ? `missing: ${missing.join(', ')}` : `includes ${needed.join(', ')}`}; supported: ${caps.ops.join(', ')}`, fix: missing.length ? 'a newer kernel (6.0+) supports every op the lab uses' : undefined });
  // The features a plain ring reports (IORING_FEAT_*): the kernel's own list, shown in full.
  checks.push({ id: 'io_uring_features', label: 'io_uring features', ok: true, value: `${caps.features.length} reported`, reason: caps.features.join(', ') || 'the kernel reported none' });

  checks.push(flagCheck('sqpoll', 'SQPOLL', caps.sqpoll, 'a kernel thread can poll the submission queue (IORING_SETUP_SQPOLL)', 'server.sqpoll.enabled'));
  checks.push(flagCheck('defer_taskrun', 'DEFER_TASKRUN', caps.deferTaskrun, 'task work can be deferred to the issuing thread (SINGLE_ISSUER|DEFER_TASKRUN)', 'server.taskrun'));
  checks.push(flagCheck('coop_taskrun', 'COOP_TASKRUN', caps.coopTaskrun, 'completions run without an interrupting IPI (COOP_TASKRUN)', 'server.taskrun'));
  checks.push(caps.iopollSocket.errno === 0
    ? { id: 'iopoll', label: 'IOPOLL on sockets', ok: null, value: 'accepted?', reason: 'the kernel accepted a socket op on an IOPOLL ring, which it normally refuses' }
    : { id: 'iopoll', label: 'IOPOLL on sockets', ok: false, value: caps.iopollSocket.code, reason: `an IOPOLL ring refuses socket ops (${caps.iopollSocket.code}): IOPOLL only applies to O_DIRECT storage on devices with poll queues`, fix: 'for networks use NAPI busy poll (kernel 6.9+, not effective on lo) instead of IOPOLL' });
  return checks;
}

/**
 * A ring setup flag probed on its own. Refused, it is explained by the knob that asks for it:
 * the kernel the knob's catalogue row says it needs, and the row's fix for a refusal.
 */
function flagCheck(id: string, label: string, result: CapabilityProbe['sqpoll'], good: string, knobPath: string): DoctorCheck {
  if (result.errno === 0) return { id, label, ok: true, value: 'available', reason: good };
  const row = knobAt(knobPath);
  const needs = row?.kernel ? `; ${knobPath} needs ${row.kernel}` : '';
  return {
    id, label, ok: false, value: result.code,
    reason: `ring setup refused with ${result.code}: ${result.reason}${needs}`,
    fix: row?.refusal?.refused?.fix ?? `leave ${knobPath} at its default`,
  };
}

/** What the chosen profile would lock, or why that is not known (no engine: the check falls back to the bare limit). */
export interface MemlockPlan {
  needs: NativeMemoryNeeds | null;
  error: string | null;
}

async function planned(plan?: MemoryPlanner): Promise<MemlockPlan> {
  if (!plan) return { needs: null, error: null };
  try {
    return { needs: await plan(), error: null };
  } catch (err) {
    return { needs: null, error: (err as Error).message };
  }
}

/**
 * RLIMIT_MEMLOCK against what the current profile locks: the engine's own count of the pages
 * the kernel charges (every ring, the buffer ring's registration), measured in the engine
 * process whose limit applies. Without a plan (no engine) only the bare limit is judged.
 */
/**
 * Open files (RLIMIT_NOFILE) against what the default run needs: 2 descriptors a connection
 * (the load's socket and the server's accepted one), the eBPF probes' (probeFdReserve) and the
 * engine process's own. The engine raises the soft limit to the hard one before a run, so the
 * hard limit decides.
 */
export function openFilesCheck(limitsText = readText('/proc/self/limits') ?? ''): DoctorCheck {
  const id = 'nofile';
  const label = 'Open files (RLIMIT_NOFILE)';
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.split(/\s{2,}/).slice(1, 3) ?? []).map((v) => v.trim());
  if (!soft || !hard) return { id, label, ok: null, value: 'unknown', reason: '/proc/self/limits says nothing about open files' };
  const connections = knobAt('load.connections')!.schema.parse(undefined) as number;
  const probes = probeFdReserve(knobAt('probes.enabled')!.schema.parse(undefined) as boolean);
  const need = 2 * connections + probes + 64;
  const hardN = hard === 'unlimited' ? Infinity : Number(hard);
  const ok = hardN >= need;
  return {
    id, label, ok, value: `${soft} (hard ${hard})`,
    reason: `a run holds 2 per connection (the load's socket and the server's accepted one), about ${probes} for the eBPF probes and ~40 of the engine's own: the default run (${connections} connections) about ${need}, 1,000 connections about ${2000 + probes + 64}; the engine raises the soft limit to the hard one as a run needs, so the hard limit (${hard}) decides`,
    ...(ok ? {} : { fix: `raise it before starting the lab (ulimit -n ${need}, LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.conf), or run with fewer connections and probes.enabled=false` }),
  };
}

export function memlockCheck(plan: MemlockPlan = { needs: null, error: null }, limitsText = readText('/proc/self/limits') ?? '', isRoot = process.getuid?.() === 0): DoctorCheck {
  const id = 'memlock';
  const label = 'Locked memory (RLIMIT_MEMLOCK)';
  const lowerFix = 'raise it (`ulimit -l unlimited`, LimitMEMLOCK= in the systemd unit, memlock in /etc/security/limits.conf), or lower server.ringEntries, load.threads or server.bufferRing.count';
  const needs = plan.needs;
  if (needs) {
    const pinned = bytesText(needs.pinnedBytes);
    const limit = needs.memlockLimitBytes;
    if (needs.memlockExempt) {
      return { id, label, ok: true, value: limit === null ? 'unlimited' : bytesText(limit), reason: 'CAP_IPC_LOCK: the kernel charges none of the current profile\'s rings or buffer-ring pages to the limit, however large' };
    }
    if (limit === null) return { id, label, ok: true, value: 'unlimited', reason: `the current profile locks ${pinned} (rings and the buffer ring's registration); no limit applies` };
    const ok = needs.pinnedBytes <= limit;
    return {
      id, label, ok, value: bytesText(limit),
      reason: ok
        ? `the current profile locks ${pinned} of the ${bytesText(limit)} allowed (rings and the buffer ring's registration); the limit is per user, shared by all of this user's processes`
        : `the current profile locks ${pinned} (rings and the buffer ring's registration) but the limit is ${bytesText(limit)}: its run would be refused (RESOURCE_BUDGET)`,
      ...(ok ? {} : { fix: lowerFix }),
    };
  }
  const line = limitsText.split('\n').find((l) => l.startsWith('Max locked memory'));
  const soft = line?.split(/\s{2,}/)[1]?.trim() ?? 'unknown';
  const unlimited = soft === 'unlimited';
  const bytes = unlimited ? Infinity : Number(soft);
  const ok = unlimited || isRoot || bytes >= 64 * 1024 * 1024;
  const unplanned = plan.error ? `; what the current profile locks is unknown (${plan.error})` : '';
  return {
    id, label, ok,
    value: unlimited ? 'unlimited' : Number.isFinite(bytes) ? bytesText(bytes) : soft,
    reason: (ok
      ? (isRoot && !unlimited ? 'running as root (CAP_IPC_LOCK): registered buffers are not charged against the limit' : 'enough for registered buffers and rings')
      : 'registered buffers are charged against this limit; small limits give ENOMEM') + unplanned,
    fix: ok ? undefined : lowerFix,
  };
}

function btfCheck(): DoctorCheck {
  return existsSync('/sys/kernel/btf/vmlinux')
    ? { id: 'btf', label: 'Kernel BTF', ok: true, value: '/sys/kernel/btf/vmlinux', reason: 'CO-RE eBPF probes can be relocated against this kernel' }
    : { id: 'btf', label: 'Kernel BTF', ok: false, value: 'absent', reason: 'no /sys/kernel/btf/vmlinux: CO-RE probes cannot be loaded', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' };
}

/** Where the engine looks for the classic tracepoint (native/src/probes/probe_loader.c TRACEFS_ENTER_EVENT). */
const TRACEFS = '/sys/kernel/tracing';

function tracefsCheck(): DoctorCheck {
  // Only uring_calls needs it (its classic tracepoint), and only the probe helper and engine read it.
  const why = 'Of the eBPF probes only uring_calls uses a classic tracepoint (syscalls:sys_enter_io_uring_enter); without it that probe counts io_uring_enter on raw sys_enter, which runs for every syscall and costs more (tp_btf and raw_tp need no tracefs)';
  let errno = '';
  try { accessSync(`${TRACEFS}/events`, fsConstants.R_OK | fsConstants.X_OK); } catch (err) { errno = (err as NodeJS.ErrnoException).code ?? 'EIO'; }
  if (!errno) return { id: 'tracefs', label: 'tracefs', ok: true, value: TRACEFS, reason: 'tracepoint formats are readable' };
  if (errno === 'EACCES' || errno === 'EPERM') {
    // Mounted but not readable here: tracefs is root-only (mode 700) unless mounted otherwise.
    return { id: 'tracefs', label: 'tracefs', ok: false, value: `${TRACEFS} (not readable)`, reason: `tracefs is mounted at ${TRACEFS} but this user cannot read it (root-only by default), and neither can the probe helper (CAP_BPF/CAP_PERFMON do not open files). ${why}`, fix: `let them read it: mount -o remount,mode=755 ${TRACEFS} (or run the lab as root)` };
  }
  // The engine reads ${TRACEFS} only: tracefs mounted anywhere else (debugfs's
  // /sys/kernel/debug/tracing, a container's own mount point) is not found by the run, which then
  // reports "tracefs not mounted"; this check said ok (debugfs) or "this user cannot read it" (as root).
  // Every such mount point (debugfs's automount and a mount of the user's own can both be there).
  const places = (readText('/proc/self/mounts') ?? '').split('\n').map((l) => l.split(' '))
    .filter((f) => f[2] === 'tracefs' && f[1]).map((f) => f[1]!.replace(/\\040/g, ' '));
  const elsewhere = [...new Set(places)].join(', ');
  if (elsewhere) {
    return { id: 'tracefs', label: 'tracefs', ok: false, value: `${oneLineText(elsewhere, 300)} (not ${TRACEFS})`, reason: `tracefs is mounted at ${oneLineText(elsewhere, 300)}, but the probes look for it at ${TRACEFS} only. ${why}`, fix: `mount -t tracefs tracefs ${TRACEFS}` };
  }
  return { id: 'tracefs', label: 'tracefs', ok: false, value: 'not mounted', reason: `tracefs is not mounted: classic tracepoints cannot be found. ${why}`, fix: `mount -t tracefs tracefs ${TRACEFS}` };
}

// ---- NUMA, CPUs, huge pages ---------------------------------------------------------

/**
 * NUMA nodes with their CPUs from sysfs (`sysfs` = /sys/devices/system), and the CPUs this
 * process may use from its Cpus_allowed_list (`status` = /proc/self/status). A machine (or
 * container) without the node directory is one node with every online CPU.
 */
export function readNuma(sysfs = '/sys/devices/system', status = readText('/proc/self/status') ?? ''): DoctorNuma {
  const online = parseCpuList(readText(`${sysfs}/cpu/online`) ?? '');
  const onlineCpus = online.length ? online : os.cpus().map((_, i) => i);
  let names: string[] = [];
  try { names = readdirSync(`${sysfs}/node`).filter((n) => /^node\d+$/.test(n)); } catch { /* no node directory */ }
  const nodes = names
    .map((n) => ({ id: Number(n.slice(4)), cpus: parseCpuList(readText(`${sysfs}/node/${n}/cpulist`) ?? '') }))
    .sort((a, b) => a.id - b.id);
  const allowed = parseCpuList(allowedCpuListIn(status) ?? '');
  return {
    nodes: nodes.length ? nodes : [{ id: 0, cpus: onlineCpus }],
    source: nodes.length ? 'sysfs' : 'assumed',
    onlineCpus,
    allowedCpus: allowed.length ? allowed : onlineCpus,
  };
}

/** Default-size huge pages from /proc/meminfo's text, or null where it says nothing of them. */
export function readHugepages(meminfo: string): Hugepages | null {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(meminfo);
    return m ? Number(m[1]) : null;
  };
  const total = field('HugePages_Total');
  const free = field('HugePages_Free');
  const sizeKiB = field('Hugepagesize');
  if (total === null || free === null || sizeKiB === null) return null;
  return { total, free, sizeBytes: sizeKiB * 1024 };
}

function numaCheck(numa: DoctorNuma): DoctorCheck {
  const detail = numa.nodes.map((n) => `node${n.id}: CPUs ${formatCpuList(n.cpus) || 'none'}`).join('; ');
  return {
    id: 'numa', label: 'NUMA nodes', ok: true, value: String(numa.nodes.length),
    reason: numa.source === 'sysfs'
      ? `${detail} (server.numa.node takes one of these ids)`
      : `no /sys/devices/system/node: one node assumed, with every online CPU (${formatCpuList(numa.onlineCpus)})`,
  };
}

function cpusCheck(numa: DoctorNuma): DoctorCheck {
  const all = numa.allowedCpus.length === numa.onlineCpus.length;
  return {
    id: 'cpus', label: 'CPUs this process may use', ok: true, value: formatCpuList(numa.allowedCpus),
    reason: all
      ? `every online CPU (${numa.onlineCpus.length}); server.numa.cpus and server.sqpoll.cpu must be among them`
      : `${numa.allowedCpus.length} of ${numa.onlineCpus.length} online CPUs (${formatCpuList(numa.onlineCpus)}): the affinity or cpuset this process runs in; pinning outside it is refused`,
  };
}

/** The cache a provided-buffer pool is compared with (contract/bufferPool.ts: the cold-pool warning). */
export function lastLevelCacheCheck(cache: CacheInfo | null): DoctorCheck {
  const base = { id: 'cpu_cache', label: 'Last-level CPU cache' };
  if (!cache) {
    return { ...base, ok: null, value: 'unknown', reason: 'neither sysfs (/sys/devices/system/cpu/cpu0/cache) nor getconf (cpuid) gives a cache size: a buffer pool larger than the cache cannot be warned about' };
  }
  return {
    ...base, ok: true, value: `L${cache.level} ${poolBytesWords(cache.bytes)}`,
    reason: `${cache.source === 'sysfs' ? 'from sysfs' : 'from cpuid (getconf; sysfs lists no caches)'}: a run whose buffer pool (server.rings × bufferRing.count × size) is larger is warned that its receives write to cold memory unless server.bufferRing.hotFirst is on`,
  };
}

/**
 * What a thread's CPU clock holds on this machine. Every CPU-per-request number the lab shows
 * (server, load, bench) comes from thread CPU clocks. In a virtual machine the host may run
 * something else on a vCPU's physical CPU; a guest kernel that is told (steal time: kvm-clock's
 * steal MSR, Xen's runstate) counts that as steal in /proc/stat and, built with
 * CONFIG_PARAVIRT_TIME_ACCOUNTING, leaves it out of task clocks. A guest that is never told sees
 * its clock run on while the thread waited for the host, and 0 steal forever. This PVM guest
 * (Firecracker) shows 0 since boot, and the same work here costs up to ±40 % more or less from
 * one minute to the next (time the host took, or its caches and memory shared with others).
 */
export function cpuClockCheck(cpuinfo = readText('/proc/cpuinfo'), procStat = readText('/proc/stat')): DoctorCheck {
  const base = { id: 'cpu_clock', label: 'CPU time accounting' };
  if (cpuinfo === null) return { ...base, ok: null, value: 'unknown', reason: '/proc/cpuinfo is not readable: whether a hypervisor runs this machine is not known' };
  // x86's "flags" line carries the CPUID hypervisor bit; other architectures (arm64: "Features") have no such word.
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1];
  if (flags === undefined) return { ...base, ok: null, value: 'unknown', reason: '/proc/cpuinfo has no x86 "flags" line to say whether a hypervisor runs this machine' };
  if (!/(^|\s)hypervisor(\s|$)/.test(flags)) {
    return { ...base, ok: true, value: 'no hypervisor', reason: 'no "hypervisor" CPU flag: thread CPU clocks count time this machine\'s CPUs spent on the thread, and CPU per request is the work itself' };
  }
  // "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ (100/s) ticks.
  const cpuLine = procStat?.split('\n').find((l) => l.startsWith('cpu '));
  const steal = cpuLine ? Number(cpuLine.trim().split(/\s+/)[8]) : NaN;
  if (!Number.isFinite(steal)) {
    return { ...base, ok: null, value: 'virtual machine', reason: 'a hypervisor runs this machine, and /proc/stat has no steal column to say whether the host reports the time it takes from the vCPUs' };
  }
  if (steal > 0) {
    return {
      ...base, ok: true, value: `virtual machine, steal reported (${(steal / 100).toFixed(1)} s since boot)`,
      reason: 'the host reports the time it takes from the vCPUs (steal in /proc/stat); a kernel built with CONFIG_PARAVIRT_TIME_ACCOUNTING leaves it out of thread CPU clocks, so CPU per request stays the work itself; the host\'s other guests still share its caches and memory bandwidth',
    };
  }
  return {
    ...base, ok: null, value: 'virtual machine, no steal reported',
    reason: 'a hypervisor runs this machine and /proc/stat shows 0 steal since boot: the host does not tell this kernel when it takes a vCPU away (or never has). Server and load CPU per request then include any such time, and the host\'s other work moves them from minute to minute: compare configurations inside one interleaved experiment (uring-lab ab, npm run bench:engine), not runs made far apart',
    fix: 'on KVM give the guest steal time (the kvm-clock steal-time MSR, KVM_FEATURE_STEAL_TIME); where the hypervisor cannot, compare in interleaved rounds only',
  };
}

/** Above glibc's largest mmap threshold (32 MiB on 64-bit): calloc maps it fresh, untouched. */
const FRESH_MAPPING_BYTES = 64 << 20;

/** Above this a page's first touch is a cost a run's numbers can show (µs). */
export const FIRST_TOUCH_SLOW_US = 2;

/** One pass writing a byte into each page of fresh anonymous memory, and a second pass over the
 *  same pages: ns per page each, and the minor page faults the process took during the first
 *  (one a page, or one per huge page; ~0 when the block was touched heap). 16 MiB: ~45 ms here.
 *  Fresh means calloc's own mmap, whose pages nothing touched: the block is allocated at
 *  FRESH_MAPPING_BYTES and only `bytes` of it touched. A smaller block came from the heap once
 *  glibc's mmap threshold had grown (it follows the largest block freed, up to 32 MiB), and
 *  calloc zeroed it, touching every page first: in a process that had freed large buffers the
 *  first pass cost less than the second (29 against 43 ns a page, in CI's test worker). */
export function measureFirstTouch(bytes = 16 << 20): { firstNs: number; againNs: number; firstFaults: number } {
  const pages = Math.floor(bytes / 4096);
  const block = Buffer.alloc(Math.max(pages * 4096, FRESH_MAPPING_BYTES)).subarray(0, pages * 4096);
  const faultsBefore = process.resourceUsage().minorPageFault;
  let t = process.hrtime.bigint();
  for (let i = 0; i < block.length; i += 4096) block[i] = 1;
  const firstNs = Number(process.hrtime.bigint() - t) / pages;
  const firstFaults = process.resourceUsage().minorPageFault - faultsBefore;
  t = process.hrtime.bigint();
  for (let i = 0; i < block.length; i += 4096) block[i] = 2;
  const againNs = Number(process.hrtime.bigint() - t) / pages;
  return { firstNs, againNs, firstFaults };
}

/**
 * What the first touch of memory costs here. In a guest whose memory the host maps lazily
 * (shadow paging, free page reporting handing freed pages back to the host) the host works on
 * each page too: 11-16 µs on this PVM VM against ~0.03 µs for a page touched before. The lab touches
 * its own buffers in set-up, before the clock starts, so a large run takes that much longer to
 * start; what it cannot touch ahead is the kernel's (socket buffers, page cache).
 */
export function firstTouchCheck(m: { firstNs: number; againNs: number } | null = safeFirstTouch(), reportedKib = readText('/sys/module/page_reporting/parameters/reported_kib')): DoctorCheck {
  const base = { id: 'first_touch', label: 'First touch of fresh memory' };
  if (!m || !(m.firstNs > 0)) return { ...base, ok: null, value: 'unknown', reason: 'not measured (16 MiB could not be allocated)' };
  const us = (ns: number) => (ns / 1000).toFixed(ns < 100 ? 3 : ns < 1000 ? 2 : 1);
  const measured = `writing one byte into each page of 16 MiB of fresh memory took ${us(m.firstNs)} µs a page, and ${us(m.againNs)} µs a page the second time`;
  if (m.firstNs / 1000 <= FIRST_TOUCH_SLOW_US) {
    return { ...base, ok: true, value: `${us(m.firstNs)} µs a page`, reason: `${measured}: a page fault and the page's zeroing, nothing a run's numbers show` };
  }
  // The counter some kernels export with free page reporting (a balloon driver hands freed
  // pages back to the host, which maps them again on their next use).
  const reported = reportedKib === null ? NaN : Number(reportedKib.trim());
  const reporting = reported > 0
    ? ` This kernel has handed ${bytesText(reported * 1024)} of freed memory back to the host since boot (free page reporting), so memory freed and used again can pay it again.`
    : '';
  return {
    ...base, ok: null, value: `${us(m.firstNs)} µs a page (${us(m.againNs)} µs touched again)`,
    reason: `${measured}: above ${FIRST_TOUCH_SLOW_US} µs, more than a page fault and its zeroing cost; a hypervisor's own work per page (shadow page tables, memory it maps on first use) is the usual cause.${reporting} The lab touches its buffers (load buffers, the buffer pool, storage blocks) in set-up, before the clock starts, so a large run takes that much longer to start (its load buffers on transparent huge pages where the kernel offers them: one fault per 2 MiB); what the kernel allocates during a run (socket buffers, page cache) pays it inside the run`,
    fix: 'on the host, back the guest with pre-faulted or huge-page memory and leave free page reporting off; otherwise compare large-message runs only with each other',
  };
}

/** Measured once per process: a property of the machine, and 45-65 ms of faults here that a
 *  doctor asked for during a run should not add to the run's CPUs again. */
let firstTouchMeasured: { firstNs: number; againNs: number } | null | undefined;
function safeFirstTouch(): { firstNs: number; againNs: number } | null {
  if (firstTouchMeasured === undefined) {
    try { firstTouchMeasured = measureFirstTouch(); } catch { firstTouchMeasured = null; }
  }
  return firstTouchMeasured;
}

/** What server.socket.congestion may name here: the system default, what the kernel has, what any process may pick. */
function congestionCheck(): DoctorCheck {
  const base = { id: 'tcp_congestion', label: 'TCP congestion control' };
  const word = (name: string) => readText(`/proc/sys/net/ipv4/${name}`)?.trim().split(/\s+/).filter(Boolean) ?? null;
  const current = word('tcp_congestion_control')?.[0];
  const available = word('tcp_available_congestion_control');
  const allowed = word('tcp_allowed_congestion_control');
  if (!current || !available) return { ...base, ok: null, value: 'unknown', reason: '/proc/sys/net/ipv4 says nothing about congestion control (no network namespace sysctls?)' };
  const root = process.getuid?.() === 0;
  return {
    ...base, ok: true, value: current,
    reason: `new connections use ${current} (net.ipv4.tcp_congestion_control); loaded: ${available.join(', ')}; any process may pick: ${allowed?.join(', ') || 'none listed'}${root ? '; as root this lab may pick any loaded one, and the kernel loads a tcp_NAME module on demand' : '; others need CAP_NET_ADMIN'} (server.socket.congestion)`,
  };
}

/** How large server.socket.*BufferBytes may be without CAP_NET_ADMIN (the plain SO_RCVBUF/SO_SNDBUF cap). */
function socketBufferCheck(): DoctorCheck {
  const base = { id: 'socket_buffers', label: 'Socket buffer caps' };
  const num = (name: string) => { const n = Number(readText(`/proc/sys/net/core/${name}`)?.trim()); return Number.isFinite(n) && n > 0 ? n : null; };
  const rmem = num('rmem_max');
  const wmem = num('wmem_max');
  if (rmem === null || wmem === null) return { ...base, ok: null, value: 'unknown', reason: 'net.core.rmem_max / wmem_max are not readable' };
  const root = process.getuid?.() === 0;
  return {
    ...base, ok: true, value: `rmem_max ${rmem}, wmem_max ${wmem}`,
    reason: `server.socket.receiveBufferBytes and sendBufferBytes above ${bytesText(rmem)} / ${bytesText(wmem)} (net.core.rmem_max / wmem_max) need CAP_NET_ADMIN (SO_RCVBUFFORCE / SO_SNDBUFFORCE)${root ? ', which this lab has as root' : '; without it the kernel grants at most the cap'}`,
    fix: root ? undefined : 'raise the caps: sysctl -w net.core.rmem_max=BYTES net.core.wmem_max=BYTES',
  };
}

function hugepagesCheck(h: Hugepages | null): DoctorCheck {
  if (!h) return { id: 'hugepages', label: 'Huge pages', ok: null, value: 'unknown', reason: '/proc/meminfo says nothing about huge pages (a kernel without CONFIG_HUGETLBFS?)' };
  const size = `${h.sizeBytes / (1024 * 1024)} MiB`;
  const need = defaultPoolPages(h);
  return h.free >= need
    ? { id: 'hugepages', label: 'Huge pages', ok: true, value: `${h.free} free of ${h.total}`, reason: `${h.free} free ${size} pages reserved (vm.nr_hugepages=${h.total}) for server.bufferRing.hugepages (the default pool takes ${need} per ring)` }
    : { id: 'hugepages', label: 'Huge pages', ok: false, value: `${h.free} free of ${h.total}`, reason: hugepagesShort(h, need), fix: hugepagesFix(h) };
}

/** Why too few huge pages are free for the default pool (h.free < need); `none` words the case of none reserved. */
function hugepagesShort(h: Hugepages, need: number, none = 'none reserved (vm.nr_hugepages=0): a MAP_HUGETLB buffer pool gets ENOMEM'): string {
  if (!h.total) return none;
  if (!h.free) return `all ${h.total} reserved ${h.sizeBytes / (1024 * 1024)} MiB pages are in use`;
  // One page free of two needed is as much ENOMEM as none: the pool is mapped whole.
  return `${h.free} free, but the default buffer pool needs ${need} per ring (mapped whole with MAP_HUGETLB, so it gets ENOMEM)`;
}

/** Bytes of one ring's default buffer pool (the catalogue's bufferRing.count × size). */
function defaultPoolBytes(): number {
  const count = Number(knobAt('server.bufferRing.count')?.schema.parse(undefined) ?? 4096);
  const size = Number(knobAt('server.bufferRing.size')?.schema.parse(undefined) ?? 2048);
  return count * size;
}

/** Huge pages the default buffer pool of one ring takes (rounded up to whole pages). */
function defaultPoolPages(h: Hugepages | null): number {
  return Math.max(1, Math.ceil(defaultPoolBytes() / (h?.sizeBytes || 2 * 1024 * 1024)));
}

/** `sysctl vm.nr_hugepages=N` with N enough for the default buffer pool (count × size), on top of what is in use. */
function hugepagesFix(h: Hugepages | null): string {
  const pageBytes = h?.sizeBytes || 2 * 1024 * 1024;
  const pool = defaultPoolBytes();
  const need = defaultPoolPages(h);
  const inUse = h ? h.total - h.free : 0;
  return `reserve some: sysctl vm.nr_hugepages=${inUse + need} (${need} × ${pageBytes / (1024 * 1024)} MiB ≥ the default pool, bufferRing.count × size = ${pool / (1024 * 1024)} MiB; more for a larger pool)`;
}

// ---- capabilities and knob availability ---------------------------------------------

type ProbeResult = CapabilityProbe['sqpoll'];

interface CapabilityDef {
  id: string;
  label: string;
  /** The kernel it arrived in, for a reason that says what to upgrade to. */
  since: string;
  /** The probe's results it rests on (all must be available). */
  results: (caps: CapabilityProbe) => (ProbeResult | undefined)[];
  /** What was tried, for "… refused with EINVAL". */
  tried: string;
  /** Fix when missing; default: a kernel of `since` or newer. */
  fix?: string;
  note?: string;
}

/**
 * Every capability a knob may need, and the probe results it rests on. A capability here that
 * no catalogue row names yet is still reported (a knob that arrives later finds it ready).
 */
const CAPABILITIES: readonly CapabilityDef[] = [
  { id: 'sqpoll', label: 'SQPOLL', since: 'Linux 5.11 (unprivileged 5.13)', tried: 'an IORING_SETUP_SQPOLL ring', results: (c) => [c.sqpoll] },
  { id: 'attachWq', label: 'Shared SQPOLL thread (ATTACH_WQ)', since: 'Linux 5.11', tried: 'a second SQPOLL ring with IORING_SETUP_ATTACH_WQ', results: (c) => [c.sqpoll, c.attachWq] },
  { id: 'multishot', label: 'Multishot recv', since: 'Linux 6.0', tried: 'a multishot RECV from a buffer ring', results: (c) => [c.multishotRecv] },
  // No knob: the io_uring server always accepts this way; listed so a kernel without it is seen.
  { id: 'multishotAccept', label: 'Multishot accept', since: 'Linux 5.19', tried: 'a multishot ACCEPT', results: (c) => [c.multishotAccept] },
  { id: 'recvBundle', label: 'Recv bundles', since: 'Linux 6.10', tried: 'IORING_FEAT_RECVSEND_BUNDLE', results: (c) => [c.recvBundle] },
  { id: 'incrementalBuffers', label: 'Incremental buffer rings', since: 'Linux 6.12', tried: 'a buffer ring registered with IOU_PBUF_RING_INC', results: (c) => [c.incrementalBuffers] },
  { id: 'sendZeroCopy', label: 'Zero-copy send (SEND_ZC)', since: 'Linux 6.0', tried: 'IORING_OP_SEND_ZC in the opcode probe', results: (c) => [c.sendZeroCopy], note: 'on loopback the kernel copies every SEND_ZC: frames count them as copied sends' },
  { id: 'registeredBuffers', label: 'Registered buffers', since: 'Linux 5.1', tried: 'io_uring_register_buffers of one page', results: (c) => [c.registeredBuffers], fix: 'raise RLIMIT_MEMLOCK (`ulimit -l unlimited`) or run with CAP_IPC_LOCK; registered buffers are pinned and charged to it' },
  { id: 'directDescriptors', label: 'Direct descriptors', since: 'Linux 5.19 (sparse file table)', tried: 'a sparse registered file table', results: (c) => [c.sparseFiles] },
  { id: 'napi', label: 'NAPI busy poll', since: 'Linux 6.9 with CONFIG_NET_RX_BUSY_POLL', tried: 'IORING_REGISTER_NAPI', results: (c) => [c.napi], note: 'no effect on lo: loopback traffic has no NAPI id, so there is nothing to busy-poll (it needs a NIC or veth)' },
  { id: 'minWait', label: 'Minimum batch wait', since: 'Linux 6.12', tried: 'IORING_FEAT_MIN_TIMEOUT', results: (c) => [c.minWait] },
  // No knob: the server, load and storage threads always ask for it (README: Scheduling of the
  // measured threads); listed so a kernel that ignores it is seen, with what that costs.
  {
    id: 'shortSlice', label: 'Short slice for the measured threads', since: 'Linux 6.12', tried: 'a 0.1 ms sched_attr.sched_runtime on a thread',
    results: (c) => [c.shortSlice],
    fix: 'a kernel of Linux 6.12 or newer; until then a server or load thread woken while the lab\'s own threads run waits out their slice, and open-loop tails include that wait',
  },
  // No knob: the server's TCP segments per request (frames, the counters panel, summaries).
  {
    id: 'tcpSegments', label: 'TCP segment counts (sock_diag)', since: 'Linux 4.6 with CONFIG_INET_TCP_DIAG', tried: 'a sock_diag dump of TCP sockets with tcp_info',
    results: (c) => [c.tcpDiag],
    fix: 'load the module (`modprobe tcp_diag`); until then frames and summaries carry no TCP segment counts (null)',
  },
  {
    id: 'tcpDestroyEvents', label: 'Closed connections\' last segments', since: 'Linux 4.6', tried: 'joining sock_diag\'s SKNLGRP_INET_TCP_DESTROY',
    results: (c) => [c.tcpDiag, c.tcpDestroyEvents],
    fix: 'sock_diag lets any user join it, so something in the way here (a seccomp or LSM policy on netlink) refuses it; without it a connection that ends between two reads of the counts (once a second) loses what it sent since the last one: segments per request read low',
  },
];

/** One verdict per capability: the probe's results where the kernel decides, /proc/meminfo for huge pages. */
export function capabilitiesFrom(caps: CapabilityProbe | null, probeError: string | null, hugepages: Hugepages | null, numa: DoctorNuma = readNuma(), noRing = noRingOf(caps)): DoctorCapability[] {
  const out: DoctorCapability[] = [];
  // No ring at all (noRing): every probe below needed one, so none of them says anything about
  // the kernel (they read "refused with EPERM … needs Linux 6.0" on a 6.18 kernel with the switch off).
  for (const def of CAPABILITIES) {
    if (noRing) {
      out.push({ id: def.id, label: def.label, available: null, reason: `${noRing.reason}, so whether this kernel offers it is unknown`, fix: noRing.fix });
      continue;
    }
    if (!caps) {
      // Not known, rather than missing: a probe that failed says nothing about the kernel.
      out.push({ id: def.id, label: def.label, available: null, reason: probeError ? `the io_uring probe failed: ${probeError}` : 'io_uring was not probed', fix: 'build the native addon (npm run build:native) and run `uring-lab doctor` again' });
      continue;
    }
    const results = def.results(caps);
    const bad = results.findIndex((r) => !r || !(r.available ?? r.errno === 0));
    const missing = bad < 0 ? undefined : results[bad];
    if (bad < 0) {
      // A feature bit or an opcode is stated by the kernel (its own words), the rest were tried.
      const stated = results.every((r) => r!.reason.startsWith('the kernel reports'));
      const reason = stated ? results.map((r) => r!.reason).join('; ') : `the kernel took ${def.tried}`;
      out.push({ id: def.id, label: def.label, available: true, reason, ...(def.note ? { note: def.note } : {}) });
      continue;
    }
    // A result the engine did not report at all is an engine older than this host.
    const why = !missing ? `${def.tried}: not reported by this engine (rebuild the native addon)`
      : missing.code === 'ABSENT' || missing.code === 'IGNORED' ? missing.reason
      : `${def.tried}: refused with ${missing.code} (${missing.reason})`;
    // EINVAL/ABSENT: the kernel does not know it; another errno (ENOMEM, EPERM) has its own fix.
    // IGNORED (taken, without effect): the kernel does not know it either; a fix that names the
    // kernel says what that costs.
    const unknownToKernel = !missing || missing.code === 'ABSENT' || missing.code === 'EINVAL' || missing.code === 'EOPNOTSUPP';
    out.push({ id: def.id, label: def.label, available: false, reason: `${why}; needs ${def.since}`, fix: def.fix && !unknownToKernel ? def.fix : `a kernel of ${def.since} or newer` });
  }
  out.push(iopollSocketsCapability(caps, probeError, noRing));
  // Always there (a machine has at least one node and one CPU): what matters is which, so the
  // knob shows the values it may take; a node or CPU outside these is refused when a run starts.
  const nodes = numa.nodes.map((n) => `node ${n.id} (CPUs ${formatCpuList(n.cpus) || 'none'})`).join(', ');
  out.push({ id: 'numaNodes', label: 'NUMA nodes', available: true, reason: `${numa.nodes.length} node${numa.nodes.length === 1 ? '' : 's'}${numa.source === 'assumed' ? ' (assumed: no node directory in sysfs)' : ''}`, note: `nodes here: ${nodes}` });
  out.push({ id: 'cpus', label: 'CPUs this process may use', available: true, reason: `${numa.allowedCpus.length} of ${numa.onlineCpus.length} online CPUs`, note: `this process may run on CPUs ${formatCpuList(numa.allowedCpus)}` });
  // Available only with room for the default pool: with 1 free page of the 2 it takes, the
  // doctor said available and the run refused hugepages with ENOMEM.
  out.push(hugepages && hugepages.free >= defaultPoolPages(hugepages)
    ? { id: 'hugepages', label: 'Huge pages', available: true, reason: `${hugepages.free} free huge pages of ${hugepages.sizeBytes / (1024 * 1024)} MiB (vm.nr_hugepages=${hugepages.total})` }
    : { id: 'hugepages', label: 'Huge pages', available: false, reason: hugepages ? hugepagesShort(hugepages, defaultPoolPages(hugepages), 'none reserved (vm.nr_hugepages=0): MAP_HUGETLB would fail with ENOMEM') : '/proc/meminfo says nothing about huge pages', fix: hugepagesFix(hugepages) });
  return out;
}

/** IOPOLL on sockets: the kernel refuses socket ops on IOPOLL rings; storage (where it belongs) arrives later. */
function iopollSocketsCapability(caps: CapabilityProbe | null, probeError: string | null, noRing: { reason: string; fix: string } | null): DoctorCapability {
  const row = knobAt('server.iopoll');
  const label = 'IOPOLL on sockets';
  if (!caps) return { id: 'iopollSockets', label, available: null, reason: probeError ? `the io_uring probe failed: ${probeError}` : 'io_uring was not probed', fix: 'build the native addon (npm run build:native)' };
  if (noRing) return { id: 'iopollSockets', label, available: null, reason: `${noRing.reason}, so whether this kernel offers it is unknown`, fix: noRing.fix };
  const r = caps.iopollSocket;
  if (r.errno === 0) return { id: 'iopollSockets', label, available: true, reason: 'the kernel completed a socket recv on an IOPOLL ring, which kernels normally refuse' };
  return {
    id: 'iopollSockets', label, available: false,
    reason: `an IOPOLL ring refuses socket ops (${r.code}): IOPOLL polls O_DIRECT storage on devices with poll queues, and the echo workload has only sockets; with workload "storage" it polls the disk where the device has poll queues`,
    fix: row?.refusal?.refused?.fix ?? 'leave server.iopoll off; for networks busy-poll with NAPI',
  };
}

/** Why no ring could be made, in the doctor's words (the ring probe's errno and its cause), or
 *  null where a ring was made or the probe did not run. */
function noRingOf(caps: CapabilityProbe | null): { reason: string; fix: string } | null {
  if (!caps || caps.ring.errno === 0) return null;
  const perm = caps.ring.code === 'EPERM' || caps.ring.code === 'EACCES';
  const cause = perm ? ringRefusalCause() : { reason: caps.ring.reason, fix: 'use a kernel with CONFIG_IO_URING=y' };
  return { reason: `no io_uring ring could be made here (${caps.ring.code}: ${cause.reason})`, fix: cause.fix };
}

/** Every catalogue knob with the verdict of the capability its row needs (none: available;
 *  null: the doctor could not tell, e.g. the probe failed). With `noRing` (no io_uring ring can
 *  be made here) every knob the engine takes is unknown for that reason: every engine of the lab
 *  needs rings, the epoll server's load too, so none of them can be tried. */
export function knobAvailability(capabilities: readonly DoctorCapability[], entries: readonly KnobEntry[] = knobEntries(), noRing: { reason: string; fix: string } | null = null): DoctorKnob[] {
  const byId = new Map(capabilities.map((c) => [c.id, c]));
  return entries.map((entry): DoctorKnob => {
    if (noRing && entry.engine) return { path: entry.path, ...(entry.needs ? { needs: entry.needs } : {}), available: null, reason: noRing.reason, fix: noRing.fix };
    if (!entry.needs) return { path: entry.path, available: true };
    const cap = byId.get(entry.needs);
    if (!cap) return { path: entry.path, needs: entry.needs, available: null, reason: `the doctor has no probe for "${entry.needs}", so it cannot say whether this machine offers it` };
    return {
      path: entry.path, needs: entry.needs, available: cap.available,
      ...(cap.available === true ? {} : { reason: cap.reason }),
      ...(cap.fix && cap.available !== true ? { fix: cap.fix } : {}),
      ...(cap.note ? { note: cap.note } : {}),
    };
  });
}

/** Capabilities as doctor lines, for those the io_uring checks above do not already show. */
function capabilityChecks(capabilities: readonly DoctorCapability[]): DoctorCheck[] {
  const shown = new Set(['sqpoll', 'iopollSockets', 'hugepages', 'numaNodes', 'cpus']);
  return capabilities
    .filter((c) => !shown.has(c.id))
    .map((c) => ({
      id: c.id, label: c.label, ok: c.available, value: c.available === true ? 'available' : c.available === false ? 'missing' : 'unknown',
      reason: c.note ? `${c.reason}; ${c.note}` : c.reason,
      ...(c.fix && c.available !== true ? { fix: c.fix } : {}),
    }));
}

// ---- polled storage, namespaces, fio ------------------------------------------------

/** A block device and whether its queue can poll (queue/io_poll is 1 where it has poll queues). */
export interface BlockPollDevice {
  name: string;
  ioPoll: boolean;
}

/** Block devices from sysfs (`sysBlock` = /sys/block), skipping ram disks, which never poll. */
export function readBlockPoll(sysBlock = '/sys/block'): BlockPollDevice[] {
  let names: string[] = [];
  try { names = readdirSync(sysBlock).sort(); } catch { /* no sysfs */ }
  return names
    .filter((n) => !/^(ram|zram)\d+$/.test(n))
    .map((name) => ({ name, ioPoll: readText(`${sysBlock}/${name}/queue/io_poll`) === '1' }));
}

/** A near destination costing this much more than a far one is a penalty, not noise (the
 *  rounds are best-of-5: the noise left is a few %; the Zen 3 penalty is 2–3× on this round). */
const COPY_DISTANCE_PENALTY_RATIO = 1.5;

/**
 * The kernel's copy into user memory by where the destination starts (the native
 * copyDistance measurement: a pipe's page-aligned data read() 16 B and 64 B into a page). On
 * CPUs whose `rep movsb` slows down for short distances (AMD Zen 3: destination 1–31 B past
 * the source, mod 4 KiB) a recv into a buffer just past a page boundary runs every copy at
 * ~0.5 ns/byte. The lab's buffers are page-aligned; this says whether the user's must be.
 */
export function copyDistanceCheck(m: CapabilityProbe['copyDistance'] | null): DoctorCheck {
  const base = { id: 'copy_distance', label: 'Copy speed at any buffer offset' };
  if (!m || m.code !== 'OK' || m.nearNs === null || m.farNs === null || m.farNs <= 0) {
    return { ...base, ok: null, value: 'unknown', reason: m ? `the measurement failed: ${m.code} (${m.reason})` : 'not measured (the native probe did not run)' };
  }
  const kib = m.blockBytes / 1024;
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const ratio = m.nearNs / m.farNs;
  const measured = `a ${kib} KiB write + read() through a pipe took ${us(m.nearNs)} µs with the read buffer ${m.nearOffset} B into its page and ${us(m.farNs)} µs at ${m.farOffset} B`;
  if (ratio < COPY_DISTANCE_PENALTY_RATIO) {
    return { ...base, ok: true, value: `same at any offset (${ratio.toFixed(2)}×)`, reason: `${measured}: the kernel's copy does not care where a buffer starts here` };
  }
  const perByte = (m.nearNs - m.farNs) / m.blockBytes;
  return {
    ...base, ok: false, value: `${ratio.toFixed(1)}× slower ${m.nearOffset} B into a page`,
    reason: `${measured} (+${perByte.toFixed(2)} ns per byte copied). This CPU's rep movsb (the kernel's copy_to_user and copy_from_user) slows down when the destination lies a few bytes past the source modulo 4 KiB (AMD Zen 3: 1–31 B); TCP data usually sits page-aligned, so a receive buffer from malloc (16 B into its page) takes every copy on the slow path. The lab's server and bench buffers start on a page boundary`,
    fix: 'in your own servers and clients, page-align socket buffers (aligned_alloc(4096, …) or mmap), or keep them a multiple of 64 B past a page',
  };
}

/** Above this a system call costs several times what it does on bare metal or under hardware
 *  virtualization (71 ns on the Intel Xeon KVM guest this was written on; tens to a couple of
 *  hundred ns is usual with today's mitigations). */
export const SYSCALL_COSTLY_NS = 500;
/** System calls per request an epoll echo server makes beyond the lab's io_uring server at its
 *  most (recv + send + ~0.5 epoll_wait, against up to 0.4 io_uring_enter: measured at 8 × 64 KiB). */
const CALLS_SAVED_PER_REQUEST = 2.1;

/**
 * What a system call costs here (the native syscallCost measurement; why it decides between the
 * engines, with what was measured: native/src/core/syscall_cost.h). io_uring's gain over an
 * epoll server is mostly the calls it does not make, so this says how much it can gain here.
 */
export function syscallCostCheck(m: CapabilityProbe['syscallCost'] | null): DoctorCheck {
  const base = { id: 'syscall_cost', label: 'Cost of a system call' };
  if (!m || !(m.getppidNs > 0)) return { ...base, ok: null, value: 'unknown', reason: 'not measured (the native probe did not run)' };
  const ns = (v: number) => `${Math.round(v)} ns`;
  const enter = m.enterNs !== null ? `, an io_uring_enter with nothing to do ${ns(m.enterNs)}` : ` (io_uring_enter not measured: ${m.enterCode})`;
  const measured = `a system call that does nothing (getppid) took ${ns(m.getppidNs)}${enter} (best of 5 rounds of ${m.calls.toLocaleString('en-US')})`;
  const saved = ns(CALLS_SAVED_PER_REQUEST * m.getppidNs);
  const arithmetic = `An epoll echo server makes about 2.5 calls per request (recv, send, epoll_wait for about every second one), the lab's io_uring server 0.04–0.4 io_uring_enter calls: about ${saved} per request that io_uring can save here`;
  if (m.getppidNs <= SYSCALL_COSTLY_NS) {
    return {
      ...base, ok: true, value: ns(m.getppidNs),
      reason: `${measured}. ${arithmetic}, little next to the kernel's TCP work per echo, so the two engines can cost about the same per request on this machine (compare them here: server.engine)`,
    };
  }
  return {
    ...base, ok: null, value: `${ns(m.getppidNs)} (costly)`,
    reason: `${measured}: above ${SYSCALL_COSTLY_NS} ns, several times what a call costs on bare metal or under hardware virtualization (a hypervisor that handles system calls itself, or page-table isolation without PCID, costs this). ${arithmetic}, so io_uring's batching weighs more here than on most machines`,
    fix: 'compare engines on this machine, not with numbers from another (server.engine epoll against io_uring, e.g. in an A/B experiment); the lab\'s enters per request times this cost is what its calls cost a request',
  };
}

/**
 * IOPOLL for the storage workload: the kernel polls completions only on devices with poll
 * queues (NVMe with nvme.poll_queues=N); elsewhere the first I/O fails with EOPNOTSUPP and the
 * run lists server.iopoll in rejected (EOPNOTSUPP: no poll queues).
 */
export function blockPollCheck(devices: readonly BlockPollDevice[], nvmePollQueues = readText('/sys/module/nvme/parameters/poll_queues')): DoctorCheck {
  const id = 'iopoll_storage';
  const label = 'IOPOLL on block devices';
  const polling = devices.filter((d) => d.ioPoll).map((d) => d.name);
  const nvmeQueues = nvmePollQueues === null ? '' : `; nvme.poll_queues=${nvmePollQueues}`;
  if (polling.length) {
    return { id, label, ok: true, value: polling.join(', '), reason: `these devices have poll queues (queue/io_poll=1): server.iopoll with workload "storage" polls a test file on them${nvmeQueues}` };
  }
  const real = devices.filter((d) => !d.name.startsWith('loop')).map((d) => d.name);
  const shown = real.length ? real.join(', ') : devices.length ? 'loop devices only' : 'no block devices';
  return {
    id, label, ok: false, value: 'no poll queues',
    reason: `no block device here has poll queues (queue/io_poll=0 on ${shown}${nvmeQueues}): a storage run lists server.iopoll in rejected (EOPNOTSUPP: no poll queues) and runs interrupt-driven`,
    fix: real.some((n) => n.startsWith('nvme'))
      ? 'boot with nvme.poll_queues=N (N > 0) on the kernel command line, or reload the nvme module with poll_queues=N'
      : 'virtio-blk, loop and most drivers have no poll queues; on an NVMe disk boot with nvme.poll_queues=N — otherwise leave server.iopoll off',
  };
}

/** Topology "veth": a network namespace and a veth pair need CAP_NET_ADMIN and iproute2's ip. */
export function netnsCheck(veth?: VethRefusal): DoctorCheck {
  const id = 'netns';
  const label = 'Namespaces and veth';
  if (!veth) return { id, label, ok: null, value: 'not checked', reason: 'the doctor ran without the topology check' };
  const refusal = veth();
  if (!refusal) return { id, label, ok: true, value: 'CAP_NET_ADMIN, ip', reason: 'this process may create a network namespace and a veth pair: topology "veth" can run (a NAPI path that lo lacks)' };
  return { id, label, ok: false, value: refusal.code === 'TOPOLOGY_NEEDS_IPROUTE2' ? 'no ip command' : 'no CAP_NET_ADMIN', reason: refusal.message, ...(refusal.fix ? { fix: refusal.fix } : {}) };
}

/** fio on PATH, with its version: exports to fio are checked with `fio --parse-only`. */
/** Async: `fio --version` may take a while on a busy machine, and the doctor shares the host's event loop with a run's engine watchdog. */
export async function fioCheck(pathVar = process.env.PATH ?? ''): Promise<DoctorCheck> {
  const id = 'fio';
  const label = 'fio';
  const found = pathVar.split(':').filter(Boolean).map((dir) => `${dir}/fio`).find((p) => existsSync(p));
  if (!found) {
    return { id, label, ok: false, value: 'absent', reason: 'fio is not on PATH: a profile exported with --format fio cannot be run or checked (fio --parse-only) here', fix: 'install it: apt-get install fio (dnf install fio)' };
  }
  let version = 'unknown version';
  try {
    version = (await execFileAsync(found, ['--version'], { encoding: 'utf8', timeout: 5000 })).stdout.trim();
  } catch { /* present but would not say its version: still present */ }
  return { id, label, ok: true, value: version, reason: `${found}: runs the fio export of a profile (the storage analogue)` };
}
