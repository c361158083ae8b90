/**
 * `uring-lab ab` and the LabApi's startAb as a hostile user drives them, with real runs:
 *  - SIGINT or SIGTERM after the last arm (while the engine shuts down and the report is
 *    written): the report is still printed and --out written, the exit code the experiment's;
 *  - a history whose `experiments` cannot be written: refused up front (exit 2, one line, no
 *    run), from the CLI and from startAb; a folder that breaks mid-experiment: the report is
 *    printed with a warning that it is the only copy, one line on stderr, exit 1;
 *  - the text and HTML reports show the p-value the verdict judged (Holm-adjusted);
 *  - a damaged saved experiment that is a folder: list counts it, `ab delete` (which the list
 *    points to) removes it with one line on error, never an internal error.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { AbReportSchema, type AbReport } from '../../electron/contract/ab';
import { EngineSupervisor, forkEngine } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';
import { abExit } from '../../electron/host/ab/abCommand';
import { interleavedOrder } from '../../electron/host/ab/runner';
import { enginePidOf, expectOneErrorLine, runSummaryOf, sleep, startCli, type Finished, type Started } from './cliProcess';

const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-hostile-ab-'));
const runtime = path.join(dir, 'rt');
mkdirSync(runtime);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const envFor = (runsDir: string) => ({ ...process.env, XDG_RUNTIME_DIR: runtime, XDG_DATA_HOME: path.join(dir, 'data'), URING_LAB_RUNS_DIR: runsDir });

function profileFile(name: string, body: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name, server: { numa: { cpus: [0] } }, load: { connections: 4, cpus: [1] }, ...body }));
  return file;
}

/** The saved record of the one experiment in `runsDir`, once `ready` says so (polled, up to 60 s). */
async function waitForRecord(runsDir: string, ready: (record: { final: boolean; report: AbReport }) => boolean): Promise<boolean> {
  const experiments = path.join(runsDir, 'experiments');
  for (let i = 0; i < 6000; i++) {
    try {
      for (const f of readdirSync(experiments).filter((n) => n.endsWith('.json'))) {
        if (ready(JSON.parse(readFileSync(path.join(experiments, f), 'utf8')))) return true;
      }
    } catch { /* not there or mid-rename */ }
    await sleep(10);
  }
  return false;
}

const runDirs = (runsDir: string) => (existsSync(runsDir) ? readdirSync(runsDir).filter((n) => n.startsWith('run-')) : []);

let lateRecord: { runsDir: string; file: string; record: unknown } | null = null;

