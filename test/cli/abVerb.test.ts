/**
 * `uring-lab ab` from real processes and real runs:
 *  - a profile against itself: the experiment's own rounds (all the same profile) split at
 *    random into 5,000 A/A trials of 6 + 6 rounds give `~` for throughput in ≥ 95 % of them
 *    (the verdict is a function of the rounds, so splitting real rounds is an A/A trial on this
 *    machine's real noise; `npm run bench:ab` repeats whole experiments end to end);
 *  - a real difference (the open-loop rate halved on B) is `worse` for throughput, ratio ≈ 0.5;
 *  - --json parses against AbReportSchema; --out writes the HTML report;
 *  - a knob refused on one side that leaves A and B identical is said so;
 *  - SIGINT: exit 130 with the rounds done so far, status interrupted;
 *  - bad input: exit 2 with one line, before anything runs.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AbReportSchema, type AbReport } from '../../electron/contract/ab';
import { bootstrapRatio, mannWhitneyU, seededRandom, verdictOf } from '../../electron/host/ab/statistics';
import { CLI, enginePidOf, expectOneErrorLine, sleep, startCli } from './cliProcess';
import { hasThread } from '../procThreads';

const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-'));
function profileFile(name: string, body: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name, ...body }));
  return file;
}

async function ab(args: string[]): Promise<{ code: number | null; report: AbReport; stderr: string }> {
  const { done } = startCli(['ab', ...args, '--json']);
  const r = await done;
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return { code: r.code, report: AbReportSchema.parse(JSON.parse(lines[0])), stderr: r.stderr };
}

/** Waits (up to 20 s) until the one experiment in `runsDir` has saved at least `n` arm-runs. */
async function savedSamples(runsDir: string, n: number): Promise<void> {
  const experiments = path.join(runsDir, 'experiments');
  for (let i = 0; i < 200; i++) {
    const files = existsSync(experiments) ? readdirSync(experiments).filter((f) => f.endsWith('.json')) : [];
    try {
      if (files.length && JSON.parse(readFileSync(path.join(experiments, files[0]), 'utf8')).report.samples.length >= n) return;
    } catch { /* not written yet */ }
    await sleep(100);
  }
}

