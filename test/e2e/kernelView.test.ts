/**
 * End to end: the live view's kernel side in Debian's Chromium (playwright-core) against
 * `uring-lab serve` with the real engine and the real eBPF probes (root here), at the
 * smallest window the issue names (1024×700).
 *
 * - Space on the focused Start button starts the run and, pressed again, stops it; focus stays
 *   on Start throughout; the state changes are announced in the live region;
 * - during the run both kernel heatmaps receive frames with probe data (data-frames-with-data
 *   grows), the probe panel lists every probe with its state, the kernel counters show;
 * - at 1024×700 the toolbar and the stats stay on one line, the heatmaps keep a usable height,
 *   and after the run its summary is visible without scrolling;
 * - with probes.enabled off the kernel heatmaps say "probes not attached: disabled by
 *   probes.enabled" and the run still runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PROBE_NAMES, PROBES_DISABLED_REASON } from '../../electron/contract';
import { attr, closeAll, collectErrors, launchChromium, startServe, text, type Serve } from './labPage';

let browser: Browser;
let serve: Serve;
let url = '';
let tmp: string;

const knobInput = (page: Page, p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"] [data-testid="knob-input"]`);
const focused = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName ?? null);

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-kernel-view-'));
  browser = await launchChromium();
  serve = await startServe(tmp);
  url = serve.url;
});

afterAll(() => closeAll(browser, serve, tmp));

describe('kernel view in Chromium', () => {
  it('draws kernel heatmaps and the probe panel during a run started and stopped with Space, at 1024×700', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    const errors = collectErrors(page);
    await page.goto(url);
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    // A run that outlasts the test's checks: it must still be running when Space stops it.
    const measure = knobInput(page, 'duration.measureS');
    await measure.fill('60');
    await measure.press('Enter');
    await expect.poll(() => page.locator('[data-testid="knob"][data-knob="duration.measureS"] .pending').count(), { timeout: 5_000 }).toBe(0);
    // The per-request probes (io_uring in-kernel latency) are on by default (time-sampled).
    expect(await knobInput(page, 'probes.perRequest').isChecked()).toBe(true);

    // Space on the focused Start button starts the run; focus stays there.
    await page.getByTestId('start-button').focus();
    await page.keyboard.press('Space');
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    expect(await focused(page)).toBe('start-button');
    await expect.poll(() => text(page, 'run-announcer')).toBe('run running');

    // Both kernel heatmaps get frames carrying probe data, and keep getting them.
    await expect.poll(() => attr(page, 'kernel-heatmap-uring', 'data-frames-with-data'), { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
    const before = await attr(page, 'kernel-heatmap-uring', 'data-frames-with-data');
    await expect.poll(() => attr(page, 'kernel-heatmap-uring', 'data-frames-with-data'), { timeout: 10_000 }).toBeGreaterThan(before + 5);
    await expect.poll(() => attr(page, 'kernel-heatmap-runqueue', 'data-frames-with-data'), { timeout: 10_000 }).toBeGreaterThan(5);
    await expect.poll(() => attr(page, 'kernel-heatmap-uring', 'data-cells'), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('kernel-heatmap-uring-empty').count()).toBe(0);

    // The probe panel lists every probe with its state; as root the io_uring latency probe attaches.
    await expect.poll(() => page.getByTestId('probe-row').count(), { timeout: 10_000 }).toBe(PROBE_NAMES.length);
    const probes = await page.getByTestId('probe-row').evaluateAll((rows) => rows.map((r) => [r.getAttribute('data-probe'), r.getAttribute('data-attached')]));
    expect(probes.map((p) => p[0])).toEqual([...PROBE_NAMES]);
    expect(Object.fromEntries(probes)['uring_latency']).toBe('true');
    await expect.poll(() => page.locator('[data-testid="kernel-counter"][data-counter="entersPerS"]').getAttribute('data-value'), { timeout: 10_000 }).not.toBe('');

    // 1024×700: one-line toolbar and stats; heatmaps keep a usable height.
    const toolbar = await page.locator('header.toolbar').boundingBox();
    expect(toolbar!.height).toBeLessThanOrEqual(48);
    const statTops = await page.locator('[data-testid="live-stats"] .stat').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
    expect(new Set(statTops).size).toBe(1);
    for (const id of ['latency-heatmap', 'kernel-heatmap-uring', 'kernel-heatmap-runqueue', 'throughput-chart']) {
      expect((await page.getByTestId(id).boundingBox())!.height, id).toBeGreaterThanOrEqual(60);
    }

    // Space again (focus still on Start, which is not the one that applies now) stops the run.
    await page.keyboard.press('Space');
    await expect.poll(() => text(page, 'run-state'), { timeout: 20_000 }).toBe('idle');
    expect(await focused(page)).toBe('start-button');
    await expect.poll(() => text(page, 'run-announcer'), { timeout: 10_000 }).toMatch(/^run (idle|completed|stopped)/);

    // The summary is visible without scrolling.
    await expect.poll(() => page.getByTestId('summary-status').count(), { timeout: 10_000 }).toBe(1);
    const summary = (await page.getByTestId('summary-status').boundingBox())!;
    expect(summary.y).toBeGreaterThanOrEqual(0);
    expect(summary.y + summary.height).toBeLessThanOrEqual(700);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says why the kernel heatmaps are empty when the probes are off, and the run still runs', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = collectErrors(page);
    await page.goto(url);
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    const probesSwitch = knobInput(page, 'probes.enabled');
    if ((await probesSwitch.getAttribute('aria-checked')) !== 'false') await probesSwitch.click();
    await expect.poll(() => probesSwitch.getAttribute('aria-checked'), { timeout: 5_000 }).toBe('false');
    // the host has taken the change before the run starts
    await expect.poll(() => page.locator('[data-testid="knob"][data-knob="probes.enabled"] .pending').count(), { timeout: 5_000 }).toBe(0);

    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr(page, 'latency-heatmap', 'data-cells'), { timeout: 15_000 }).toBeGreaterThan(0);
    // The toolbar with a run's id and phase in it stays inside the window: no sideways scroll,
    // the connection state on screen (a long run id once pushed it 100 px past 1440 px).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const conn = (await page.getByTestId('connection-state').boundingBox())!;
    expect(conn.x + conn.width).toBeLessThanOrEqual(1440);
    for (const id of ['kernel-heatmap-uring', 'kernel-heatmap-runqueue']) {
      await expect.poll(() => page.getByTestId(`${id}-empty`).textContent(), { timeout: 10_000 }).toContain(`probes not attached: ${PROBES_DISABLED_REASON}`);
      expect(await attr(page, id, 'data-frames-with-data')).toBe(0);
    }
    await expect.poll(() => page.locator('[data-testid="probe-row"][data-attached="false"]').count(), { timeout: 10_000 }).toBe(PROBE_NAMES.length);
    expect(await page.getByTestId('kernel-counters').count()).toBe(0);

    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 20_000 }).toBe('idle');
    // leave the host's profile as the other test expects it
    await probesSwitch.click();
    await expect.poll(() => probesSwitch.getAttribute('aria-checked'), { timeout: 5_000 }).toBe('true');
    expect(errors).toEqual([]);
    await page.close();
  });
});
