/**
 * Spike evidence from /proc, read by the engine process next to each snapshot (issue 12's
 * RunFrame.system): no privilege and no eBPF, so every run of ours has it.
 *
 *   /proc/stat       per-CPU irq, softirq and busy time (USER_HZ ticks), procs_running
 *   /proc/softirqs   NET_RX / NET_TX entries per CPU
 *   /proc/self/stat  this process's minflt, majflt, utime + stime (the engine's own CPU)
 *   /proc/vmstat     allocstall_*, pgscan_direct, compact_stall (machine-wide direct reclaim)
 *   /proc/net/sockstat  TCP socket-buffer memory (a gauge), against net.ipv4.tcp_mem (read once)
 *
 * Counters are cumulative in the kernel; a frame carries the difference since the previous
 * read. Reading the five files and picking the numbers out costs 0.1–0.25 ms per frame (median,
 * on the lab's 2-vCPU VM under load; printed by test/unit/systemEvidence.test.ts), against a
 * 100 ms frame; about half of it is the kernel generating /proc/vmstat and /proc/softirqs.
 */
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import { parseCpuList } from '../contract/cpuList';
import type { SystemFrame } from '../contract/diagnose';

/** USER_HZ: the unit of /proc/stat's and /proc/PID/stat's CPU times. Linux fixes it at 100
 *  for user space on every architecture the lab builds for (getconf CLK_TCK). */
export const USER_HZ = 100;
const NS_PER_TICK = 1e9 / USER_HZ;

/** One read of the cumulative counters. */
export interface SystemCounters {
  irqTicks: number; softirqTicks: number; busyTicks: number;
  netRx: number; netTx: number;
  minflt: number; majflt: number; ownTicks: number;
  allocStalls: number; pgscanDirect: number; compactStalls: number;
  procsRunning: number;
  /** TCP socket-buffer memory at the read, pages (/proc/net/sockstat); -1 when unreadable. */
  tcpMemPages: number;
}

// One reusable buffer: /proc files are generated on read, so readFileSync's stat-then-read
// buys nothing; a single read of up to 64 KiB takes the whole file on this machine's sizes.
const buffer = Buffer.allocUnsafe(1 << 16);
/** The files stay open: each read is a pread from offset 0 (the kernel generates the text
 *  again), two syscalls a file instead of open, read, read and close, and no path walk
 *  (/proc/self resolves per open) — four files every 100 ms on the CPUs the run measures. */
const openProcFiles = new Map<string, number>();
function readProc(path: string): string {
  let fd = openProcFiles.get(path);
  if (fd === undefined) {
    fd = openSync(path, 'r');
    openProcFiles.set(path, fd);
  }
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, length);
      if (n <= 0) break;
      length += n;
      // Larger than the buffer (thousands of CPUs or IRQs): the whole file, read afresh.
      if (length === buffer.length) return readFileSync(path, 'latin1');
    }
    return buffer.toString('latin1', 0, length);
  } catch (err) {
    // Opened again at the next read.
    openProcFiles.delete(path);
    try { closeSync(fd); } catch { /* already unusable */ }
    throw err;
  }
}

/** The online CPUs (/sys/devices/system/cpu/online, e.g. "0-3,6"). */
export function onlineCpus(): number[] {
  try {
    return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'latin1'));
  } catch {
    return [0];
  }
}

/** The CPUs the engine's threads may run on: server.numa.cpus ∪ load.cpus when both are
 *  pinned; with either unpinned its threads may run anywhere, so every online CPU. */
export function engineCpus(serverCpus: readonly number[] | null | undefined, loadCpus: readonly number[] | null | undefined): number[] {
  if (!serverCpus?.length || !loadCpus?.length) return onlineCpus();
  return [...new Set([...serverCpus, ...loadCpus])].sort((a, b) => a - b);
}

