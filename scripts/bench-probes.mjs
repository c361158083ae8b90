// `npm run bench:probes`: what the eBPF probes cost the run they watch.
//
// By default one long run of 50 connections × 128 B (the issue's point), the server worker on
// CPU 0 and the load on CPU 1 where there are two CPUs, whose engine detaches its probes every
// 10 s and attaches them again 10 s later: each block with probes is compared with the blocks
// without beside it (scripts/bench-probes-switchback.mjs says why and how). Separate runs differ
// by more than the probes cost here (a new server, new connections, minutes apart), so the
// separate-run mode (--separate) swings by more than the targets between benches of the same code.
// Target (issue 9): all probes together ≤ 3 % throughput and ≤ 5 % p99.
//
// "On" is the probe set a run gets by default (the profile's defaults: every probe, the
// per-request ones time-sampled at probes.perRequestDuty); --per-request sets
// probes.perRequest=true explicitly, at each --duty (or "none": the default set without them).
//
// --separate: the same load twice per round — probes on, probes off (`uring-lab run --json --set
// probes.enabled=true|false`) — interleaved ABAB… Per round it prints throughput and p99; then the
// medians, the deltas (on vs off, %), the range of the per-round deltas, and each probe's own
// cost from the kernel's BPF run-time stats (ns/event and CPU share, the summary's
// probes[].overhead), and the lab's own threads' CPU.
// --profile (separate runs) measures the on-CPU stack sampling alone (issue 12): probes on in both
// runs of a round, diagnose.profileHz at its default (PROFILE_HZ_DEFAULT) against 0. Target: ≤ 2 % throughput.
// --duty D1,D2,… (with --per-request; several: separate runs) measures the per-request probes'
// time sampling at each duty (probes.perRequestDuty): each round runs probes off and then on at
// every duty, in an order that rotates per round, and each duty is compared with the same
// round's "off" run: the curve.
//
//   npm run bench:probes -- [--separate] [--per-request [--duty D,…] | --profile] [--rounds N] [--seconds S] [--warmup S] [--connections N] [--bytes N] [--out FILE]
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { checkLabArgs, checkOut, forEachOption, writeOut } from './benchOptions.mjs';
import { exitWithChildrenOnSignal, privateRunsDir, runLabJson } from './benchRun.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// URING_LAB_CLI: another build of the CLI (e.g. a copy of dist/ that a concurrent rebuild cannot pull away).
const cli = process.env.URING_LAB_CLI || path.join(root, 'dist/electron/cli.js');
// The runs this bench saves stay out of the user's history (benchRun.mjs).
privateRunsDir('bench-probes');
let LatencyHistogram;
let PROBE_NAMES;
let PROFILE_HZ_DEFAULT;
try {
  ({ LatencyHistogram } = createRequire(import.meta.url)(path.join(root, 'dist/electron/contract/histogram.js')));
  ({ PROBE_NAMES, PROFILE_HZ_DEFAULT } = createRequire(import.meta.url)(path.join(root, 'dist/electron/contract/kernel.js')));
} catch (err) {
  console.error(`bench:probes: cannot load the latency histogram and probe names from dist/ (${err.message}); run npm run build first`);
  process.exit(2);
}

