/**
 * `uring-lab run --json` with several rings and a shared SQPOLL thread: the summary reports
 * what applied and the server's work per request (enters, CQEs, sends, recvs, SQPOLL CPU).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { RunSummarySchema } from '../../electron/contract';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');

function run(...sets: string[]) {
  const args = [CLI, 'run', '--json', '--duration', '1.5', '--set', 'duration.warmupS=0.3', '--set', 'load.connections=32'];
  for (const s of sets) args.push('--set', s);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return RunSummarySchema.parse(JSON.parse(r.stdout));
}

describe('run with several rings', () => {
  it('2 rings sharing one SQPOLL thread: applied, and the summary has per-request engine ratios', () => {
    const s = run('server.rings=2', 'server.sqpoll.enabled=true', 'server.sqpoll.shared=true', 'server.taskrun=default', 'server.quietSends=false', 'server.recvOnReady=false');
    expect(s.applied.server.rings).toBe(2);
    expect(s.applied.server.sqpoll).toMatchObject({ enabled: true, shared: true });
    expect(s.rejected).toEqual([]);
    expect(s.errors).toBe(0);
    expect(s.engine).not.toBeNull();
    expect(s.engine!.cqesPerReq).toBeGreaterThanOrEqual(1);
    expect(s.engine!.sendsPerReq).toBeGreaterThan(0.5);
    expect(s.engine!.recvsPerReq).toBeGreaterThan(0.5);
    expect(s.engine!.sqpollCpuNsPerReq).toBeGreaterThan(0);
    // The share of that CPU in passes that submitted (the kernel's SqWorkTime): this kernel has it.
    expect(s.engine!.sqpollBusyShare).toBeGreaterThan(0);
    expect(s.engine!.sqpollBusyShare).toBeLessThanOrEqual(1);
    expect(s.phases[0].engine).not.toBeNull();
  });

  it('epoll with 2 rings counts epoll_wait calls as enters; no SQPOLL CPU', () => {
    const s = run('server.engine=epoll', 'server.rings=2');
    expect(s.applied.server.rings).toBe(2);
    const oversubscribed = s.warnings.filter((w) => w.startsWith('server.rings = '));
    expect(oversubscribed).toEqual(os.availableParallelism() < 2 ? [expect.stringContaining('2 worker threads')] : []);
    expect(s.engine!.entersPerReq).toBeGreaterThan(0);
    expect(s.engine!.sqpollCpuNsPerReq).toBe(0);
    expect(s.engine!.sqpollBusyShare).toBeNull();
  });

  it('more rings than CPUs: they run, and the warnings say they shared the CPUs, with the fix', () => {
    const rings = os.availableParallelism() + 1;
    const s = run(`server.rings=${rings}`);
    expect(s.applied.server.rings).toBe(rings);
    expect(s.errors).toBe(0);
    expect(s.warnings).toContainEqual(`server.rings = ${rings} worker threads on the ${rings - 1 === 1 ? 'one CPU' : `${rings - 1} CPUs`} the engine may use: they took turns there, so the numbers describe ${rings} threads sharing ${rings - 1 === 1 ? 'a CPU' : `${rings - 1} CPUs`}, not a CPU per ring; set server.rings to at most ${rings - 1} for a CPU per ring`);
  });
});
