/**
 * The machine's CPU and NUMA topology, checked before a run starts: a node or CPU that does
 * not exist here (server.numa.node, server.numa.cpus, server.sqpoll.cpu) is bad input, refused
 * up front with one line naming the field and listing what exists, instead of being tried by
 * the kernel halfway through a start. Nodes and their CPUs come from sysfs; the CPUs this
 * process may run on from its scheduler affinity (Cpus_allowed_list, what sched_getaffinity
 * returns), since pinning to any other CPU fails with EINVAL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { LabError, Profile, allowedCpuListIn, formatCpuList, parseCpuList } from '../../contract';

export interface Topology {
  /** NUMA nodes with their CPUs; a kernel without NUMA is one node 0 with every allowed CPU. */
  nodes: Array<{ id: number; cpus: number[] }>;
  /** CPUs this process may be pinned to. */
  allowedCpus: number[];
}

/** This machine's topology, read now. */
export function readTopology(): Topology {
  let allowedCpus: number[] = [];
  try {
    allowedCpus = parseCpuList(allowedCpuListIn(readFileSync('/proc/self/status', 'utf8')) ?? '');
  } catch { /* below: the online CPUs */ }
  if (allowedCpus.length === 0) {
    try { allowedCpus = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')); } catch { /* none known */ }
  }
  const nodes: Topology['nodes'] = [];
  try {
    for (const name of readdirSync('/sys/devices/system/node')) {
      const m = /^node(\d+)$/.exec(name);
      if (!m) continue;
      const cpus = parseCpuList(readFileSync(`/sys/devices/system/node/${name}/cpulist`, 'utf8'));
      nodes.push({ id: Number(m[1]), cpus });
    }
  } catch { /* a kernel without NUMA */ }
  if (nodes.length === 0) nodes.push({ id: 0, cpus: allowedCpus });
  nodes.sort((a, b) => a.id - b.id);
  return { nodes, allowedCpus };
}

function nodeWords(t: Topology): string {
  const list = t.nodes.map((n) => `node ${n.id} (CPUs ${formatCpuList(n.cpus) || 'none'})`);
  return `this machine has ${list.join(', ')}`;
}

function cpuWords(t: Topology): string {
  return `this process may run on CPUs ${formatCpuList(t.allowedCpus) || 'none'}`;
}

/** Refuses a profile naming a node or CPU this machine does not have; null when it fits. */
export function checkTopology(profile: Profile, topology: Topology = readTopology()): LabError | null {
  const { numa, sqpoll } = profile.server;
  const allowed = new Set(topology.allowedCpus);
  if (numa.node !== null && !topology.nodes.some((n) => n.id === numa.node)) {
    return new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: 'server.numa.node',
      message: `server.numa.node: node ${numa.node} does not exist; ${nodeWords(topology)}`,
      fix: 'pick one of those nodes, or leave server.numa.node empty',
    });
  }
  if (numa.node !== null && numa.cpus === null) {
    const node = topology.nodes.find((n) => n.id === numa.node);
    if (node && !node.cpus.some((c) => allowed.has(c))) {
      return new LabError({
        code: 'INVALID_VALUE', kind: 'input', field: 'server.numa.node',
        message: `server.numa.node: node ${numa.node} has no CPU this process may run on (its CPUs ${formatCpuList(node.cpus) || 'none'}; ${cpuWords(topology)})`,
        fix: 'pick another node, or list CPUs in server.numa.cpus',
      });
    }
  }
  const badCpu = numa.cpus?.find((c) => !allowed.has(c));
  if (badCpu !== undefined) {
    return new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: 'server.numa.cpus',
      message: `server.numa.cpus: CPU ${badCpu} does not exist or is not one this process may run on; ${cpuWords(topology)} (${nodeWords(topology)})`,
      fix: 'list only those CPUs, or leave server.numa.cpus empty',
    });
  }
  // load.mode open needs its rate: refused here, before anything starts, in one line.
  if (profile.load.mode === 'open' && profile.load.rateRps === null) {
    return new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: 'load.rateRps',
      message: 'load.rateRps: an open loop (load.mode open) needs a rate in requests per second',
      fix: 'set load.rateRps (e.g. --set load.rateRps=20000), or use load.mode closed',
    });
  }
  const badLoadCpu = profile.load.cpus?.find((c) => !allowed.has(c));
  if (badLoadCpu !== undefined) {
    return new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: 'load.cpus',
      message: `load.cpus: CPU ${badLoadCpu} does not exist or is not one this process may run on; ${cpuWords(topology)}`,
      fix: 'list only those CPUs, or leave load.cpus empty',
    });
  }
  if (sqpoll.cpu !== null && !allowed.has(sqpoll.cpu)) {
    return new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: 'server.sqpoll.cpu',
      message: `server.sqpoll.cpu: CPU ${sqpoll.cpu} does not exist or is not one this process may run on; ${cpuWords(topology)}`,
      fix: 'pick one of those CPUs, or leave server.sqpoll.cpu empty',
    });
  }
  return null;
}
