// `node scripts/probe-cost.mjs`: what each eBPF probe program costs PER CLIENT REQUEST, from the
// kernel's own BPF run-time stats (BPF_ENABLE_STATS: run_time_ns, run_cnt per program), which
// machine noise barely moves, unlike throughput. For each program over the measured window:
//   events/req = Σ run_cnt / requests     ns/req = Σ run_time_ns / requests     ns/event
// and the total ns/req of all programs, next to the server's own CPU ns per request.
//
// Each measurement runs in a fresh child process (the engine in-process, the probes attached to
// it, as electron/engine/main.ts does), 50 connections × 128 B by default, server on CPU 0 and
// load on CPU 1. --addon A --addon B compares two builds of the addon (e.g. a copy of the
// previous one), interleaved ABAB… so machine noise hits both alike; ranges over rounds shown.
//
//   node scripts/probe-cost.mjs [--addon PATH]... [--rounds N] [--seconds S] [--warmup S]
//        [--connections N] [--bytes N] [--probes a,b] [--json]
// Needs root (or CAP_BPF+CAP_PERFMON+CAP_SYS_ADMIN: run-time stats) and a built dist/ (npm run build:main).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, statSync } from 'node:fs';
import { checkLabArgs, forEachOption } from './benchOptions.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

const USAGE = `node scripts/probe-cost.mjs [options]
  --addon PATH      an addon build (.node) to measure; repeat to compare builds (default: native/build/Release/uring_lab.node)
  --rounds N        rounds; each measures every addon once (default 3)
  --seconds S       measured seconds per run (default 2)
  --warmup S        seconds before the measured window (default 0.5)
  --connections N   load connections (default 50)
  --bytes N         message bytes (default 128)
  --probes a,b      probes to attach (default: the default set, as the engine attaches them)
  --json            print every sample as JSON too`;

function fail(message) {
  console.error(`probe-cost: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv) {
  const o = { addons: [], rounds: 3, seconds: 2, warmup: 0.5, connections: 50, bytes: 128, probes: null, json: false, child: false };
  forEachOption(argv, fail, (a, value, num) => {
    if (a === '--addon') o.addons.push(path.resolve(value()));
    else if (a === '--rounds') o.rounds = num(value(), true, 1);
    else if (a === '--seconds') o.seconds = num(value(), false, 0.1);
    else if (a === '--warmup') o.warmup = num(value(), false, 0);
    else if (a === '--connections') o.connections = num(value(), true, 1);
    else if (a === '--bytes') o.bytes = num(value(), true, 1);
    else if (a === '--probes') o.probes = value().split(',').filter(Boolean);
    else if (a === '--json') o.json = true;
    else if (a === '--child') o.child = true;
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown option ${a}`);
  });
  if (o.addons.length === 0) o.addons.push(path.join(root, 'native/build/Release/uring_lab.node'));
  // Checked before the first child: each would fail on its own, after the others had run.
  for (const addon of o.addons) {
    if (!existsSync(addon) || !statSync(addon).isFile()) fail(`--addon ${addon}: no such file; give a built addon (native/build/Release/uring_lab.node: npm run build:native)`);
  }
  if (!o.child) {
    const { PROBE_NAMES } = require(path.join(root, 'dist/electron/contract/probeNames.js'));
    for (const name of o.probes ?? []) if (!PROBE_NAMES.includes(name)) fail(`--probes "${name}" is not a probe (${PROBE_NAMES.join(', ')})`);
    checkLabArgs([path.join(root, 'dist/electron/cli.js'), 'run', '--set', `load.connections=${o.connections}`, '--set', `load.messageBytes=${o.bytes}`], fail, `${o.connections} connections × ${o.bytes} B`);
  }
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The engine config of every measurement: the default profile's (dist/, built by npm run
 * build:main), computed once by the parent so a concurrent rebuild of dist/ cannot fail a child;
 * retried for a minute while dist/ is being rebuilt.
 */