describe('uring-lab ab', () => {
  it('a profile against itself: throughput ~ in at least 95 % of A/A trials', async () => {
    const same = profileFile('same', { load: { connections: 8 } });
    const { code, report } = await ab([same, same, '--rounds', '12', '--duration', '0.3', '--warmup', '0.1', '--seed', '11']);
    expect(code).toBe(0);
    expect(report.rounds).toBe(12);
    expect(report.warnings.join('\n')).toMatch(/A\/A experiment/);
    expect(report.knobDiff).toEqual([]);
    // The interleaving really alternates blocks: every block of four is ABBA or BAAB.
    for (const block of report.order.split(' ')) expect(['ABBA', 'BAAB', 'AB', 'BA']).toContain(block);
    const rounds = report.samples.filter((s) => s.status === 'completed').map((s) => s.metrics.throughputRps!);
    expect(rounds).toHaveLength(24);
    // Probes ran (root here): each round carries its kernel histograms beside the client's.
    expect(report.samples.every((s) => s.kernel !== null)).toBe(true);
    expect(report.samples.some((s) => s.kernel!.runqueueNs.length > 0)).toBe(true);
    const random = seededRandom(99);
    let same_ = 0;
    const trials = 5000;
    for (let t = 0; t < trials; t++) {
      const pool = [...rounds];
      for (let i = pool.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [pool[i], pool[j]] = [pool[j], pool[i]]; }
      const a = pool.slice(0, 6);
      const b = pool.slice(6, 12);
      const { pValue } = mannWhitneyU(a, b);
      // The CI only matters once the test is significant (verdictOf says `~` otherwise).
      const ci = pValue < 0.05 ? bootstrapRatio(a, b, { seed: t, resamples: 2000 }).ci : [0, 2] as [number, number];
      if (verdictOf({ sense: 'higher', samplesA: 6, samplesB: 6, pValue, ci }) === '~') same_++;
    }
    expect(same_ / trials).toBeGreaterThanOrEqual(0.95);
    // And the experiment's own verdict on throughput.
    const tp = report.metrics.find((m) => m.name === 'throughputRps')!;
    expect(tp.a.samples).toHaveLength(12);
    expect(tp.ci).not.toBeNull();
  }, 90_000);

  it('a real difference: B offers half the open-loop rate → throughput worse, ratio ≈ 0.5, HTML written', async () => {
    const full = profileFile('open-4k', { load: { mode: 'open', rateRps: 4000, connections: 8 } });
    const half = profileFile('open-2k', { load: { mode: 'open', rateRps: 2000, connections: 8 } });
    const out = path.join(dir, 'report.html');
    const { code, report } = await ab([full, half, '--rounds', '6', '--duration', '0.4', '--warmup', '0.1', '--out', out]);
    expect(code).toBe(0);
    const tp = report.metrics.find((m) => m.name === 'throughputRps')!;
    expect(tp.verdict).toBe('worse');
    expect(tp.ratio!).toBeGreaterThan(0.45);
    expect(tp.ratio!).toBeLessThan(0.55);
    expect(tp.ci![1]).toBeLessThan(0.98);
    expect(tp.pValue!).toBeLessThan(0.05);
    expect(report.knobDiff.map((d) => d.path)).toEqual(['load.rateRps']);
    expect(report.warnings.join('\n')).toMatch(/different load settings/);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('data-testid="ab-heatmap-a"');
    expect(html).toContain('data-testid="ab-heatmap-b"');
    expect(html).not.toMatch(/<script(?![^>]*application\/json)/); // no executable script, no network
    expect(html).not.toMatch(/https?:\/\//);
  }, 60_000);

  it('a knob refused on one side that leaves A and B the same is said so', async () => {
    const plain = profileFile('plain', { load: { connections: 4 } });
    const iopoll = profileFile('iopoll', { server: { iopoll: true }, load: { connections: 4 } });
    const { report } = await ab([plain, iopoll, '--rounds', '2', '--duration', '0.2', '--warmup', '0']);
    expect(report.b.rejected.map((r) => r.knob)).toContain('server.iopoll');
    expect(report.identicalAfterRefusals).toBe(true);
    expect(report.warnings.join('\n')).toMatch(/ran the same configuration/);
    expect(report.warnings.join('\n')).toMatch(/server\.iopoll was refused/);
    // Two rounds are too few for a verdict: never a guess.
    expect(report.metrics.every((m) => m.verdict === 'insufficient')).toBe(true);
  }, 60_000);

  it('SIGINT: exit 130, the rounds done so far in a report with status interrupted', async () => {
    const p = profileFile('sigint', { load: { connections: 4 } });
    const out = path.join(dir, 'interrupted.html');
    const runsDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-runs-'));
    const { child, done } = startCli(['ab', p, p, '--rounds', '20', '--duration', '0.3', '--warmup', '0', '--json', '--out', out], { env: { ...process.env, URING_LAB_RUNS_DIR: runsDir } });
    // Once an arm-run is saved (a fixed 2.5 s was too short for a loaded VM's first arm).
    await savedSamples(runsDir, 1);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
    expect(report.status).toBe('interrupted');
    expect(report.samples.length).toBeGreaterThan(0);
    expect(report.samples.length).toBeLessThan(40);
    expect(existsSync(out)).toBe(true);
    expectOneErrorLine(r.stderr, /interrupted by SIGINT/);
  }, 60_000);

  // 4,096 × 1 MiB arms: each sets up for ~20 s here. SIGINT then failed the experiment (exit 1,
  // "arm A could not start") once its start was called off; it is an interruption.
  it('SIGINT while the first arm sets up: exit 130, status interrupted, no round counted, not a failure', async () => {
    const p = profileFile('large-setup', { load: { connections: 4096, messageBytes: 1048576 } });
    // B differs from A only in its file's duration, which the experiment's own --duration and
    // --warmup replace on both arms.
    const p10 = profileFile('large-setup-10', { load: { connections: 4096, messageBytes: 1048576 }, duration: { warmupS: 2, measureS: 10 } });
    const { child, done } = startCli(['ab', p, p10, '--rounds', '1', '--duration', '0.5', '--warmup', '0', '--json']);
    const engine = await enginePidOf(child.pid!);
    await expect.poll(() => hasThread(engine, 'uring-load'), { timeout: 20_000, interval: 20 }).toBe(true);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
    expect(report.status).toBe('interrupted');
    expect(report.failure?.code).toBe('INTERRUPTED');
    expect(report.samples).toEqual([]);
    // No arm ran: the difference is the requested one, like with like (it read "duration.measureS
    // A 0.5 B 10" from A as it would run beside B's file as given, "(applied)").
    expect(report.knobDiffBasis).toBe('requested');
    expect(report.knobDiff).toEqual([]);
    expect(report.identicalAfterRefusals).toBe(false);
    expect(report.warnings.join('\n')).toMatch(/neither arm ran: the knobs compared are the requested ones/);
    expect(report.warnings.join('\n')).toMatch(/same profile once the experiment's own --duration and warm-up replace theirs/);
    expectOneErrorLine(r.stderr, /interrupted by SIGINT; 0 rounds counted/);
  }, 60_000);

  // From another process, `ab delete` of a running experiment said it worked and the experiment
  // wrote itself back after its next arm; a second `ab` ran beside it and spoiled both.
  it('while an experiment runs, another process can neither delete it nor start a second one (exit 2, nothing changed)', async () => {
    const p = profileFile('busy', { load: { connections: 4 } });
    const { child, done } = startCli(['ab', p, p, '--rounds', '20', '--duration', '0.3', '--warmup', '0', '--json']);
    let id = '';
    for (let i = 0; i < 100 && !id; i++) {
      await sleep(100);
      const list = await startCli(['ab', 'list']).done;
      id = /^(ab-\S+)\s.*running/m.exec(list.stdout)?.[1] ?? '';
    }
    // Whatever fails below, the experiment is stopped: the next tests need the machine.
    onTestFinished(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    expect(id, 'the experiment shows as running').not.toBe('');
    const file = path.join(process.env.URING_LAB_RUNS_DIR!, 'experiments', `${id}.json`);
    const del = await startCli(['ab', 'delete', id]).done;
    expect(del.code, del.stderr).toBe(2);
    expectOneErrorLine(del.stderr, new RegExp(`A/B experiment ${id} is still running \\(lab process ${child.pid}\\); stop it first`));
    expect(existsSync(file)).toBe(true);
    const second = await startCli(['ab', p, p, '--rounds', '2', '--duration', '0.3', '--warmup', '0']).done;
    expect(second.code, second.stderr).toBe(2);
    expectOneErrorLine(second.stderr, new RegExp(`another uring-lab run is going on this machine \\(ab-\\S+, lab process ${child.pid}(, and \\d+ more)?\\): an A/B experiment needs the machine to itself`));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
    // Its own arms never counted the experiment's mark as another run.
    expect(report.warnings.join(' ')).not.toMatch(/another uring-lab run|shared/);
    expect(existsSync(file)).toBe(true);
  }, 60_000);

  it('kill -9 of the host mid-experiment: the finished rounds stay in the history, marked interrupted', async () => {
    const runsDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-runs-'));
    const env = { ...process.env, URING_LAB_RUNS_DIR: runsDir };
    const p = profileFile('killed', { load: { connections: 4 } });
    const { child, done } = startCli(['ab', p, p, '--rounds', '20', '--duration', '0.3', '--warmup', '0', '--json'], { env });
    // Wait until a few arm-runs are saved, then kill the host without a chance to clean up.
    const experiments = path.join(runsDir, 'experiments');
    await savedSamples(runsDir, 3);
    child.kill('SIGKILL');
    await done;
    const list = await startCli(['ab', 'list', '--json'], { env }).done;
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout).experiments as { experimentId: string; status: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('interrupted');
    const shown = await startCli(['ab', 'show', rows[0].experimentId, '--json'], { env }).done;
    const report = AbReportSchema.parse(JSON.parse(shown.stdout));
    expect(report.failure?.code).toBe('HOST_DIED');
    expect(report.samples.length).toBeGreaterThanOrEqual(3);
    expect(report.samples.every((s) => s.status === 'completed')).toBe(true);
    const html = await startCli(['ab', 'export', rows[0].experimentId, '--format', 'html'], { env }).done;
    expect(html.stdout).toContain('data-testid="ab-metrics"');
    const unknown = await startCli(['ab', 'show', 'ab-nope'], { env }).done;
    expect(unknown.code).toBe(2);
    expectOneErrorLine(unknown.stderr, /no saved A\/B experiment ab-nope/);
    // A damaged record: every verb says so in one line (no internal error), the list counts it,
    // and `ab delete`, which the line points to, removes it.
    const id = rows[0].experimentId;
    truncateSync(path.join(experiments, `${id}.json`), 200);
    for (const args of [['show', id], ['export', id, '--format', 'json']]) {
      const r = await startCli(['ab', ...args], { env }).done;
      expect(r.code, args.join(' ')).toBe(1);
      expectOneErrorLine(r.stderr, new RegExp(`${id}.*is not a valid experiment record \\(not JSON\\).*uring-lab ab delete ${id}`));
    }
    const damaged = await startCli(['ab', 'list', '--json'], { env }).done;
    expect(JSON.parse(damaged.stdout)).toMatchObject({ experiments: [], unreadable: 1 });
    const removed = await startCli(['ab', 'delete', id], { env }).done;
    expect(removed.code, removed.stderr).toBe(0);
    expect(readdirSync(experiments).filter((f) => f.endsWith('.json'))).toEqual([]);
  }, 60_000);

  // util-linux's `script` gives the CLI a terminal (setup.sh installs bsdutils, which has it).
  it.skipIf(spawnSync('script', ['--version']).status !== 0)('on a terminal: progress from the start, one line per arm-run, then the report', () => {
    const same = profileFile('tty', { load: { connections: 4 } });
    const cmd = [process.execPath, CLI, 'ab', same, same, '--rounds', '1', '--duration', '0.3', '--warmup', '0.1', '--seed', '3'].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.status, r.stdout).toBe(0);
    const out = r.stdout;
    // Before any arm-run has ended (each line clears the one before it: \r, then to its end).
    const first = out.indexOf('\r\x1b[K  0/2 arm-runs  the first is running (0.3 s measured each)');
    expect(first, out).toBeGreaterThanOrEqual(0);
    const second = out.search(/\r\x1b\[K {2}1\/2 arm-runs {2}next: round 1 [AB] {2}A .* req\/s {2}B .* req\/s {2}ETA \d+ s/);
    expect(second, out).toBeGreaterThan(first);
    // After the last arm there is no next one to name ("next: round 2 A" named one that does not exist).
    const last = out.search(/\r\x1b\[K {2}2\/2 arm-runs {2}all done, making the report {2}A .* req\/s {2}B .* req\/s/);
    expect(last, out).toBeGreaterThan(second);
    expect(out).not.toMatch(/2\/2 arm-runs {2}next/);
    expect(out.search(/A\/B ab-\S+: A = tty, B = tty — completed, 1\/1 rounds/)).toBeGreaterThan(last);
  }, 120_000);

  // `run` refuses these as bad input (exit 2) before it starts; `ab` ran arm A first, then
  // failed (exit 1) with a failed record and without the fix in its line.
  it('a profile `run` refuses as bad input is refused for its arm before any arm runs: exit 2, one line naming the arm, field and fix, no run, no record', async () => {
    const runsDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-runs-'));
    const env = { ...process.env, URING_LAB_RUNS_DIR: runsDir };
    const ok = profileFile('ok-arm', { load: { connections: 4 }, probes: { enabled: false } });
    const huge = profileFile('B-huge', { workload: 'echo', load: { connections: 4096, messageBytes: 1048576 }, server: { bufferRing: { size: 1048576, count: 32768 } }, probes: { enabled: false } });
    const sqpoll = profileFile('B-sqpoll', { load: { connections: 4 }, server: { sqpoll: { enabled: true, cpu: 99 } }, probes: { enabled: false } });
    const storage = profileFile('S-ok', { workload: 'storage', storage: { fileSizeMiB: 8 }, probes: { enabled: false } });
    const storageMissing = profileFile('S-missing', { workload: 'storage', storage: { path: path.join(dir, 'no-such.dat') }, probes: { enabled: false } });
    for (const [a, b, arm, pattern] of [
      [ok, huge, 'B', /arm B \(profile "B-huge"\): .*server\.bufferRing.*needs .* of memory.*nothing ran; lower server\.bufferRing/],
      [ok, sqpoll, 'B', /arm B \(profile "B-sqpoll"\): server\.sqpoll\.cpu: CPU 99 .*nothing ran; pick one of those CPUs/],
      [sqpoll, ok, 'A', /arm A \(profile "B-sqpoll"\): server\.sqpoll\.cpu/],
      [storage, storageMissing, 'B', /arm B \(profile "S-missing"\): storage\.path: .*no-such\.dat cannot be used \(ENOENT\).*nothing ran; name an existing file/],
    ] as const) {
      const single = await startCli(['run', '--profile', arm === 'A' ? a : b, '--duration', '0.3'], { env }).done;
      expect(single.code, `run refuses it: ${single.stderr}`).toBe(2);
      const started = Date.now();
      const r = await startCli(['ab', a, b, '--rounds', '1', '--duration', '0.3', '--warmup', '0', '--json'], { env }).done;
      expect(r.code, `${path.basename(b)}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expectOneErrorLine(r.stderr, pattern);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    // Nothing ran: no arm's run in the history, no experiment record.
    expect(readdirSync(runsDir).filter((n) => n.startsWith('run-'))).toEqual([]);
    const experiments = path.join(runsDir, 'experiments');
    expect(existsSync(experiments) ? readdirSync(experiments) : []).toEqual([]);
  }, 120_000);

  // The files differ only in duration, which the experiment's --duration replaces on both arms:
  // this was "after the kernel's refusals the applied knobs are identical" (nothing was refused).
  it('profiles that differ only in their duration: an A/A experiment, not blamed on the kernel', async () => {
    const one = profileFile('dur-1', { load: { connections: 4 }, probes: { enabled: false }, duration: { warmupS: 0, measureS: 1 } });
    const ten = profileFile('dur-10', { load: { connections: 4 }, probes: { enabled: false }, duration: { warmupS: 0, measureS: 10 } });
    const { code, report, stderr } = await ab([one, ten, '--rounds', '1', '--duration', '0.3', '--warmup', '0']);
    expect(code, stderr).toBe(0);
    expect(report.identicalAfterRefusals).toBe(false);
    expect(report.knobDiffBasis).toBe('applied');
    expect(report.knobDiff).toEqual([]);
    const warnings = report.warnings.join('\n');
    expect(warnings).not.toMatch(/kernel's refusals|ran the same configuration/);
    expect(warnings).toMatch(/A and B are the same profile once the experiment's own --duration and warm-up replace theirs \(the files differ only in duration\.measureS\): this is an A\/A experiment/);
  }, 60_000);

  // `ab show` of a live experiment read its saved record as it is: interrupted, HOST_DIED ("the
  // lab process ended before the experiment finished"), while `ab list` said running.
  it('show and show --json of a live experiment: running, no failure; a run from another process meanwhile is refused (AB_ACTIVE, exit 2) and spoils nothing', async () => {
    const runsDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-ab-runs-'));
    const env = { ...process.env, URING_LAB_RUNS_DIR: runsDir };
    const p = profileFile('live', { load: { connections: 4 }, probes: { enabled: false } });
    const { child, done } = startCli(['ab', p, p, '--rounds', '20', '--duration', '0.3', '--warmup', '0', '--json'], { env });
    onTestFinished(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    await savedSamples(runsDir, 1);
    const id = readdirSync(path.join(runsDir, 'experiments')).find((f) => f.endsWith('.json'))!.slice(0, -5);
    const json = await startCli(['ab', 'show', id, '--json'], { env }).done;
    expect(json.code, json.stderr).toBe(0);
    const shown = AbReportSchema.parse(JSON.parse(json.stdout));
    expect(shown.status).toBe('running');
    expect(shown.failure).toBeNull();
    const text = await startCli(['ab', 'show', id], { env }).done;
    expect(text.stdout).toMatch(new RegExp(`A/B ${id}: A = live, B = live — running`));
    expect(text.stdout).not.toMatch(/HOST_DIED|ended before the experiment finished/);
    // A run of another lab process: refused before it starts, naming the experiment.
    const run = await startCli(['run', '--profile', p, '--duration', '0.3', '--json'], { env }).done;
    expect(run.code, run.stderr).toBe(2);
    expectOneErrorLine(run.stderr, new RegExp(`A/B experiment ${id} is running in lab process ${child.pid}: .*wait for the experiment to end`));
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
    // The refused run never ran beside an arm (no arm-run saw another run), nor was saved.
    expect(report.machine.otherRuns).toBe(0);
    expect(report.warnings.join(' ')).not.toMatch(/another uring-lab run|shared/);
    expect(readdirSync(runsDir).filter((n) => n.startsWith('run-')).length).toBe(report.samples.length);
  }, 90_000);

  it('bad input: exit 2 and one line naming what is wrong, nothing run', async () => {
    const ok = profileFile('ok', {});
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"kind":"uring-lab/profile","schemaVersion":1,"server":{"rings":0}}');
    for (const [args, pattern] of [
      [[ok], /exactly two profile files/],
      [[ok, path.join(dir, 'missing.json')], /missing\.json/],
      [[ok, bad], /server\.rings/],
      [[ok, ok, '--rounds', '0'], /--rounds/],
      [[ok, ok, '--duration', 'x'], /--duration/],
      [[ok, ok, '--frobnicate'], /frobnicate/],
    ] as const) {
      const r = await startCli(['ab', ...args]).done;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expectOneErrorLine(r.stderr, pattern);
    }
  }, 60_000);
});
