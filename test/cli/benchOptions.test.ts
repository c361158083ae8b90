/**
 * The bench scripts refuse what the lab would refuse before their first sample, in the lab's
 * words, and never lose their results at the end. A bench that learned of a bad knob only when
 * its first run exited 2 had spent minutes by then: a rejected `--best` failed every round of a
 * bench:engine grid, bench:probes retried a bad --set every 20 s, and an --out in a missing
 * folder threw away a finished bench:storage's samples with a stack trace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const ROOT = path.join(__dirname, '../..');

let dir = '';
let runsDir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bench-options-'));
  runsDir = path.join(dir, 'runs');
  mkdirSync(runsDir);
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** A bench script, bounded; `until`: SIGTERM it once stdout matches (it got going). */
function bench(script: string, args: string[], until?: RegExp): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, URING_LAB_RUNS_DIR: runsDir, XDG_RUNTIME_DIR: path.join(dir, 'rt') },
    });
    let stdout = '';
    let stderr = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (until?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** Refused up front: exit 2, the first line names `field` in the bench's name, nothing ran. */
function expectRefused(r: Ran, name: string, field: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const first = r.stderr.split('\n')[0]!;
  expect(first.startsWith(`bench:${name}: `), first).toBe(true);
  expect(first).toMatch(field);
  expect(first.length).toBeLessThan(600);
  // No header: the bench had not started measuring, and no run was saved.
  expect(r.stdout).toBe('');
  expect(readdirSync(runsDir)).toEqual([]);
}

const ENGINE = ['--no-open', '--grid', '1x128', '--rounds', '1', '--seconds', '0.2', '--warmup', '0'];

describe('bench:engine', () => {
  it.each([
    [['--best', 'server.bogus=1'], /io_uring best at 1 × 128 B: the lab would refuse it: .*unknown profile key "server\.bogus"/],
    [['--best', 'minWaitUs=abc'], /io_uring best .*server\.minWaitUs must be a whole number/],
    [['--best', 'load.connections=3'], /load\.connections: given twice/],
    [['--best', 'engine=epoll'], /--best "engine=epoll": the best set is io_uring's/],
    [['--best', 'minWaitUs'], /--best "minWaitUs": write key=value/],
    [['--grid', '0x128'], /--grid 0x128: .*load\.connections must be a whole number from 1/],
    [['--grid', '50x2000000'], /--grid 50x2000000: .*load\.messageBytes must be a whole number/],
    [['--out', '/nonexistent-folder/results.json'], /--out \/nonexistent-folder\/results\.json: the folder \/nonexistent-folder does not exist/],
    [['--out', '/tmp'], /--out \/tmp: is a directory/],
    [['--grid', '50x4096', '--only', 'srv-today', '--today', 'no-such-commit'], /--today "no-such-commit": no such commit/],
  ])('%j is refused before the first sample', async (args, field) => {
    expectRefused(await bench('bench-engine.mjs', [...ENGINE, ...args]), 'engine', field);
  });

  it('Ctrl-C mid-bench stops the servers it started: the lab code it checks with brings no signal handlers of the CLI', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'bench-engine.mjs'), ...ENGINE, '--seconds', '20', '--only', 'srv-best'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, URING_LAB_RUNS_DIR: runsDir, XDG_RUNTIME_DIR: path.join(dir, 'rt') },
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The server it drives: a `uring-lab server` child (under taskset) of the bench.
    const serverOf = (): number | null => {
      for (const line of spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n')) {
        const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
        if (m && m[3]!.includes('cli.js server --json') && Number(m[2]) === child.pid) return Number(m[1]);
      }
      return null;
    };
    let server: number | null = null;
    for (let i = 0; i < 200 && server === null; i++) { await new Promise((r) => setTimeout(r, 50)); server = serverOf(); }
    expect(server, stderr).not.toBeNull();
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(stderr).not.toMatch(/before the command got going/);
    // Gone within seconds, not left serving until its --duration (2 minutes past the bench).
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try { process.kill(server!, 0); } catch { alive = false; }
    }
    expect(alive).toBe(false);
  });

  it('takes back the best set as its header prints it, without "server."', async () => {
    const r = await bench('bench-engine.mjs', [...ENGINE, '--only', 'srv-best', '--best', 'registeredRingFd=true,server.minWaitUs=50'], /io_uring best = .*\n/);
    expect(r.stdout).toMatch(/io_uring best = registeredRingFd=true minWaitUs=50\n/);
    expect(r.stderr).not.toMatch(/^bench:engine:/m);
  });
});