async function engineConfig() {
  for (let attempt = 0; ; attempt++) {
    try {
      const { nativeConfigFor } = require(path.join(root, 'dist/electron/host/engine/adapter.js'));
      const { defaultProfile } = require(path.join(root, 'dist/electron/host/profiles/index.js'));
      const base = nativeConfigFor(defaultProfile(), (opts.warmup + opts.seconds + 5) * 1000);
      const pinned = os.cpus().length >= 2;
      return {
        ...base,
        port: 0,
        server: { ...base.server, numa: { ...base.server.numa, cpus: pinned ? [0] : null } },
        load: { ...base.load, connections: opts.connections, messageBytes: opts.bytes, cpus: pinned ? [1] : null },
      };
    } catch (e) {
      if (attempt >= 12) throw new Error(`dist/ is not built (npm run build:main): ${e.message}`);
      await sleep(5000);
    }
  }
}

/** In the child: one measured window of one addon; prints its JSON on stdout. */
async function measure() {
  const native = require(opts.addons[0]);
  native.start(JSON.parse(process.env.PROBE_COST_CONFIG));
  let statuses;
  try {
    statuses = native.probesAttach({ tgid: process.pid, ...(opts.probes ? { probes: opts.probes } : {}) });
    await sleep(opts.warmup * 1000);
    native.snapshot();
    native.probesRead();
    await sleep(opts.seconds * 1000);
    const s = native.snapshot();
    const k = native.probesRead();
    if (!k?.overhead) throw new Error('no BPF run-time stats (need CAP_SYS_ADMIN)');
    console.log(JSON.stringify({
      statuses: statuses.map((p) => ({ name: p.name, attached: p.attached, variant: p.variant, reason: p.reason })),
      requests: s.requests, serverCpuNs: s.serverCpuNs, loadCpuNs: s.loadCpuNs,
      completions: k.uring.completions, enters: k.uring.enters, engineEnters: s.server?.enters ?? null,
      latencySamples: k.uring.byOpcode.reduce((a, o) => a + o.count, 0),
      latencySampleRate: k.uring.latencySampleRate ?? 1,
      overhead: k.overhead,
    }));
  } finally {
    native.probesDetach();
    native.stop();
  }
}

