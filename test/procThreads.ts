/** Reading a process's threads from /proc, for tests that check which threads ran and how much. */
import { readdirSync, readFileSync } from 'node:fs';

/** The threads of a process: tid, name (comm) and CPU time in ns (schedstat: ns resolution). */
export function threadsOf(pid: number | 'self'): Array<{ tid: number; comm: string; cpuNs: number }> {
  const threads = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const cpuNs = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      threads.push({ tid: Number(tid), comm, cpuNs });
    } catch { /* the thread exited meanwhile */ }
  }
  return threads;
}
