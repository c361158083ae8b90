/**
 * A NUMA node or CPU this machine does not have is bad input: `uring-lab run` refuses it
 * before anything starts, exit code 2, one line naming the field and listing what exists.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatCpuList, parseCpuList } from '../../electron/contract';
import { checkTopology, readTopology } from '../../electron/host/run/topology';
import { defaultProfile } from '../../electron/host/profiles';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');
const topo = readTopology();
const nodes = topo.nodes.map((n) => `node ${n.id} \\(CPUs ${formatCpuList(n.cpus)}\\)`).join(', ');

function run(set: string, ...more: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'run', '--duration', more.length ? '0.3' : '1', '--set', set, ...more], { encoding: 'utf8', timeout: 30_000 });
  const lines = r.stderr.trimEnd().split('\n');
  return { code: r.status, lines, stdout: r.stdout };
}

describe('topology refusals up front', () => {
  it('server.numa.node=7: exit 2, one line listing the nodes', () => {
    const r = run('server.numa.node=7');
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^uring-lab: server\\.numa\\.node: node 7 does not exist; this machine has ${nodes}; `));
    expect(r.stdout).toBe('');
  });

  it('server.numa.cpus=[999]: exit 2, one line listing the CPUs', () => {
    const r = run('server.numa.cpus=[999]');
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(new RegExp(`^uring-lab: server\\.numa\\.cpus: CPU 999 does not exist .*may run on CPUs ${formatCpuList(topo.allowedCpus)}`));
  });

  it('server.sqpoll.cpu=999: exit 2, one line listing the CPUs', () => {
    const r = run('server.sqpoll.cpu=999');
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^uring-lab: server\.sqpoll\.cpu: CPU 999 does not exist/);
  });

  it('reads the same topology the kernel shows, and accepts what exists', () => {
    expect(topo.nodes.map((n) => n.id)).toContain(0);
    expect(topo.nodes[0].cpus).toEqual(parseCpuList(readFileSync('/sys/devices/system/node/node0/cpulist', 'utf8')));
    const p = defaultProfile();
    p.server.numa.node = 0;
    p.server.numa.cpus = [...topo.allowedCpus];
    p.server.sqpoll.cpu = topo.allowedCpus[0];
    expect(checkTopology(p, topo)).toBeNull();
    expect(formatCpuList([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11');
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
  });

  it.skipIf(topo.allowedCpus.length < 2)('the server and the load pinned to one CPU: the summary says they shared it; pinned apart, nothing is said', () => {
    const [a, b] = topo.allowedCpus as [number, number];
    const quiet = ['--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--json'];
    const summaryOf = (r: ReturnType<typeof run>) => {
      expect(r.code, r.lines.join('\n')).not.toBe(2);
      const summary = JSON.parse(r.stdout) as { warnings: string[]; applied: { server: { numa: { cpus: number[] } }; load: { cpus: number[] } } };
      return summary;
    };
    const together = summaryOf(run(`server.numa.cpus=${a}`, '--set', `load.cpus=${a}`, ...quiet));
    expect(together.applied.server.numa.cpus).toEqual([a]);
    expect(together.applied.load.cpus).toEqual([a]);
    expect(together.warnings).toContainEqual(`the server (server.numa.cpus) and the load (load.cpus) were pinned to the same CPU ${a}: they took turns there, so throughput, latency and CPU per request describe the two sharing a CPU, not the server on its own; pin them to different CPUs to measure the server`);
    const apart = summaryOf(run(`server.numa.cpus=${a}`, '--set', `load.cpus=${b}`, ...quiet));
    expect(apart.warnings.filter((w) => /pinned to the same/.test(w))).toEqual([]);
    // the SQPOLL thread is the server's too
    const sqpoll = summaryOf(run('server.sqpoll.enabled=true', '--set', 'server.taskrun=default', '--set', 'server.quietSends=false', '--set', 'server.recvOnReady=false', '--set', `server.sqpoll.cpu=${b}`, '--set', `server.numa.cpus=${a}`, '--set', `load.cpus=${b}`, ...quiet));
    expect(sqpoll.warnings.filter((w) => /pinned to the same/.test(w))).toEqual([expect.stringMatching(new RegExp(`^the server \\(server\\.sqpoll\\.cpu\\) and the load \\(load\\.cpus\\) were pinned to the same CPU ${b}: `))]);
  });
});
