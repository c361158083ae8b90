/**
 * End to end: the real renderer in Debian's Chromium, driven by playwright-core, against
 * `uring-lab serve` with the real engine. Starts a run, watches frames arrive in both charts,
 * flips SQPOLL mid-run and sees the applied state change, then stops.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';

const ROOT = path.join(__dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let serve: ChildProcess;
let url: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  serve = spawn(process.execPath, [path.join(ROOT, 'dist/electron/cli.js'), 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve printed no URL')), 20_000);
    serve.stdout!.on('data', (chunk: Buffer) => {
      const found = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(chunk.toString());
      if (found) { clearTimeout(timer); resolve(found[0]); }
    });
    serve.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
});

const attr = async (testId: string, name: string) => Number(await page.getByTestId(testId).getAttribute(name));

describe('lab UI in Chromium', () => {
  it('streams live frames, applies SQPOLL mid-run, and stops', async () => {
    const consoleErrors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await page.goto(url);
    await expect.poll(() => page.getByTestId('run-state').textContent()).toBe('idle');

    await page.getByTestId('start-button').click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr('throughput-chart', 'data-frames'), { timeout: 15_000 }).toBeGreaterThanOrEqual(10);
    await expect.poll(() => attr('latency-heatmap', 'data-cells'), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('applied-sqpoll').textContent()).toBe('off');
    const throughput = Number((await page.getByTestId('throughput-value').textContent())!.replace(/[^\d.]/g, ''));
    expect(throughput).toBeGreaterThan(0);

    const framesBeforeToggle = await attr('throughput-chart', 'data-frames');
    await page.getByTestId('sqpoll-toggle').click();
    // applied state follows what the kernel accepted: on, or off with the refusal listed
    await expect.poll(async () => {
      const applied = await page.getByTestId('applied-sqpoll').textContent();
      const refused = await page.getByTestId('rejected-knobs').textContent();
      return applied === 'on' || /sqpoll/i.test(refused ?? '');
    }, { timeout: 15_000 }).toBe(true);
    await expect.poll(() => attr('throughput-chart', 'data-frames'), { timeout: 15_000 }).toBeGreaterThan(framesBeforeToggle + 10);
    await expect.poll(() => attr('latency-heatmap', 'data-frames'), { timeout: 15_000 }).toBeGreaterThan(framesBeforeToggle + 10);

    if (process.env.URING_LAB_SCREENSHOT) {
      mkdirSync(path.dirname(process.env.URING_LAB_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: process.env.URING_LAB_SCREENSHOT });
    }

    await page.getByTestId('stop-button').click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 15_000 }).toBe('idle');
    expect(consoleErrors).toEqual([]);
  });
});
