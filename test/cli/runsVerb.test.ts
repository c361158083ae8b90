/**
 * `uring-lab runs` as a command: its subcommands on a run the CLI really made, and its bad
 * input — an unknown subcommand, flag, format or id, a missing id, a bad URING_LAB_RUNS_*
 * setting — refused with exit 2 and one line naming what is wrong, leaving the runs as they were.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListRunsResultSchema, type RunSummary } from '../../electron/contract';
import { expectOneErrorLine, runSummaryOf, startCli } from './cliProcess';

const RUNTIME_DIR = mkdtempSync(path.join(tmpdir(), 'uring-lab-runsverb-rt-'));
const RUNS_DIR = mkdtempSync(path.join(tmpdir(), 'uring-lab-runsverb-runs-'));
const OUT_DIR = mkdtempSync(path.join(tmpdir(), 'uring-lab-runsverb-out-'));
afterAll(() => { for (const d of [RUNTIME_DIR, RUNS_DIR, OUT_DIR]) rmSync(d, { recursive: true, force: true }); });

const env = { ...process.env, XDG_RUNTIME_DIR: RUNTIME_DIR, URING_LAB_RUNS_DIR: RUNS_DIR };
const runs = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => startCli(['runs', ...args], { env: { ...env, ...extraEnv } }).done;

let summary: RunSummary;
beforeAll(async () => {
  const done = await startCli(['run', '--duration', '1', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--json'], { env }).done;
  expect(done.code, done.stderr).toBe(0);
  summary = runSummaryOf(done);
}, 60_000);

const listed = async () => ListRunsResultSchema.parse(JSON.parse((await runs(['list', '--json'])).stdout));

describe('uring-lab runs', () => {
  it('a run stopped in its warm-up shows no latency anywhere in text: summary, list and Markdown say "none" or "—", never 0', async () => {
    // A history of its own: the other tests count the runs in theirs.
    const own = { URING_LAB_RUNS_DIR: mkdtempSync(path.join(OUT_DIR, 'warmup-runs-')) };
    const started = startCli(['run', '--duration', '1', '--set', 'duration.warmupS=5', '--set', 'load.connections=2'], { env: { ...env, ...own } });
    // SIGINT once it runs (the first warm-up frames are in), well before the warm-up ends.
    for (let i = 0; i < 100 && !readdirSync(own.URING_LAB_RUNS_DIR).some((d) => d.startsWith('run-') && existsSync(path.join(own.URING_LAB_RUNS_DIR, d, 'frames.jsonl'))); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    started.child.kill('SIGINT');
    const done = await started.done;
    expect(done.code, done.stderr).toBe(130);
    expect(done.stdout).toMatch(/: interrupted/);
    expect(done.stdout).toMatch(/^ {2}latency µs {3}none: nothing was measured \(stopped before the warm-up ended\)$/m);
    expect(done.stdout).not.toMatch(/p50 0|p99 0|corrected/);
    const runId = /^run (run-\S+) /m.exec(done.stdout)![1];
    const list = await runs(['list'], own);
    expect(list.stdout.split('\n').find((l) => l.includes(runId))).toMatch(/p50 +— µs +p99 +— µs/);
    const md = await runs(['export', runId, '--format', 'md'], own);
    expect(md.stdout).toMatch(/^\| 0 \| — \| — \| — \| — \| — \| 0 \| 0 \| 0\.00 \|$/m);
    expect(md.stdout).toContain('corrected p99 — µs');
  }, 60_000);

  it('exports csv to a file and md to stdout', async () => {
    const out = path.join(OUT_DIR, 'frames.csv');
    const csv = await runs(['export', summary.runId, '--format', 'csv', '--out', out]);
    expect(csv.code, csv.stderr).toBe(0);
    const rows = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(rows[0]).toMatch(/^seq,phase,tMs,intervalMs,measuring,requests,/);
    expect(rows).toHaveLength(summary.frames + 1);
    const requestsColumn = rows[0].split(',').indexOf('requests');
    expect(rows.slice(1).reduce((n, r) => n + Number(r.split(',')[requestsColumn]), 0)).toBe(summary.requests);

    const md = await runs(['export', summary.runId, '--format', 'md']);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain(`# uring-lab run ${summary.runId}`);
    expect(md.stdout).toContain(`| ${Math.round(summary.throughputRps).toLocaleString('en-US')} | ${summary.latencyUs.p50} |`);
    expect(md.stdout).toContain(`kernel ${summary.kernel.release}`);
    const json = await runs(['export', summary.runId, '--format', 'json']);
    expect(JSON.parse(json.stdout).meta.summary.requests).toBe(summary.requests);
  });

  it('pins and unpins', async () => {
    expect((await runs(['pin', summary.runId])).code).toBe(0);
    expect((await listed()).runs[0]).toMatchObject({ runId: summary.runId, pinned: true });
    expect((await runs(['list'])).stdout).toMatch(new RegExp(`^\\* ${summary.runId}`, 'm'));
    expect((await runs(['unpin', summary.runId])).code).toBe(0);
    expect((await listed()).runs[0].pinned).toBe(false);
  });

  it('refuses bad input with exit 2 and one line naming it, changing nothing', async () => {
    const before = readdirSync(path.join(RUNS_DIR, summary.runId)).sort();
    const cases: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
      [['frobnicate'], /unknown subcommand "frobnicate".*list, show, export, delete, pin, unpin/],
      [['show'], /runs show: which run\? the ID is missing/],
      [['show', 'run-19990101000000-1-1'], /no saved run "run-19990101000000-1-1".*runs list/],
      [['delete', '../../etc'], /is not a run id/],
      [['pin', summary.runId, 'extra'], /one run ID, got 2/],
      [['list', '--bogus'], /runs list: unknown option '--bogus'/],
      [['list', '--limit', '0'], /runs list: --limit "0" is not a whole number of runs of at least 1.*--limit 20/],
      [['list', '--limit', '1.5'], /--limit "1.5" is not a whole number/],
      [['list', '--limit', 'ten'], /--limit "ten" is not a whole number/],
      [['list', '--limit', ''], /runs list: --limit is empty/],
      [['list', '--limit=-3'], /--limit "-3" is not a whole number/],
      [['list', '--limit'], /runs list: .*--limit/],
      [['export', summary.runId], /--format is missing.*json, csv or md/],
      [['export', summary.runId, '--format', 'xml'], /--format "xml" is not a format/],
      [['export', summary.runId, '--format', 'md', '--out', path.join(OUT_DIR, 'no/such/dir/x.md')], /--out .*: the folder .* does not exist; nothing was written/],
      [['list'], /URING_LAB_RUNS_MAX=many is not a positive whole number/, { URING_LAB_RUNS_MAX: 'many' }],
      [['list'], /URING_LAB_RUNS_DIR=runs is not an absolute path/, { URING_LAB_RUNS_DIR: 'runs' }],
      [['list'], /the run history \/etc\/hostname is not a folder.*URING_LAB_RUNS_DIR/, { URING_LAB_RUNS_DIR: '/etc/hostname' }],
      [[], /runs: no subcommand given.*list, show, export/],
    ];
    for (const [args, pattern, extraEnv] of cases) {
      const r = await runs(args, extraEnv);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expectOneErrorLine(r.stderr, pattern);
      expect(r.stdout).toBe('');
    }
    expect(readdirSync(path.join(RUNS_DIR, summary.runId)).sort()).toEqual(before);
    const usage = await runs(['--help']);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toContain('uring-lab runs export ID --format json|csv|md [--out FILE]');
  }, 30_000);

  it('list --limit N shows the newest N and says how many there are', async () => {
    const second = await startCli(['run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--json'], { env }).done;
    expect(second.code, second.stderr).toBe(0);
    const id = runSummaryOf(second).runId;
    const all = await listed();
    expect(all.runs.map((r) => r.runId)).toEqual([id, summary.runId]);
    const one = ListRunsResultSchema.parse(JSON.parse((await runs(['list', '--limit', '1', '--json'])).stdout));
    expect(one.runs.map((r) => r.runId)).toEqual([id]);
    expect(one.total).toBe(2);
    const text = await runs(['list', '--limit', '1']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n').filter((l) => /run-\d/.test(l) && !l.startsWith('the newest'))).toHaveLength(1);
    expect(text.stdout).toMatch(/^the newest 1 of 2 saved runs in /m);
    expect((await runs(['list', '--limit', '5'])).stdout).toMatch(/^2 saved runs in /m);
    expect((await runs(['delete', id])).code).toBe(0);
  }, 60_000);

  // A frames file with damaged lines read as fewer frames, silently (diagnose: "0 frames saved",
  // the CSV only its header, exit 0): every verb that reads a run whole names the file.
  it('a damaged frames file: show, export and diagnose say how many lines were skipped and where, exit 1, the file left as it is', async () => {
    const second = await startCli(['run', '--duration', '1', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--json'], { env }).done;
    expect(second.code, second.stderr).toBe(0);
    const id = runSummaryOf(second).runId;
    const file = path.join(RUNS_DIR, id, 'frames.jsonl');
    const good = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const damaged = ['garbage', ...good.slice(0, 3), '{"bad":', ''].join('\n');
    writeFileSync(file, damaged);
    for (const args of [['runs', 'show', id], ['runs', 'show', id, '--json'], ['runs', 'export', id, '--format', 'csv'], ['diagnose', id], ['diagnose', id, '--json']]) {
      const r = await startCli(args, { env }).done;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stdout.length, args.join(' ')).toBeGreaterThan(0);
      expectOneErrorLine(r.stderr, new RegExp(`run ${id}: 2 unreadable lines in .*${id}/frames\\.jsonl skipped \\(the file is left as it is\\); this covers the 3 frames that could be read`));
    }
    expect(readFileSync(file, 'utf8')).toBe(damaged);
    const untouched = await runs(['show', summary.runId]);
    expect(untouched.code, untouched.stderr).toBe(0);
    expect(untouched.stderr).toBe('');
    // And a damaged run can be deleted (the next test counts the history down to nothing).
    expect((await runs(['delete', id])).code).toBe(0);
  }, 60_000);

  it('deletes a run with its folder; the id is then unknown', async () => {
    const del = await runs(['delete', summary.runId]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe(`deleted run ${summary.runId}\n`);
    expect(existsSync(path.join(RUNS_DIR, summary.runId))).toBe(false);
    expect((await listed()).total).toBe(0);
    const again = await runs(['delete', summary.runId]);
    expect(again.code).toBe(2);
    expectOneErrorLine(again.stderr, /no saved run/);
    expect((await runs(['list'])).stdout).toMatch(/^no saved runs in /);
  });
});
