/**
 * The built CLI as a real child process, for the CLI tests: its exit, its output, and its first
 * stdout line (`server`'s listening line) as soon as it is written.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { expect } from 'vitest';
import { activeRunsDir } from '../../electron/host/run/contention';
import { RunSummary, RunSummarySchema } from '../../electron/contract';

export const CLI = path.join(__dirname, '../../dist/electron/cli.js');

export interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface Started {
  child: ChildProcess;
  done: Promise<Finished>;
  /** Resolves with the first stdout line, or rejects if the CLI exits first. */
  firstLine: Promise<string>;
}

/** `detached`: the CLI leads its own process group, as a shell's foreground job does. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): Started {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, detached: options.detached });
  let stdout = '';
  let stderr = '';
  let lineWaiter: ((line: string) => void) | null = null;
  const firstLine = new Promise<string>((resolve, reject) => {
    lineWaiter = resolve;
    child.on('exit', (code) => reject(new Error(`exited (${code}) before a line: ${stderr}`)));
  });
  firstLine.catch(() => undefined);
  child.stdout!.on('data', (d) => {
    stdout += d;
    const nl = stdout.indexOf('\n');
    if (nl >= 0 && lineWaiter) { lineWaiter(stdout.slice(0, nl)); lineWaiter = null; }
  });
  child.stderr!.on('data', (d) => { stderr += d; });
  const done = new Promise<Finished>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, firstLine };
}

/** stderr is exactly one `uring-lab: ` line matching `pattern`, bounded in length. */
export function expectOneErrorLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^uring-lab: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0].length).toBeLessThan(1200);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The engine process forked by a CLI process (waits up to 5 s for the fork). Matched by its
 * entry, not taken as the CLI's first child: the CLI also runs short-lived helpers (getconf for
 * the cache sizes, getcap), and one alive when pgrep looks, or listed first once pids wrap
 * (pid_max 32768 here), would be taken for the engine. A stall test that stopped it would see no
 * stall; measurementHonesty once read a 2 s stall as max 8 ms, which this may explain.
 */
export async function enginePidOf(cliPid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    try {
      const out = execFileSync('pgrep', ['-P', String(cliPid), '-f', 'engine/main\\.js'], { encoding: 'utf8' }).trim();
      if (out) return Number(out.split('\n')[0]);
    } catch { /* not forked yet */ }
    await sleep(50);
  }
  throw new Error('no engine process');
}

/** The one RunSummary line `--json` printed on stdout, checked against the contract. */
export function runSummaryOf(r: Finished): RunSummary {
  const lines = r.stdout.trim().split('\n');
  expect(lines, `${r.stdout}\n${r.stderr}`).toHaveLength(1);
  return RunSummarySchema.parse(JSON.parse(lines[0]));
}

/**
 * Waits until the CLI process's run is running (past its start: it registered itself among the
 * active runs), so a fault injected now hits a run, not a start (up to 15 s). The CLI inherits
 * this process's environment, so both see the same registry folder, unless it was given
 * another XDG_RUNTIME_DIR: pass that as `runtimeDir`.
 */
export async function runningRunOf(cliPid: number, runtimeDir?: string): Promise<void> {
  const dir = runtimeDir === undefined ? activeRunsDir() : registryUnder(runtimeDir);
  for (let i = 0; i < 300; i++) {
    try {
      if (readdirSync(dir).some((f) => f.startsWith(`${cliPid}-`))) return;
    } catch { /* the folder is made by the first run */ }
    await sleep(50);
  }
  throw new Error(`the run of CLI ${cliPid} did not reach running in 15 s`);
}

/** The registry folder a CLI with XDG_RUNTIME_DIR=`runtimeDir` uses (the lab's own rule, not a copy of it). */
function registryUnder(runtimeDir: string): string {
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = runtimeDir;
  try {
    return activeRunsDir();
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
  }
}

/**
 * SIGINT to a CLI run 1.5 s into its measured window (past its start: the probes attach during
 * it), then the checks every interrupted run must pass: exit 130, one `interrupted by SIGINT`
 * line, a partial summary with requests and less than 10 s measured. Returns the summary.
 */
export async function interruptedMidRun(started: Started, runtimeDir?: string): Promise<RunSummary> {
  await enginePidOf(started.child.pid!);
  await runningRunOf(started.child.pid!, runtimeDir);
  await sleep(1500);
  started.child.kill('SIGINT');
  const r = await started.done;
  expect(r.code).toBe(130);
  const s = runSummaryOf(r);
  expect(s.status).toBe('interrupted');
  expect(s.failure?.message).toMatch(/SIGINT/);
  expect(s.requests).toBeGreaterThan(0);
  expect(s.measuredS).toBeLessThan(10);
  expectOneErrorLine(r.stderr, /interrupted by SIGINT/);
  return s;
}

/** The CLI run to its end (at most 60 s), with the caller's environment. */
export function cliSync(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A private runtime, data and history folder for one test (removed after it): its runs share nothing. */
export async function inScratch(prefix: string, body: (env: NodeJS.ProcessEnv, tmp: string) => unknown): Promise<void> {
  const tmp = mkdtempSync(path.join(tmpdir(), prefix));
  const env = { ...process.env, XDG_RUNTIME_DIR: path.join(tmp, 'rt'), XDG_DATA_HOME: path.join(tmp, 'data'), URING_LAB_RUNS_DIR: path.join(tmp, 'runs') };
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  try {
    await body(env, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