describe('bench:probes', () => {
  it.each([
    [[], ['--set', 'bogus=1'], /the run: the lab would refuse it: .*unknown profile key "bogus"/],
    [['--separate'], ['--set', 'bogus=1'], /the run with probes on: the lab would refuse it: .*unknown profile key "bogus"/],
    [[], ['--set', 'load.connections=10'], /load\.connections: given twice/],
    [['--separate'], ['--connections', '100000'], /load\.connections must be a whole number from 1 to/],
    [['--separate'], ['--bytes', '2000000'], /load\.messageBytes must be a whole number/],
    [[], ['--seconds', '5000'], /--duration "5000" is not a number of seconds/],
    [[], ['--out', '/nonexistent-folder/p.json'], /--out \/nonexistent-folder\/p\.json: the folder/],
  ])('%j %j is refused before the first run', async (mode, args, field) => {
    // --separate runs its rounds of separate runs; without it, one run (the switchback mode).
    expectRefused(await bench('bench-probes.mjs', [...mode, '--seconds', '0.3', ...args]), 'probes', field);
  });
});

describe('bench:diagnose', () => {
  it.each([
    [['--set', 'bogus=1'], /each run: the lab would refuse it: .*unknown profile key "bogus"/],
    [['--profile-overhead', '--set', 'diagnose.profileHz=5'], /each --profile-overhead run: .*diagnose\.profileHz: given twice/],
    [['--out', '/tmp'], /--out \/tmp: is a directory/],
  ])('%j is refused before the first run', async (args, field) => {
    expectRefused(await bench('bench-diagnose.mjs', ['--runs', '1', ...args]), 'diagnose', field);
  });

  it('Ctrl-C mid-run: the run stops first, then the bench removes its registry folder (its runs stay, as it says)', async () => {
    const tmp = mkdtempSync(path.join(dir, 'tmpdir-'));
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
    delete env.URING_LAB_RUNS_DIR;
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'bench-diagnose.mjs'), '--runs', '1', '--kinds', 'cpuHog', '--seconds', '20', '--warmup', '0', '--at', '10'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Its run is running once the private registry folder lists it.
    const running = (): boolean => readdirSync(tmp).filter((n) => n.startsWith('uring-lab-bench-diagnose-rt-'))
      .some((rt) => { try { return readdirSync(path.join(tmp, rt, `uring-lab-${process.getuid!()}`, 'active-runs')).length > 0; } catch { return false; } });
    for (let i = 0; i < 300 && !running(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running(), stdout).toBe(true);
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    // Its runs folder stays (printed, for --rediagnose); the registry folder is gone.
    expect(readdirSync(tmp).filter((n) => n.startsWith('uring-lab-bench-diagnose-rt-'))).toEqual([]);
    expect(readdirSync(tmp).filter((n) => n.startsWith('uring-lab-bench-diagnose-runs-'))).toHaveLength(1);
  });

  it('--rediagnose of a file that is not an earlier --out: one line naming it', async () => {
    const bad = path.join(dir, 'not-an-out.json');
    writeFileSync(bad, '{"hello": 1}');
    for (const file of [bad, path.join(dir, 'missing.json')]) {
      expectRefused(await bench('bench-diagnose.mjs', ['--rediagnose', file]), 'diagnose', new RegExp(`--rediagnose ${file.replace(/[.]/g, '\\.')}: not a bench:diagnose --out file`));
    }
  });
});

