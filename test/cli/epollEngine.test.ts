/**
 * `uring-lab run --set server.engine=epoll`: the epoll baseline through the built CLI, checked
 * against the RunSummary contract.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { knobAt, knobEntries, onlyWithText, RunSummarySchema } from '../../electron/contract';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('uring-lab run with the epoll server', () => {
  it('--set server.engine=epoll runs the epoll baseline', () => {
    const r = run('--duration', '1', '--set', 'server.engine=epoll', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout.trim()));
    expect(s.status).toBe('completed');
    expect(s.applied.server.engine).toBe('epoll');
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
    expect(s.throughputRps).toBeGreaterThan(0);
    expect(s.serverCpuNsPerReq).toBeGreaterThan(0);
    // No io_uring on the server: nothing refused, no ring flags.
    expect(s.rejected).toEqual([]);
    expect(s.ring.flags).toEqual([]);
  });

  it('reports ring knobs asked for with epoll as refused (not applicable), never as applied', () => {
    const r = run('--duration', '1', '--set', 'server.engine=epoll', '--set', 'server.sqpoll.enabled=true', '--set', 'server.bufferRing.count=1024', '--json');
    expect(r.status).toBe(0);
    const s = RunSummarySchema.parse(JSON.parse(r.stdout.trim()));
    expect(s.applied.server.sqpoll.enabled).toBe(false);
    // Shown at its default (the knob did nothing), not at the 1024 asked for.
    expect(s.applied.server.bufferRing.count).toBe(knobAt('server.bufferRing.count')!.schema.parse(undefined));
    const refused = Object.fromEntries(s.rejected.map((k) => [k.knob, k]));
    expect(refused['server.sqpoll.enabled']).toMatchObject({ code: 'NOT_APPLICABLE', errno: 0, requested: true });
    expect(refused['server.sqpoll.enabled'].reason).toMatch(/epoll server has none/);
    expect(refused['server.bufferRing.count']).toMatchObject({ code: 'NOT_APPLICABLE', requested: 1024 });
    expect(s.rejected).toHaveLength(2);
  });

  it('refuses an unknown engine before it starts', () => {
    const r = run('--duration', '1', '--set', 'server.engine=kqueue', '--json');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/server\.engine must be one of "io_uring", "epoll"/);
  });
});

describe('knobs that mean something only with another knob\'s value', () => {
  // One run per catalogue row that has onlyWith (the class, not examples): the row's knob at a
  // non-default value, its condition false, and whatever else the knob would need true.
  const cases: Record<string, string[]> = {
    'server.sqpoll.cpu': ['server.sqpoll.cpu=1'],
    'server.sqpoll.idleMs': ['server.sqpoll.idleMs=5'],
    'load.rateRps': ['load.rateRps=500'],
    // One ring, with SQPOLL on (and what SQPOLL refuses off): no other ring to share its thread.
    // An idle time of 0 rides along: the kernel takes it as 1000 ms, said with that reason.
    'server.sqpoll.shared': ['server.sqpoll.shared=true', 'server.sqpoll.enabled=true', 'server.taskrun=default', 'server.recvOnReady=false', 'server.quietSends=false', 'server.sqpoll.idleMs=0'],
  };
  it('an SQPOLL CPU or idle time without SQPOLL, an open-loop rate in a closed loop, a shared SQPOLL thread with one ring: refused (not applicable), never shown as applied', () => {
    const rows = knobEntries().filter((e) => e.onlyWith);
    expect(Object.keys(cases).sort()).toEqual(rows.map((e) => e.path).sort());
    const withoutSqpoll = new Set(['server.sqpoll.cpu', 'server.sqpoll.idleMs', 'load.rateRps']);
    const runs = [[...withoutSqpoll].flatMap((k) => cases[k]), cases['server.sqpoll.shared']];
    const summaries = runs.map((sets) => {
      const r = run('--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--set', 'probes.enabled=false', ...sets.flatMap((kv) => ['--set', kv]), '--json');
      expect(r.status, r.stderr).toBe(0);
      return RunSummarySchema.parse(JSON.parse(r.stdout.trim()));
    });
    for (const row of rows) {
      const s = summaries[withoutSqpoll.has(row.path) ? 0 : 1];
      const refused = Object.fromEntries(s.rejected.map((k) => [k.knob, k]));
      expect(refused[row.path], row.path).toMatchObject({ code: 'NOT_APPLICABLE', errno: 0 });
      expect(refused[row.path].reason).toContain(`only with ${onlyWithText(row.onlyWith!)}`);
      const shown = row.path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], s.applied);
      expect(shown, row.path).toEqual(row.schema.parse(undefined));
    }
    // The SQPOLL run itself: nothing else refused, SQPOLL applied.
    expect(summaries[1].rejected.map((k) => k.knob)).toEqual(['server.sqpoll.shared']);
    expect(summaries[1].applied.server.sqpoll.enabled).toBe(true);
    expect(summaries[1].warnings).toContainEqual('the engine set server.sqpoll.idleMs to 1000 (asked 0): the kernel takes an idle time of 0 as its default, 1000 ms');
  });
});
