/**
 * Whether this process may make io_uring rings at all, from the kernel's own switch
 * (kernel.io_uring_disabled, Linux 6.6): 0 every process; 1 only with CAP_SYS_ADMIN or in
 * kernel.io_uring_group; 2 none. Every engine of the lab needs rings (the epoll server's load
 * too), so a refusal here is the cause of an EPERM from any ring setup, and its fix is the
 * sysctl, not a knob. Read by the doctor and by a start that failed with EPERM.
 */
import { readFileSync } from 'node:fs';

function readLine(path: string): string | null {
  try { return readFileSync(path, 'utf8').trim(); } catch { return null; }
}

/** CAP_SYS_ADMIN (bit 21) in this process's effective set. */
function hasSysAdmin(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readLine('/proc/self/status') ?? '')?.[1];
  return !!eff && (BigInt(`0x${eff}`) & (1n << 21n)) !== 0n;
}

/** Why io_uring_setup refuses this process, with the fix; null when the switch lets it through
 *  (or the kernel has no switch: then only seccomp or the kernel config can refuse it). */
function ioUringBlocked(): { reason: string; fix: string } | null {
  const value = readLine('/proc/sys/kernel/io_uring_disabled');
  if (value === null || value === '0') return null;
  if (value === '1') {
    if (hasSysAdmin()) return null;
    const group = Number(readLine('/proc/sys/kernel/io_uring_group') ?? '-1');
    if (group >= 0 && (process.getgroups?.() ?? []).concat(process.getgid?.() ?? -1).includes(group)) return null;
    return {
      reason: `io_uring is limited to privileged processes${group >= 0 ? ` and members of group ${group} (kernel.io_uring_group)` : ''} on this machine (kernel.io_uring_disabled = 1), and this one is neither`,
      fix: group >= 0 ? `add this user to group ${group}, run as root, or \`sysctl -w kernel.io_uring_disabled=0\`` : 'run as root, set kernel.io_uring_group to a group of this user, or `sysctl -w kernel.io_uring_disabled=0`',
    };
  }
  return { reason: `io_uring is disabled for every process on this machine (kernel.io_uring_disabled = ${value})`, fix: '`sysctl -w kernel.io_uring_disabled=0` as root (and persist it in /etc/sysctl.d/)' };
}

/** An EPERM from io_uring_setup, explained: the switch above, or (switch open) a seccomp filter
 *  or container policy, which refuses the call before the kernel's own rules. */
export function ringRefusalCause(): { reason: string; fix: string } {
  const blocked = ioUringBlocked();
  if (blocked) return blocked;
  return {
    reason: 'io_uring_setup is refused though kernel.io_uring_disabled lets this process through: a seccomp filter or container policy blocks it (Docker\'s default profile does)',
    fix: 'run where io_uring_setup is allowed (on the host, or a container with a seccomp profile that allows io_uring_setup, io_uring_enter and io_uring_register)',
  };
}