const USAGE = `npm run bench:probes -- [options]
  --seconds S       measured seconds (default 600: one run, 30 blocks with probes and 30 without;
                    with --separate 10 per run: two of the per-request probes' ~4.6 s sampling
                    periods, a shorter run holds one window or none, not their share)
  --block-frames K  frames per block (default 100: 10 s at 100 ms frames, two sampling periods;
                    re-attaching opens its first window inside the dropped frames)
  --settle-frames D frames dropped at the start of each block (default 10)
  --only NAME,…     toggle only these probes (e.g. profile: the stack sampling's own cost, issue 12's
                    ≤ 2 % throughput); the rest stay attached in every block
  --warmup S        warm-up seconds (default 1)
  --connections N   load connections (default 50)
  --bytes N         message bytes (default 128)
  --per-request     "on" sets probes.perRequest=true (default: the profile's default, on)
  --duty D1,D2,…    with --per-request: probes.perRequestDuty of the "on" runs (default: the knob's
                    default); "none": "on" with the per-request probes off (the default set without
                    them); several: separate runs, one "on" run per duty each round
  --separate        separate runs instead, each round one with probes on and one with probes off
  --rounds N        with --separate (implies it): rounds (default 4, at least 1)
  --period-ms P1,…  with --duty (implies --separate): the sampling period too
                    (URING_LAB_PROBE_SAMPLING_PERIOD_MS, the addon's measurement hook; default
                    adaptive): one "on" run per duty and period
  --profile         (implies --separate) "on" and "off" both attach the default set; "on" samples
                    stacks at diagnose.profileHz's default rate, "off" does not
                    (diagnose.profileHz=0): the profile probe's cost
  --set KEY=VALUE   a profile setting for every run, on and off alike (repeatable; e.g.
                    diagnose.profileHz=0 to leave the stack sampling out)
  --out FILE        also write every sample as JSON`;

function fail(message) {
  console.error(`bench:probes: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv) {
  const o = { rounds: null, seconds: null, warmup: 1, connections: 50, bytes: 128, out: null, perRequest: false, profile: false, duties: [null], periods: [null], separate: false, blockFrames: null, settleFrames: 10, sets: [], only: null };
  forEachOption(argv, fail, (a, value, num) => {
    if (a === '--rounds') o.rounds = num(value(), true, 1);
    else if (a === '--seconds') o.seconds = num(value(), false, 0.1);
    else if (a === '--warmup') o.warmup = num(value(), false, 0);
    else if (a === '--connections') o.connections = num(value(), true, 1);
    else if (a === '--bytes') o.bytes = num(value(), true, 1);
    else if (a === '--out') o.out = checkOut(value(), fail);
    else if (a === '--per-request') o.perRequest = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--separate') o.separate = true;
    else if (a === '--only') {
      o.only = value().split(',');
      for (const n of o.only) if (!PROBE_NAMES.includes(n)) fail(`--only "${n}" is not a probe (${PROBE_NAMES.join(', ')})`);
    }
    else if (a === '--switchback') o.separate = false; // the default; accepted for older notes
    else if (a === '--set') {
      const kv = value();
      if (!/^[A-Za-z][\w.]*=./.test(kv)) fail(`--set "${kv}" is not KEY=VALUE`);
      o.sets.push('--set', kv);
    }
    else if (a === '--block-frames') o.blockFrames = num(value(), true, 2);
    else if (a === '--settle-frames') o.settleFrames = num(value(), true, 0);
    else if (a === '--period-ms') {
      const raw = value();
      o.periods = raw.split(',').map((d) => {
        const n = Number(d);
        if (!(Number.isInteger(n) && n >= 100 && n <= 10000)) fail(`--period-ms "${d}" is not a whole number of ms from 100 to 10000`);
        return n;
      });
    }
    else if (a === '--duty') {
      const raw = value();
      o.duties = raw.split(',').map((d) => {
        if (d === 'none') return 'none';
        const n = Number(d);
        if (!(n >= 0.001 && n <= 1)) fail(`--duty "${d}" is not a fraction from 0.001 to 1`);
        return n;
      });
    }
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown option ${a}`);
  });
  if (o.duties[0] !== null && !o.perRequest) fail('--duty needs --per-request (it is the per-request probes\' duty)');
  // Separate runs: asked for, or what only they can measure (the profile probe alone, several
  // duties or periods, rounds).
  o.separate ||= o.profile || o.duties.length > 1 || o.periods[0] !== null || o.rounds !== null;
  o.switchback = !o.separate;
  if (o.only && o.separate) fail('--only is for the in-run mode (without --separate, --profile, --rounds, several duties or --period-ms)');
  o.rounds ??= 4;
  o.blockFrames ??= 100;
  if (o.settleFrames >= o.blockFrames) fail(`--settle-frames ${o.settleFrames} leaves nothing of a ${o.blockFrames}-frame block: give fewer than --block-frames`);
  o.seconds ??= o.switchback ? 600 : 10;
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const pinned = os.cpus().length >= 2;
// Interrupted: the run stops and saves itself before this bench removes its folders.
exitWithChildrenOnSignal();
if (opts.switchback) {
  const { runSwitchback, switchbackArgs } = await import('./bench-probes-switchback.mjs');
  checkLabArgs(switchbackArgs(opts, cli), fail, 'the run');
  const result = await runSwitchback(opts, cli, LatencyHistogram);
  if (opts.out) console.log(`\nresult written to ${writeOut(opts.out, JSON.stringify({ options: { ...opts, out: opts.out.path }, switchback: result }, null, 2), 'bench:probes')}`);
  process.exit(process.exitCode ?? 0);
}

