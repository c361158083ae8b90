/**
 * End to end: the History, Profiles and Doctor views in Debian's Chromium (playwright-core)
 * against `uring-lab serve` with the real engine, its run history and saved profiles in a
 * temp dir.
 *
 * - a run made in the UI is listed in History after a page reload and reopens with its charts
 *   (the replayed heatmap draws its frames), and the chart export offers a PNG of it;
 * - a malformed profile pasted into the import box is refused with the field named inline, the
 *   text stays in the box and nothing is saved;
 * - a preset applied is the tab's profile after a reload, and the page says which preset it was;
 * - the current profile exported in each format downloads what the host made (checked by content);
 * - the doctor shows this machine's kernel release (os.release()).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { closeAll, collectErrors, launchChromium, startServe, text, type Serve } from './labPage';

let browser: Browser;
let tmp: string;
let serve: Serve;
let url = '';

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  return ctx.newPage();
}

/** Runs `click` and returns the file it downloaded: its suggested name and its text. */
async function download(page: Page, click: () => Promise<void>): Promise<{ name: string; text: string; bytes: Buffer }> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), click()]);
  const bytes = readFileSync(await dl.path());
  return { name: dl.suggestedFilename(), text: bytes.toString('utf8'), bytes };
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-views-'));
  browser = await launchChromium();
  serve = await startServe(tmp);
  url = serve.url;
});

afterAll(() => closeAll(browser, serve, tmp));

