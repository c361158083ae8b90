#!/usr/bin/env node
/**
 * npm run bench:ui — the live view's cost in Chromium (Debian's, driven by playwright-core)
 * with a real run behind it: `uring-lab serve` (the browser host) runs the real engine with the
 * probes on, so the page draws real frames at 10 frames/s into the throughput chart and the
 * three heatmaps (client latency, io_uring in-kernel latency, run-queue delay) over their 60 s
 * window.
 *
 * Printed:
 *   apply   per frame message: the time to apply it, from the message's arrival to the frame
 *           painted, minus the wait for the display's next frame (vsync is not work):
 *           (end of the page's message handling − arrival) + (paint done − start of the
 *           animation frame the charts redraw in). The charts redraw through the page's chart
 *           queue (renderer/src/charts/drawScheduler.ts), which says after each pass whether a
 *           chart still waits for a later frame: the frame counts as painted after the pass
 *           that left none (a chart moved to the next frame counts, with the vsync between).
 *           Measured with performance.now(), the queue's event and a MessageChannel post after
 *           it (runs after the paint). p50 / p95 / p99 / max after the first 5 s.
 *   tasks   long tasks (PerformanceObserver 'longtask', > 50 ms) after the first 5 s, the run's
 *           stop included (the summary's arrival and the panels' switch to it), each with what
 *           it was: the scripts in it (long-animation-frame entries: invoker, minified function
 *           and its position in the bundle, forced style/layout), its rendering update, the rest
 *           (GC, compile), and the host messages that arrived in it.
 *   minutes with --minutes 3 or more: apply p50 / p95 for each minute of the run, and the page
 *           main thread's CPU and its wait for a CPU in that minute (schedstat, ms per s): a p95
 *           that rises with the wait is other work on the machine; one that rises with the CPU is
 *           the page's work growing, or the same work running slower (a VM's CPU time stretches
 *           when its host is busy): CPU profiles of an early and a late minute tell those apart.
 *   heap    JS heap used after a forced GC (CDP HeapProfiler.collectGarbage + Runtime.getHeapUsage)
 *           at 1 min and at the end; the growth.
 * Targets (issue 9): apply p95 < 16 ms, no long task > 50 ms after 5 s, heap growth < 20 MB.
 *
 *   trace   with --trace FILE: a 10 s Chromium trace taken after the 1-min heap sample, written
 *           to FILE (open it in chrome://tracing or Perfetto), and each busy thread's time per
 *           frame by event (self time: an event's own time without its children). The frames
 *           applied while tracing are left out of apply (tracing slows them).
 *
 * Usage: node scripts/bench-ui.mjs [--minutes N (default 2; 10 for the issue's soak)] [--width W --height H]
 *        [--rate RPS (open-loop load, default 5000)] [--nice N (browser threads' nice level, root)]
 *        [--trace FILE] [--profile-stop FILE]
 * Build first (npm run build). Leaves no process behind; the run's data goes to a temporary
 * XDG_DATA_HOME, its socket to a private XDG_RUNTIME_DIR.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { checkOut, writeOut } from './benchOptions.mjs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(ROOT, 'package.json'));
const { chromium } = require('playwright-core');
const CLI = path.join(ROOT, 'dist/electron/cli.js');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`bench:ui: --${name} needs a positive number, got ${process.argv[i + 1] ?? 'nothing'}`);
    process.exit(2);
  }
  return v;
}
const MINUTES = flag('minutes', 2);
const WIDTH = flag('width', 1440);
const HEIGHT = flag('height', 900);
/** Open-loop request rate: the run must not starve the browser of the machine's CPUs (the UI is
 *  measured, not the engine); 0 runs the default closed loop, which keeps every CPU busy. */
const RATE = process.argv.includes('--rate') ? flag('rate', 5000) : 5000;
const SKIP_MS = 5000;
/** After the stop: time for the summary's arrival and the panels' switch to it. */
const STOP_SETTLE_MS = 2000;
/** --nice N (e.g. -10): run the browser's threads at that nice level, to approximate a quiet
 *  machine when other work shares the CPUs (root only; reported in the output). */
