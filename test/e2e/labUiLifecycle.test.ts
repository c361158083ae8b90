/**
 * End to end, as labUi.test.ts (the same harness): a run's lifecycle and the page's
 * connection to the host.
 *
 * - a run's set-up is counted in the toolbar, and Stop during it calls the run off;
 * - "warm-up + measured, then stop" ends by itself with its summary; a run stopped in its
 *   warm-up shows no latency and says why;
 * - a server stall shows no latency (not 0 µs) and the oldest request's age;
 * - a wrong token says so and stops retrying;
 * - the host shutting down says so; the host killed under the page (SIGKILL) shows
 *   "connection lost — run state unknown", and restarted with the same token file, the page
 *   reconnects by itself and resyncs.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CLI, SQPOLL, alive, attr, childPids, collectErrors, knobInput, labTmp, newPage, NETWORK_FAILURES, openSettled, runCount, startServe, stopServe, text, useChromium, useLabHost } from './labUiHarness';

useChromium();

describe('lab UI in Chromium', () => {
  const lab = useLabHost();

  it('a run that takes seconds to set up counts them in the toolbar, then shows its elapsed time; Stop during a set-up calls it off', async () => {
    const { page, errors } = await openSettled(lab().url);
    // 2,000 connections × 256 KiB: 1 GiB of load buffers to touch and 2,000 connects before the
    // first frame (seconds here). Set back after: the next tests start from the defaults.
    const setKnob = async (knob: string, value: string) => {
      await knobInput(page, knob).fill(value);
      await knobInput(page, knob).press('Enter');
      await expect.poll(() => page.locator(`[data-testid="knob"][data-knob="${knob}"] .pending`).count(), { timeout: 5_000 }).toBe(0);
    };
    await setKnob('load.connections', '2000');
    await setKnob('load.messageBytes', '262144');
    const runsBefore = await runCount(lab());
    try {
      await page.getByTestId('start-button').click();
      // While it starts: "setting up N s" where the elapsed time will be, counting.
      await expect.poll(() => text(page, 'setup-seconds'), { timeout: 5_000 }).toMatch(/^\d+ s$/);
      expect(await text(page, 'run-state')).toBe('starting');
      expect(await page.getByTestId('elapsed').count()).toBe(0);
      await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('running');
      // Once it runs, the run's own elapsed time instead.
      expect(await page.getByTestId('setup-seconds').count()).toBe(0);
      await expect.poll(async () => parseFloat(await text(page, 'elapsed')), { timeout: 15_000 }).toBeGreaterThan(0);
      await page.getByTestId('stop-button').click();
      await expect.poll(() => text(page, 'run-state'), { timeout: 60_000 }).toBe('idle');
      // Saved once its summary is written (after the idle state).
      await expect.poll(() => runCount(lab()), { timeout: 10_000 }).toBe(runsBefore + 1);

      // Stop during the set-up calls the start off: idle again without ever running (it waited
      // out the whole set-up, then ran and stopped a run), no error, no run in the history.
      // 4,096 × 1 MiB: 8 GiB of load buffers, ~20 s of set-up here, stopped 1 s in.
      await setKnob('load.connections', '4096');
      await setKnob('load.messageBytes', '1048576');
      await page.getByTestId('start-button').click();
      await expect.poll(() => text(page, 'setup-seconds'), { timeout: 5_000 }).toMatch(/^\d+ s$/);
      await page.waitForTimeout(1000);
      await page.getByTestId('stop-button').click();
      const states: string[] = [];
      await expect.poll(async () => { states.push(await text(page, 'run-state')); return states.at(-1); }, { timeout: 60_000, interval: 50 }).toBe('idle');
      expect(states).not.toContain('running');
      expect(await page.getByTestId('error-banner').count()).toBe(0);
      expect(await runCount(lab())).toBe(runsBefore + 1);
    } finally {
      await setKnob('load.connections', '50');
      await setKnob('load.messageBytes', '128');
    }
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('"warm-up + measured, then stop": Start runs for the profile\'s time and stops by itself, with its summary', async () => {
    const { page, errors } = await openSettled(lab().url);
    // The default is until Stop, and the panel says the Duration knobs are not that run's length.
    expect(await page.getByTestId('run-length').getAttribute('data-value')).toBe('untilStopped');
    expect(await page.getByTestId('run-length-note').count()).toBe(1);
    for (const [knob, value] of [['duration.warmupS', '0.5'], ['duration.measureS', '2']] as const) {
      await knobInput(page, knob).fill(value);
      await knobInput(page, knob).press('Enter');
      await expect.poll(() => page.locator(`[data-testid="knob"][data-knob="${knob}"] .pending`).count(), { timeout: 5_000 }).toBe(0);
    }
    await page.getByTestId('run-length-profile').check();
    expect(await page.getByTestId('run-length').getAttribute('data-value')).toBe('profile');
    expect(await page.getByTestId('run-length').textContent()).toContain('(2.5 s)');
    expect(await page.getByTestId('run-length-note').count()).toBe(0);

    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    const runId = await text(page, 'run-id');
    const chartBox = async () => page.getByTestId('latency-heatmap').boundingBox();
    await expect.poll(() => attr(page, 'latency-heatmap', 'data-frames'), { timeout: 10_000 }).toBeGreaterThan(0);
    const during = await chartBox();
    // No Stop: the host ends it after 0.5 + 2 s (the engine's own bound, like `uring-lab run`).
    await expect.poll(() => text(page, 'run-state'), { timeout: 20_000 }).toBe('idle');
    await expect.poll(() => page.getByTestId('summary-status').getAttribute('data-status'), { timeout: 10_000 }).toBe('completed');
    // The spike table that appears once the run ended goes below the live charts: they keep the
    // size they had during the run (shrinking them re-rastered every chart at the stop).
    await expect.poll(() => page.getByTestId('run-spikes').count(), { timeout: 10_000 }).toBe(1);
    const after = await chartBox();
    // Within half a pixel: the stats above it re-lay out their text at the stop (sub-pixel).
    for (const k of ['y', 'width', 'height'] as const) expect(after![k]).toBeCloseTo(during![k], 0);
    const phasesBottom = await page.locator('.phases').evaluate((el) => el.getBoundingClientRect().bottom);
    const spikesTop = await page.getByTestId('run-spikes').evaluate((el) => el.getBoundingClientRect().top);
    expect(spikesTop).toBeGreaterThanOrEqual(phasesBottom);
    // It mounts 25 rows at first (hundreds in a long run cost the stop its longest task), the rest on request.
    // (A table, or the "no spikes" text: never both.)
    if (await page.getByTestId('spike-table').count()) {
      const found = await attr(page, 'spike-table', 'data-spikes');
      const rows = () => page.getByTestId('spike-row').count();
      expect(await rows()).toBe(Math.min(found, 25));
      expect(await page.getByTestId('spike-table-empty').count()).toBe(0);
      expect(await page.getByTestId('spike-table-more').count()).toBe(found > 25 ? 1 : 0);
      if (found > 25) {
        await page.getByTestId('spike-table-more').click();
        await expect.poll(rows).toBe(Math.min(found, 50));
      }
    }
    const saved = JSON.parse(execFileSync(process.execPath, [CLI, 'runs', 'export', runId, '--format', 'json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as { meta: { status: string; summary: { measuredS: number } } };
    expect(saved.meta.status).toBe('completed');
    expect(saved.meta.summary.measuredS).toBeGreaterThan(1.5);
    expect(saved.meta.summary.measuredS).toBeLessThan(2.6);
    // The choice is remembered: a reload keeps it.
    await page.reload();
    await expect.poll(() => page.getByTestId('run-length').getAttribute('data-value'), { timeout: 15_000 }).toBe('profile');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a run stopped in its warm-up shows no latency (an empty histogram\'s zeros are not measurements) and says why', async () => {
    const { page, errors } = await openSettled(lab().url);
    await page.getByTestId('run-length-until-stopped').check();
    await knobInput(page, 'duration.warmupS').fill('30');
    await knobInput(page, 'duration.warmupS').press('Enter');
    await expect.poll(() => page.locator('[data-testid="knob"][data-knob="duration.warmupS"] .pending').count(), { timeout: 5_000 }).toBe(0);
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await expect.poll(() => page.getByTestId('summary-nothing-measured').count(), { timeout: 10_000 }).toBe(1);
    expect(await text(page, 'summary-nothing-measured')).toContain('stopped during the warm-up');
    expect(await text(page, 'summary-throughput')).toBe('—');
    expect(await page.getByTestId('summary-corrected').count()).toBe(0);
    expect(await page.locator('[data-testid="run-summary"] .lat').count()).toBe(0);
    // The summary's own warning says it too (History and exports carry it); not twice here.
    const warned = await page.locator('[data-testid="summary-warnings"] li').allTextContents();
    expect(warned.filter((w) => /stopped during the warm-up/.test(w))).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a server stall: while nothing completes, the live latency tiles show no latency (not 0 µs) and in flight the oldest request\'s age', async () => {
    const { page, errors } = await openSettled(lab().url);
    await page.getByTestId('run-length-until-stopped').check();
    // A 2 s serverPause from 1.5 s, from the chaos panel (removed again at the end: the host
    // keeps the profile for the tests after this one).
    const panel = page.getByTestId('chaos-panel');
    const chaosRow = (testId: string) => page.locator(`[data-testid="chaos-row"][data-row="1"] [data-testid="${testId}"]`);
    await panel.scrollIntoViewIfNeeded();
    await page.getByTestId('chaos-add').click();
    await chaosRow('chaos-kind').selectOption('serverPause');
    await chaosRow('chaos-start').fill('1.5');
    await chaosRow('chaos-start').press('Tab');
    await chaosRow('chaos-duration').fill('2');
    await chaosRow('chaos-duration').press('Tab');
    await expect.poll(() => panel.getAttribute('data-stored'), { timeout: 5_000 }).toBe('1');
    await expect.poll(() => panel.getAttribute('data-pending')).toBe('false');
    // The tiles of one frame, read together (a frame lands every ~100 ms).
    const tiles = () => page.evaluate(() => {
      const t = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() ?? '';
      const inFlight = document.querySelector('[data-testid="in-flight"]');
      return { p50: t('p50-value'), p99: t('p99-value'), max: t('max-value'), p99Data: document.querySelector('[data-testid="p99-value"]')?.getAttribute('data-value'), oldest: inFlight?.nextElementSibling?.textContent?.trim() ?? '' };
    });
    try {
      await page.getByTestId('start-button').click();
      await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
      await expect.poll(async () => (await tiles()).p99, { timeout: 10_000 }).toMatch(/^[\d.]+ (µs|ms)$/);
      // In the pause: no request completed in the frame, so no latency to show, and the wait
      // shows as the oldest request's age instead.
      let stalled = await tiles();
      await expect.poll(async () => (stalled = await tiles()).p99, { timeout: 10_000, interval: 50 }).toBe('—');
      expect(stalled.p50).toBe('—');
      expect(stalled.max).toBe('—');
      expect(stalled.p99Data).toBe('');
      // A frame's requests all wait: the oldest is as old as the pause so far (at least a frame).
      expect(stalled.oldest).toMatch(/^oldest [\d.]+ ms$/);
      // After it, latencies again.
      await expect.poll(async () => (await tiles()).p99, { timeout: 10_000 }).toMatch(/^[\d.]+ (µs|ms|s)$/);
      await page.getByTestId('stop-button').click();
      await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
      await expect.poll(() => page.locator('[data-testid="chaos-result"][data-kind="serverPause"]').getAttribute('data-applied'), { timeout: 10_000 }).toBe('true');
    } finally {
      // The panel is locked while a run goes: a failure above must not leave it running.
      if ((await text(page, 'run-state')) !== 'idle') {
        await page.getByTestId('stop-button').click();
        await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
      }
      await chaosRow('chaos-remove').click();
      await expect.poll(() => panel.getAttribute('data-stored'), { timeout: 5_000 }).toBe('0');
    }
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('says a wrong token is not valid for this host and stops retrying', async () => {
    const page = await newPage();
    const errors = collectErrors(page, NETWORK_FAILURES);
    let sockets = 0;
    page.on('websocket', () => sockets++);
    await page.goto(`http://127.0.0.1:${lab().port}/?token=${'0'.repeat(64)}`);
    const banner = page.locator('[data-testid="connection-banner"][data-kind="refused"]');
    await expect.poll(() => banner.count(), { timeout: 10_000 }).toBe(1);
    expect(await banner.getAttribute('data-reason')).toBe('bad-token');
    expect(await banner.textContent()).toMatch(/token is not valid for this host.*open the URL `uring-lab serve` printed/);
    expect(await text(page, 'run-state')).toBe('no access');
    expect(await page.getByTestId('start-button').isDisabled()).toBe(true);
    const attempts = sockets;
    await page.waitForTimeout(3000); // the backoff would have retried several times by now
    expect(sockets).toBe(attempts);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('lab UI when the host goes away', () => {
  /** A page on `url` that started a run there (the browser's own network errors aside: the host goes away next). */
  async function runningFromPage(url: string) {
    const page = await newPage();
    const errors = collectErrors(page, NETWORK_FAILURES);
    await page.goto(url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    return { page, errors };
  }

  it('says the host shut down (not "run state unknown") when it ended the run and closed with a reason', async () => {
    const served = await startServe(['--port', '0', '--token-file', path.join(labTmp(), 'token-shutdown')]);
    const { page, errors } = await runningFromPage(served.url);
    await stopServe(served.proc, 'SIGTERM');
    const banner = page.locator('[data-testid="connection-banner"][data-kind="host-shut-down"]');
    await expect.poll(() => banner.count(), { timeout: 10_000 }).toBe(1);
    expect(await banner.textContent()).toMatch(/The lab host shut down.*ended its run first/);
    expect(await page.getByTestId('summary-status').getAttribute('data-status')).toBe('interrupted');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows the lost state when the host is killed, and reconnects by itself when it is back', async () => {
    const tokenFile = path.join(labTmp(), 'token');
    const first = await startServe(['--port', '0', '--token-file', tokenFile]);
    const { page, errors } = await runningFromPage(first.url);
    await expect.poll(() => attr(page, 'throughput-chart', 'data-frames'), { timeout: 15_000 }).toBeGreaterThan(5);

    const engines = childPids(first.proc.pid!);
    await stopServe(first.proc, 'SIGKILL');
    const lostBanner = page.locator('[data-testid="connection-banner"][data-kind="lost"]');
    await expect.poll(() => lostBanner.count(), { timeout: 10_000 }).toBe(1);
    expect(await lostBanner.textContent()).toMatch(/Connection lost — run state unknown/);
    expect(await text(page, 'run-state')).toBe('unknown');
    expect(await text(page, 'measuring')).toBe('stale');
    expect(await page.getByTestId('stop-button').isDisabled()).toBe(true);
    expect(await knobInput(page, SQPOLL).isDisabled()).toBe(true);
    expect(await page.getByTestId('stale-tag').count()).toBeGreaterThanOrEqual(3);
    if (process.env.URING_LAB_SCREENSHOT_LOST) await page.screenshot({ path: process.env.URING_LAB_SCREENSHOT_LOST });

    // The engine notices its host is gone (IPC disconnect) and stops; an orphan would skew later runs.
    await expect.poll(() => engines.filter(alive).length, { timeout: 10_000 }).toBe(0);

    // Same token file, same port: the page finds the host again by itself.
    const second = await startServe(['--port', String(first.port), '--token-file', tokenFile]);
    expect(second.token).toBe(first.token);
    await expect.poll(() => page.getByTestId('connection-banner').count(), { timeout: 15_000 }).toBe(0);
    expect(await text(page, 'connection-state')).toBe('host connected');
    // resynced: the new host runs nothing, and the run the page knew is reported, not pretended
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    // ... as the history saved it: the new host found it unfinished (its owner SIGKILLed) and
    // says interrupted, with why (it said "result unknown" while History said interrupted).
    await expect.poll(() => page.getByTestId('run-vanished').textContent(), { timeout: 10_000 })
      .toMatch(/ended while disconnected — saved as interrupted: the lab process \(pid \d+\) ended without closing the run/);
    expect(await page.getByTestId('start-button').isDisabled()).toBe(false);
    expect(await page.getByTestId('stale-tag').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
    await stopServe(second.proc);
  });
});