describe('History, Profiles and Doctor views in Chromium', () => {
  it('lists a run in History after a reload and reopens it with its charts', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(async () => Number(await page.getByTestId('latency-heatmap').getAttribute('data-frames')), { timeout: 15_000 }).toBeGreaterThanOrEqual(10);
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    // the toolbar names the run it shows
    const runId = await page.locator('.toolbar .run-id').getAttribute('title');
    expect(runId).toBeTruthy();

    await page.getByTestId('view-history').click();
    await page.reload();
    // the open view is remembered across the reload (layout in localStorage)
    const row = page.locator(`[data-testid="history-run"][data-run="${runId}"]`);
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(1);
    expect(await row.getAttribute('data-status')).toBe('completed');
    expect(Number((await row.locator('td.num').first().textContent())!.replace(/[^\d]/g, ''))).toBeGreaterThan(0);
    // the run is on disk, in the history's folder
    expect(readdirSync(serve.env.URING_LAB_RUNS_DIR!).join(' ')).toContain(runId!);

    await row.getByTestId('history-open').click();
    const replay = page.getByTestId('history-replay');
    await expect.poll(() => replay.getAttribute('data-run'), { timeout: 15_000 }).toBe(runId);
    const heatmap = replay.getByTestId('latency-heatmap');
    await expect.poll(async () => Number(await heatmap.getAttribute('data-frames')), { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
    expect(Number(await replay.getAttribute('data-frames'))).toBe(Number(await heatmap.getAttribute('data-frames')));
    await expect.poll(async () => Number(await replay.getByTestId('throughput-chart').getAttribute('data-frames'))).toBeGreaterThanOrEqual(10);
    expect(await replay.getByTestId('summary-status').getAttribute('data-status')).toBe('completed');

    // the replayed charts export: a PNG of the heatmap, the frames as CSV
    await replay.getByTestId('chart-export-toggle').click();
    // Each chart named once (a heading with a long and a short form read as both run together).
    const names = await replay.locator('[data-testid="chart-export-png"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-chart')));
    expect(names.length).toBeGreaterThan(1);
    for (const n of names) expect(n).not.toMatch(/[a-z][A-Z]/);
    const png = await download(page, () => replay.locator('[data-testid="chart-export-png"][data-target="latency-heatmap"]').click());
    expect(png.name).toMatch(new RegExp(`^${runId}-[a-z0-9-]+\\.png$`));
    expect(png.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a'); // the PNG signature
    expect(png.bytes.length).toBeGreaterThan(2000);
    await replay.getByTestId('chart-export-toggle').click();
    const csv = await download(page, () => replay.locator('[data-testid="chart-export-csv"][data-kind="frames"]').click());
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toMatch(/^t_s,seq,phase,measuring/);
    expect(lines.length - 1).toBe(Number(await replay.getAttribute('data-frames')));

    // the host's own export of the saved run
    const md = await download(page, () => row.getByTestId('history-export').selectOption('md').then(() => undefined));
    expect(md.name).toMatch(/\.md$/);
    expect(md.text).toContain(runId!);
    expect(await page.getByTestId('history-export-warning').count()).toBe(0);
    // A frames file cut short: the CSV has no place to say so, the window does, beside the download.
    const framesFile = path.join(serve.env.URING_LAB_RUNS_DIR!, runId!, 'frames.jsonl');
    writeFileSync(framesFile, `${readFileSync(framesFile, 'utf8').split('\n').slice(0, 2).join('\n')}\n`);
    const shortCsv = await download(page, () => row.getByTestId('history-export').selectOption('csv').then(() => undefined));
    expect(shortCsv.text.trim().split('\n')).toHaveLength(3); // the header and the 2 frames left
    await expect.poll(() => text(page, 'history-export-warning')).toMatch(new RegExp(`^${runId}\\.csv: run ${runId}: .*frames\\.jsonl holds 2 of the \\d+ frames the run saved`));

    // pin survives a reload (the host keeps it); delete asks first, then removes the folder
    await row.getByTestId('history-pin').click();
    await expect.poll(() => row.getAttribute('data-pinned')).toBe('true');
    await page.reload();
    await expect.poll(() => row.getAttribute('data-pinned'), { timeout: 15_000 }).toBe('true');
    page.once('dialog', (d) => void d.accept());
    await row.getByTestId('history-delete').click();
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(0);
    expect(readdirSync(serve.env.URING_LAB_RUNS_DIR!).join(' ')).not.toContain(runId!);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('refuses a malformed profile with the field named inline, keeping the text and saving nothing', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.getByTestId('view-profiles').click();
    await expect.poll(async () => Number(await page.getByTestId('profiles').getAttribute('data-presets')), { timeout: 15_000 }).toBeGreaterThan(0);
    const savedBefore = await page.getByTestId('profiles').getAttribute('data-saved');

    const bad = JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'bad-one', server: { ringEntries: 'lots' } }, null, 2);
    await page.getByTestId('profile-import-text').fill(bad);
    await page.getByTestId('profile-import-button').click();
    const error = page.getByTestId('profile-import-error');
    await expect.poll(() => error.count(), { timeout: 10_000 }).toBe(1);
    expect(await error.getAttribute('data-field')).toMatch(/server\.ringEntries/);
    expect(await error.textContent()).toMatch(/ringEntries/);
    expect(await page.getByTestId('profile-import-text').inputValue()).toBe(bad);
    expect(await page.getByTestId('profile-import-text').getAttribute('aria-invalid')).toBe('true');
    await page.reload();
    await expect.poll(async () => Number(await page.getByTestId('profiles').getAttribute('data-presets')), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('profiles').getAttribute('data-saved')).toBe(savedBefore);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('saving under a taken name asks first: dismissed, the saved profile stays; accepted, it is replaced', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.getByTestId('view-profiles').click();
    await expect.poll(async () => Number(await page.getByTestId('profiles').getAttribute('data-presets')), { timeout: 15_000 }).toBeGreaterThan(0);
    const saved = async () => Number(await page.getByTestId('profiles').getAttribute('data-saved'));
    const before = await saved();
    const name = `asks-${Date.now()}`;
    await page.getByTestId('profile-save-name').fill(name);
    await page.getByTestId('profile-save').click();
    await expect.poll(saved, { timeout: 10_000 }).toBe(before + 1);
    const dialogs: string[] = [];
    let answer = false;
    page.on('dialog', (d) => { dialogs.push(d.message()); void (answer ? d.accept() : d.dismiss()); });
    await page.getByTestId('profile-save').click();
    await expect.poll(() => dialogs.length).toBe(1);
    expect(dialogs[0]).toBe(`Replace the saved profile "${name}" with the current knobs?`);
    answer = true;
    await page.getByTestId('profile-save').click();
    await expect.poll(() => dialogs.length).toBe(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(await saved()).toBe(before + 1);
    expect(await page.getByTestId('profiles-failure').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('applies a preset, remembers it across a reload, and exports the current profile in each format', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.getByTestId('view-profiles').click();
    await expect.poll(() => text(page, 'profile-current'), { timeout: 15_000 }).not.toBe('—');
    const preset = page.locator('[data-testid="preset"][data-preset="loopback-sqpoll"]');
    await preset.getByTestId('preset-apply').click();
    await expect.poll(() => text(page, 'profile-current'), { timeout: 10_000 }).toBe('loopback-sqpoll');
    // the host keeps this tab's profile; the page remembers which preset it was (and the open view)
    await page.reload();
    await expect.poll(() => text(page, 'profile-last'), { timeout: 15_000 }).toMatch(/preset .loopback-sqpoll./);
    await expect.poll(() => text(page, 'profile-current'), { timeout: 15_000 }).toBe('loopback-sqpoll');
    const name = await text(page, 'profile-current');
    const exported: Record<string, { name: string; text: string; bytes: Buffer }> = {};
    for (const format of ['json', 'fio', 'tuned', 'shell']) {
      exported[format] = await download(page, () => page.locator(`[data-testid="profile-export-current"][data-format="${format}"]`).click());
    }
    const json = JSON.parse(exported.json!.text) as { kind: string; name: string; $schema?: string };
    expect(json).toMatchObject({ kind: 'uring-lab/profile', name });
    expect(json.$schema).toBeTruthy();
    expect(exported.fio!.text).toMatch(/ioengine=io_uring/);
    expect(exported.tuned!.text).toMatch(/^\[main\]/m);
    expect(exported.shell!.text).toMatch(/^#!.*(bash|sh)/);
    expect(exported.shell!.text).toContain('uring-lab run');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a history and a data folder the host cannot read: History, A/B and Profiles say why and the fix; the presets stay listed', async () => {
    const file = path.join(tmp, 'history-is-a-file');
    writeFileSync(file, 'mine');
    const broken = await startServe(mkdtempSync(path.join(tmp, 'broken-')), { URING_LAB_RUNS_DIR: file, XDG_DATA_HOME: file });
    try {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(broken.url);
      // Start is refused before anything runs, as the CLI refuses it (the run went ahead, and
      // was in no list afterwards).
      await page.getByTestId('start-button').click();
      const banner = page.getByTestId('error-banner');
      await expect.poll(async () => (await banner.count()) && (await banner.textContent()), { timeout: 15_000 }).toMatch(/RUNS_DIR\s*runs cannot be saved in .*history-is-a-file \(it is not a folder\); nothing was started/);
      expect(await text(page, 'run-state')).toBe('idle');
      await page.getByTestId('view-history').click();
      const failure = page.getByTestId('history-failure');
      await expect.poll(async () => (await failure.count()) && (await failure.textContent()), { timeout: 15_000 }).toMatch(/RUNS_DIR\s*the run history .*history-is-a-file is not a folder — point URING_LAB_RUNS_DIR at a folder/);
      expect(await page.getByTestId('history-list-failed').count()).toBe(1);
      const list = await text(page, 'history');
      expect(list).not.toMatch(/Loading saved runs|0 saved/);
      await page.getByTestId('view-ab').click();
      await expect.poll(async () => (await page.locator('main').textContent()) ?? '', { timeout: 15_000 }).toMatch(/the A\/B experiments folder .*history-is-a-file\/experiments is not a folder \(ENOTDIR\)/);
      // Saved profiles live under XDG_DATA_HOME, a file too: their error, and the presets (which
      // ship with the lab) still listed; they went with the saved list's failure.
      await page.getByTestId('view-profiles').click();
      await expect.poll(async () => (await page.locator('main').textContent()) ?? '', { timeout: 15_000 }).toMatch(/PROFILES_DIR\s*saved profiles cannot be read in .*history-is-a-file\/uring-lab\/profiles \(ENOTDIR\)/);
      expect(await page.getByTestId('saved-list-failed').count()).toBe(1);
      expect(await page.getByText('loopback-default', { exact: true }).count()).toBeGreaterThan(0);
      expect(readFileSync(file, 'utf8')).toBe('mine');
      await ctx.close();
    } finally {
      await broken.stop();
    }
  });

  it("shows this machine's kernel release in the Doctor", async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.getByTestId('view-doctor').click();
    const kernel = page.locator('[data-testid="doctor-check"][data-check="kernel"] .value');
    await expect.poll(async () => (await kernel.count()) && (await kernel.textContent())?.trim(), { timeout: 15_000 }).toBe(os.release());
    // the checks this round added: polled storage, namespaces, fio
    for (const id of ['iopoll_storage', 'netns', 'fio', 'memlock', 'io_uring_features', 'copy_distance', 'cpu_clock', 'first_touch', 'syscall_cost']) {
      expect(await page.locator(`[data-testid="doctor-check"][data-check="${id}"]`).count()).toBe(1);
    }
    // The copy-distance measurement made it from the native probe to the page, as a verdict.
    expect(await page.locator('[data-testid="doctor-check"][data-check="copy_distance"] .value').textContent()).toMatch(/^\s*(\d+\.\d× slower 16 B into a page|same at any offset \(\d\.\d\d×\))\s*$/);
    // What a CPU clock holds here reaches the page with one of the doctor's verdicts.
    expect(await page.locator('[data-testid="doctor-check"][data-check="cpu_clock"] .value').textContent()).toMatch(/^\s*(no hypervisor|virtual machine, steal reported \(\d+\.\d s since boot\)|virtual machine, no steal reported|virtual machine|unknown)\s*$/);
    // The first-touch measurement reaches the page as a cost per page.
    expect(await page.locator('[data-testid="doctor-check"][data-check="first_touch"] .value').textContent()).toMatch(/^\s*(\d+\.\d+ µs a page( \(\d+\.\d+ µs touched again\))?|unknown)\s*$/);
    // The system-call measurement made it from the native probe to the page.
    expect(await page.locator('[data-testid="doctor-check"][data-check="syscall_cost"] .value').textContent()).toMatch(/^\s*\d+ ns( \(costly\))?\s*$/);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
