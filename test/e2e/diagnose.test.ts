/**
 * End to end (issue 12's Playwright check): the real renderer in Debian's Chromium against
 * `uring-lab serve` with the real engine, probes and fault injection (root here).
 *
 * - the chaos panel refuses a bad row in one line naming the row and the fix, and keeps what
 *   the host has (the bad row is never sent);
 * - a short run with cpuHog scheduled from the chaos panel (warm-up 0.5 s, stopped at 4.5 s,
 *   cpuHog at 2 s for 1 s) shows a spike marker on the client heatmap once it ends; clicking it opens
 *   the evidence panel naming `cpu-contention` with the hog (`uring-lab-hog`) among its tasks,
 *   with the window's timeline; the chaos panel says the injection applied;
 * - the Diagnose view's flame graph tab draws the run's on-CPU profile (rectangles with their
 *   samples on hover, click zooms), and its spike table opens the same panel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { attr, closeAll, collectErrors, launchChromium, startServe, text, type Serve } from './labPage';

let browser: Browser;
let serve: Serve;
let tmp: string;

/** Screenshots for a person to look at, only when asked: URING_LAB_SCREENSHOT_DIR=/some/dir. */
const shot = async (page: Page, name: string) => {
  const dir = process.env.URING_LAB_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: path.join(dir, name) });
};
const knobInput = (page: Page, p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"] [data-testid="knob-input"]`);
const knobSettled = (page: Page, p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"] .pending`).count();
const chaos = (page: Page, testId: string, row: number) => page.locator(`[data-testid="chaos-row"][data-row="${row}"] [data-testid="${testId}"]`);

async function setNumberKnob(page: Page, p: string, value: string): Promise<void> {
  const input = knobInput(page, p);
  await input.fill(value);
  await input.press('Enter');
  await expect.poll(() => knobSettled(page, p), { timeout: 5_000 }).toBe(0);
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-diagnose-ui-'));
  browser = await launchChromium();
  serve = await startServe(tmp);
});

afterAll(() => closeAll(browser, serve, tmp));

describe('spike attribution in Chromium', () => {
  it('schedules cpuHog from the chaos panel, marks the spike it causes and names the hog', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors = collectErrors(page);
    await page.goto(serve.url);
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await setNumberKnob(page, 'duration.warmupS', '0.5');

    // One cpuHog at 2 s for 1 s.
    const panel = page.getByTestId('chaos-panel');
    await panel.scrollIntoViewIfNeeded();
    await page.getByTestId('chaos-add').click();
    await chaos(page, 'chaos-kind', 1).selectOption('cpuHog');
    await chaos(page, 'chaos-start', 1).fill('2');
    await chaos(page, 'chaos-start', 1).press('Tab');
    await chaos(page, 'chaos-duration', 1).fill('1');
    await chaos(page, 'chaos-duration', 1).press('Tab');
    await expect.poll(() => panel.getAttribute('data-stored'), { timeout: 5_000 }).toBe('1');
    await expect.poll(() => panel.getAttribute('data-pending')).toBe('false');

    // A bad row: one line naming the row and the fix; the bad value is never sent (the host keeps
    // the row as it was added, valid: a second injection after the first).
    await page.getByTestId('chaos-add').click();
    await expect.poll(() => panel.getAttribute('data-stored'), { timeout: 5_000 }).toBe('2');
    await chaos(page, 'chaos-duration', 2).fill('0');
    await chaos(page, 'chaos-duration', 2).press('Tab');
    const error = page.locator('[data-testid="chaos-error"][data-row="2"]');
    await expect.poll(() => error.textContent()).toMatch(/^row 2: duration "0" is out of range — give seconds between/);
    // …and a second cpuHog overlapping the first: refused the same way.
    await chaos(page, 'chaos-duration', 2).fill('1');
    await chaos(page, 'chaos-start', 2).fill('2.5');
    await chaos(page, 'chaos-start', 2).press('Tab');
    await expect.poll(() => error.textContent()).toMatch(/^row 2: overlaps row 1 \(both cpuHog\) — start it at 3 s or later/);
    expect(await page.getByTestId('chaos-error').count()).toBe(1);
    expect(await text(page, 'chaos-unsaved')).toContain('the next run uses the 2 injections saved before');
    expect(await panel.getAttribute('data-stored')).toBe('2');
    await chaos(page, 'chaos-remove', 2).click();
    await expect.poll(() => page.getByTestId('chaos-error').count()).toBe(0);
    await expect.poll(() => panel.getAttribute('data-stored'), { timeout: 5_000 }).toBe('1');

    // The run (the UI's runs go until stopped): stopped 4.5 s in, after the hog's second; its
    // summary carries the spike report, and the client heatmap its markers (only once the run
    // ended: no per-frame work).
    const markers = page.getByTestId('latency-heatmap-spike');
    const runWithHog = async (): Promise<string[]> => {
      await page.getByTestId('start-button').click();
      await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
      await expect.poll(async () => parseFloat(await text(page, 'elapsed')), { timeout: 20_000 }).toBeGreaterThanOrEqual(4.5);
      await page.getByTestId('stop-button').click();
      await expect.poll(() => text(page, 'run-state'), { timeout: 20_000 }).toBe('idle');
      await expect.poll(() => page.locator('[data-testid="chaos-result"][data-kind="cpuHog"]').getAttribute('data-applied'), { timeout: 10_000 }).toBe('true');
      // The report comes after the summary; a run without spikes never shows a marker.
      const shown = await expect.poll(() => markers.count(), { timeout: 15_000 }).toBeGreaterThan(0).then(() => true, () => false);
      return shown ? markers.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? '')) : [];
    };
    // The spike whose window overlapped the hog's second (the report's own overlap, from the
    // hog's real start and end; others may come from the machine). Not the label's rounded
    // times: a one-frame spike at 1.904–2.004 s reads "at 1.9 s for 100 ms".
    const isHog = (l: string) => /cpu-contention \(\d+ %\), during cpuHog$/.test(l);
    // On 2 vCPUs shared with Chromium, the host and whatever the VM's host does, a 1 s hog is
    // not always above the run's own noise (k = 4 spreads over a baseline Chromium's drawing
    // shares the CPUs with): detection's recall is bench:diagnose's number, not this test's.
    // Up to three runs, and one must show the hog's spike; what follows checks its panel.
    const seen: string[] = [];
    let labels: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      labels = await runWithHog();
      seen.push(`run ${attempt + 1}: ${labels.join(' | ') || 'no spike'}`);
      if (labels.some(isHog)) break;
    }
    const hogMarker = labels.findIndex(isHog);
    expect(hogMarker, `marker labels: ${seen.join('; ')}`).toBeGreaterThanOrEqual(0);
    await shot(page, 'uring-lab-diagnose-markers.png');
    const hogSpike = await markers.nth(hogMarker).getAttribute('data-spike');
    await markers.nth(hogMarker).click();

    const spikePanel = page.getByTestId('spike-panel');
    await expect.poll(() => spikePanel.count()).toBe(1);
    expect(await spikePanel.getAttribute('data-top-cause')).toBe('cpu-contention');
    const top = page.locator('[data-testid="spike-cause"]').first();
    expect(await top.getAttribute('data-cause')).toBe('cpu-contention');
    expect(Number(await top.getAttribute('data-confidence'))).toBeGreaterThan(0);
    const tasks = await top.locator('[data-testid="spike-task"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-comm')));
    expect(tasks).toContain('uring-lab-hog');
    expect(await top.locator('[data-testid="spike-evidence"]').count()).toBeGreaterThan(0);
    // The window's timeline, from the saved frames: the injection's lane among its rows.
    await expect.poll(() => attr(page, 'spike-timeline', 'data-rows'), { timeout: 10_000 }).toBeGreaterThan(1);
    expect(await page.locator('[data-testid="spike-timeline-row"][data-row="injections"]').count()).toBe(1);
    await shot(page, 'uring-lab-diagnose-panel.png');
    // Modal: focus starts on Close and Tab / Shift+Tab stay inside the panel.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('spike-panel-close');
    const focusInPanel = () => page.evaluate(() => !!document.activeElement?.closest('[data-testid="spike-panel"]'));
    await page.keyboard.press('Shift+Tab');
    expect(await focusInPanel()).toBe(true);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('spike-panel-close');
    // Esc closes it and gives focus back to the marker.
    await page.keyboard.press('Escape');
    await expect.poll(() => spikePanel.count()).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('latency-heatmap-spike');
    // Enter on the focused marker opens it again.
    await page.keyboard.press('Enter');
    await expect.poll(() => spikePanel.count()).toBe(1);
    await page.getByTestId('spike-panel-close').click();

    // The Diagnose view: the spike table opens the same panel; the flame graph draws the profile.
    await page.getByTestId('view-diagnose').click();
    const row = page.locator(`[data-testid="spike-row"][data-spike="${hogSpike}"]`);
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
    await row.click();
    await expect.poll(() => spikePanel.getAttribute('data-spike')).toBe(hogSpike);
    expect(await spikePanel.getAttribute('data-top-cause')).toBe('cpu-contention');
    await page.keyboard.press('Escape');
    // Space on the focused row opens its panel, and only that: it started a run as well.
    await expect.poll(() => spikePanel.count()).toBe(0);
    await row.focus();
    await page.keyboard.press('Space');
    await expect.poll(() => spikePanel.getAttribute('data-spike')).toBe(hogSpike);
    await new Promise((r) => setTimeout(r, 500));
    expect(await text(page, 'run-state')).toBe('idle');
    await page.keyboard.press('Escape');

    await page.getByTestId('diagnose-tab-flame').click();
    const flame = page.getByTestId('flame-graph');
    await expect.poll(() => attr(page, 'flame-graph', 'data-rects'), { timeout: 10_000 }).toBeGreaterThan(3);
    expect(await attr(page, 'flame-graph', 'data-samples')).toBeGreaterThan(0);
    // How much of the workers' CPU time the samples cover, from the run's own CPU counts.
    const share = await attr(page, 'flame-sampled-share', 'data-share');
    expect(share).toBeGreaterThan(0);
    expect(await text(page, 'flame-sampled-share')).toMatch(/^\d+ % of the workers' CPU time sampled$/);
    expect(await page.getByTestId('flame-undersampled').count()).toBe(share < 0.8 ? 1 : 0);
    // The engine's threads are the stacks' first frames.
    const firstFrames = await flame.locator('[data-testid="flame-rect"][data-depth="1"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')));
    expect(firstFrames.some((n) => /^uring-/.test(n ?? '')), `threads: ${firstFrames.join(', ')}`).toBe(true);
    const thread = flame.locator('[data-testid="flame-rect"][data-depth="1"]').first();
    await thread.hover();
    await expect.poll(() => text(page, 'flame-hover')).toMatch(/samples \(\d+\.\d\d %\)/);
    await thread.click();
    await expect.poll(() => page.getByTestId('flame-reset').count()).toBe(1);
    await shot(page, 'uring-lab-diagnose-flame.png');

    expect(errors).toEqual([]);
    await page.close();
  }, 150_000); // up to three 4.5 s runs, each with its report
});
