/** Reading a process's threads from /proc, for tests that check which threads ran and how much. */
import { readdirSync, readFileSync } from 'node:fs';

/** The threads of a process: tid, name (comm), CPU time in ns and the times it was switched in
 *  (schedstat: on-CPU ns, run-queue wait ns, timeslices run). */
export function threadsOf(pid: number | 'self'): Array<{ tid: number; comm: string; cpuNs: number; switchIns: number }> {
  const threads = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const [cpuNs, , switchIns] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      threads.push({ tid: Number(tid), comm, cpuNs: cpuNs!, switchIns: switchIns! });
    } catch { /* the thread exited meanwhile */ }
  }
  return threads;
}

/** Whether process `pid` has a thread whose name starts with `prefix` (false once it is gone). */
export function hasThread(pid: number, prefix: string): boolean {
  try {
    return threadsOf(pid).some((t) => t.comm.startsWith(prefix));
  } catch {
    return false;
  }
}
