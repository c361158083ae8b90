/**
 * A low open-file limit (RLIMIT_NOFILE, set with `ulimit -n` in a shell of the test's own): the
 * limit a refused run asks for is the one that lets it run, the first time, probes included
 * (it asked 157, then 234, then 237 while the probes took what each gave); the probes that the
 * limit kept out say to raise it; the doctor has a row for it.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './cliProcess';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-nofile-'));
const runtime = path.join(dir, 'rt');
mkdirSync(runtime);
const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'cfg'), XDG_RUNTIME_DIR: runtime, URING_LAB_RUNS_DIR: path.join(dir, 'runs') };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI under `ulimit -n limit` (soft and hard). */
const limited = (limit: number, ...args: string[]) =>
  spawnSync('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });

describe('open-file limit', () => {
  for (const connections of [1, 50]) {
    it(`${connections} connection(s) with the probes on: the limit the refusal asks for runs, the first time`, () => {
      const args = ['run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', `load.connections=${connections}`];
      const refused = limited(40, ...args);
      expect(refused.status).toBe(1);
      const line = refused.stderr.trim();
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toMatch(/for the eBPF probes/);
      expect(line).toMatch(/set probes\.enabled=false/);
      const asked = Number(/ulimit -n (\d+)/.exec(line)![1]);
      const run = limited(asked, ...args, '--json');
      expect(run.status, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout) as { probes: Array<{ name: string; attached: boolean; reason: string | null }> };
      // Every probe that attaches without a limit attached under it too.
      expect(summary.probes.filter((p) => /Too many open files/.test(p.reason ?? ''))).toEqual([]);
    }, 60_000);
  }

  it('the doctor: a row for the limit with the figure that fits the default run, and probes kept out by it say to raise it', () => {
    const r = limited(40, 'doctor', '--json');
    expect(r.status).toBe(0);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ id: string; ok: boolean | null; value: string; reason: string; fix?: string }> }).checks;
    const nofile = checks.find((c) => c.id === 'nofile')!;
    expect(nofile).toMatchObject({ ok: false, value: '40 (hard 40)' });
    expect(nofile.fix).toMatch(/ulimit -n \d+/);
    const starved = checks.filter((c) => /Too many open files/.test(c.reason));
    expect(starved.length).toBeGreaterThan(0);
    for (const c of starved) expect(c.fix, c.id).toMatch(/^raise the open-file limit \(ulimit -n/);
    const roomy = limited(Number(/ulimit -n (\d+)/.exec(nofile.fix!)![1]), 'doctor', '--json');
    const after = (JSON.parse(roomy.stdout) as { checks: Array<{ id: string; ok: boolean | null; reason: string }> }).checks;
    expect(after.find((c) => c.id === 'nofile')!.ok).toBe(true);
    expect(after.filter((c) => /Too many open files/.test(c.reason))).toEqual([]);
  }, 90_000);
});