function runChild(addon) {
  const args = [fileURLToPath(import.meta.url), '--child', '--addon', addon, '--seconds', String(opts.seconds), '--warmup', String(opts.warmup),
    '--connections', String(opts.connections), '--bytes', String(opts.bytes), ...(opts.probes ? ['--probes', opts.probes.join(',')] : [])];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8', timeout: (opts.warmup + opts.seconds + 60) * 1000, env: { ...process.env, PROBE_COST_CONFIG: JSON.stringify(config) },
  });
  if (r.status !== 0) {
    // One line, not a stack: which build failed and the child's last words.
    console.error(`probe-cost: measuring ${addon} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`);
    process.exit(1);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

if (opts.child) {
  await measure();
  process.exit(0);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');

const config = await engineConfig();
const samples = opts.addons.map(() => []);
for (let round = 0; round < opts.rounds; round++) {
  // ABAB… with the order reversed every other round.
  const order = opts.addons.map((_, i) => i);
  if (round % 2) order.reverse();
  for (const i of order) samples[i].push(runChild(opts.addons[i]));
}

console.log(`probe-cost: ${opts.rounds} rounds, ${opts.connections} connections × ${opts.bytes} B, ${opts.warmup} s warm-up + ${opts.seconds} s measured; load average ${os.loadavg()[0].toFixed(2)}`);
opts.addons.forEach((addon, i) => {
  const ss = samples[i];
  console.log(`\n== ${addon}`);
  for (const p of ss[0].statuses) console.log(`   ${p.name.padEnd(14)} ${p.attached ? p.variant : 'NOT attached'}${p.reason ? ` (${p.reason})` : ''}`);
  const programs = [...new Set(ss.flatMap((s) => s.overhead.map((o) => o.program)))];
  console.log('   program              probe           events/req    ns/req (median, range)     ns/event   (programs that ran)');
  const rows = programs.map((program) => {
    const per = ss.map((s) => {
      const o = s.overhead.find((x) => x.program === program) ?? { runTimeNs: 0, runCount: 0 };
      return { ev: o.runCount / s.requests, ns: o.runTimeNs / s.requests, nsEv: o.runCount ? o.runTimeNs / o.runCount : NaN, probe: o.probe };
    });
    return { program, probe: per.find((p) => p.probe)?.probe ?? '?', ev: median(per.map((p) => p.ev)), ns: median(per.map((p) => p.ns)), lo: Math.min(...per.map((p) => p.ns)), hi: Math.max(...per.map((p) => p.ns)), nsEv: median(per.map((p) => p.nsEv).filter(Number.isFinite)) };
  }).sort((a, b) => b.ns - a.ns);
  for (const r of rows.filter((x) => x.ev > 0)) console.log(`   ${r.program.padEnd(20)} ${r.probe.padEnd(14)} ${f3(r.ev).padStart(11)}  ${f1(r.ns).padStart(9)} (${f1(r.lo)} … ${f1(r.hi)})  ${f1(r.nsEv).padStart(10)}`);
  const totals = ss.map((s) => s.overhead.reduce((a, o) => a + o.runTimeNs, 0) / s.requests);
  const byProbe = new Map();
  for (const r of rows) byProbe.set(r.probe, (byProbe.get(r.probe) ?? 0) + r.ns);
  console.log(`   per probe (ns/req, medians): ${[...byProbe].map(([p, ns]) => `${p} ${f1(ns)}`).join(', ')}`);
  console.log(`   TOTAL BPF ns/req: median ${f1(median(totals))} (range ${f1(Math.min(...totals))} … ${f1(Math.max(...totals))})`);
  console.log(`   server CPU ns/req: median ${f1(median(ss.map((s) => s.serverCpuNs / s.requests)))}; requests/s median ${f1(median(ss.map((s) => s.requests / opts.seconds)))}`);
  console.log(`   completions/req ${f3(median(ss.map((s) => s.completions / s.requests)))}; latency samples/completion ${f3(median(ss.map((s) => s.latencySamples / Math.max(1, s.completions))))} (rate ${ss[0].latencySampleRate}); enters/req probe ${f3(median(ss.map((s) => s.enters / s.requests)))} engine ${f3(median(ss.map((s) => (s.engineEnters ?? NaN) / s.requests)))}`);
});

// Events per request include every other process's events (the programs run for them too), which
// a busy machine changes from run to run. At equal event rates the builds compare on what they
// cost per event: each program's median ns/event × the lowest events/request any run saw for it
// (the least foreign traffic), summed.
const refEvents = new Map();
for (const ss of samples) {
  for (const s of ss) {
    for (const o of s.overhead) {
      const ev = o.runCount / s.requests;
      if (o.runCount > 0 && (!refEvents.has(o.program) || ev < refEvents.get(o.program))) refEvents.set(o.program, ev);
    }
  }
}
console.log('\nat equal event rates (median ns/event × the lowest events/req seen for the program in any run):');
opts.addons.forEach((addon, i) => {
  let total = 0;
  const parts = [];
  for (const [program, ev] of refEvents) {
    const per = samples[i].map((s) => s.overhead.find((o) => o.program === program)).filter((o) => o && o.runCount > 0);
    if (per.length === 0) continue;
    const ns = median(per.map((o) => o.runTimeNs / o.runCount)) * ev;
    total += ns;
    if (ns >= 1) parts.push(`${program} ${f1(ns)}`);
  }
  console.log(`   ${addon}: ${f1(total)} ns/req (${parts.join(', ')})`);
});
// Per round, side by side: io_uring_complete runs per request show the foreign traffic (the
// engine alone makes 4: two CQEs of the server's ring, two of the load's), so the quiet rounds
// are the ones to compare.
console.log('\nper round: total BPF ns/req (io_uring_complete runs per request; requests/s)');
for (let round = 0; round < opts.rounds; round++) {
  console.log(`   round ${round + 1}: ${samples.map((ss) => {
    const s = ss[round];
    const total = s.overhead.reduce((a, o) => a + o.runTimeNs, 0) / s.requests;
    const cqe = s.overhead.filter((o) => o.program.startsWith('ul_lat_cqe')).reduce((a, o) => a + o.runCount, 0) / s.requests;
    return `${f1(total)} (${f1(cqe)}; ${f1(s.requests / opts.seconds)})`;
  }).join('  |  ')}`);
}
if (opts.json) console.log(JSON.stringify(samples));
