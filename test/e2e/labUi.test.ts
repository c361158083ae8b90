/**
 * End to end: the real renderer in Debian's Chromium, driven by playwright-core, against
 * `uring-lab serve` with the real engine, spawned as a child process (labUiHarness.ts). The
 * knobs and the views a run fills:
 *
 * - a run with SQPOLL toggled twice shows three phases in the per-phase table and three
 *   curves in the percentile plot, live and after stopping (from the summary);
 * - a second window observes the run and can take control;
 * - the knob panel lists every catalogue knob of the echo workload with its availability on
 *   this machine (IOPOLL disabled with the doctor's reason), and a run shows the engine
 *   counters (enters/request);
 * - a buffer pool larger than the last-level cache is flagged before any run;
 * - switching the workload to storage enables the IOPOLL switch and shows the storage knobs
 *   (the echo-only ones hidden), and a short storage run reads IOPS;
 * - an open-loop run (load.mode open at 2000 requests/s) shows the offered rate and the
 *   timeouts count, live and in the summary;
 * - CPU lists typed as taskset -c takes them pin the server and the load.
 *
 * labUiLifecycle.test.ts has the run's lifecycle and the connection to the host.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { isShortFrame, niceCeil, typicalIntervalMs } from '../../renderer/src/charts/throughputModel';
import { lastLevelCache } from '../../electron/host/run/bufferPool';
import { BUILT_CONTRACT, CLI, SQPOLL, attr, collectErrors, knobApplied, knobInput, measuredPhase, newPage, openSettled, text, useChromium, useLabHost } from './labUiHarness';

useChromium();

describe('lab UI in Chromium', () => {
  const lab = useLabHost();

  it('shows three phases and three percentile curves after toggling SQPOLL twice', async () => {
    const page = await newPage();
    const errors = collectErrors(page);
    await page.goto(lab().url);
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
    await first.goto(lab().url);
    await second.goto(lab().url);
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
    const { page, errors } = await openSettled(lab().url);

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
    const { page, errors } = await openSettled(lab().url);
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
        // Hot first is on by default: nothing to say until it is turned off.
        expect(await knobInput(page, 'server.bufferRing.hotFirst').isChecked()).toBe(true);
        expect(await remark.count()).toBe(0);
        await knobInput(page, 'server.bufferRing.hotFirst').click();
        await expect.poll(() => remark.textContent(), { timeout: 5_000 }).toMatch(new RegExp(`^The buffer pool \\(${count >= 1024 ? `${count / 1024} GiB` : `${count} MiB`}\\) is larger than the CPU's last-level cache \\(L${cache.level}, `));
        await knobInput(page, 'server.bufferRing.hotFirst').click();
        await expect.poll(() => remark.count(), { timeout: 5_000 }).toBe(0);
      }
    } finally {
      // The next tests start from the defaults.
      if (!(await knobInput(page, 'server.bufferRing.hotFirst').isChecked())) await knobInput(page, 'server.bufferRing.hotFirst').click();
      await setNumber('server.bufferRing.count', '64');
      await setNumber('server.bufferRing.size', '65536');
    }
    expect(await remark.count()).toBe(0);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('switching the workload to storage enables IOPOLL and shows the storage knobs; a storage run reads IOPS', async () => {
    const { page, errors } = await openSettled(lab().url);
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
    const { page, errors } = await openSettled(lab().url);
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
    const { page, errors } = await openSettled(lab().url);
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
});