const NICE = process.argv.includes('--nice') ? Number(process.argv[process.argv.indexOf('--nice') + 1]) : null;
if (NICE !== null && !(Number.isInteger(NICE) && NICE >= -20 && NICE <= 19)) {
  console.error(`bench:ui: --nice needs an integer in -20…19, got ${process.argv[process.argv.indexOf('--nice') + 1] ?? 'nothing'}`);
  process.exit(2);
}

const TRACE = process.argv.includes('--trace') ? process.argv[process.argv.indexOf('--trace') + 1] : null;
if (TRACE !== null && (!TRACE || TRACE.startsWith('--'))) {
  console.error('bench:ui: --trace needs a file to write the trace to, e.g. --trace /tmp/ui-trace.json');
  process.exit(2);
}
const failUi = (line) => { console.error(`bench:ui: ${line}`); process.exit(2); };
// Checked now, as the lab's verbs check --out: the trace exists only after the bench has run.
const traceOut = TRACE === null ? null : checkOut(TRACE, failUi, '--trace');
/** --profile-stop FILE: a V8 CPU profile of the page from the stop click until the page settled
 *  (.cpuprofile, for Chromium's DevTools or speedscope) and its heaviest functions by self time,
 *  and a Chromium trace of the same time (FILE.trace.json): Blink's work outside script by event. */
const PROFILE_STOP = process.argv.includes('--profile-stop') ? process.argv[process.argv.indexOf('--profile-stop') + 1] : null;
if (PROFILE_STOP !== null && (!PROFILE_STOP || PROFILE_STOP.startsWith('--'))) {
  console.error('bench:ui: --profile-stop needs a file to write the profile to, e.g. --profile-stop /tmp/stop.cpuprofile');
  process.exit(2);
}
const profileStopOut = PROFILE_STOP === null ? null : checkOut(PROFILE_STOP, failUi, '--profile-stop');
const profileStopTraceOut = PROFILE_STOP === null ? null : checkOut(`${PROFILE_STOP}.trace.json`, failUi, '--profile-stop (its .trace.json)');
/** How long the trace runs. */
const TRACE_MS = 10_000;
/** Chromium trace categories: the main thread's tasks, V8, Blink's style/layout/paint, cc's commit and raster, viz. */
const TRACE_CATEGORIES = [
  'toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'disabled-by-default-devtools.timeline.frame',
  'blink', 'cc', 'viz', 'v8', 'v8.execute', 'benchmark', 'gpu', 'skia',
];

if (!existsSync(CLI)) {
  console.error('bench:ui: no dist/electron/cli.js — run npm run build first');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`bench:ui: no Chromium at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM_PATH`);
  process.exit(2);
}