describe('bench:storage', () => {
  it.each([
    [['--seconds', '5000'], /the lab's plain run: the lab would refuse it: --duration "5000"/],
    [['--size-mib', '99999999'], /storage\.fileSizeMiB must be a whole number/],
    [['--out', '/nonexistent-folder/s.json'], /--out \/nonexistent-folder\/s\.json: the folder/],
  ])('%j is refused before the test file is written', async (args, field) => {
    expectRefused(await bench('bench-storage.mjs', args), 'storage', field);
    expect(readdirSync(ROOT).filter((n) => n.startsWith('.bench-storage'))).toEqual([]);
  });
});

describe('bench:ab and bench:ui', () => {
  it.each([
    [['--rounds', '1.5'], /--rounds "1\.5" is not a whole number/],
    [['--rounds', '1001'], /--rounds 1001: uring-lab ab takes 1 to 1000 rounds/],
    [['--duration', '9999'], /--duration 9999: uring-lab ab measures 0\.1 to 3600 s/],
    [['--trials', '0'], /--trials "0" is not a whole number ≥ 1/],
  ])('bench:ab %j is refused before the first experiment', async (args, field) => {
    expectRefused(await bench('bench-ab.mjs', args), 'ab', field);
  });

  it.each([
    [['--trace', '/nonexistent-folder/t.json'], /--trace \/nonexistent-folder\/t\.json: the folder \/nonexistent-folder does not exist; nothing was written; give a regular file/],
    [['--profile-stop', '/tmp'], /--profile-stop \/tmp: is a directory/],
  ])('bench:ui %j is refused before the browser starts', async (args, field) => {
    expectRefused(await bench('bench-ui.mjs', args), 'ui', field);
  });
});

describe('bench and bench:ab, interrupted', () => {
  it.each([
    ['bench-ab.mjs', ['--trials', '3', '--rounds', '4', '--duration', '1'], 'uring-lab-bench-ab'],
    ['bench.mjs', [], 'uring-lab-bench-runs-'],
  ])('%s: Ctrl-C mid-run exits 130 within seconds and leaves none of its folders in $TMPDIR', async (script, args, prefix) => {
    const tmp = mkdtempSync(path.join(dir, 'tmpdir-'));
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, XDG_RUNTIME_DIR: path.join(tmp, 'rt') };
    delete env.URING_LAB_RUNS_DIR;
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const running = (): boolean => { try { return readdirSync(path.join(tmp, 'rt', `uring-lab-${process.getuid!()}`, 'active-runs')).length > 0; } catch { return false; } };
    for (let i = 0; i < 300 && !running(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running()).toBe(true);
    expect(readdirSync(tmp).some((n) => n.startsWith(prefix))).toBe(true);
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(readdirSync(tmp).filter((n) => n.startsWith('uring-lab-bench'))).toEqual([]);
  });
});

describe('probe-cost', () => {
  it.each([
    [['--addon', '/nonexistent-folder/uring_lab.node'], /--addon \/nonexistent-folder\/uring_lab\.node: no such file/],
    [['--connections', '5000'], /5000 connections × 128 B: the lab would refuse it: .*load\.connections must be a whole number from 1 to/],
    [['--probes', 'bogus'], /--probes "bogus" is not a probe/],
  ])('%j is refused before the first measurement', async (args, field) => {
    const r = await bench('probe-cost.mjs', ['--rounds', '1', '--seconds', '0.2', ...args]);
    expect(r.code, r.stderr).toBe(2);
    const first = r.stderr.split('\n')[0]!;
    expect(first.startsWith('probe-cost: '), first).toBe(true);
    expect(first).toMatch(field);
    expect(r.stdout).toBe('');
  });
});

describe('the results at the end', () => {
  it('an --out whose folder went away during the bench: the results go to a file in the temporary folder, and one line says where', async () => {
    const { checkOut, writeOut } = await import(pathToFileURL(path.join(ROOT, 'scripts', 'benchOptions.mjs')).href) as {
      checkOut: (raw: string, fail: (m: string) => never) => { target: string; path: string };
      writeOut: (out: { target: string; path: string }, text: string, name: string) => string;
    };
    const folder = path.join(dir, 'going');
    mkdirSync(folder);
    const fail = (m: string): never => { throw new Error(m); };
    const out = checkOut(path.join(folder, 'r.json'), fail);
    expect(writeOut(out, '{"a":1}', 'bench:test')).toBe(path.join(folder, 'r.json'));
    expect(readFileSync(path.join(folder, 'r.json'), 'utf8')).toBe('{"a":1}');

    rmSync(folder, { recursive: true });
    const said = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let spare = '';
    let lines: unknown[][] = [];
    try {
      spare = writeOut(out, '{"samples":[1,2,3]}', 'bench:test');
    } finally {
      lines = [...said.mock.calls];
      said.mockRestore();
      expect(process.exitCode).toBe(1);
      process.exitCode = undefined;
    }
    expect(path.dirname(spare)).toBe(tmpdir());
    expect(readFileSync(spare, 'utf8')).toBe('{"samples":[1,2,3]}');
    rmSync(spare);
    expect(lines).toHaveLength(1);
    expect(String(lines[0]![0])).toMatch(new RegExp(`^bench:test: --out .*r\\.json: cannot write it \\(ENOENT.*; the results are in ${spare.replace(/[.]/g, '\\.')} instead$`));
  });

  it('checkOut refuses the lab\'s own saved runs and an empty name, as the lab\'s verbs do', async () => {
    const { checkOut } = await import(pathToFileURL(path.join(ROOT, 'scripts', 'benchOptions.mjs')).href) as {
      checkOut: (raw: string, fail: (m: string) => never) => unknown;
    };
    const fail = (m: string): never => { throw new Error(m); };
    // This file's run history (test/foldersPerFile.ts): the lab's own data.
    expect(() => checkOut(path.join(process.env.URING_LAB_RUNS_DIR!, 'x.json'), fail)).toThrow(/the lab's own data/);
    expect(() => checkOut('', fail)).toThrow(/--out : is empty/);
  });
});