describe('hostile A/B', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} after the last arm (engine shutting down, report being written): report printed, --out written, exit 0`, async () => {
      const runsDir = path.join(dir, `runs-late-${signal}`);
      const p = profileFile(`late-${signal}`, {});
      const out = path.join(dir, `late-${signal}.html`);
      const { child, done } = startCli(['ab', p, p, '--rounds', '1', '--duration', '0.3', '--warmup', '0', '--json', '--out', out], { env: envFor(runsDir) });
      // The final record is written before the engine is shut down (~1 s here): signal then.
      expect(await waitForRecord(runsDir, (r) => r.final)).toBe(true);
      child.kill(signal);
      const r = await done;
      // Before the fix: killed by the signal, stdout empty, no HTML.
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
      expect(report.status).toBe('completed');
      expect(report.rounds).toBe(1);
      if (!lateRecord) {
        const file = path.join(runsDir, 'experiments', `${report.experimentId}.json`);
        lateRecord = { runsDir, file, record: JSON.parse(readFileSync(file, 'utf8')) };
      }
      expect(readFileSync(out, 'utf8')).toContain(report.experimentId);
    }, 90_000);
  }

  // The report is out ~1.5 s before the process ends (the event loop drains); the verb had
  // released its signal handlers by then, and a signal there was Node's default action: killed
  // by SIGINT (no exit code, no line) after an experiment that completed.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} after the report is printed: exit code the experiment's (0), one line saying it had finished`, async () => {
      const runsDir = path.join(dir, `runs-after-report-${signal}`);
      const p = profileFile(`after-report-${signal}`, { probes: { enabled: false } });
      const started = startCli(['ab', p, p, '--rounds', '1', '--duration', '0.3', '--warmup', '0', '--json'], { env: envFor(runsDir) });
      const line = await started.firstLine;
      started.child.kill(signal);
      // And again if it is still there (a second signal after the end: its code too stays 0).
      await sleep(150);
      if (started.child.exitCode === null && started.child.signalCode === null) started.child.kill(signal);
      const r = await started.done;
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      expect(AbReportSchema.parse(JSON.parse(line)).status).toBe('completed');
      // Exited on the signal (or had already ended by itself): never a line that says interrupted.
      expect(r.stderr).not.toMatch(/interrupted|without waiting for the experiment to stop/);
      expectOneErrorLine(r.stderr, new RegExp(`${signal} after the command had finished; exiting now with its exit code 0`));
    }, 90_000);
  }

  it('SIGTERM to the engine process mid-arm: the experiment stops interrupted (exit 130, one line), no further arm runs', async () => {
    const runsDir = path.join(dir, 'runs-engine-kill');
    const p = profileFile('engine-kill', {});
    const { child, done } = startCli(['ab', p, p, '--rounds', '2', '--duration', '5', '--warmup', '0', '--json'], { env: envFor(runsDir) });
    onTestFinished(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    const engine = await enginePidOf(child.pid!);
    // The first arm is measuring once its run has frames on disk.
    let measuring = false;
    for (let i = 0; i < 600 && !measuring; i++) {
      measuring = runDirs(runsDir).some((d) => { try { return statSync(path.join(runsDir, d, 'frames.jsonl')).size > 0; } catch { return false; } });
      if (!measuring) await sleep(50);
    }
    expect(measuring).toBe(true);
    process.kill(engine, 'SIGTERM');
    const r = await done;
    // Before the fix: the next three arms ran and it ended `completed`, exit 0.
    expect(r.code, r.stderr).toBe(130);
    const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
    expect(report.status).toBe('interrupted');
    expect(report.failure?.message).toMatch(/interrupted by SIGTERM to the engine process/);
    expect(report.samples).toHaveLength(1);
    expectOneErrorLine(r.stderr, /experiment ab-\S+ interrupted by SIGTERM to the engine process.*0 rounds counted/);
  }, 90_000);

  // A profile without a name is named after its file: these file names failed the report's own
  // check ("internal error: [ { code: custom, path: [a, applied, name] … ]", exit 1) before any arm.
  for (const [label, a, b] of [
    ['control characters / a long name', 'ev\u001b[31mil\nx.json', `${'x'.repeat(240)}.json`],
    ['".json" (an empty name), as A and as B', '.json', '.json'],
  ] as const) {
    it(`profile files named ${label}: the experiment runs, named after the files as far as a name can be`, async () => {
      const sub = mkdtempSync(path.join(dir, 'names-'));
      const body = JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, server: { numa: { cpus: [0] } }, load: { connections: 4, cpus: [1] } });
      writeFileSync(path.join(sub, a), body);
      writeFileSync(path.join(sub, b), body);
      const r = await startCli(['ab', path.join(sub, a), path.join(sub, b), '--rounds', '1', '--duration', '0.2', '--warmup', '0', '--json'], { env: envFor(path.join(dir, 'runs-names')) }).done;
      expect(r.code, r.stderr).toBe(0);
      const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
      expect(report.status).toBe('completed');
      for (const name of [report.a.profileName, report.b.profileName]) {
        expect(name.length).toBeGreaterThan(0);
        expect(name.length).toBeLessThanOrEqual(200);
        expect(name).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      }
      if (a === '.json') expect([report.a.profileName, report.b.profileName]).toEqual(['A', 'B']);
      else expect([report.a.profileName, report.b.profileName]).toEqual(['ev?[31mil?x', 'x'.repeat(200)]);
    }, 60_000);
  }

  it('a history whose experiments folder cannot be written: exit 2, one line, nothing run; startAb refuses it too', async () => {
    const runsDir = path.join(dir, 'runs-notdir');
    mkdirSync(runsDir);
    writeFileSync(path.join(runsDir, 'experiments'), 'not a folder\n');
    const p = profileFile('notdir', {});
    const out = path.join(dir, 'notdir.html');
    writeFileSync(out, 'keep me\n');
    const r = await startCli(['ab', p, p, '--rounds', '1', '--duration', '0.3', '--warmup', '0', '--out', out], { env: envFor(runsDir) }).done;
    // Before the fix: exit 0, the experiment in no list, nothing said.
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expectOneErrorLine(r.stderr, /A\/B experiments cannot be saved in .*experiments \(it is not a folder\); nothing was started; .*URING_LAB_RUNS_DIR/);
    expect(runDirs(runsDir)).toEqual([]);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    expect(readFileSync(path.join(runsDir, 'experiments'), 'utf8')).toBe('not a folder\n');

    // The browser host's startAb (the same method table web.ts serves).
    const engine = path.join(__dirname, '../../dist/electron/engine/main.js');
    const lab = new LabService({ runsDir, activeRunsDir: path.join(runtime, 'active-svc'), supervisor: new EngineSupervisor(() => forkEngine(engine)) });
    try {
      const profile = { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 0.3 } };
      await expect(lab.session('tab').startAb({ a: profile, b: profile, rounds: 1 })).rejects.toMatchObject({ code: 'RUNS_DIR', kind: 'input', field: 'URING_LAB_RUNS_DIR' });
      expect((await lab.getAbState()).running).toBe(false);
      expect(runDirs(runsDir)).toEqual([]);
    } finally {
      await lab.close();
    }
  }, 60_000);

  it('the experiments folder breaks mid-experiment: the report is printed and says it is the only copy, one line, exit 1', async () => {
    const runsDir = path.join(dir, 'runs-broken');
    const p = profileFile('broken', {});
    const { child, done } = startCli(['ab', p, p, '--rounds', '2', '--duration', '0.5', '--warmup', '0', '--json'], { env: envFor(runsDir) });
    try {
      expect(await waitForRecord(runsDir, () => true)).toBe(true);
      const experiments = path.join(runsDir, 'experiments');
      // Moved away in one step, not removed: a recursive remove raced the experiment's next record
      // into the folder (ENOTEMPTY once, with another test file's runs slowing the remove down).
      renameSync(experiments, `${experiments}.gone`);
      writeFileSync(experiments, 'in the way\n');
      const r = await done;
      // Before the fix: exit 0 and no word of it.
      expect(r.code, r.stderr).toBe(1);
      const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
      expect(report.status).toBe('completed');
      expect(report.warnings.join('\n')).toMatch(/could not be saved in the history \((ENOTDIR|EEXIST): .* is not a folder\): this report is its only copy/);
      expectOneErrorLine(r.stderr, new RegExp(`experiment ${report.experimentId} could not be saved in .*experiments .*only copy`));
    } finally {
      // One that failed before its end is not left running: its experiment would hold this file's
      // runtime folder, and the next test's `ab` be refused as a second one (RUN_ACTIVE).
      if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await done; }
    }
  }, 90_000);

  // A disk that fills mid-experiment: the record saved before stayed, saying "the lab process
  // ended before the experiment finished" for good, as if it had crashed.
  it.skipIf(process.getuid?.() !== 0)('the disk fills mid-experiment: the saved record says it ended but its final record did not fit (ENOSPC), not that the lab process died', async () => {
    const runsDir = path.join(dir, 'runs-full');
    const experiments = path.join(runsDir, 'experiments');
    mkdirSync(experiments, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', experiments]);
    try {
      const p = profileFile('full', {});
      const { done } = startCli(['ab', p, p, '--rounds', '2', '--duration', '0.5', '--warmup', '0', '--json'], { env: envFor(runsDir) });
      // The first record and its reserved end note are there: fill the disk.
      expect(await waitForRecord(runsDir, () => readdirSync(experiments).some((n) => n.endsWith('.ended')))).toBe(true);
      try { for (let i = 0; i < 1000; i++) appendFileSync(path.join(experiments, '.filler'), Buffer.alloc(4096)); } catch { /* full */ }
      const r = await done;
      expect(r.code, r.stderr).toBe(1);
      const report = AbReportSchema.parse(JSON.parse(r.stdout.trim()));
      expect(report.status).toBe('completed');
      expectOneErrorLine(r.stderr, /could not be saved in .*\(ENOSPC\)/);
      const shown = await startCli(['ab', 'show', report.experimentId, '--json'], { env: envFor(runsDir) }).done;
      expect(shown.code, shown.stderr).toBe(0);
      const saved = AbReportSchema.parse(JSON.parse(shown.stdout));
      expect(saved.failure).toMatchObject({ code: 'AB_NOT_SAVED', message: expect.stringMatching(/^the experiment ended completed, but its final record could not be written \(ENOSPC\); the rounds saved before are kept$/) });
      const listed = await startCli(['ab', 'list', '--json'], { env: envFor(runsDir) }).done;
      expect(JSON.parse(listed.stdout)).toMatchObject({ experiments: [{ experimentId: report.experimentId }], unreadable: 0 });
      // ab delete takes the note with the record.
      expect((await startCli(['ab', 'delete', report.experimentId], { env: envFor(runsDir) }).done).code).toBe(0);
      expect(readdirSync(experiments).filter((n) => n !== '.filler')).toEqual([]);
    } finally {
      execFileSync('umount', [experiments]);
    }
  }, 90_000);
});

