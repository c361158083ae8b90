/**
 * The system doctor: what this machine offers the lab, each item with the reason behind it
 * and a fix where something is missing. io_uring capabilities are probed by creating real
 * rings in the engine process, because only the kernel knows what it will accept. A ring flag
 * a knob needs is explained in that knob's catalogue words (its kernel need, its fix), so the
 * doctor and a refused run say the same thing.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { knobAt, type DoctorCheck, type DoctorReport } from '../contract';
import type { CapabilityProbe } from '../engine/protocol';

export type CapabilityProber = () => Promise<CapabilityProbe>;

export async function runDoctor(probe?: CapabilityProber): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const release = os.release();
  checks.push({ id: 'kernel', label: 'Kernel', ok: true, value: release, reason: `Linux ${release} on ${os.arch()}` });
  checks.push(ioUringDisabledCheck());

  let caps: CapabilityProbe | null = null;
  let probeError: string | null = null;
  if (probe) {
    try { caps = await probe(); } catch (err) { probeError = (err as Error).message; }
  }
  checks.push(...ioUringChecks(caps, probeError));
  checks.push(memlockCheck());
  checks.push(btfCheck());
  checks.push(tracefsCheck());
  checks.push(numaCheck());
  return { kernel: { release }, checks };
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
    : { id: 'io_uring', label: 'io_uring ring', ok: false, value: ring.code, reason: `io_uring_setup failed with ${ring.code}: ${ring.reason}`, fix: ring.code === 'EPERM' ? 'io_uring is blocked by sysctl or seccomp: check kernel.io_uring_disabled, or run outside the container\'s default seccomp profile' : 'use a kernel with CONFIG_IO_URING=y' });
  if (ring.errno !== 0) return checks;

  const needed = ['ACCEPT', 'RECV', 'SEND', 'READ', 'PROVIDE_BUFFERS', 'SEND_ZC'];
  const missing = needed.filter((op) => !caps.ops.includes(op));
  checks.push({ id: 'io_uring_ops', label: 'io_uring ops', ok: missing.length === 0, value: `${caps.ops.length} supported`, reason: missing.length ? `missing: ${missing.join(', ')}` : `includes ${needed.join(', ')}`, fix: missing.length ? 'a newer kernel (6.0+) supports every op the lab uses' : undefined });

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

function memlockCheck(): DoctorCheck {
  const limits = readText('/proc/self/limits') ?? '';
  const line = limits.split('\n').find((l) => l.startsWith('Max locked memory'));
  const soft = line?.split(/\s{2,}/)[1]?.trim() ?? 'unknown';
  const unlimited = soft === 'unlimited';
  const bytes = unlimited ? Infinity : Number(soft);
  const isRoot = process.getuid?.() === 0;
  const ok = unlimited || isRoot || bytes >= 64 * 1024 * 1024;
  return {
    id: 'memlock', label: 'Locked memory (RLIMIT_MEMLOCK)', ok,
    value: unlimited ? 'unlimited' : Number.isFinite(bytes) ? `${Math.round(bytes / 1024)} KiB` : soft,
    reason: ok
      ? (isRoot && !unlimited ? 'running as root (CAP_IPC_LOCK): registered buffers are not charged against the limit' : 'enough for registered buffers and rings')
      : 'registered buffers are charged against this limit; small limits give ENOMEM',
    fix: ok ? undefined : 'raise it: `ulimit -l unlimited` or LimitMEMLOCK= in the systemd unit / memlock in /etc/security/limits.conf',
  };
}

function btfCheck(): DoctorCheck {
  return existsSync('/sys/kernel/btf/vmlinux')
    ? { id: 'btf', label: 'Kernel BTF', ok: true, value: '/sys/kernel/btf/vmlinux', reason: 'CO-RE eBPF probes can be relocated against this kernel' }
    : { id: 'btf', label: 'Kernel BTF', ok: false, value: 'absent', reason: 'no /sys/kernel/btf/vmlinux: CO-RE probes cannot be loaded', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' };
}

function tracefsCheck(): DoctorCheck {
  if (existsSync('/sys/kernel/tracing/events')) {
    return { id: 'tracefs', label: 'tracefs', ok: true, value: '/sys/kernel/tracing', reason: 'tracepoint formats are readable' };
  }
  if (existsSync('/sys/kernel/debug/tracing/events')) {
    return { id: 'tracefs', label: 'tracefs', ok: true, value: '/sys/kernel/debug/tracing', reason: 'tracepoint formats are readable through debugfs' };
  }
  return { id: 'tracefs', label: 'tracefs', ok: false, value: 'not mounted', reason: 'tracefs is not mounted: classic tracepoint probes cannot find their events (tp_btf probes still work)', fix: 'mount -t tracefs tracefs /sys/kernel/tracing' };
}

function numaCheck(): DoctorCheck {
  let nodes: string[] = [];
  try { nodes = readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)); } catch { /* no sysfs node dir */ }
  const detail = nodes.map((n) => `${n}: cpus ${readText(`/sys/devices/system/node/${n}/cpulist`) ?? '?'}`).join('; ');
  return {
    id: 'numa', label: 'NUMA nodes', ok: nodes.length > 0 ? true : null,
    value: String(nodes.length || 'unknown'),
    reason: nodes.length ? `${detail}; ${os.cpus().length} CPUs online` : 'no NUMA information in sysfs',
  };
}
