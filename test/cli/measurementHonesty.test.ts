/**
 * Numbers that do not hide what happened: a stall shows in the corrected latency and the
 * warnings (finding 10), requests still in flight when the window closes are counted, and
 * the generator's own CPU share is reported.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { RunSummarySchema } from '../../electron/contract';
import { enginePidOf, runningRunOf, sleep } from './cliProcess';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');

function run(args: string[], during?: (cliPid: number) => Promise<void>) {
  const child = spawn(process.execPath, [CLI, 'run', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  if (during) void during(child.pid!);
  return done;
}

describe('measurement honesty', () => {
  it('a 2 s stall in a closed-loop run shows in the corrected percentiles and a warning, not only in max', async () => {
    const r = await run(['--duration', '6', '--set', 'duration.warmupS=0', '--set', 'load.connections=16'], async (cliPid) => {
      const engine = await enginePidOf(cliPid);
      await runningRunOf(cliPid); // past the start (the probes attach during it): the stall hits the run
      await sleep(2000);
      process.kill(engine, 'SIGSTOP');
      await sleep(2000);
      process.kill(engine, 'SIGCONT');
    });
    expect(r.code, r.stderr).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    // The closed loop sent nothing while stalled: raw p99 barely moves, max holds the stall.
    expect(s.latencyUs.max).toBeGreaterThan(1_500_000);
    // Re-weighted for the sends it skipped, the tail is the stall.
    expect(s.latencyCorrectedUs.p99).toBeGreaterThan(100_000);
    expect(s.latencyCorrectedUs.p99).toBeGreaterThan(s.latencyUs.p99 * 10);
    expect(s.warnings.join(' ')).toMatch(/stall/);
  }, 30_000);

  it('reports the generator\'s busy share and what was in flight when the window closed', async () => {
    const r = await run(['--duration', '1.5', '--set', 'duration.warmupS=0', '--set', 'load.connections=32']);
    expect(r.code, r.stderr).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.loadBusyShare).toBeGreaterThan(0);
    expect(s.loadBusyShare).toBeLessThanOrEqual(1.05);
    expect(s.loadSaturated).toBe(s.loadBusyShare >= 0.9);
    if (s.loadSaturated) expect(s.warnings.join(' ')).toMatch(/generator/);
    // A closed loop always has up to one request per connection outstanding.
    expect(s.inFlightAtEnd.requests).toBeLessThanOrEqual(32);
    expect(s.phases).toHaveLength(1);
    expect(s.phases[0].stats.requests).toBe(s.requests);
    expect(s.phases[0].vsPhase0).toBeNull();
    // Each connection's echoes over the same window: they add up to the requests, every one was
    // served, and the lab's server serves a closed loop evenly (1.000 here; below 0.9 warns).
    const p = s.perConnection!;
    expect(p.connections).toBe(32);
    // Within 0.1 %: the counts are read right after each thread's histogram while it runs, so the
    // window's first snapshot can see a few echoes its histogram has not (21 of 187,542 in CI).
    expect(Math.abs(p.mean * p.connections - s.requests)).toBeLessThanOrEqual(Math.max(2, s.requests * 0.001));
    expect(p.min).toBeGreaterThan(0);
    expect(p.jain).toBeGreaterThanOrEqual(0.9);
    expect(s.phases[0].perConnection).toEqual(p);
    expect(s.warnings.join(' ')).not.toMatch(/unevenly/);
  }, 30_000);
});