describe('damaged saved experiments', () => {
  it('a folder where a record should be: show says so without pointing at ab delete; ab delete and deleteAb refuse in one line and leave it', async () => {
    const runsDir = path.join(dir, 'runs-damaged');
    const experiments = path.join(runsDir, 'experiments');
    const folder = path.join(experiments, 'ab-folder.json');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'notes.txt'), 'mine\n');
    const env = envFor(runsDir);
    const list = await startCli(['ab', 'list', '--json'], { env }).done;
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ experiments: [], unreadable: 1 });
    const shown = await startCli(['ab', 'show', 'ab-folder'], { env }).done;
    expect(shown.code).toBe(1);
    expectOneErrorLine(shown.stderr, /ab-folder\.json is not a valid experiment record \(EISDIR\); it is a folder, left as it is/);
    expect(shown.stderr).not.toMatch(/ab delete/);
    // Before the fix: "internal error: Path is a directory: rm returned EISDIR", exit 1.
    const del = await startCli(['ab', 'delete', 'ab-folder'], { env }).done;
    expect(del.code, del.stderr).toBe(2);
    expectOneErrorLine(del.stderr, /ab-folder\.json is a folder, not an experiment record: nothing was deleted; move it out of/);
    expect(readFileSync(path.join(folder, 'notes.txt'), 'utf8')).toBe('mine\n');
    // The LabApi's deleteAb (the A/B view, the browser host) goes through the same store.
    const lab = new LabService({ runsDir, activeRunsDir: path.join(runtime, 'active-svc') });
    try {
      await expect(lab.session('tab').deleteAb({ experimentId: 'ab-folder' })).rejects.toMatchObject({ kind: 'input', field: 'experimentId', message: expect.stringMatching(/is a folder, not an experiment record/) });
    } finally {
      await lab.close();
    }
    expect(readFileSync(path.join(folder, 'notes.txt'), 'utf8')).toBe('mine\n');
  });
});

