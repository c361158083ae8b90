/**
 * End to end: the real renderer in Debian's Chromium, driven by playwright-core, against
 * `uring-lab serve` with the real engine, spawned as a child process.
 *
 * - a run with SQPOLL toggled twice shows three phases in the per-phase table and three
 *   curves in the percentile plot, live and after stopping (from the summary);
 * - a second window observes the run and can take control;
 * - the host killed under the page (SIGKILL) shows "connection lost — run state unknown";
 *   restarted with the same token file, the page reconnects by itself and resyncs;
 * - a wrong token says so and stops retrying;
 * - the knob panel lists every catalogue knob of the echo workload with its availability on
 *   this machine (IOPOLL disabled with the doctor's reason), and a run shows the engine
 *   counters (enters/request);
 * - switching the workload to storage enables the IOPOLL switch and shows the storage knobs
 *   (the echo-only ones hidden), and a short storage run reads IOPS;
 * - an open-loop run (load.mode open at 2000 requests/s) shows the offered rate and the
 *   timeouts count, live and in the summary.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { isShortFrame, niceCeil, typicalIntervalMs } from '../../renderer/src/charts/throughputModel';
import { connectLab, labClient } from '../cli/wsClient';
import { lastLevelCache } from '../../electron/host/run/bufferPool';

const ROOT = path.join(__dirname, '../..');
/** The contract as built into dist (what the served page was built against). */
const BUILT_CONTRACT = createRequire(__filename)(path.join(ROOT, 'dist/electron/contract')) as typeof import('../../electron/contract');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CLI = path.join(ROOT, 'dist/electron/cli.js');

interface Serve {
  proc: ChildProcess;
  url: string;
  port: number;
  token: string;
}

const started: ChildProcess[] = [];
let browser: Browser;
let tmp: string;

/** `uring-lab serve …` as a child process; resolves with the URL it printed. */
async function startServe(args: string[]): Promise<Serve> {
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
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeRead(`/proc/${pid}/status`));
function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function stopServe(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await exited;
}

/** Console errors and page errors of `page`, minus the browser's own network lines matching `expected`. */
function collectErrors(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((re) => re.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** What Chromium itself logs when a WebSocket or fetch fails (the host is down, or refused the token). */
const NETWORK_FAILURES = [
  /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/api\?.*' failed/,
  /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/,
  /^Failed to load resource: the server responded with a status of (403|426)/,
];

async function newPage(context?: BrowserContext): Promise<Page> {
  const ctx = context ?? (await browser.newContext({ viewport: { width: 1400, height: 900 } }));
  return ctx.newPage();
}

const attr = async (page: Page, testId: string, name: string) => Number(await page.getByTestId(testId).first().getAttribute(name));
const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent())?.trim() ?? '';
/** A knob's control and what the kernel applied, by its catalogue path (the knob panel is generic over the catalogue). */
const knobInput = (page: Page, path: string) => page.locator(`[data-testid="knob"][data-knob="${path}"] [data-testid="knob-input"]`);
const knobApplied = async (page: Page, path: string) =>
  (await page.locator(`[data-testid="knob"][data-knob="${path}"] [data-testid="knob-applied"]`).textContent())?.trim() ?? '';
const SQPOLL = 'server.sqpoll.enabled';
/**
 * A new page on the lab, settled as a user would wait before touching a knob: "idle" shows as
 * soon as the socket is up, the knobs unlock once the host's status (the profile) is in, and
 * the panel's availability states come with the doctor's answer that follows it.
 */
async function openSettled(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await newPage();
  const errors = collectErrors(page);
  await page.goto(url);
  await expect.poll(() => text(page, 'run-state')).toBe('idle');
  await expect.poll(() => page.getByTestId('knob-panel').getAttribute('data-doctor'), { timeout: 15_000 }).toBe('checked');
  return { page, errors };
}
/** How many runs the host has saved (its history, through the lab API). */
async function runCount(host: Serve): Promise<number> {
  const ws = await connectLab(host.port, { token: host.token, client: 'labUi-count' });
  try {
    const listed = await labClient(ws).call('listRuns');
    if (!('result' in listed)) throw new Error(`listRuns: ${JSON.stringify(listed)}`);
    return (listed.result as { total: number }).total;
  } finally {
    ws.close();
  }
}
const measuredPhase = (page: Page, index: number) => page.locator(`[data-testid="phase-row"][data-phase="${index}"][data-measured="true"]`).count();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-e2e-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  for (const proc of started) await stopServe(proc);
  rmSync(tmp, { recursive: true, force: true });
});

