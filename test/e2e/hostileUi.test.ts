/**
 * End to end, a hostile user's pass over the browser UI (Debian's Chromium, playwright-core,
 * `uring-lab serve` with the real engine, its folders in a temp dir). Each run is short and one
 * at a time.
 *
 * - a WebSocket that drops again and again mid-run: once the run ends, the page holds every
 *   frame the host saved for it and says none is lost (a frame arriving past a gap used to be
 *   pushed at once, moving the buffer past frames the host still kept: "7 frames lost" of a
 *   run the host had whole, and charts with holes);
 * - a profile past the host's message limit, pasted or picked as a file, is refused with the
 *   field named and the box's text kept, and the connection stays up (sent, it made the host
 *   close the socket: "lost before it answered; may or may not have taken effect");
 * - at 800×600 no view scrolls the page sideways, and the connection state, Start/Stop and
 *   each saved run's Delete stay inside the window (the app's 900 px minimum put them past it);
 * - mid-run, a number typed while the knob's previous change is on its way is kept in the field
 *   when that change lands (the re-render put the old value back under the typing, and Enter
 *   took it), and values entered while one is on its way are applied after it, the last winning
 *   (they were dropped: the run went on with a value the user had replaced).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunFrame } from '../../electron/contract';
import { CLI, closeAll, collectErrors, launchChromium, startServe, text, type Serve } from './labPage';

let browser: Browser;
let tmp: string;
let serve: Serve;

/** What Chromium logs when a socket the test closed was still connecting (not the page's errors). */
const NETWORK_NOISE = [/^WebSocket connection to .* failed/, /^Failed to load resource/];

async function newPage(width = 1400, height = 900): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height } });
  return ctx.newPage();
}