describe('files that are not records', () => {
  // readFileSync on a FIFO blocks for good, deaf to SIGTERM: `ab show` on one hung, and a FIFO
  // in the active-runs folder hung every run at its start. Both now read as the history does
  // (O_NONBLOCK, a regular file checked). A hang is killed after 15 s and fails the test.
  const bounded = (started: Started): Promise<Finished> => {
    const killer = setTimeout(() => started.child.kill('SIGKILL'), 15_000);
    return started.done.finally(() => clearTimeout(killer));
  };
  it('a FIFO where a record should be: list counts it, show names it in one line, nothing hangs', async () => {
    const runsDir = path.join(dir, 'runs-fifo');
    const experiments = path.join(runsDir, 'experiments');
    mkdirSync(experiments, { recursive: true });
    execFileSync('mkfifo', [path.join(experiments, 'ab-fifo.json')]);
    const env = envFor(runsDir);
    const list = await bounded(startCli(['ab', 'list', '--json'], { env }));
    expect(list.signal, 'hung').toBeNull();
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ experiments: [], unreadable: 1 });
    for (const args of [['ab', 'show', 'ab-fifo'], ['ab', 'export', 'ab-fifo', '--format', 'json']]) {
      const r = await bounded(startCli(args, { env }));
      expect(r.signal, 'hung').toBeNull();
      expect(r.code, r.stderr).toBe(1);
      expectOneErrorLine(r.stderr, /ab-fifo\.json is not a valid experiment record \(is a FIFO, not a file\); it is left on disk as it is/);
    }
  }, 30_000);

  it('a FIFO in the active-runs folder: a run starts, completes and exits 0', async () => {
    const rt = path.join(dir, 'rt-fifo');
    const active = path.join(rt, `uring-lab-${process.getuid?.()}`, 'active-runs');
    mkdirSync(active, { recursive: true, mode: 0o700 });
    chmodSync(path.dirname(active), 0o700);
    execFileSync('mkfifo', ['-m', '600', path.join(active, '1-run-planted.json')]);
    const r = await bounded(startCli(['run', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'probes.enabled=false', '--json'], { env: { ...envFor(path.join(dir, 'runs-fifo-run')), XDG_RUNTIME_DIR: rt } }));
    expect(r.signal, 'hung').toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(runSummaryOf(r).contention.otherRuns).toEqual([]);
  }, 30_000);
});