/** `uring-lab run`'s arguments for one sample: probes on or off, at a per-request duty. */
function runArgs(probes, duty) {
  return [
    cli, 'run', '--json', '--duration', String(opts.seconds),
    ...(opts.profile
      ? ['--set', 'probes.enabled=true', '--set', `diagnose.profileHz=${probes ? PROFILE_HZ_DEFAULT : 0}`]
      : ['--set', `probes.enabled=${probes}`, ...(probes && (opts.perRequest || duty === 'none') ? ['--set', `probes.perRequest=${duty !== 'none'}`] : [])]),
    ...(probes && duty !== null && duty !== 'none' ? ['--set', `probes.perRequestDuty=${duty}`] : []),
    '--set', `duration.warmupS=${opts.warmup}`,
    '--set', `load.connections=${opts.connections}`,
    '--set', `load.messageBytes=${opts.bytes}`,
    ...(pinned ? ['--set', 'server.numa.cpus=[0]', '--set', 'load.cpus=[1]'] : []),
    ...opts.sets,
  ];
}
// Both arms of every duty, checked as the CLI will check them, before the first sample.
for (const duty of opts.duties) for (const probes of [true, false]) checkLabArgs(runArgs(probes, duty), fail, `the run with probes ${probes ? 'on' : 'off'}${duty === null ? '' : ` (duty ${duty})`}`);

/** One `uring-lab run --json` (benchRun.mjs) with the lab's threads' CPU read beside it. */
function runOnce(probes, duty, period = null) {
  const args = runArgs(probes, duty);
  const env = period === null ? process.env : { ...process.env, URING_LAB_PROBE_SAMPLING_PERIOD_MS: String(period) };
  return runLabJson(args, env, opts.warmup + opts.seconds + 60, labThreadsCpu).then(({ summary, watched }) => ({ ...summary, labCpu: watched }));
}

/**
 * The lab's own user-space threads' CPU while the load runs: the CLI (which hosts the host) and
 * the engine's threads other than the server and load workers and io_uring's kernel threads
 * (uring-srv-*, uring-load*, iou-*): its main thread reads the probes' maps, names stacks and
 * ships each frame; the host records and diagnoses it. Where the probes cost outside their BPF
 * programs. Each thread's on-CPU ns from /proc/PID/task/TID/schedstat every 100 ms; the rate is
 * taken from the warm-up's end (after the server thread appears) to the last look at which the
 * server thread still ran. Returns { msPerS, seconds } or null when the window was too short.
 */
