/**
 * What the lab UI end-to-end files share (labUi*.test.ts): Debian's Chromium driven by
 * playwright-core against `uring-lab serve` with the real engine, spawned as a child process,
 * and the page helpers their tests read the UI with. The suite is split over several files so
 * that none runs near vitest's 60 s worker RPC timeout.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connectLab, labClient } from '../cli/wsClient';
import { attr, CLI, launchChromium, text } from './labPage';

export { attr, CLI, text };

export const ROOT = path.join(__dirname, '../..');
/** The contract as built into dist (what the served page was built against). */
export const BUILT_CONTRACT = createRequire(__filename)(path.join(ROOT, 'dist/electron/contract')) as typeof import('../../electron/contract');

export interface Serve {
  proc: ChildProcess;
  url: string;
  port: number;
  token: string;
}

const started: ChildProcess[] = [];
let browser: Browser;
let tmp: string;
/** This file's scratch folder (token files), made by useChromium's beforeAll. */
export const labTmp = () => tmp;

/** `uring-lab serve …` as a child process; resolves with the URL it printed. */
export async function startServe(args: string[]): Promise<Serve> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(proc);
  const found = await new Promise<RegExpExecArray>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no URL: ${out}`)), 20_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9A-Za-z_-]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  return { proc, url: found[0], port: Number(found[1]), token: found[2]! };
}

/** Pids of `pid`'s children (the engine process the host forked). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${pid}/status`));
function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export async function stopServe(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await exited;
}

/** Console errors and page errors of `page`, minus the browser's own network lines matching `expected`. */
export function collectErrors(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((re) => re.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** What Chromium itself logs when a WebSocket or fetch fails (the host is down, or refused the token). */
export const NETWORK_FAILURES = [
  /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/api\?.*' failed/,
  /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/,
  /^Failed to load resource: the server responded with a status of (403|426)/,
];

export async function newPage(context?: BrowserContext): Promise<Page> {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1400, height: 900 } }));
  return ctx.newPage();
}

/** A knob's control and what the kernel applied, by its catalogue path (the knob panel is generic over the catalogue). */
export const knobInput = (page: Page, path: string) => page.locator(`[data-testid="knob"][data-knob="${path}"] [data-testid="knob-input"]`);
export const knobApplied = async (page: Page, path: string) =>
  (await page.locator(`[data-testid="knob"][data-knob="${path}"] [data-testid="knob-applied"]`).textContent())?.trim() ?? '';
export const SQPOLL = 'server.sqpoll.enabled';
/**
 * A new page on the lab, settled as a user would wait before touching a knob: "idle" shows as
 * soon as the socket is up, the knobs unlock once the host's status (the profile) is in, and
 * the panel's availability states come with the doctor's answer that follows it.
 */
export async function openSettled(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await newPage();
  const errors = collectErrors(page);
  await page.goto(url);
  await expect.poll(() => text(page, 'run-state')).toBe('idle');
  await expect.poll(() => page.getByTestId('knob-panel').getAttribute('data-doctor'), { timeout: 15_000 }).toBe('checked');
  return { page, errors };
}
/** How many runs the host has saved (its history, through the lab API). */
export async function runCount(host: Serve): Promise<number> {
  const ws = await connectLab(host.port, { token: host.token, client: 'labUi-count' });
  try {
    const listed = await labClient(ws).call('listRuns');
    if (!('result' in listed)) throw new Error(`listRuns: ${JSON.stringify(listed)}`);
    return (listed.result as { total: number }).total;
  } finally {
    ws.close();
  }
}
export const measuredPhase = (page: Page, index: number) => page.locator(`[data-testid="phase-row"][data-phase="${index}"][data-measured="true"]`).count();

/** Chromium for this file's tests and a scratch folder, both gone after them with every host started. */
export function useChromium(): void {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-e2e-'));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    for (const proc of started) await stopServe(proc);
    rmSync(tmp, { recursive: true, force: true });
  });
}

/**
 * One host for the enclosing describe's tests, read through the returned getter. A test that
 * failed mid-run must not leave its run going into the next test (each starts its own, and a
 * live one is refused): every failure after it would be a knock-on, so each test's run is
 * stopped after it.
 */
export function useLabHost(): () => Serve {
  let host: Serve;
  beforeAll(async () => {
    host = await startServe(['--port', '0']);
  });
  afterEach(async () => {
    if (host.proc.exitCode !== null || host.proc.signalCode !== null) return;
    const ws = await connectLab(host.port, { token: host.token, client: 'labUi-cleanup' }).catch(() => null);
    if (!ws) return;
    try {
      const lab = labClient(ws);
      const status = await lab.call('getStatus');
      if ('result' in status && (status.result as { running?: boolean }).running) {
        await lab.call('takeControl');
        await lab.call('stopRun');
      }
    } finally {
      ws.close();
    }
  });
  return () => host;
}