describe('report numbers', () => {
  it('ab show and ab export html show the p-value the verdict judged (Holm-adjusted), not a raw p that contradicts it', async () => {
    expect(lateRecord, 'the saved record of the first experiment above').not.toBeNull();
    // Raw p 0.012 with the whole CI past the noise band, yet `~`: the Holm-adjusted p (0.072)
    // is what the verdict tested. The table showed 0.012 next to `~`.
    const record = structuredClone(lateRecord!.record) as { report: AbReport };
    const report = record.report;
    report.metrics[0] = { ...report.metrics[0]!, ratio: 1.08, ci: [1.05, 1.11], pValue: 0.012, pValueHolm: 0.072, verdict: '~' };
    writeFileSync(lateRecord!.file, JSON.stringify(record));
    const env = envFor(lateRecord!.runsDir);
    const shown = await startCli(['ab', 'show', report.experimentId], { env }).done;
    expect(shown.code, shown.stderr).toBe(0);
    const row = shown.stdout.split('\n').find((l) => l.startsWith('throughputRps'))!;
    expect(row).toMatch(/0\.072\s+~$/);
    expect(row).not.toContain('0.012');
    expect(shown.stdout).toMatch(/p \(Holm\)/);
    const html = (await startCli(['ab', 'export', report.experimentId, '--format', 'html'], { env }).done).stdout;
    const htmlRow = /<tr data-metric="throughputRps">.*?<\/tr>/.exec(html)![0];
    expect(htmlRow).toContain('<td>0.072</td>');
    expect(htmlRow).not.toContain('0.012');
    // The JSON keeps both, as the contract has them.
    const json = JSON.parse((await startCli(['ab', 'show', report.experimentId, '--json'], { env }).done).stdout) as AbReport;
    expect(json.metrics[0]).toMatchObject({ pValue: 0.012, pValueHolm: 0.072 });
  });

  it('hostile text in a saved record (names, warnings, knob paths, failure): ab show and ab list print it escaped, on one line each', async () => {
    expect(lateRecord, 'the saved record of the first experiment above').not.toBeNull();
    const record = structuredClone(lateRecord!.record) as { report: AbReport };
    const report = record.report;
    const evil = 'x\u001b]0;owned\u0007\u001b[31mred\u202eevil\ncolumn';
    report.a.profileName = evil;
    report.b.profileName = `b${evil}`;
    report.warnings = [`w${evil}`];
    report.knobDiff = [{ path: `server.${evil}`, a: evil, b: 1 }];
    report.failure = { code: 'X', message: `f${evil}` };
    const file = path.join(path.dirname(lateRecord!.file), 'ab-20260101000000-1-1.json');
    writeFileSync(file, JSON.stringify({ ...record, report: { ...report, experimentId: 'ab-20260101000000-1-1' } }));
    const env = envFor(lateRecord!.runsDir);
    const shown = await startCli(['ab', 'show', 'ab-20260101000000-1-1'], { env }).done;
    const listed = await startCli(['ab', 'list'], { env }).done;
    for (const r of [shown, listed]) {
      expect(r.code, r.stderr).toBe(0);
      // No ESC, BEL, bidi override or stray newline from the record reaches the terminal.
      expect(r.stdout).not.toMatch(/[\u0007\u001b\u202e]/);
      expect(r.stdout.split('\n').filter((l) => l.includes('column')).every((l) => /x\\x1b\]0;owned\\x07\\x1b\[31mred\\u202eevil\\x0acolumn/.test(l))).toBe(true);
    }
    expect(shown.stdout.split('\n').filter((l) => l.includes('owned')).length).toBe(3); // the title (A and B), the knob, the warning: one line each
    expect(listed.stdout.split('\n').filter((l) => l.startsWith('ab-20260101000000-1-1')).length).toBe(1);
    rmSync(file);
  });
});