/** Reads the cumulative counters for `cpus`. */
export function readSystemCounters(cpus: ReadonlySet<number>): SystemCounters {
  const c: SystemCounters = {
    irqTicks: 0, softirqTicks: 0, busyTicks: 0, netRx: 0, netTx: 0, minflt: 0, majflt: 0, ownTicks: 0,
    allocStalls: 0, pgscanDirect: 0, compactStalls: 0, procsRunning: 0, tcpMemPages: -1,
  };
  // /proc/stat: "cpuN user nice system idle iowait irq softirq steal guest guest_nice"; guest
  // time is already inside user/nice, so busy = user + nice + system + irq + softirq + steal.
  // Only the cpu lines are split: the "intr" line after them holds thousands of counts.
  const stat = readProc('/proc/stat');
  const intr = stat.indexOf('\nintr ');
  for (const line of stat.slice(0, intr < 0 ? stat.length : intr).split('\n')) {
    if (!line.startsWith('cpu') || line[3] === ' ') continue;
    const f = line.split(' ');
    if (!cpus.has(Number(f[0]!.slice(3)))) continue;
    const v = (i: number) => Number(f[i]) || 0;
    c.irqTicks += v(6);
    c.softirqTicks += v(7);
    c.busyTicks += v(1) + v(2) + v(3) + v(6) + v(7) + v(8);
  }
  c.procsRunning = counterAfter(stat, '\nprocs_running ');
  // /proc/softirqs: a header of CPUn names, then "NET_RX:  n0  n1 …" in the header's order.
  const softirqs = readProc('/proc/softirqs').split('\n');
  const columns = softirqs[0]!.trim().split(/\s+/).map((name) => Number(name.slice(3)));
  for (const line of softirqs) {
    const t = line.trim();
    const rx = t.startsWith('NET_RX:');
    if (!rx && !t.startsWith('NET_TX:')) continue;
    const values = t.slice(7).trim().split(/\s+/);
    let sum = 0;
    columns.forEach((cpu, i) => { if (cpus.has(cpu)) sum += Number(values[i]) || 0; });
    if (rx) c.netRx = sum; else c.netTx = sum;
  }
  // /proc/self/stat: after "(comm)" (which may hold spaces), field 3 is state; minflt is
  // field 10, majflt 12, utime 14, stime 15 (proc(5)).
  const self = readProc('/proc/self/stat');
  const f = self.slice(self.lastIndexOf(')') + 2).split(' ');
  c.minflt = Number(f[10 - 3]) || 0;
  c.majflt = Number(f[12 - 3]) || 0;
  c.ownTicks = (Number(f[14 - 3]) || 0) + (Number(f[15 - 3]) || 0);
  // /proc/vmstat has ~180 lines: looked up by name, not split.
  const vmstat = `\n${readProc('/proc/vmstat')}`;
  for (let at = vmstat.indexOf('\nallocstall_'); at >= 0; at = vmstat.indexOf('\nallocstall_', at + 1)) {
    c.allocStalls += counterAfter(vmstat, ' ', at);
  }
  c.pgscanDirect = counterAfter(vmstat, '\npgscan_direct ');
  c.compactStalls = counterAfter(vmstat, '\ncompact_stall ');
  // "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 236": the last field, in pages. Machine-wide (the
  // kernel counts TCP memory per protocol, not per network namespace).
  const tcpMem = /^TCP: .* mem (\d+)$/m.exec(readProc('/proc/net/sockstat'));
  if (tcpMem) c.tcpMemPages = Number(tcpMem[1]);
  return c;
}

/** net.ipv4.tcp_mem: "min pressure max" in pages; null when unreadable. */
export function readTcpMemLimits(): { pressurePages: number; limitPages: number } | null {
  try {
    const [, pressure, limit] = readFileSync('/proc/sys/net/ipv4/tcp_mem', 'latin1').trim().split(/\s+/).map(Number);
    return pressure! > 0 && limit! > 0 ? { pressurePages: pressure!, limitPages: limit! } : null;
  } catch {
    return null;
  }
}

/** The kernel's page size, the unit of sockstat and tcp_mem: the first mapping's
 *  KernelPageSize in /proc/self/smaps (Node has no sysconf); 4 KiB when unreadable. */
export function kernelPageBytes(): number {
  let fd: number | null = null;
  try {
    fd = openSync('/proc/self/smaps', 'r');
    const head = Buffer.allocUnsafe(4096);
    const text = head.toString('latin1', 0, readSync(fd, head, 0, head.length, 0));
    const kb = counterAfter(text.replace(/ kB/g, ''), 'KernelPageSize:');
    return kb > 0 ? kb * 1024 : 4096;
  } catch {
    return 4096;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** The number right after `key` (searched from `from`), 0 when absent. */
function counterAfter(text: string, key: string, from = 0): number {
  const at = text.indexOf(key, from);
  if (at < 0) return 0;
  const start = at + key.length;
  const end = text.indexOf('\n', start);
  return Number(text.slice(start, end < 0 ? text.length : end)) || 0;
}

/** The frames' system evidence: each next() is the interval since the previous one. */
export class SystemEvidence {
  private readonly cpuSet: Set<number>;
  private last: SystemCounters | null;
  private readonly tcpLimits = readTcpMemLimits();
  private readonly pageBytes = kernelPageBytes();

  constructor(readonly cpus: number[]) {
    this.cpuSet = new Set(cpus);
    this.last = this.read();
  }

  /** Starts a new interval now (the phase's counters were zeroed). */
  reset(): void {
    this.last = this.read();
  }

  /** The interval since the last call (or reset); null when /proc could not be read. */
  next(): SystemFrame | null {
    const now = this.read();
    const before = this.last;
    this.last = now;
    if (!now || !before) return null;
    const d = (k: keyof SystemCounters) => Math.max(0, now[k] - before[k]);
    return {
      cpus: this.cpus,
      irqNs: d('irqTicks') * NS_PER_TICK,
      softirqNs: d('softirqTicks') * NS_PER_TICK,
      netRxSoftirqs: d('netRx'),
      netTxSoftirqs: d('netTx'),
      minorFaults: d('minflt'),
      majorFaults: d('majflt'),
      allocStalls: d('allocStalls'),
      pgscanDirect: d('pgscanDirect'),
      compactStalls: d('compactStalls'),
      procsRunning: now.procsRunning,
      // Both sides tick-sampled in the same unit; the engine's threads may also have run on
      // other CPUs (when the set is a subset), so the difference is clamped at 0.
      othersCpuNs: Math.max(0, d('busyTicks') - d('ownTicks')) * NS_PER_TICK,
      tcpMem: now.tcpMemPages >= 0 && this.tcpLimits ? {
        bytes: now.tcpMemPages * this.pageBytes,
        pressureBytes: this.tcpLimits.pressurePages * this.pageBytes,
        limitBytes: this.tcpLimits.limitPages * this.pageBytes,
      } : null,
    };
  }

  private read(): SystemCounters | null {
    try {
      return readSystemCounters(this.cpuSet);
    } catch {
      // A /proc that cannot be read (a sandbox) loses this evidence, never the frame.
      return null;
    }
  }
}
