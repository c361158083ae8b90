/**
 * End to end, in Debian's Chromium against `uring-lab serve` with the real engine:
 * - the A/B view runs "current knobs" against "current knobs with one change" (server.engine =
 *   epoll), shows live progress, then the report: the metrics table with a verdict per metric,
 *   the knob that differs, and both heatmaps drawn from the rounds' frames; the experiment is
 *   listed among the saved ones;
 * - a change naming no knob is refused with the field named, and nothing starts;
 * - the exported HTML report opens in Chromium with every network request blocked (it needs
 *   none) and shows both heatmaps and the metrics table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CLI, closeAll, collectErrors, launchChromium, privateLabEnv, startServe, type Serve } from './labPage';

let browser: Browser;
let tmp: string;
let serve: Serve;

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  return ctx.newPage();
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-abview-'));
  browser = await launchChromium();
  serve = await startServe(tmp);
});

afterAll(() => closeAll(browser, serve, tmp));

describe('A/B in Chromium', () => {
  it('runs current knobs against one change and shows the verdict, the knob and both heatmaps', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(serve.url);
    await page.getByTestId('view-ab').click();
    // Rounds and seconds the host would refuse: said here, Start disabled until they are right.
    for (const [id, value] of [['ab-rounds', '0'], ['ab-rounds', '2.5'], ['ab-duration', '-1']] as const) {
      await page.getByTestId(id).fill(value);
      await expect.poll(() => page.getByTestId('ab-form-problem').count()).toBe(1);
      expect(await page.getByTestId('ab-start').isDisabled()).toBe(true);
      await page.getByTestId(id).fill(id === 'ab-rounds' ? '2' : '0.3');
    }
    expect(await page.getByTestId('ab-form-problem').count()).toBe(0);
    // A change that names no knob: refused by the host with the field, nothing runs.
    await page.getByTestId('ab-change-path').fill('server.nosuchknob');
    await page.getByTestId('ab-rounds').fill('2');
    await page.getByTestId('ab-duration').fill('0.3');
    await page.getByTestId('ab-start').click();
    await expect.poll(() => page.getByTestId('ab-error').textContent(), { timeout: 10_000 }).toMatch(/nosuchknob/);

    await page.getByTestId('ab-change-path').fill('server.engine');
    await page.getByTestId('ab-change-value').fill('epoll');
    await page.getByTestId('ab-rounds').fill('3');
    await page.getByTestId('ab-duration').fill('0.6');
    await page.getByTestId('ab-start').click();
    // Another tab sees the arms as the experiment's: no Take control (the host refuses it; taking
    // an arm left the owner's Stop disabled and gave the other tab a Stop that was refused).
    const observer = await newPage();
    await observer.goto(serve.url);
    const abBanner = observer.locator('[data-testid="observer-banner"][data-ab="true"]');
    await expect.poll(() => abBanner.count(), { timeout: 20_000 }).toBe(1);
    expect(await observer.getByTestId('take-control').count()).toBe(0);
    await observer.close();
    await expect.poll(async () => (await page.getByTestId('ab-progress').count()) > 0 || (await page.getByTestId('ab-report').count()) > 0, { timeout: 15_000 }).toBe(true);
    const report = page.getByTestId('ab-report');
    await expect.poll(() => report.getAttribute('data-status'), { timeout: 30_000 }).toBe('completed');
    expect(await report.locator('[data-metric="throughputRps"]').getAttribute('data-verdict')).toBe('insufficient'); // two rounds: never a guess
    expect(await page.getByTestId('ab-knob-diff').textContent()).toContain('server.engine');
    for (const arm of ['a', 'b']) {
      expect(Number(await report.getByTestId(`ab-heatmap-${arm}`).getAttribute('data-frames'))).toBeGreaterThan(0);
    }
    await expect.poll(() => page.locator('[data-testid="ab-saved"] [data-experiment]').count(), { timeout: 10_000 }).toBe(1);
    expect(errors).toEqual([]);
  }, 90_000);

  it('the HTML report opens with the network blocked and shows both heatmaps and the table', async () => {
    const a = path.join(tmp, 'a.json');
    const b = path.join(tmp, 'b.json');
    writeFileSync(a, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'io_uring', load: { connections: 4 } }));
    writeFileSync(b, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'epoll', server: { engine: 'epoll' }, load: { connections: 4 } }));
    const out = path.join(tmp, 'report.html');
    const env = privateLabEnv(tmp, 'cli');
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'ab', a, b, '--rounds', '2', '--duration', '0.3', '--warmup', '0', '--out', out], { stdio: 'ignore', env });
      p.once('exit', resolve);
    });
    expect(code).toBe(0);
    const page = await newPage();
    const requests: string[] = [];
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith('file:')) return route.continue();
      requests.push(u);
      return route.abort();
    });
    await page.goto(`file://${out}`);
    expect(await page.getByTestId('ab-metrics').locator('tbody tr').count()).toBe(6);
    for (const arm of ['a', 'b']) {
      const svg = page.getByTestId(`ab-heatmap-${arm}`);
      expect(Number(await svg.getAttribute('data-frames'))).toBeGreaterThan(0);
      expect(await svg.locator('rect').count()).toBeGreaterThan(5);
    }
    expect(await page.getByTestId('ab-percentiles').locator('polyline').count()).toBe(2);
    expect(requests).toEqual([]);
    const embedded = JSON.parse(await page.locator('#ab-report').textContent() ?? 'null');
    expect(embedded.kind).toBe('uring-lab/ab-report');
    expect(readFileSync(out, 'utf8')).not.toMatch(/https?:\/\//);
  }, 90_000);
});
