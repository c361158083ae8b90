/**
 * What the end-to-end tests share: Debian's Chromium driven by playwright-core, and
 * `uring-lab serve` as a child process with private runtime, data and history folders (the
 * one-run-per-machine check must not see other suites' runs; saved runs and profiles stay out
 * of the user's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CLI = path.join(__dirname, '../../dist/electron/cli.js');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** The environment of a lab process whose folders all live in `tmp`. */
export function privateLabEnv(tmp: string, name = 'lab'): NodeJS.ProcessEnv {
  const env = {
    ...process.env,
    XDG_RUNTIME_DIR: path.join(tmp, `${name}-runtime`),
    XDG_DATA_HOME: path.join(tmp, `${name}-data`),
    URING_LAB_RUNS_DIR: path.join(tmp, `${name}-runs`),
  };
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  return env;
}

export interface Serve {
  url: string;
  proc: ChildProcess;
  env: NodeJS.ProcessEnv;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** `uring-lab serve --port 0` with its folders in `tmp`; resolves with the URL it prints. */
export async function startServe(tmp: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const env = { ...privateLabEnv(tmp), ...extraEnv };
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no URL: ${out}`)), 20_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9A-Za-z_-]+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  return {
    url, proc, env,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Ends what a suite started: the browser, the host, its folders. */
export async function closeAll(browser: Browser | undefined, serve: Serve | undefined, tmp: string | undefined): Promise<void> {
  await browser?.close();
  await serve?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

/** Console errors and uncaught exceptions of a page, collected as they happen. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

export const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent())?.trim() ?? '';
export const attr = async (page: Page, testId: string, name: string) => Number(await page.getByTestId(testId).first().getAttribute(name));
