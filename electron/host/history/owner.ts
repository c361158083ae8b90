/**
 * Who writes a saved run, and whether that process is still there. A pid alone is not enough:
 * after a crash the pid may be reused (or the machine rebooted), and a live stranger would keep
 * a dead run `running` forever. So the owner is the pid with its start time (field 22 of
 * /proc/PID/stat) on this boot (/proc/sys/kernel/random/boot_id).
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import type { RunOwnerSchema } from '../../contract/history';

export type RunOwner = z.infer<typeof RunOwnerSchema>;

function bootId(): string {
  try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { return 'unknown'; }
}

/** Start time in clock ticks since boot of `pid`, or null when no such process exists. */
function startTicks(pid: number | 'self'): number | null {
  let stat: string;
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[22 - 3]);
  return Number.isFinite(ticks) ? ticks : null;
}

let self: RunOwner | null = null;

/** This process as a run's owner. */
export function currentOwner(): RunOwner {
  self ??= { pid: process.pid, startTicks: startTicks('self') ?? 0, bootId: bootId() };
  return self;
}

/** Whether the process that wrote a run is still running (then the run may really be going). */
export function ownerAlive(owner: RunOwner): boolean {
  if (owner.bootId !== currentOwner().bootId) return false;
  return startTicks(owner.pid) === owner.startTicks;
}