function labThreadsCpu(rootPid) {
  const looks = [];
  const kids = (pid) => { try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; } };
  const look = () => {
    const pids = [rootPid];
    for (let i = 0; i < pids.length; i++) pids.push(...kids(pids[i]));
    let labNs = 0;
    let preempted = 0;
    let server = false;
    for (const pid of pids) {
      let tids = [];
      try { tids = readdirSync(`/proc/${pid}/task`); } catch { continue; }
      for (const tid of tids) {
        try {
          const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
          if (comm.startsWith('uring-srv-')) server = true;
          if (/^(uring-srv-|uring-load)/.test(comm)) {
            // The instruments losing their CPU to another thread: involuntary switches.
            const m = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
            if (m) preempted += Number(m[1]);
            continue;
          }
          if (comm.startsWith('iou-')) continue;
          labNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch { /* the thread ended between the listing and the read */ }
      }
    }
    looks.push({ t: performance.now(), labNs, preempted, server });
  };
  const timer = setInterval(look, 100);
  return {
    stop() {
      clearInterval(timer);
      const first = looks.find((l) => l.server);
      if (!first) return null;
      const from = looks.find((l) => l.server && l.t >= first.t + opts.warmup * 1000);
      const to = looks.findLast((l) => l.server);
      if (!from || !to || to.t - from.t < 500) return null;
      // A thread that ended inside the window takes its ns with it: a lower bound then.
      const seconds = (to.t - from.t) / 1000;
      return { msPerS: Math.max(0, to.labNs - from.labNs) / 1e6 / seconds, preemptedPerS: Math.max(0, to.preempted - from.preempted) / seconds, seconds };
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (on, off) => (off > 0 ? ((on - off) / off) * 100 : NaN);
const fmtPct = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`;

const samples = [];
/* The load's pace inside the per-request probes' windows against the run's (requests the windows
 * held over the run's requests × the observed share): below 1 by what those programs cost the
 * requests they see. null at duty 1, without windows, or from an engine that does not count them. */
const windowPace = (s) => {
  const ps = s.kernelStats?.perRequestSampling;
  if (!ps || ps.duty >= 1 || ps.observedRequests == null || !(ps.observedShare > 0) || !(s.kernelStats.requests > 0)) return null;
  return ps.observedRequests / (s.kernelStats.requests * ps.observedShare);
};
const dutyText = (d, p = null) => `${d === null ? 'default duty' : d === 'none' ? 'per-request probes off' : `duty ${d}`}${p === null ? '' : ` period ${p} ms`}`;
console.log(`bench:probes: ${opts.profile ? `the profile probe (default set with diagnose.profileHz=${PROFILE_HZ_DEFAULT} vs 0; "probes on/off" below = profile on/off)` : opts.perRequest ? `every probe (probes.perRequest=true, ${opts.duties.map((d) => dutyText(d)).join(' / ')})` : 'the probes a run gets by default (profile defaults: every probe, the per-request ones time-sampled)'}; ${opts.rounds} rounds × (probes on${opts.duties.length > 1 ? ` at ${opts.duties.length} duties` : ''}, probes off), ${opts.connections} connections × ${opts.bytes} B, ${opts.warmup} s warm-up + ${opts.seconds} s measured, ${pinned ? 'server on CPU 0, load on CPU 1' : 'not pinned (one CPU)'}`);
console.log('round  probes  throughput (req/s)   p99 (µs)  server CPU ns/req  other CPUs  lab ms/s  preempt/s  attached  observed');
// The runs of a round: off, and on at each duty; rotated by one each round, so no variant always runs first.
const variants = [{ probes: false, duty: null, period: null }, ...opts.duties.flatMap((duty) => opts.periods.map((period) => ({ probes: true, duty, period })))];
for (let round = 0; round < opts.rounds; round++) {
  const order = variants.map((_, i) => variants[(i + round) % variants.length]);
  for (const { probes, duty, period } of order) {
    let s;
    // A failed run (e.g. dist/ being rebuilt under it) is retried twice after a pause; the pair stays interleaved.
    for (let attempt = 1; ; attempt++) {
      try { s = await runOnce(probes, duty, period); break; } catch (e) {
        if (attempt >= 3) throw e;
        console.log(`       run failed (${e.message}); retrying in 20 s`);
        await new Promise((r) => setTimeout(r, 20_000));
      }
    }
    const attached = s.probes.filter((p) => p.attached).length;
    const otherCpus = s.contention?.otherCpus ?? null;
    const sampling = s.kernelStats?.perRequestSampling ?? null;
    const pace = windowPace(s);
    samples.push({ round, probes, duty, period, histogram: s.histogram?.counts ?? [], labCpuMsPerS: s.labCpu?.msPerS ?? null, preemptedPerS: s.labCpu?.preemptedPerS ?? null, observedShare: sampling?.observedShare ?? null, windowPace: pace, throughputRps: s.throughputRps, p99Us: s.latencyUs.p99, serverCpuNsPerReq: s.serverCpuNsPerReq, loadCpuNsPerReq: s.loadCpuNsPerReq, requests: s.requests, measuredS: s.measuredS, otherCpus, attached, probeStatuses: s.probes, kernelStats: s.kernelStats ?? null, warnings: s.warnings });
    console.log(`${String(round + 1).padStart(5)}  ${(probes ? 'on' : 'off').padEnd(6)}  ${s.throughputRps.toFixed(0).padStart(18)}  ${s.latencyUs.p99.toFixed(0).padStart(9)}  ${String(Math.round(s.serverCpuNsPerReq ?? NaN)).padStart(17)}  ${otherCpus === null ? '   ?' : otherCpus.toFixed(2).padStart(10)}  ${(s.labCpu ? s.labCpu.msPerS.toFixed(1) : '?').padStart(8)}  ${(s.labCpu ? s.labCpu.preemptedPerS.toFixed(0) : '?').padStart(9)}  ${`${attached}/${s.probes.length}`.padEnd(8)}  ${probes && sampling ? `${(sampling.observedShare * 100).toFixed(2)} % (${dutyText(duty, period)})${pace === null ? '' : `, windows at ${(pace * 100).toFixed(0)} % pace`}` : ''}`);
    for (const w of s.warnings) if (/another uring-lab run/.test(w)) console.log(`       warning: ${w}`);
  }
}

const off = samples.filter((s) => !s.probes);
const results = [];
for (const duty of opts.duties) for (const period of opts.periods) {
const on = samples.filter((s) => s.probes && s.duty === duty && s.period === period);
if (opts.duties.length > 1 || duty !== null || period !== null) {
  const observed = on.map((s) => s.observedShare).filter((x) => x !== null);
  const paces = on.map((s) => s.windowPace).filter((x) => x !== null);
  console.log(`\n==== probes on at ${dutyText(duty, period)}${observed.length ? `: per-request probes observed ${(median(observed) * 100).toFixed(2)} % of the measured time (median)` : ''}${paces.length ? `; inside the windows the load ran at ${(median(paces) * 100).toFixed(0)} % of its pace (median of ${paces.length} runs)` : ''}`);
}
const perRound = [...new Set(samples.map((s) => s.round))].map((r) => {
  const a = on.find((s) => s.round === r);
  const b = off.find((s) => s.round === r);
  return { tput: pct(a.throughputRps, b.throughputRps), p99: pct(a.p99Us, b.p99Us), cpu: pct(a.serverCpuNsPerReq, b.serverCpuNsPerReq), loadCpu: pct(a.loadCpuNsPerReq, b.loadCpuNsPerReq) };
});
const tputOn = median(on.map((s) => s.throughputRps));
const tputOff = median(off.map((s) => s.throughputRps));
const p99On = median(on.map((s) => s.p99Us));
const p99Off = median(off.map((s) => s.p99Us));
const tputDelta = pct(tputOn, tputOff);
const p99Delta = pct(p99On, p99Off);
const cpuOn = median(on.map((s) => s.serverCpuNsPerReq));
const cpuOff = median(off.map((s) => s.serverCpuNsPerReq));
const loadCpuOn = median(on.map((s) => s.loadCpuNsPerReq));
const loadCpuOff = median(off.map((s) => s.loadCpuNsPerReq));
const busyOther = samples.filter((s) => s.otherCpus !== null && s.otherCpus >= 0.25).length;
// Issue 9's budget for all probes; issue 12's for the stack sampling alone.
const tputTarget = opts.profile ? 2 : 3;
const range = (xs) => `${fmtPct(Math.min(...xs))} … ${fmtPct(Math.max(...xs))}`;

console.log('');
console.log(`medians      probes on: ${tputOn.toFixed(0)} req/s, p99 ${p99On.toFixed(0)} µs   probes off: ${tputOff.toFixed(0)} req/s, p99 ${p99Off.toFixed(0)} µs`);
console.log(`throughput   ${fmtPct(tputDelta)} with probes (per-round deltas ${range(perRound.map((r) => r.tput))}); target ≥ -${tputTarget} %: ${-tputDelta <= tputTarget ? 'met' : 'NOT met'}`);
console.log(`p99          ${fmtPct(p99Delta)} with probes (per-round deltas ${range(perRound.map((r) => r.p99))}); target ≤ +5 %: ${p99Delta <= 5 ? 'met' : 'NOT met'}`);
// The same p99 over every request of the on runs and of the off runs (their histograms merged):
// one bad run moves it by its share of the requests, where it can move a median of 5–10 p99s a lot.
const pooledP99 = (runs) => { const h = new LatencyHistogram(); for (const r of runs) h.add(r.histogram); return h.quantileUs(0.99); };
const pooledOn = pooledP99(on);
const pooledOff = pooledP99(off);
console.log(`p99 pooled   ${fmtPct(pct(pooledOn, pooledOff))} with probes (${pooledOn.toFixed(0)} vs ${pooledOff.toFixed(0)} µs: the p99 of all ${on.length} on runs' requests together against all ${off.length} off runs')`);
console.log(`server CPU   ${fmtPct(pct(cpuOn, cpuOff))} per request with probes (${cpuOn.toFixed(0)} vs ${cpuOff.toFixed(0)} ns, per-round deltas ${range(perRound.map((r) => r.cpu))}; the probe programs that fire in the server's threads count in it)`);
// The load is the bottleneck at 50 × 128 B here (≥ 90 % of its CPU): its CPU per request is the throughput.
console.log(`load CPU     ${fmtPct(pct(loadCpuOn, loadCpuOff))} per request with probes (${loadCpuOn.toFixed(0)} vs ${loadCpuOff.toFixed(0)} ns, per-round deltas ${range(perRound.map((r) => r.loadCpu))}; the load generator's threads, programs firing in them included)`);
if (busyOther > 0) console.log(`caution      ${busyOther} of ${samples.length} runs had other processes using ≥ 0.25 CPUs: the deltas include their noise (run on a quiet machine)`);

// Each probe's own cost, from the summaries' run-time stats (medians over the probes-on runs).
const names = [...new Set(on.flatMap((s) => s.probeStatuses.map((p) => p.name)))];
console.log('');
console.log(`${'probe'.padEnd(15)} ${'variant'.padEnd(18)} ${'ns/event: median (range)'.padEnd(26)} ${'events/s'.padStart(9)}  CPU share (of all ${os.cpus().length} CPUs)`);
for (const name of names) {
  const rows = on.map((s) => ({ status: s.probeStatuses.find((p) => p.name === name), measuredS: s.kernelStats?.measuredS || opts.seconds }));
  const attachedRows = rows.filter((r) => r.status?.attached);
  if (attachedRows.length === 0) {
    console.log(`${name.padEnd(15)} not attached: ${rows[0]?.status?.reason ?? 'no status'}`);
    continue;
  }
  const variant = String(attachedRows[0].status.variant).padEnd(18);
  const measured = attachedRows.filter((r) => r.status.overhead);
  if (measured.length === 0) {
    // e.g. a probe whose events are handled by another probe's programs (its status says so).
    console.log(`${name.padEnd(15)} ${variant} no run-time stats of its own: ${attachedRows[0].status.reason}`);
    continue;
  }
  const ns = measured.map((r) => r.status.overhead.nsPerEvent);
  const rate = median(measured.map((r) => r.status.overhead.events / r.measuredS));
  const share = median(measured.map((r) => r.status.overhead.cpuShare));
  const nsText = `${median(ns).toFixed(0)} (${Math.min(...ns).toFixed(0)}–${Math.max(...ns).toFixed(0)})`;
  console.log(`${name.padEnd(15)} ${variant} ${nsText.padEnd(26)} ${rate.toFixed(0).padStart(9)}  ${(share * 100).toFixed(3)} %`);
}
const shareOf = (s) => s.probeStatuses.reduce((n, p) => n + (p.overhead?.cpuShare ?? 0), 0);
const totalShare = median(on.map(shareOf));
// Σ run_time_ns = share × measured ns × CPUs: the programs' CPU per echo request, beside the run's own CPU per request.
const nsPerReq = median(on.map((s) => (shareOf(s) * s.measuredS * 1e9 * os.cpus().length) / s.requests));
const runNsPerReq = median(on.map((s) => (s.serverCpuNsPerReq ?? 0) + (s.loadCpuNsPerReq ?? 0)));
console.log(`${'all probes'.padEnd(15)} ${''.padEnd(18)} ${''.padEnd(26)} ${''.padStart(9)}  ${(totalShare * 100).toFixed(3)} % (median of the runs' sums)`);
console.log(`\nthe programs' CPU per request: ${nsPerReq.toFixed(0)} ns (median), against ${runNsPerReq.toFixed(0)} ns of server + load CPU per request (${((nsPerReq / runNsPerReq) * 100).toFixed(1)} %)`);

// Outside the programs: the lab's own threads (reading the maps, naming stacks, shipping and
// recording frames), on vs off, as a share of the machine like the programs' share above.
// The lab's threads are read every 100 ms from the end of the warm-up: a run measured for under
// 0.5 s gives no window, and a median of none would print as NaN.
const medianOf = (xs) => { const v = xs.filter((x) => x !== null && x !== undefined); return v.length ? median(v) : null; };
const labOn = medianOf(on.map((s) => s.labCpuMsPerS));
const labOff = medianOf(off.map((s) => s.labCpuMsPerS));
const labShare = labOn !== null && labOff !== null ? (labOn - labOff) / (1000 * os.cpus().length) : null;
const preemptOn = medianOf(on.map((s) => s.preemptedPerS));
const preemptOff = medianOf(off.map((s) => s.preemptedPerS));
if (labShare === null || preemptOn === null || preemptOff === null) {
  console.log(`the lab's own threads and the workers' involuntary switches: not measured (they need at least 0.5 s of measured window after the warm-up: give --seconds 1 or more)`);
  console.log(`accounted    programs ${(totalShare * 100).toFixed(2)} % of the machine; the lab's threads not measured`);
} else {
  console.log(`the lab's own threads (CLI + host, engine main thread and helpers; not server, load, iou-*): ${labOn.toFixed(1)} ms/s with probes, ${labOff.toFixed(1)} without: ${fmtPct(labShare * 100).replace(' %', '')} % of all ${os.cpus().length} CPUs for reading, naming and shipping the probes' frames`);
  console.log(`the server and load threads lost their CPU to another thread (involuntary switches, /proc/…/status): ${preemptOn.toFixed(0)}/s with probes, ${preemptOff.toFixed(0)}/s without`);
  console.log(`accounted    programs ${(totalShare * 100).toFixed(2)} % + the lab's threads ${(labShare * 100).toFixed(2)} % = ${((totalShare + labShare) * 100).toFixed(2)} % of the machine; the throughput delta's remainder is interrupts, caches and noise`);
}

results.push({ duty, period, medians: { tputOn, tputOff, p99On, p99Off, tputDelta, p99Delta, cpuOn, cpuOff, loadCpuOn, loadCpuOff, nsPerReq, labOn, labOff, labShare, preemptOn, preemptOff, pooledOn, pooledOff }, perRound });
}

if (opts.out) console.log(`\nsamples written to ${writeOut(opts.out, JSON.stringify({ options: { ...opts, out: opts.out.path }, samples, results }, null, 2), 'bench:probes')}`);