describe('failed arm-runs that are never two in a row', () => {
  it('A fails in both rounds (order A B B A): no round counted is a failed experiment, exit 1 with one line, not `completed` exit 0', async () => {
    // A: the server pauses for the whole arm and the load abandons its requests after 200 ms, so
    // every A arm-run ends LOAD_TIMED_OUT. The seed puts A first: its two failures are apart.
    const seed = Array.from({ length: 100 }, (_, i) => i + 1).find((s) => interleavedOrder(2, s).map((o) => o.arm).join('') === 'abba')!;
    expect(seed).toBeDefined();
    const runsDir = path.join(dir, 'runs-failed-arms');
    const a = profileFile('wedged', { load: { connections: 4, cpus: [1], timeoutMs: 200 }, diagnose: { inject: [{ kind: 'serverPause', atMs: 0, durationMs: 3000 }] } });
    const b = profileFile('healthy', {});
    const r = await startCli(['ab', a, b, '--rounds', '2', '--duration', '0.5', '--warmup', '0', '--seed', String(seed), '--json'], { env: envFor(runsDir) }).done;
    const report = AbReportSchema.parse(JSON.parse(r.stdout));
    expect(report.samples.map((s) => `${s.arm}:${s.status}`)).toEqual(['a:failed', 'b:completed', 'b:completed', 'a:failed']);
    expect(report.rounds).toBe(0);
    expect(report.status).toBe('failed');
    expect(r.code, r.stderr).toBe(1);
    expectOneErrorLine(r.stderr, /failed: no round had both arms complete.*all 4 load connections were abandoned/);
    // The saved record says the same.
    const saved = await startCli(['ab', 'list', '--json'], { env: envFor(runsDir) }).done;
    expect(saved.stdout).toContain(report.experimentId);
    expect(saved.stdout).toMatch(/"status":"failed"/);
  }, 60_000);

  it('a completed experiment with a failed arm-run or an arm-run with errors exits 1, naming each; clean exits 0', () => {
    // The exit decision over a saved report's samples (the run above cannot make an arm fail in
    // one round and not the other; the sample fields are the ones real arm-runs fill).
    expect(lateRecord, 'the saved record of the first experiment above').not.toBeNull();
    const base = (lateRecord!.record as { report: AbReport }).report;
    expect(abExit(base, null, '/x')).toEqual({ code: 0, line: null });
    const withFailed: AbReport = { ...base, rounds: 1, roundsRequested: 2, samples: [...base.samples, { ...base.samples[0]!, round: 1, status: 'failed', failure: { code: 'LOAD_TIMED_OUT', message: 'all 4 load connections were abandoned' } }] };
    expect(abExit(withFailed, null, '/x')).toEqual({ code: 1, line: expect.stringMatching(/completed with 1 of 2 rounds counted, but 1 of 3 arm-runs failed \(round 2 [AB]: all 4 load connections were abandoned\) and their rounds are left out$/) });
    const withErrors: AbReport = { ...base, samples: base.samples.map((s, i) => (i === 1 ? { ...s, errors: 7 } : s)) };
    expect(abExit(withErrors, null, '/x')).toEqual({ code: 1, line: expect.stringMatching(/but 1 completed with errors \(round 1 [AB]: 7\) that their numbers exclude$/) });
    // A record that could not be saved says so first (the report printed is the only copy).
    expect(abExit(withFailed, 'ENOSPC', '/x').line).toMatch(/could not be saved in \/x \(ENOSPC\)/);
  });
});