/** Installed in the page before its scripts: times every frame message from arrival to paint. */
function instrument() {
  const samples = [];
  const longTasks = [];
  const t0 = performance.now();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ at: e.startTime - t0, ms: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  // What a long task was: the long-animation-frame entries (Chromium ≥ 123) name the scripts
  // that ran in it (invoker, function, bundle position, forced style/layout) and when the
  // rendering update started; the rest of the task is V8 (GC, compile) or Blink outside script.
  const longFrames = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      longFrames.push({
        at: e.startTime - t0,
        ms: e.duration,
        renderAt: e.renderStart ? e.renderStart - t0 : null,
        styleAt: e.styleAndLayoutStart ? e.styleAndLayoutStart - t0 : null,
        scripts: e.scripts.map((s) => ({
          at: s.startTime - t0,
          ms: s.duration,
          invoker: s.invoker,
          fn: s.sourceFunctionName,
          src: `${s.sourceURL.split('/').pop()}:${s.sourceCharPosition}`,
          forcedLayoutMs: s.forcedStyleAndLayoutDuration,
        })),
      });
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
  // Every message from the host (kind and size): the long task a message's handling caused
  // starts at its arrival.
  const messages = [];
  /** Frame messages after which no chart pass came within 2 s (arrival times). */
  const unmeasured = [];
  /** The page's CHARTS_DRAWN_EVENT (drawScheduler.ts), dispatched after each pass of its chart queue. */
  const CHARTS_DRAWN = 'uringlab:charts-drawn';
  const Native = window.WebSocket;
  const after = (fn) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => fn();
    ch.port2.postMessage(0);
  };
  /** Request id → LabApi method, to name the replies. */
  const methods = new Map();
  class Timed extends Native {
    send(data) {
      const m = typeof data === 'string' ? /^\{"id":(\d+),"method":"(\w+)"/.exec(data) : null;
      if (m) methods.set(m[1], m[2]);
      return super.send(data);
    }
    constructor(...args) {
      super(...args);
      // Added before the page sets onmessage: runs first, at arrival.
      this.addEventListener('message', (ev) => {
        if (typeof ev.data !== 'string') return;
        const arrived = performance.now();
        const head = ev.data.slice(0, 200);
        const id = /^\{"id":(\d+)/.exec(head)?.[1];
        const kind = id !== undefined ? `reply to ${methods.get(id) ?? '?'}` : (/"type":"(\w+)"/.exec(head)?.[1] ?? '?');
        messages.push({ at: arrived - t0, kind, bytes: ev.data.length });
        if (kind !== 'frame') return;
        // The frame is applied when the page's chart queue (renderer/src/charts/drawScheduler.ts)
        // has drawn every chart it asked for: the pass after the handling whose `pending` is 0.
        // A chart its budget moved to the next animation frame counts, the vsync between included.
        let handled = null;
        let firstPass = null;
        let done = false;
        const onDrawn = (e) => {
          // Handling ended before any animation frame of its own could start.
          if (handled === null) handled = e.detail.frameStart;
          if (firstPass === null) firstPass = Math.max(e.detail.frameStart, handled);
          if (e.detail.pending > 0) return;
          done = true;
          window.removeEventListener(CHARTS_DRAWN, onDrawn);
          // A task after the pass's frame: its rendering (style, layout, paint) is done.
          after(() => {
            const painted = performance.now();
            samples.push({ at: arrived - t0, ms: handled - arrived + (painted - firstPass), wait: firstPass - handled });
          });
        };
        window.addEventListener(CHARTS_DRAWN, onDrawn);
        // A task after this one: the page's handler has run by then.
        after(() => {
          if (handled === null) handled = performance.now();
        });
        // A frame that asked no chart to redraw is not measured (counted apart).
        setTimeout(() => {
          if (done) return;
          window.removeEventListener(CHARTS_DRAWN, onDrawn);
          unmeasured.push(arrived - t0);
        }, 2000);
      });
    }
  }
  window.WebSocket = Timed;
  window.__uiBench = { samples, longTasks, longFrames, messages, unmeasured, t0 };
}

async function startServe(env) {
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no URL: ${out}`)), 20_000);
    proc.stdout.on('data', (chunk) => {
      out += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9A-Za-z_-]+/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
  return { proc, url };
}

/** Pids of `root`'s descendants. */
function descendants(root) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {}
  }
  const out = [];
  const walk = (pid) => (children.get(pid) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(root);
  return out;
}

/**
 * The pids of this process's Chromium renderer processes; each one's main thread (Blink's
 * CrRendererMain: the process's first thread) has the same id.
 */
function rendererPids() {
  return descendants(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
    } catch {
      return false;
    }
  });
}

/**
 * The renderer main threads' scheduler accounting (`/proc/PID/task/PID/schedstat`, ns): time on
 * a CPU (the page's own work, which, unlike wall-clock timings, does not grow when other work on
 * the machine preempts it) and time runnable but waiting for one (what that other work adds to
 * the page's timings). Read after the 1-min sample and at every whole minute.
 */
function rendererMainSchedstat() {
  let onCpuNs = 0;
  let waitNs = 0;
  for (const pid of rendererPids()) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      onCpuNs += run;
      waitNs += wait;
    } catch {}
  }
  return { onCpuNs, waitNs };
}

/** Sets every thread of this process's Chromium to nice level `nice`; how many threads. */
function reniceBrowser(nice) {
  let n = 0;
  for (const pid of descendants(process.pid)) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chromium')) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        os.setPriority(Number(tid), nice);
        n++;
      }
    } catch {}
  }
  return n;
}

/**
 * Per thread of a Chromium trace: busy time (top-level events) and self time by event name,
 * busiest first. Complete events ('X') and begin/end pairs nest by time on their thread.
 */
function traceSelfTimes(trace) {
  const events = Array.isArray(trace) ? trace : trace.traceEvents;
  const threadNames = new Map();
  const byThread = new Map();
  for (const e of events) {
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'M' && e.name === 'thread_name') threadNames.set(key, e.args.name);
    if (e.ph !== 'X' && e.ph !== 'B' && e.ph !== 'E') continue;
    if (!byThread.has(key)) byThread.set(key, []);
    byThread.get(key).push(e);
  }
  const out = [];
  for (const [key, evs] of byThread) {
    evs.sort((a, b) => a.ts - b.ts);
    const spans = [];
    const open = [];
    for (const e of evs) {
      if (e.ph === 'X') spans.push({ name: e.name, ts: e.ts, dur: e.dur ?? 0 });
      else if (e.ph === 'B') open.push(e);
      else {
        const b = open.pop();
        if (b) spans.push({ name: b.name, ts: b.ts, dur: e.ts - b.ts });
      }
    }
    // Parents before their children: earlier start first, the longer first at the same start.
    spans.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const self = new Map();
    const stack = [];
    let busy = 0;
    for (const sp of spans) {
      while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= sp.ts) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent) self.set(parent.name, (self.get(parent.name) ?? 0) - Math.min(sp.dur, parent.ts + parent.dur - sp.ts));
      else busy += sp.dur;
      self.set(sp.name, (self.get(sp.name) ?? 0) + sp.dur);
      stack.push(sp);
    }
    out.push({ thread: threadNames.get(key) ?? key, key, busyUs: busy, self: [...self].sort((a, b) => b[1] - a[1]) });
  }
  return out.sort((a, b) => b.busyUs - a.busyUs);
}

/**
 * Prints a trace's busiest threads (busy time) and each one's heaviest events by self time, in
 * ms divided by `per` (frames traced, or 1 for totals); events under `min` left out.
 */
function printTraceThreads(buf, { threads, events, per, unit, min, digits }) {
  for (const t of traceSelfTimes(JSON.parse(buf.toString('utf8'))).slice(0, threads)) {
    console.log(`    ${t.thread}: busy ${(t.busyUs / 1000 / per).toFixed(digits)}${unit}`);
    for (const [name, us] of t.self.slice(0, events)) if (us / 1000 / per >= min) console.log(`      ${(us / 1000 / per).toFixed(digits).padStart(7)}  ${name}`);
  }
}

/** A V8 CPU profile's self time by function (name, script and line), heaviest first. */
function profileSelfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]);
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.split('/').pop()}:${cf.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return [...self].sort((a, b) => b[1] - a[1]);
}

/**
 * What long task `t` was, from the page's long-animation-frame entries and host messages: the
 * scripts that ran in it (invoker, function and bundle position, forced style/layout), its
 * rendering update (style, layout, paint of the frame it ended in), the rest (V8's GC and
 * compilation, Blink work outside script), and the host messages that arrived in it.
 */
function describeLongTask(t, { longFrames, messages }, runAt) {
  const end = t.at + t.ms;
  const inTask = (at) => at >= t.at - 0.5 && at < end;
  const frames = longFrames.filter((f) => f.at < end && f.at + f.ms > t.at);
  const scripts = frames.flatMap((f) => f.scripts).filter((s) => inTask(s.at));
  let renderMs = 0;
  let styleMs = 0;
  let renderScriptMs = 0;
  for (const f of frames) {
    const frameEnd = Math.min(end, f.at + f.ms);
    if (f.renderAt !== null && inTask(f.renderAt)) {
      renderMs += frameEnd - f.renderAt;
      // rAF and ResizeObserver callbacks run inside the rendering update, before style/layout.
      renderScriptMs += f.scripts.filter((s) => s.at >= f.renderAt && inTask(s.at)).reduce((a, s) => a + s.ms, 0);
    }
    if (f.styleAt !== null && inTask(f.styleAt)) styleMs += frameEnd - f.styleAt;
  }
  const scriptMs = scripts.reduce((a, s) => a + s.ms, 0);
  const msgs = messages.filter((m) => inTask(m.at));
  const parts = [
    ...scripts.map((s) => `${s.invoker}${s.fn ? ` ${s.fn}` : ''} (${s.src}) ${s.ms.toFixed(0)} ms${s.forcedLayoutMs >= 1 ? ` (forced style/layout ${s.forcedLayoutMs.toFixed(0)} ms)` : ''}`),
    `rendering update ${renderMs.toFixed(0)} ms (its callbacks above ${renderScriptMs.toFixed(0)} ms, style/layout/paint/commit ${styleMs.toFixed(0)} ms)`,
    `rest (GC, compile, Blink outside script and rendering) ${Math.max(0, t.ms - (scriptMs - renderScriptMs) - renderMs).toFixed(0)} ms`,
  ];
  const got = msgs.length ? `; messages arrived: ${msgs.map((m) => `${m.kind} ${(m.bytes / 1024).toFixed(1)} KB`).join(', ')}` : '';
  return `${t.ms.toFixed(0)} ms at ${(t.at / 1000).toFixed(1)} s (${((t.at - runAt) / 1000).toFixed(1)} s into the run): ${frames.length ? parts.join('; ') : 'no long-animation-frame entry'}${got}`;
}

function pct(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '—');
const mb = (v) => `${(v / 1024 / 1024).toFixed(1)} MB`;

// Output piped into `head` that exits early: an EPIPE on stdout would end this process before its
// `finally` stops the `serve` it started (found: a serve and its engine left running for an hour).
process.stdout.on('error', () => {});

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-bench-ui-'));
const env = { ...process.env, XDG_RUNTIME_DIR: path.join(tmp, 'rt'), XDG_DATA_HOME: path.join(tmp, 'data') };
let serve;
let browser;
let code = 0;
try {
  require('node:fs').mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
  serve = await startServe(env);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(instrument);
  await page.goto(serve.url);
  const cdp = await page.context().newCDPSession(page);
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };

  // A run long enough for the soak: measured time set through the knob panel, like a user.
  const knob = (p) => page.locator(`[data-testid="knob"][data-knob="${p}"] [data-testid="knob-input"]`);
  await page.getByTestId('run-state').filter({ hasText: 'idle' }).waitFor({ timeout: 20_000 });
  const measure = knob('duration.measureS');
  await measure.fill(String(Math.ceil(MINUTES * 60 + 30)));
  await measure.press('Enter');
  const settled = async (p) => {
    const row = page.locator(`[data-testid="knob"][data-knob="${p}"]`);
    for (let i = 0; i < 50 && (await row.locator('.pending').count()) > 0; i++) await page.waitForTimeout(100);
  };
  await settled('duration.measureS');
  if (RATE > 0) {
    // nullable: untick "none" first
    await page.locator('[data-testid="knob"][data-knob="load.rateRps"]').getByTestId('knob-null').uncheck();
    await knob('load.rateRps').fill(String(RATE));
    await knob('load.rateRps').press('Enter');
    await settled('load.rateRps');
    await knob('load.mode').selectOption({ label: 'open' });
    await settled('load.mode');
  }
  if (NICE !== null) console.log(`  browser at nice ${NICE}: ${reniceBrowser(NICE)} threads`);
  await page.getByTestId('start-button').click();
  await page.getByTestId('run-state').filter({ hasText: 'running' }).waitFor({ timeout: 20_000 });
  const startedAt = Date.now();
  /** When the run started, in the page's time (the long tasks' times are the page's). */
  const runAt = await page.evaluate(() => performance.now() - window.__uiBench.t0);
  console.log(`bench:ui: ${WIDTH}×${HEIGHT}, ${MINUTES} min of a real run (probes on, ${RATE > 0 ? `open loop at ${RATE} req/s` : 'closed loop'}), frames at 10/s into 4 charts (3 heatmaps); load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`);

  await page.waitForTimeout(60_000);
  const heap1 = await heap();
  const probes = await page.getByTestId('kernel-heatmap-uring').getAttribute('data-frames-with-data');
  console.log(`  1 min: heap ${mb(heap1)} after GC; kernel heatmap frames with data: ${probes}`);
  let traced = null;
  if (TRACE) {
    const from = await page.evaluate(() => performance.now() - window.__uiBench.t0);
    const n0 = await page.evaluate(() => window.__uiBench.samples.length);
    await browser.startTracing(page, { categories: TRACE_CATEGORIES });
    await page.waitForTimeout(TRACE_MS);
    const buf = await browser.stopTracing();
    const to = await page.evaluate(() => performance.now() - window.__uiBench.t0);
    const framesTraced = (await page.evaluate(() => window.__uiBench.samples.length)) - n0;
    traced = { from, to };
    const traceFile = writeOut(traceOut, buf, 'bench:ui');
    console.log(`  trace: ${traceFile} (${mb(buf.length)}), ${framesTraced} frames in ${(TRACE_MS / 1000).toFixed(0)} s; self time per frame by thread and event:`);
    printTraceThreads(buf, { threads: 8, events: 14, per: Math.max(1, framesTraced), unit: ' ms/frame', min: 0.05, digits: 2 });
  }
  // CPU from here on (after the trace: tracing costs the page CPU too), and at each whole minute
  // of the run: the page's CPU and its wait for a CPU per minute.
  const minuteSched = [{ at: Date.now(), ...rendererMainSchedstat() }];
  const frames1 = await page.evaluate(() => window.__uiBench.samples.length);
  while (Date.now() - startedAt < MINUTES * 60_000) {
    const nextMinute = startedAt + (Math.floor((Date.now() - startedAt) / 60_000) + 1) * 60_000;
    await page.waitForTimeout(Math.max(1, Math.min(nextMinute, startedAt + MINUTES * 60_000) - Date.now()));
    minuteSched.push({ at: Date.now(), ...rendererMainSchedstat() });
  }
  const result = await page.evaluate(() => window.__uiBench);
  const heapN = await heap();
  const frames = await page.evaluate(() => ({
    throughput: document.querySelector('[data-testid="throughput-chart"]')?.getAttribute('data-frames'),
    client: document.querySelector('[data-testid="latency-heatmap"]')?.getAttribute('data-frames'),
    uring: document.querySelector('[data-testid="kernel-heatmap-uring"]')?.getAttribute('data-frames-with-data'),
    runqueue: document.querySelector('[data-testid="kernel-heatmap-runqueue"]')?.getAttribute('data-frames-with-data'),
  }));
  // The stop is part of the live view's work: the run's summary arrives (the `ended` event and
  // stopRun's answer) and the summary panel, phase table and percentile plot switch to it.
  // Its long tasks count too, read once the page has settled after it.
  const stopAt = await page.evaluate(() => performance.now() - window.__uiBench.t0);
  // Clicked and awaited without Playwright's actionability machinery, which runs in the page's
  // main thread and would be counted as the page's: its click checks the hit target with
  // elementsFromPoint (a forced layout) in a listener of the click itself, and a locator's
  // waitFor polls querySelectorAll with a text filter on every animation frame (8–13 ms of
  // each 100 ms at the stop, in a CPU profile). A button's click() runs the page's handler in
  // a task as a user's click does; the state is read every 200 ms with one querySelector.
  if (PROFILE_STOP) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
    await browser.startTracing(page, { categories: TRACE_CATEGORIES });
  }
  await page.evaluate(() => document.querySelector('[data-testid="stop-button"]').click());
  for (let waited = 0; ; waited += 200) {
    const state = await page.evaluate(() => document.querySelector('[data-testid="run-state"]')?.textContent ?? '');
    if (/idle/.test(state)) break;
    if (waited > 30_000) throw new Error(`the run did not stop within 30 s (state: ${state.trim()})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.waitForTimeout(STOP_SETTLE_MS);
  if (PROFILE_STOP) {
    const buf = await browser.stopTracing();
    const { profile } = await cdp.send('Profiler.stop');
    const profileFile = writeOut(profileStopOut, JSON.stringify(profile), 'bench:ui');
    const stopTraceFile = writeOut(profileStopTraceOut, buf, 'bench:ui');
    console.log(`  stop trace: ${stopTraceFile}; busiest threads, self time by event (ms):`);
    printTraceThreads(buf, { threads: 4, events: 16, per: 1, unit: ' ms', min: 1, digits: 1 });
    console.log(`  stop profile: ${profileFile}; heaviest by self time:`);
    for (const [name, us] of profileSelfTimes(profile).slice(0, 25)) console.log(`    ${(us / 1000).toFixed(1).padStart(7)} ms  ${name}`);
  }
  const atStop = await page.evaluate(() => {
    const b = window.__uiBench;
    const table = document.querySelector('[data-testid="spike-table"]');
    const spikes = table ? { found: Number(table.getAttribute('data-spikes')), rows: table.querySelectorAll('[data-testid="spike-row"]').length } : null;
    return { longTasks: b.longTasks, longFrames: b.longFrames, messages: b.messages.filter((m) => m.kind !== 'frame'), spikes };
  });

  const after5 = result.samples.filter((s) => s.at > SKIP_MS && !(traced && s.at >= traced.from && s.at <= traced.to));
  const apply = after5.map((s) => s.ms).sort((a, b) => a - b);
  const waits = after5.map((s) => s.wait).sort((a, b) => a - b);
  const long = result.longTasks.filter((t) => t.at > SKIP_MS && !(traced && t.at >= traced.from && t.at <= traced.to));
  const stopLong = atStop.longTasks.filter((t) => t.at >= stopAt);
  const summaryBytes = atStop.messages.filter((m) => m.at >= stopAt).map((m) => `${m.kind} ${(m.bytes / 1024).toFixed(0)} KB`);
  console.log(`  window: throughput ${frames.throughput} frames, client heatmap ${frames.client}, io_uring ${frames.uring} with data, run-queue ${frames.runqueue} with data`);
  const unmeasured = result.unmeasured.filter((at) => at > SKIP_MS).length;
  console.log(`  apply a frame (n=${apply.length}${unmeasured ? `; ${unmeasured} frames after which no chart redrew, not measured` : ''}): p50 ${ms(pct(apply, 0.5))}  p95 ${ms(pct(apply, 0.95))}  p99 ${ms(pct(apply, 0.99))}  max ${ms(apply[apply.length - 1])}   (vsync wait apart: p50 ${ms(pct(waits, 0.5))})`);
  if (MINUTES >= 3) {
    // A soak's p95 can rise because the page's work grows with the run or because the machine
    // got busier; minute by minute, with the page's CPU and its wait for a CPU beside it.
    console.log('  by minute of the run: apply p50 / p95 ms; the page main thread\'s CPU and its wait for a CPU, ms per s (schedstat)');
    for (let m = 0; m * 60_000 < stopAt - runAt; m++) {
      const inMinute = after5.filter((s) => s.at - runAt >= m * 60_000 && s.at - runAt < (m + 1) * 60_000).map((s) => s.ms).sort((a, b) => a - b);
      // The schedstat samples start after the 1-min heap sample (and the trace, if any).
      const a = minuteSched.find((x) => Math.abs(x.at - startedAt - m * 60_000) <= 2_000);
      const b = a && minuteSched.find((x) => x.at - a.at >= 58_000);
      const sched = b ? `  CPU ${((b.onCpuNs - a.onCpuNs) / 1e6 / ((b.at - a.at) / 1000)).toFixed(0)}, wait ${((b.waitNs - a.waitNs) / 1e6 / ((b.at - a.at) / 1000)).toFixed(0)}` : '';
      if (inMinute.length) console.log(`    ${String(m + 1).padStart(2)}: ${pct(inMinute, 0.5).toFixed(1)} / ${pct(inMinute, 0.95).toFixed(1)}${sched}`);
    }
  }
  const listed = (ts) => (ts.length ? ` (${ts.map((t) => `${t.ms.toFixed(0)} ms at ${(t.at / 1000).toFixed(1)} s`).join(', ')})` : '');
  console.log(`  long tasks > 50 ms after 5 s: ${long.length + stopLong.length} (${long.length} while the run drew${listed(long)}, ${stopLong.length} at the stop${listed(stopLong)}; run started at ${(runAt / 1000).toFixed(1)} s, stopped at ${(stopAt / 1000).toFixed(1)} s; host messages at the stop: ${summaryBytes.join(', ') || 'none'}; spike table: ${atStop.spikes ? `${atStop.spikes.rows} rows of ${atStop.spikes.found} spikes` : 'none'})`);
  for (const t of long) console.log(`    ${describeLongTask(t, result, runAt)}`);
  for (const t of stopLong) console.log(`    ${describeLongTask(t, atStop, runAt)}`);
  const framesN = result.samples.length - frames1;
  const cpu1 = minuteSched[0];
  const cpuN = minuteSched[minuteSched.length - 1];
  const cpuMs = (cpuN.onCpuNs - cpu1.onCpuNs) / 1e6;
  console.log(`  page main thread CPU (schedstat) from ${TRACE ? 'the trace\'s end' : '1 min'} to the end: ${(cpuMs / Math.max(1, framesN)).toFixed(2)} ms per frame over ${framesN} frames (${((cpuMs / Math.max(1, cpuN.at - cpu1.at)) * 100).toFixed(1)} % of one CPU)`);
  console.log(`  load average at the end: ${os.loadavg()[0].toFixed(1)} (timings are noisy while other work shares the CPUs)`);
  console.log(`  heap after GC: 1 min ${mb(heap1)}, ${MINUTES} min ${mb(heapN)}: growth ${mb(heapN - heap1)}`);
  const ok = { apply: pct(apply, 0.95) < 16, long: long.length + stopLong.length === 0, heap: heapN - heap1 < 20 * 1024 * 1024 };
  console.log(`  targets: p95 < 16 ms ${ok.apply ? 'met' : 'MISSED'}; no long task ${ok.long ? 'met' : 'MISSED'}; heap growth < 20 MB ${ok.heap ? 'met' : 'MISSED'}`);
  if (errors.length) console.log(`  page errors: ${errors.join(' | ')}`);
  if (!apply.length) throw new Error('no frame was measured: did the run start?');
} catch (err) {
  console.error(`bench:ui: ${err instanceof Error ? err.message : String(err)}`);
  code = 1;
} finally {
  await browser?.close().catch(() => {});
  if (serve && serve.proc.exitCode === null) {
    const exited = new Promise((r) => serve.proc.once('exit', r));
    serve.proc.kill('SIGTERM');
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
