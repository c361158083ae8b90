/**
 * server.numa: each worker thread's memory bound to a node (set_mempolicy, checked with
 * get_mempolicy) and its CPU pinned, before its ring exists, seen from outside in
 * /proc/self/task/TID/status; an SQPOLL thread copies its creator's pinning. A node or CPU
 * the kernel refuses (the host refuses them up front; here the engine is asked directly) is
 * reported refused with its errno, never applied.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCpuList } from '../../electron/contract';
import { config, native, sleep, stopQuietly } from './engineHarness';

afterEach(stopQuietly);

/** Cpus_allowed_list of thread `tid` of this process. */
function allowedCpus(tid: number): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'));
  return parseCpuList(m![1]);
}

const node0Cpus = parseCpuList(readFileSync('/sys/devices/system/node/node0/cpulist', 'utf8'));
const myCpus = allowedCpus(process.pid);

describe('NUMA placement of the server workers', () => {
  it('node 0: memory policy bound on every worker, workers pinned to the node\'s CPUs, echo intact', async () => {
    const r = native.start(config({ rings: 2, numa: { node: 0, cpus: null }, load: { connections: 16 } }));
    expect(r.refused).toEqual([]);
    expect(r.applied.server.numa).toEqual({ node: 0, cpus: null });
    for (const w of r.serverWorkers) {
      expect(w.numaNode).toBe(0);
      expect(allowedCpus(w.tid)).toEqual(node0Cpus.filter((c) => myCpus.includes(c)));
    }
    await sleep(200);
    const fin = native.stop()!;
    expect(fin.errors).toBe(0);
    expect(fin.requests).toBeGreaterThan(0);
  });

  it('cpus: worker i pinned to cpus[i % n], and its SQPOLL thread with it', async () => {
    if (myCpus.length < 2) return; // needs two CPUs to tell the pins apart
    const cpus = [myCpus[1], myCpus[0]];
    const r = native.start(config({ rings: 3, numa: { node: null, cpus }, sqpoll: { enabled: true, idleMs: 50 }, taskrun: 'default', quietSends: false, recvOnReady: false, load: { connections: 16 } }));
    expect(r.refused).toEqual([]);
    expect(r.applied.server.numa.cpus).toEqual(cpus);
    expect(r.serverWorkers.map((w) => w.cpu)).toEqual([cpus[0], cpus[1], cpus[0]]);
    r.serverWorkers.forEach((w, i) => {
      expect(allowedCpus(w.tid)).toEqual([cpus[i % 2]]);
      // The kernel thread copied its creator's affinity at ring creation.
      const sqp = findThread(`iou-sqp-${w.tid}`);
      expect(sqp).not.toBeNull();
      expect(allowedCpus(sqp!)).toEqual([cpus[i % 2]]);
    });
    await sleep(200);
    expect(native.stop()!.errors).toBe(0);
  });

  it('a CPU the kernel will not pin to is refused with EINVAL and the run goes on unpinned', async () => {
    const r = native.start(config({ numa: { node: null, cpus: [4000] }, load: { connections: 4 } }));
    expect(r.applied.server.numa.cpus).toBeNull();
    expect(r.serverWorkers[0].cpu).toBeNull();
    expect(r.refused).toEqual([expect.objectContaining({ setting: 'NUMA_CPUS', errno: 22, code: 'EINVAL', requested: [4000] })]);
    expect(allowedCpus(r.serverWorkers[0].tid)).toEqual(myCpus);
    await sleep(100);
    expect(native.stop()!.errors).toBe(0);
  });

  it('a node that does not exist is refused by the kernel (no memory policy, not pinned), never shown applied', async () => {
    const r = native.start(config({ engine: 'epoll', rings: 2, numa: { node: 7, cpus: null }, load: { connections: 4 } }));
    expect(r.applied.server.numa.node).toBeNull();
    expect(r.serverWorkers.map((w) => w.numaNode)).toEqual([null, null]);
    const refusal = r.refused.find((x) => x.setting === 'NUMA_NODE');
    expect(refusal?.errno).toBeGreaterThan(0);
    await sleep(100);
    expect(native.stop()!.errors).toBe(0);
  });
});

/** The tid of this process's thread named `name`, or null. */
function findThread(name: string): number | null {
  for (const t of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === name) return Number(t);
    } catch { /* gone */ }
  }
  return null;
}