/** The run as the host saved it (`runs show ID --json`: meta and every frame). */
function savedRun(id: string): { frames: RunFrame[] } {
  return JSON.parse(execFileSync(process.execPath, [CLI, 'runs', 'show', id, '--json'], { env: serve.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as { frames: RunFrame[] };
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-hostile-'));
  browser = await launchChromium();
  serve = await startServe(tmp);
});

afterAll(() => closeAll(browser, serve, tmp));

describe('hostile use of the browser UI', () => {
  it('a pasted or picked profile too large for the host is refused by field, the text kept, the connection up', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(serve.url);
    await page.getByTestId('view-profiles').click();
    await expect.poll(async () => Number(await page.getByTestId('profiles').getAttribute('data-presets')), { timeout: 15_000 }).toBeGreaterThan(0);
    const savedBefore = await page.getByTestId('profiles').getAttribute('data-saved');
    const states: string[] = [];
    await page.exposeFunction('noteState', (s: string) => states.push(s));
    await page.evaluate(() => {
      const el = document.querySelector('[data-testid="connection-state"]')!;
      new MutationObserver(() => (window as unknown as { noteState(s: string): void }).noteState(el.textContent ?? '')).observe(el, { subtree: true, characterData: true, childList: true });
    });

    // A valid profile padded past 64 KiB (a pretty-printer gone wrong): JSON the host would parse.
    const padded = `{ "kind": "uring-lab/profile", "schemaVersion": 1, "name": "padded"${' '.repeat(100_000)}}`;
    await page.getByTestId('profile-import-text').fill(padded);
    await page.getByTestId('profile-import-button').click();
    const error = page.getByTestId('profile-import-error');
    await expect.poll(() => error.count(), { timeout: 10_000 }).toBe(1);
    expect(await error.getAttribute('data-field')).toBe('text');
    expect(await error.getAttribute('data-code')).toBe('BAD_REQUEST');
    expect(await error.textContent()).toMatch(/text: 98 KiB is more than the host takes in one request \(64 KiB\)/);
    expect(await page.getByTestId('profile-import-text').inputValue()).toBe(padded);

    // A file that large is refused before it is read: the box keeps the user's text.
    await page.getByTestId('profile-import-text').fill('my notes');
    await page.getByTestId('profile-import-file').setInputFiles({ name: 'huge.json', mimeType: 'application/json', buffer: Buffer.from(padded) });
    await expect.poll(() => error.getAttribute('data-field')).toBe('file');
    expect(await error.textContent()).toMatch(/file huge\.json: 98 KiB is more than a profile import takes/);
    expect(await page.getByTestId('profile-import-text').inputValue()).toBe('my notes');

    expect(states.filter((s) => !/connected$/.test(s))).toEqual([]);
    expect(await text(page, 'connection-state')).toMatch(/connected$/);
    expect(await page.getByTestId('profiles').getAttribute('data-saved')).toBe(savedBefore);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('at 800×600 and 1440×900 every view fits the window: the page itself never scrolls, the controls in view', async () => {
    // A saved run, so History has rows with their actions.
    execFileSync(process.execPath, [CLI, 'run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--json'], { env: serve.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    for (const [width, height] of [[800, 600], [1440, 900]]) {
      const page = await newPage(width, height);
      const errors = collectErrors(page);
      await page.goto(serve.url);
      await expect.poll(() => text(page, 'run-state')).toBe('idle');
      const inWindow = async (testId: string) => {
        const box = await page.getByTestId(testId).first().boundingBox();
        return box !== null && box.x >= 0 && box.x + box.width <= width;
      };
      for (const view of ['live', 'history', 'diagnose', 'profiles', 'ab', 'doctor']) {
        await page.getByTestId(`view-${view}`).click();
        if (view === 'history') await expect.poll(() => page.getByTestId('history-run').count(), { timeout: 10_000 }).toBeGreaterThan(0);
        // Each view scrolls inside its panels. The page scrolling too (an element that escapes
        // its panel's clip: the Live view's knob panel once stretched the page by 1,900 px of
        // blank) takes the toolbar and charts out of the window under the mouse wheel.
        const [scrollWidth, clientWidth, scrollHeight, clientHeight] = await page.evaluate(() => {
          const root = document.documentElement;
          return [root.scrollWidth, root.clientWidth, root.scrollHeight, root.clientHeight];
        });
        expect(scrollWidth, `${width}×${height} ${view} scrolls sideways`).toBe(clientWidth);
        expect(scrollHeight, `${width}×${height} ${view} scrolls up and down as a whole`).toBe(clientHeight);
        for (const id of ['connection-state', 'start-button', 'stop-button', ...(view === 'history' ? ['history-delete', 'history-export'] : [])]) {
          expect(await inWindow(id), `${width}×${height} ${view}: ${id} in the window`).toBe(true);
        }
      }
      expect(errors).toEqual([]);
      await page.context().close();
    }
  });

  it('a socket dropped six times in a row mid-run loses no frame the host kept', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    // Every socket the page opens, so the test can drop the live one as a flaky network would.
    await page.addInitScript(() => {
      const Native = window.WebSocket;
      const sockets: WebSocket[] = [];
      (window as unknown as { labSockets: WebSocket[] }).labSockets = sockets;
      window.WebSocket = class extends Native {
        constructor(...args: ConstructorParameters<typeof WebSocket>) {
          super(...args);
          sockets.push(this);
        }
      };
    });
    await page.goto(serve.url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');

    // Dropped again as soon as it is back: the drop lands while the reconnect's status and
    // missed-frames fetch are on their way, as on a network that flaps.
    for (let i = 0; i < 6; i++) {
      await page.evaluate(() => (window as unknown as { labSockets: WebSocket[] }).labSockets.find((s) => s.readyState === WebSocket.OPEN)?.close());
      await expect.poll(() => text(page, 'run-state')).toBe('unknown');
      await expect.poll(() => text(page, 'connection-state'), { timeout: 10_000 }).toMatch(/connected$/);
    }
    // Frames flow again before the stop (the gaps are behind the buffer's newest frame).
    const framesBack = Number(await page.getByTestId('throughput-chart').getAttribute('data-frames'));
    await expect.poll(async () => Number(await page.getByTestId('throughput-chart').getAttribute('data-frames')), { timeout: 10_000 }).toBeGreaterThan(framesBack + 2);

    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    const saved = savedRun(await text(page, 'run-id'));
    expect(saved.frames.length).toBeGreaterThan(10);
    await expect.poll(async () => Number(await page.getByTestId('throughput-chart').getAttribute('data-frames')), { timeout: 10_000 }).toBe(saved.frames.length);
    expect(await page.getByTestId('frames-lost').count()).toBe(0);
    expect(errors.filter((e) => !NETWORK_NOISE.some((re) => re.test(e)))).toEqual([]);
    await page.context().close();
  });

  it('numbers typed and entered while the knob\'s change is on its way are kept, and applied after it', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(serve.url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    const row = page.locator('[data-testid="knob"][data-knob="load.connections"]');
    const input = row.locator('[data-testid="knob-input"]');
    // "applying…" while a change is on its way; the applied value once it landed.
    const applied = async () => (await row.locator('[data-testid="knob-applied"]').allTextContents()).join('').trim();
    // Mid-run each change restarts the engine as a new phase, so an answer takes a while.
    await input.fill('10');
    await input.press('Enter');
    await input.fill('20'); // typed, not entered, while 10 is on its way
    await expect.poll(applied, { timeout: 15_000 }).toMatch(/^10\b/);
    expect(await input.inputValue()).toBe('20');
    await input.press('Enter');
    await input.fill('30');
    await input.press('Enter'); // most likely while 20 is on its way
    await expect.poll(applied, { timeout: 15_000 }).toMatch(/^30\b/);
    expect(await input.inputValue()).toBe('30');
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    const saved = savedRun(await text(page, 'run-id')) as unknown as { meta: { summary: { phases: Array<{ applied: { load: { connections: number } } }> } } };
    // Every value entered became a phase, in the order entered.
    expect(saved.meta.summary.phases.slice(1).map((p) => p.applied.load.connections)).toEqual([10, 20, 30]);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