describe('lab UI in Chromium', () => {
  let host: Serve;
  beforeAll(async () => {
    host = await startServe(['--port', '0']);
  });
  // A test that failed mid-run must not leave its run going into the next test (each starts
  // its own, and a live one is refused): every failure after it would be a knock-on.
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

  it('shows three phases and three percentile curves after toggling SQPOLL twice', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(host.url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');

    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr(page, 'throughput-chart', 'data-frames'), { timeout: 15_000 }).toBeGreaterThanOrEqual(10);
    await expect.poll(() => attr(page, 'latency-heatmap', 'data-cells'), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await knobApplied(page, SQPOLL)).toBe('off');
    // phase 0 measured (after the warm-up): the table and the plot show it live
    await expect.poll(() => measuredPhase(page, 0), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => attr(page, 'percentile-plot', 'data-curves'), { timeout: 5_000 }).toBe(1);
    await page.waitForTimeout(1000); // a second of measured frames for the baseline
    expect(await page.getByTestId('phase-table').getAttribute('data-source')).toBe('live');

    for (const phase of [1, 2]) {
      await knobInput(page, SQPOLL).click();
      await expect.poll(() => measuredPhase(page, phase), { timeout: 15_000 }).toBe(1);
      // let the phase gather a second of frames
      await page.waitForTimeout(1000);
    }
    await expect.poll(() => attr(page, 'percentile-plot', 'data-curves'), { timeout: 5_000 }).toBe(3);
    const changes = await page.locator('[data-testid="phase-row"] .change').allTextContents();
    expect(changes).toEqual(['SQPOLL off → on', 'SQPOLL on → off']);

    if (process.env.URING_LAB_SCREENSHOT) {
      mkdirSync(path.dirname(process.env.URING_LAB_SCREENSHOT), { recursive: true });
      await page.screenshot({ path: process.env.URING_LAB_SCREENSHOT });
    }

    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    // after the stop the same table and plot come from the run summary
    await expect.poll(() => page.getByTestId('phase-table').getAttribute('data-source')).toBe('summary');
    expect(await attr(page, 'phase-table', 'data-rows')).toBe(3);
    await expect.poll(() => attr(page, 'percentile-plot', 'data-curves')).toBe(3);
    expect(await page.getByTestId('summary-status').getAttribute('data-status')).toBe('completed');
    expect(await text(page, 'summary-scope')).toMatch(/all 3 phases/);
    expect(await page.getByTestId('summary-corrected').count()).toBe(1);
    // Each connection's echoes over the three phases (same connections in each): every one
    // served, and the row shows the fewest, the most and Jain's index it carries.
    const perConnection = page.getByTestId('summary-per-connection');
    const [minEchoes, maxEchoes, jain] = await Promise.all(['data-min', 'data-max', 'data-jain'].map(async (a) => Number(await perConnection.getAttribute(a))));
    expect(minEchoes).toBeGreaterThan(0);
    expect(maxEchoes).toBeGreaterThanOrEqual(minEchoes!);
    expect(jain).toBeGreaterThan(0);
    expect(jain).toBeLessThanOrEqual(1);
    expect((await perConnection.textContent())!.trim()).toBe(`${minEchoes!.toLocaleString('en-US')}–${maxEchoes!.toLocaleString('en-US')} · Jain ${jain!.toFixed(3)}`);

    // Each phase change ended an engine instance with a short last frame, whose rate over a few
    // ms can read 4× the steady one: none of them sets the throughput axis. The run's saved
    // frames say what the axis must be: set by the full-length frames alone. (Comparing with
    // the phases' mean rates instead failed on a loaded CI machine, where full frames of the
    // same phase legitimately differ 2×.)
    const runId = await text(page, 'run-id');
    // A run with probes exports ~15 KB a frame: past execFileSync's default 1 MiB buffer (ENOBUFS on CI).
    const saved = JSON.parse(execFileSync(process.execPath, [CLI, 'runs', 'export', runId, '--format', 'json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as { frames: import('../../electron/contract').RunFrame[] };
    const typical = typicalIntervalMs(saved.frames);
    const full = saved.frames.filter((f) => !isShortFrame(f, typical));
    expect(full.length).toBeGreaterThan(10);
    expect(saved.frames.filter((f) => f.final).length).toBe(3); // one per engine instance
    expect(await attr(page, 'throughput-chart', 'data-axis-max')).toBe(niceCeil(1.05 * Math.max(...full.map((f) => f.throughputRps))));

    if (process.env.URING_LAB_SCREENSHOT_SUMMARY) await page.screenshot({ path: process.env.URING_LAB_SCREENSHOT_SUMMARY });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('lets a second window observe a run and take control of it', async () => {
    const first = await newPage();
    const second = await newPage(); // another context: another tab's sessionStorage, another client
    const firstErrors = collectErrors(first);
    const secondErrors = collectErrors(second);
    await first.goto(host.url);
    await second.goto(host.url);
    await expect.poll(() => text(first, 'run-state')).toBe('idle');
    // The first window's run differs from the second's knobs (engine epoll against its io_uring).
    await knobInput(first, 'server.engine').selectOption({ label: 'epoll' });
    await expect.poll(() => text(first, 'toolbar-workload')).toMatch(/^epoll echo/);
    await first.getByTestId('start-button').click();
    await expect.poll(() => text(first, 'run-state'), { timeout: 15_000 }).toBe('running');

    await expect.poll(() => second.getByTestId('observer-banner').count(), { timeout: 10_000 }).toBe(1);
    // The observer describes the run going (epoll), and its own next-run knobs are no refusal
    // by the kernel: it said "requested io_uring, kernel applied epoll".
    await expect.poll(() => text(second, 'toolbar-workload'), { timeout: 10_000 }).toMatch(/^epoll echo/);
    expect(await second.getByTestId('knob-mismatch').count()).toBe(0);
    expect(await text(second, 'run-state')).toBe('running');
    expect(await second.getByTestId('stop-button').isDisabled()).toBe(true);
    expect(await knobInput(second, SQPOLL).isDisabled()).toBe(true);
    await expect.poll(() => attr(second, 'throughput-chart', 'data-frames'), { timeout: 10_000 }).toBeGreaterThan(5);

    await second.getByTestId('take-control').click();
    await expect.poll(() => second.getByTestId('observer-banner').count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => first.getByTestId('observer-banner').count(), { timeout: 10_000 }).toBe(1);
    expect(await first.getByTestId('stop-button').isDisabled()).toBe(true);

    await second.getByTestId('stop-button').click();
    await expect.poll(() => text(second, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await expect.poll(() => text(first, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await knobInput(first, 'server.engine').selectOption({ label: 'io_uring' });
    expect([...firstErrors, ...secondErrors]).toEqual([]);
    await first.context().close();
    await second.context().close();
  });

  it('lists every catalogue knob with its availability here, IOPOLL disabled with its reason, and the engine counters live', async () => {
    const { page, errors } = await openSettled(host.url);

    // every catalogue knob of the built contract with an effect on an echo run (the metadata
    // rows, name and description, are the profile's own words in the panel head; the storage
    // rows do nothing for echo; a row with a panel of its own, diagnose.inject, is the chaos
    // panel's), each with a state
    expect(await page.getByTestId('knob-panel').getAttribute('data-workload')).toBe('echo');
    const shown = await page.locator('[data-testid="knob"]').evaluateAll((els) =>
      els.map((el) => ({ path: el.getAttribute('data-knob'), available: el.getAttribute('data-available') })),
    );
    const catalogue = BUILT_CONTRACT.knobEntries().filter((e) => e.applies !== 'metadata' && !e.panel && (!e.workloads || e.workloads.includes('echo')));
    expect(await page.getByTestId('chaos-panel').count()).toBe(1);
    expect(catalogue.some((e) => e.path.startsWith('storage.'))).toBe(false);
    expect(shown.map((k) => k.path)).toEqual(catalogue.map((e) => e.path));
    for (const k of shown) expect(['available', 'unavailable'], k.path!).toContain(k.available);
    // a knob's kernel need is visible text
    for (const e of catalogue.filter((e) => e.kernel)) {
      expect(await page.locator(`[data-testid="knob"][data-knob="${e.path}"] .need`).textContent(), e.path).toBe(`needs ${e.kernel}`);
    }
    const knob = (p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"]`);

    // IOPOLL: the kernel refuses socket ops on IOPOLL rings, so the switch is disabled and the
    // doctor's reason and fix are on the page as text
    expect(await knob('server.iopoll').getAttribute('data-available')).toBe('unavailable');
    expect(await knobInput(page, 'server.iopoll').isDisabled()).toBe(true);
    const reason = knob('server.iopoll').getByTestId('knob-unavailable-reason');
    expect(await reason.isVisible()).toBe(true);
    expect(await reason.textContent()).toMatch(/IOPOLL ring refuses socket ops \(EINVAL\)/);
    expect(await knob('server.iopoll').getByTestId('knob-unavailable-fix').textContent()).toMatch(/NAPI/);
    // SQPOLL is there on this kernel, and says so
    expect(await knob(SQPOLL).getAttribute('data-available')).toBe('available');
    expect(await knobInput(page, SQPOLL).isDisabled()).toBe(false);
    // the panel's verdicts are the doctor's (`uring-lab doctor --json`), knob by knob
    const doctor = JSON.parse(execFileSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8' })) as { knobs: { path: string; available: boolean }[] };
    const verdict = new Map(doctor.knobs.map((k) => [k.path, k.available ? 'available' : 'unavailable']));
    for (const k of shown) expect(k.available, k.path!).toBe(verdict.get(k.path!));

    // a short run: the counters panel shows enters per request as a number
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    const enters = page.locator('[data-testid="counter-ratio"][data-counter="enters"]');
    await expect.poll(() => enters.count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(async () => Number(await enters.getAttribute('data-value')), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await enters.textContent()).toMatch(/^\s*[\d.,]+\s+enters\s*$/);
    // TCP segments per request, the kernel's count: a 128 B echo is one segment each way (a
    // frame can catch a request without its segment, or a few pure ACKs beside)
    const segments = page.locator('[data-testid="counter-ratio"][data-counter="segmentsOut"]');
    await expect.poll(async () => Number(await segments.getAttribute('data-value')), { timeout: 10_000 }).toBeGreaterThan(0.8);
    expect(Number(await segments.getAttribute('data-value'))).toBeLessThan(1.5);
    // One figure where every segment carried data, both where pure ACKs went too.
    expect(await segments.textContent()).toMatch(/^\s*[\d.,]+( · [\d.,]+ data)?\s+segs out\s*$/);
    expect(await page.getByTestId('counter-pool').textContent()).toMatch(/[\d,]+ \/ [\d,]+/);
    expect(await page.locator('[data-testid="counter-cpu"][data-counter="sqpoll"]').count()).toBe(1);

    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');

    // the Doctor view: NUMA nodes and the CPUs this process may use, and the knobs' verdicts
    await page.getByTestId('view-doctor').click();
    await expect.poll(() => page.locator('[data-testid="doctor-check"][data-check="numa"]').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.locator('[data-testid="doctor-check"][data-check="numa"]').textContent()).toMatch(/node0: CPUs \d/);
    expect(await page.locator('[data-testid="doctor-check"][data-check="cpus"]').count()).toBe(1);
    expect(await page.locator('[data-testid="doctor-knob"][data-knob="server.iopoll"]').getAttribute('data-available')).toBe('false');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a buffer pool set larger than the CPU\'s last-level cache: the hot-first row says so before any run, and not once hot first is on', async () => {
    const { page, errors } = await openSettled(host.url);
    const cache = lastLevelCache();
    // The smallest power-of-two count of 1 MiB buffers that outgrows this machine's cache.
    const count = cache ? 2 ** Math.ceil(Math.log2(cache.bytes / (1 << 20) + 1)) : 1024;
    const remark = page.locator('[data-testid="knob"][data-knob="server.bufferRing.hotFirst"] [data-testid="knob-remark"]');
    const setNumber = async (knob: string, value: string) => {
      await knobInput(page, knob).fill(value);
      await knobInput(page, knob).press('Enter');
      await expect.poll(() => page.locator(`[data-testid="knob"][data-knob="${knob}"] .pending`).count(), { timeout: 5_000 }).toBe(0);
    };
    expect(await remark.count()).toBe(0); // the default 4 MiB pool
    try {
      await setNumber('server.bufferRing.size', '1048576');
      await setNumber('server.bufferRing.count', String(count));
      if (!cache) {
        expect(await remark.count()).toBe(0); // no cache size known here: nothing to compare with
      } else {
        await expect.poll(() => remark.textContent(), { timeout: 5_000 }).toMatch(new RegExp(`^The buffer pool \\(${count >= 1024 ? `${count / 1024} GiB` : `${count} MiB`}\\) is larger than the CPU's last-level cache \\(L${cache.level}, `));
        await knobInput(page, 'server.bufferRing.hotFirst').click();
        await expect.poll(() => remark.count(), { timeout: 5_000 }).toBe(0);
        await knobInput(page, 'server.bufferRing.hotFirst').click();
        await expect.poll(() => remark.count(), { timeout: 5_000 }).toBe(1);
      }
    } finally {
      // The next tests start from the defaults.
      await setNumber('server.bufferRing.count', '64');
      await setNumber('server.bufferRing.size', '65536');
    }
    expect(await remark.count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('switching the workload to storage enables IOPOLL and shows the storage knobs; a storage run reads IOPS', async () => {
    const { page, errors } = await openSettled(host.url);
    const knob = (p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"]`);
    expect(await knobInput(page, 'server.iopoll').isDisabled()).toBe(true);
    expect(await knob('storage.path').count()).toBe(0);
    expect(await text(page, 'toolbar-workload')).toBe('io_uring echo · loopback');

    await knobInput(page, 'workload').selectOption({ label: 'storage' });
    await expect.poll(() => page.getByTestId('knob-panel').getAttribute('data-workload'), { timeout: 5_000 }).toBe('storage');
    expect(await text(page, 'toolbar-workload')).toBe('io_uring storage');
    // IOPOLL: the doctor's "sockets refuse it" is about echo; on storage the run checks the device
    expect(await knob('server.iopoll').getAttribute('data-available')).toBe('available');
    expect(await knobInput(page, 'server.iopoll').isDisabled()).toBe(false);
    expect(await knob('server.iopoll').getByTestId('knob-unavailable').count()).toBe(0);
    // the storage rows are there, storage.path as free text; the echo load's sockets are not
    const storageRows = BUILT_CONTRACT.knobEntries().filter((e) => e.path.startsWith('storage.') && e.applies !== 'metadata');
    for (const e of storageRows) expect(await knob(e.path).count(), e.path).toBe(1);
    expect(await knobInput(page, 'storage.path').getAttribute('type')).toBe('text');
    for (const p of ['load.connections', 'load.messageBytes', 'load.mode', 'load.rateRps', 'load.pipeline', 'server.bufferRing.size']) expect(await knob(p).count(), p).toBe(0);
    expect(await knob('load.threads').count()).toBe(1);
    expect(await attr(page, 'knob-hidden-count', 'data-value')).toBeGreaterThan(0);

    // a short storage run with IOPOLL on a small test file: throughput in IOPS, and IOPOLL either
    // applied (a device with poll queues) or refused by the device with EOPNOTSUPP (virtio here)
    const size = knobInput(page, 'storage.fileSizeMiB');
    await size.fill('8');
    await size.press('Enter');
    await expect.poll(() => knob('storage.fileSizeMiB').locator('.pending').count(), { timeout: 5_000 }).toBe(0);
    expect(await size.inputValue()).toBe('8');
    await knobInput(page, 'server.iopoll').click();
    await expect.poll(() => knobInput(page, 'server.iopoll').getAttribute('aria-checked'), { timeout: 5_000 }).toBe('true');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr(page, 'throughput-value', 'data-value'), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await text(page, 'throughput-unit')).toBe('IOPS');
    expect(await text(page, 'chart-unit')).toBe('IOPS');
    const refusal = knob('server.iopoll').getByTestId('knob-refused');
    if ((await refusal.count()) === 0) expect(await knobApplied(page, 'server.iopoll')).toBe('on');
    else expect(await refusal.getAttribute('data-code')).toBe('EOPNOTSUPP');
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await expect.poll(() => text(page, 'summary-throughput-unit'), { timeout: 5_000 }).toBe('IOPS');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('an open-loop run shows the offered rate and the timeouts count, live and in the summary', async () => {
    const { page, errors } = await openSettled(host.url);
    // the rate first (nullable: untick "none"), then the mode
    const rate = page.locator('[data-testid="knob"][data-knob="load.rateRps"]');
    await rate.getByTestId('knob-null').uncheck();
    await expect.poll(() => knobInput(page, 'load.rateRps').isEnabled(), { timeout: 10_000 }).toBe(true);
    expect(await rate.getByTestId('knob-null').isChecked()).toBe(false);
    await knobInput(page, 'load.rateRps').fill('2000');
    await knobInput(page, 'load.rateRps').press('Enter');
    await expect.poll(() => rate.locator('.pending').count(), { timeout: 5_000 }).toBe(0);
    expect(await knobInput(page, 'load.rateRps').inputValue()).toBe('2000');
    await knobInput(page, 'load.mode').selectOption({ label: 'open' });
    await expect.poll(async () => (await knobInput(page, 'load.mode').locator('option:checked').textContent())?.trim(), { timeout: 5_000 }).toBe('open');

    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr(page, 'offered-rate', 'data-value'), { timeout: 15_000 }).toBe(2000);
    expect(await text(page, 'offered-rate')).toMatch(/of 2,000 req\/s offered/);
    expect(await text(page, 'open-loop-note')).toMatch(/intended send time/);
    expect(await text(page, 'timeouts-value')).toMatch(/^\d[\d,]* timeouts?$/);
    await expect.poll(() => attr(page, 'throughput-value', 'data-value'), { timeout: 15_000 }).toBeGreaterThan(0);
    await page.waitForTimeout(1500); // past the 1 s warm-up: measured frames for the summary
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    await expect.poll(() => page.getByTestId('summary-offered').count(), { timeout: 5_000 }).toBe(1);
    expect(await attr(page, 'summary-offered', 'data-value')).toBe(2000);
    expect(await text(page, 'summary-offered')).toMatch(/intended send time/);
    expect(await attr(page, 'summary-timeouts', 'data-value')).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('pins the server and the load to CPU lists typed as taskset -c takes them; a malformed list is refused in place', async () => {
    const { page, errors } = await openSettled(host.url);
    const row = (p: string) => page.locator(`[data-testid="knob"][data-knob="${p}"]`);
    const enter = async (p: string, value: string) => {
      await knobInput(page, p).fill(value);
      await knobInput(page, p).press('Enter');
      await expect.poll(() => row(p).locator('.pending').count(), { timeout: 5_000 }).toBe(0);
    };
    // not pinned by default: the field is empty, its placeholder says any CPU
    expect(await knobInput(page, 'server.numa.cpus').inputValue()).toBe('');
    expect(await knobInput(page, 'server.numa.cpus').getAttribute('placeholder')).toBe('any');
    // a malformed list: what is wrong and what the knob takes, and the value it had stays
    await enter('server.numa.cpus', '0-');
    expect(await row('server.numa.cpus').getByTestId('knob-invalid').textContent()).toMatch(/^0-: "0-" is not a CPU number or a range such as 0-3: NUMA CPUs takes CPUs such as 0-3,8 or 1,0 \(at most 256\), or empty for any$/);
    expect(await knobInput(page, 'server.numa.cpus').inputValue()).toBe('');
    // a CPU this machine does not have: Start is refused with the host's line naming the knob,
    // the CPUs there are, and the fix; nothing runs
    await enter('server.numa.cpus', '4095');
    expect(await knobInput(page, 'server.numa.cpus').inputValue()).toBe('4095');
    await page.getByTestId('start-button').click();
    await expect.poll(() => page.getByTestId('error-banner').textContent(), { timeout: 10_000 }).toMatch(/server\.numa\.cpus: CPU 4095 does not exist or is not one this process may run on; this process may run on CPUs \d/);
    expect(await page.getByTestId('error-banner').textContent()).toMatch(/list only those CPUs, or leave server\.numa\.cpus empty/);
    expect(await text(page, 'run-state')).toBe('idle');
    await enter('server.numa.cpus', '0');
    expect(await row('server.numa.cpus').getByTestId('knob-invalid').count()).toBe(0);
    expect(await knobInput(page, 'server.numa.cpus').inputValue()).toBe('0');
    await enter('load.cpus', ' 1 ');
    expect(await knobInput(page, 'load.cpus').inputValue()).toBe('1');

    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => attr(page, 'throughput-value', 'data-value'), { timeout: 15_000 }).toBeGreaterThan(0);
    // what the engine applied, shown as the list was typed, with no refusal and no mismatch
    await expect.poll(() => knobApplied(page, 'server.numa.cpus'), { timeout: 10_000 }).toBe('0');
    expect(await knobApplied(page, 'load.cpus')).toBe('1');
    for (const p of ['server.numa.cpus', 'load.cpus']) {
      expect(await row(p).getByTestId('knob-refused').count(), p).toBe(0);
      expect(await row(p).getByTestId('knob-mismatch').count(), p).toBe(0);
    }
    await page.getByTestId('stop-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('idle');
    const runId = await text(page, 'run-id');
    const saved = JSON.parse(execFileSync(process.execPath, [CLI, 'runs', 'export', runId, '--format', 'json'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })) as { meta: { summary: { applied: { server: { numa: { cpus: unknown } }; load: { cpus: unknown } }; rejected: unknown[] } } };
    expect(saved.meta.summary.applied.server.numa.cpus).toEqual([0]);
    expect(saved.meta.summary.applied.load.cpus).toEqual([1]);
    expect(saved.meta.summary.rejected).toEqual([]);
    // empty is "any" again
    await enter('server.numa.cpus', '');
    await enter('load.cpus', '');
    expect(await knobInput(page, 'load.cpus').inputValue()).toBe('');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a run that takes seconds to set up counts them in the toolbar, then shows its elapsed time; Stop during a set-up calls it off', async () => {
    const { page, errors } = await openSettled(host.url);
    // 2,000 connections × 256 KiB: 1 GiB of load buffers to touch and 2,000 connects before the
    // first frame (seconds here). Set back after: the next tests start from the defaults.
    const setKnob = async (knob: string, value: string) => {
      await knobInput(page, knob).fill(value);
      await knobInput(page, knob).press('Enter');
      await expect.poll(() => page.locator(`[data-testid="knob"][data-knob="${knob}"] .pending`).count(), { timeout: 5_000 }).toBe(0);
    };
    await setKnob('load.connections', '2000');
    await setKnob('load.messageBytes', '262144');
    const runsBefore = await runCount(host);
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
      await expect.poll(() => runCount(host), { timeout: 10_000 }).toBe(runsBefore + 1);

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
      await expect.poll(async () => { states.push(await text(page, 'run-state')); return states.at(-1); }, { timeout: 60_000, intervals: [50] }).toBe('idle');
      expect(states).not.toContain('running');
      expect(await page.getByTestId('error-banner').count()).toBe(0);
      expect(await runCount(host)).toBe(runsBefore + 1);
    } finally {
      await setKnob('load.connections', '50');
      await setKnob('load.messageBytes', '128');
    }
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('"warm-up + measured, then stop": Start runs for the profile\'s time and stops by itself, with its summary', async () => {
    const { page, errors } = await openSettled(host.url);
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
    const { page, errors } = await openSettled(host.url);
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
    const { page, errors } = await openSettled(host.url);
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
      await expect.poll(async () => (stalled = await tiles()).p99, { timeout: 10_000, intervals: [50] }).toBe('—');
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
    await page.goto(`http://127.0.0.1:${host.port}/?token=${'0'.repeat(64)}`);
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
  it('says the host shut down (not "run state unknown") when it ended the run and closed with a reason', async () => {
    const served = await startServe(['--port', '0', '--token-file', path.join(tmp, 'token-shutdown')]);
    const page = await newPage();
    const errors = collectErrors(page, NETWORK_FAILURES);
    await page.goto(served.url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
    await stopServe(served.proc, 'SIGTERM');
    const banner = page.locator('[data-testid="connection-banner"][data-kind="host-shut-down"]');
    await expect.poll(() => banner.count(), { timeout: 10_000 }).toBe(1);
    expect(await banner.textContent()).toMatch(/The lab host shut down.*ended its run first/);
    expect(await page.getByTestId('summary-status').getAttribute('data-status')).toBe('interrupted');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows the lost state when the host is killed, and reconnects by itself when it is back', async () => {
    const tokenFile = path.join(tmp, 'token');
    const first = await startServe(['--port', '0', '--token-file', tokenFile]);
    const page = await newPage();
    const errors = collectErrors(page, NETWORK_FAILURES);
    await page.goto(first.url);
    await expect.poll(() => text(page, 'run-state')).toBe('idle');
    await page.getByTestId('start-button').click();
    await expect.poll(() => text(page, 'run-state'), { timeout: 15_000 }).toBe('running');
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
    expect(await page.getByTestId('run-vanished').textContent()).toMatch(/ended while disconnected — result unknown/);
    expect(await page.getByTestId('start-button').isDisabled()).toBe(false);
    expect(await page.getByTestId('stale-tag').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
    await stopServe(second.proc);
  });
});
