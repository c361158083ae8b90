// `npm run bench:probes` (its default mode; --separate is the other): what the probes cost,
// measured inside one run.
//
// Separate runs differ by more than the probes cost here: each run is a new server and new
// connections (which CPU cache lines and hash buckets they land in), minutes apart on a shared
// VM, and at 50 × 128 B their throughputs spread ±15 % with probes off alone. So this mode runs
// one long `uring-lab run` whose engine detaches its probes after every K frames and attaches
// them again after the next K (URING_LAB_PROBE_SWITCHBACK_FRAMES, electron/engine/main.ts): the
// same server and connections alternate K frames with probes and K without. The first
// `settle` frames of each block are dropped (attaching loads and verifies the programs on the
// engine's main thread, ~0.5–1 s of CPU on the server's CPU; detaching patches text), and each
// "on" block is compared with the mean of the "off" blocks on either side of it, which cancels
// a drift that is linear over three blocks. It prints the per-pair deltas' median and mean, each
// with a 95 % bootstrap interval (resampling the pairs), for throughput, p99 (each block's own,
// from its merged frame histograms), server and load CPU per request, and the p99 of all "on"
// blocks' requests against all "off" blocks'. The verdict against the targets is the median
// pair's, with its 95 % bootstrap interval: met only when the whole interval is inside.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mean, median, quantile } from 'simple-statistics';
import { runLabJson } from './benchRun.mjs';

/**
 * @param opts  bench-probes.mjs's options: seconds, warmup, connections, bytes, perRequest,
 *              duties[0], blockFrames, settleFrames, out
 * @param cli   the CLI's entry (dist/electron/cli.js)
 * @param LatencyHistogram  the lab's histogram class (dist/electron/contract/histogram.js)
 */
/** The one run's `uring-lab run` arguments (bench-probes.mjs checks them before it starts). */
export function switchbackArgs(opts, cli) {
  const pinned = os.cpus().length >= 2;
  const duty = opts.duties[0];
  return [
    cli, 'run', '--json', '--duration', String(opts.seconds),
    '--set', 'probes.enabled=true',
    // Without --per-request, the profile's default (every probe, the per-request ones time-sampled).
    ...(opts.perRequest ? ['--set', `probes.perRequest=${duty !== 'none'}`] : []),
    ...(opts.perRequest && typeof duty === 'number' ? ['--set', `probes.perRequestDuty=${duty}`] : []),
    '--set', `duration.warmupS=${opts.warmup}`,
    '--set', `load.connections=${opts.connections}`,
    '--set', `load.messageBytes=${opts.bytes}`,
    ...(pinned ? ['--set', 'server.numa.cpus=[0]', '--set', 'load.cpus=[1]'] : []),
    ...opts.sets,
  ];
}

export async function runSwitchback(opts, cli, LatencyHistogram) {
  const K = opts.blockFrames;
  const settle = opts.settleFrames;
  const pinned = os.cpus().length >= 2;
  const duty = opts.duties[0];
  const runsDir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-switchback-'));
  try {
    const args = switchbackArgs(opts, cli);
    console.log(`bench:probes: one run of ${opts.warmup} s warm-up + ${opts.seconds} s, ${!opts.perRequest ? 'the probes a run gets by default' : duty === 'none' ? 'the default set without the per-request probes' : `every probe (per-request probes time-sampled${typeof duty === 'number' ? ` at duty ${duty}` : ''})`}; ${opts.only ? `only ${opts.only.join(', ')} (the rest attached throughout)` : 'all of them'} detached and attached again every ${K} frames (first ${settle} of each block dropped), ${opts.connections} connections × ${opts.bytes} B${opts.sets.length ? `, ${opts.sets.filter((x) => x !== '--set').join(' ')}` : ''}, ${pinned ? 'server on CPU 0, load on CPU 1' : 'not pinned (one CPU)'}`);
    const env = { ...process.env, URING_LAB_PROBE_SWITCHBACK_FRAMES: String(K), URING_LAB_RUNS_DIR: runsDir, ...(opts.only ? { URING_LAB_PROBE_SWITCHBACK_ONLY: opts.only.join(',') } : {}) };
    const { summary } = await runLabJson(args, env, opts.warmup + opts.seconds + 60);
    for (const w of summary.warnings ?? []) console.log(`warning: ${w}`);
    const frames = readFileSync(path.join(runsDir, summary.runId, 'frames.jsonl'), 'utf8')
      .split('\n').filter(Boolean).map((line) => JSON.parse(line))
      .filter((f) => f.phase === 0 && !f.final)
      .sort((a, b) => a.seq - b.seq);

    // The engine toggles after its K-th, 2K-th, … snapshot of the phase: frame i (0-based, warm-up
    // included) belongs to block ⌊i / K⌋, which had the probes attached when it is even.
    const blocks = [];
    let mismatched = 0;
    frames.forEach((f, i) => {
      const b = Math.floor(i / K);
      const on = b % 2 === 0;
      // With --only the other probes stay attached: every frame has kernel data.
      if ((f.kernel != null) !== (on || opts.only !== null)) mismatched++;
      if (!f.measuring || i % K < settle) return;
      blocks[b] ??= { index: b, on, requests: 0, ms: 0, serverCpuNs: 0, loadCpuNs: 0, histogram: new LatencyHistogram(), frames: 0 };
      const blk = blocks[b];
      blk.requests += f.requests;
      blk.ms += f.intervalMs;
      blk.serverCpuNs += f.serverCpuNs;
      blk.loadCpuNs += f.loadCpuNs;
      blk.histogram.add(f.histogram);
      blk.frames++;
      (blk.frameRates ??= []).push(f.throughputRps);
      (blk.frameP99s ??= []).push(f.latencyUs.p99);
      const ps = f.kernel?.perRequestSampling;
      if (ps) {
        blk.observedNs = (blk.observedNs ?? 0) + ps.observedNs;
        blk.windows = (blk.windows ?? 0) + (ps.windows ?? 0);
        // The requests the windows held (null once a frame did not say): their pace against the block's.
        blk.observedRequests = blk.observedRequests === null || ps.observedRequests == null ? null : (blk.observedRequests ?? 0) + ps.observedRequests;
      }
    });
    // A block needs most of its frames (the run's first and last may be cut by warm-up and stop).
    const full = blocks.filter((b) => b && b.frames >= (K - settle) * 0.8).map((b) => ({
      ...b,
      rps: b.requests / (b.ms / 1000),
      p99: b.histogram.quantileUs(0.99),
      serverNs: b.serverCpuNs / b.requests,
      loadNs: b.loadCpuNs / b.requests,
      // The block's typical 100 ms frame: a second-long stall of the VM inside it moves this less.
      frameRps: median(b.frameRates),
      frameP99: median(b.frameP99s),
    }));
    const byIndex = new Map(full.map((b) => [b.index, b]));
    const pairs = [];
    for (const b of full) {
      const before = byIndex.get(b.index - 1);
      const after = byIndex.get(b.index + 1);
      if (!b.on || !before || !after) continue;
      const rel = (key) => (b[key] / ((before[key] + after[key]) / 2) - 1) * 100;
      pairs.push({ block: b.index, tput: rel('rps'), p99: rel('p99'), serverNs: rel('serverNs'), loadNs: rel('loadNs'), frameTput: rel('frameRps'), frameP99: rel('frameP99'), on: b, off: [before, after] });
    }
    if (mismatched > 0) console.log(`caution: ${mismatched} of ${frames.length} frames had kernel data where the schedule said otherwise (a failed attach or read)`);
    console.log(`\nblock  probes  frames  throughput (req/s)  p99 (µs)  server ns/req  load ns/req`);
    for (const b of full) console.log(`${String(b.index).padStart(5)}  ${(b.on ? 'on' : 'off').padEnd(6)}  ${String(b.frames).padStart(6)}  ${b.rps.toFixed(0).padStart(18)}  ${b.p99.toFixed(0).padStart(8)}  ${b.serverNs.toFixed(0).padStart(12)}  ${b.loadNs.toFixed(0).padStart(11)}`);
    if (pairs.length < 3) {
      console.log(`\nonly ${pairs.length} on-blocks with off-blocks on both sides: run longer (--seconds) or with shorter blocks (--block-frames)`);
      return { pairs, blocks: full };
    }
    const fmt = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(2)} %`;
    // Percentile bootstrap of a statistic over the pairs (fixed seed: the same data print the same interval).
    let seed = 0x9e3779b9;
    const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
    const interval = (xs, statistic) => {
      const stats = [];
      for (let r = 0; r < 4000; r++) stats.push(statistic(xs.map(() => xs[Math.floor(rand() * xs.length)])));
      return [quantile(stats, 0.025), quantile(stats, 0.975)];
    };
    // The verdict is the median pair's: the VM's disturbances (a block at 70–85 % of the others,
    // printed below) hit "on" and "off" blocks alike, and a mean is moved by which side of a
    // pair they happened to land on; the mean is printed too.
    const line = (label, key, target, sign) => {
      const xs = pairs.map((p) => p[key]);
      const [lo, hi] = interval(xs, median);
      const [mlo, mhi] = interval(xs, mean);
      const m = median(xs);
      // Met: the whole interval within the budget; not met: the whole interval outside it.
      // (sign: -1 where the cost is a fall, as throughput's; the cost is sign × delta.)
      const worst = Math.max(sign * lo, sign * hi);
      const best = Math.min(sign * lo, sign * hi);
      const name = `target ${sign < 0 ? '≥ -' : '≤ +'}${target} %`;
      const verdict = target === null ? ''
        : worst <= target ? `; ${name}: met (the interval is inside it)`
        : best > target ? `; ${name}: NOT met (the interval is outside it)`
        : `; ${name}: undecided (the interval straddles it)`;
      console.log(`${label.padEnd(13)}${fmt(m)} median (95 % interval ${fmt(lo)} … ${fmt(hi)}); mean ${fmt(mean(xs))} (${fmt(mlo)} … ${fmt(mhi)})${verdict}`);
      return { median: m, lo, hi, mean: mean(xs), meanLo: mlo, meanHi: mhi };
    };
    console.log(`\nprobes on vs the off blocks beside them, ${pairs.length} pairs:`);
    const result = {
      pairs: pairs.length,
      // The stack sampling alone has issue 12's budget.
      tput: line('throughput', 'tput', opts.only?.length === 1 && opts.only[0] === 'profile' ? 2 : 3, -1),
      p99: line('p99', 'p99', 5, 1),
      serverNs: line('server CPU', 'serverNs', null, 1),
      loadNs: line('load CPU', 'loadNs', null, 1),
      // The same pairs, each block as its median frame: the steady cost, without the VM's
      // second-long disturbances (shown for reading the above, not a verdict of its own).
      frameTput: line('typ. frame', 'frameTput', null, 1),
      frameP99: line('typ. p99', 'frameP99', null, 1),
    };
    // Disturbed blocks by side: if the probes caused them, the "on" side would hold more.
    const typical = median(full.map((b) => b.rps));
    const disturbed = (on) => full.filter((b) => b.on === on && b.rps < 0.9 * typical).length;
    result.disturbed = { on: disturbed(true), off: disturbed(false), of: { on: full.filter((b) => b.on).length, off: full.filter((b) => !b.on).length } };
    console.log(`disturbed    blocks under 90 % of the median block's throughput: ${result.disturbed.on} of ${result.disturbed.of.on} on, ${result.disturbed.off} of ${result.disturbed.of.off} off`);
    // The p99 of every request of the pairs' on blocks against every request of their off blocks
    // (each on block counted twice, beside its two off neighbours): the run's p99 as a user sees
    // it, less moved by one block's disturbance than the per-pair p99s. Its interval resamples
    // the pairs. Dense counts, so a resample is a few thousand additions per pair.
    const dense = new Map(full.map((b) => [b.index, b.histogram.counts]));
    const pooledDelta = (ps) => {
      const on = new LatencyHistogram();
      const off = new LatencyHistogram();
      for (const p of ps) {
        const c = dense.get(p.on.index);
        const [a, z] = [dense.get(p.off[0].index), dense.get(p.off[1].index)];
        for (let i = 0; i < c.length; i++) { on.counts[i] += 2 * c[i]; off.counts[i] += a[i] + z[i]; }
        on.total += 2 * p.on.histogram.total;
        off.total += p.off[0].histogram.total + p.off[1].histogram.total;
      }
      const qOn = on.quantileUs(0.99);
      const qOff = off.quantileUs(0.99);
      return { on: qOn, off: qOff, delta: (qOn / qOff - 1) * 100 };
    };
    const whole = pooledDelta(pairs);
    const deltas = [];
    for (let r = 0; r < 1000; r++) deltas.push(pooledDelta(pairs.map(() => pairs[Math.floor(rand() * pairs.length)])).delta);
    const [plo, phi] = [quantile(deltas, 0.025), quantile(deltas, 0.975)];
    const pooledVerdict = phi <= 5 ? 'met (the interval is inside it)' : plo > 5 ? 'NOT met (the interval is outside it)' : 'undecided (the interval straddles it)';
    result.pooledP99 = { ...whole, lo: plo, hi: phi };
    console.log(`p99 pooled   ${fmt(whole.delta)} (95 % interval ${fmt(plo)} … ${fmt(phi)}; ${whole.on.toFixed(0)} vs ${whole.off.toFixed(0)} µs: the pairs' on blocks' requests together against their off blocks'); target ≤ +5 %: ${pooledVerdict}`);
    // The per-request probes' windows inside the measured on blocks: a block shorter than the
    // sampling period would leave them out (re-attaching opens one within 100 ms, in the dropped frames).
    const onBlocks = full.filter((b) => b.on && b.observedNs !== undefined);
    if (onBlocks.length) {
      const share = onBlocks.reduce((n, b) => n + b.observedNs, 0) / (onBlocks.reduce((n, b) => n + b.ms, 0) * 1e6);
      const windows = onBlocks.reduce((n, b) => n + b.windows, 0);
      // Inside the windows every request also runs the per-request programs: their pace against
      // the on blocks' own is what those programs cost the requests they see.
      const counted = onBlocks.every((b) => b.observedRequests != null);
      const seen = counted ? onBlocks.reduce((n, b) => n + b.observedRequests, 0) : null;
      const onRequests = onBlocks.reduce((n, b) => n + b.requests, 0);
      const pace = seen !== null && share > 0 && onRequests > 0 ? seen / (onRequests * share) : null;
      result.perRequestObserved = { share, windows, requests: seen, pace };
      console.log(`per-request  probes observed ${(share * 100).toFixed(3)} % of the measured on time, ${windows} windows (duty ${summary.kernelStats?.perRequestSampling?.duty ?? '?'})${pace === null ? '' : `, holding ${seen} requests: inside them the load ran at ${(pace * 100).toFixed(0)} % of the on blocks' pace`}`);
    }
    const attached = summary.probes.filter((p) => p.attached).map((p) => `${p.name} (${p.variant})`);
    console.log(`attached in the on blocks: ${attached.join(', ')}`);
    // Every frame's place and rate, for --out: where in a block the probes' cost falls.
    const frameRows = frames.map((f, i) => ({ i, block: Math.floor(i / K), kernel: f.kernel != null, measuring: f.measuring, rps: f.throughputRps, p99: f.latencyUs.p99, serverCpuNs: f.serverCpuNs, requests: f.requests }));
    return { ...result, blocks: full.map(({ histogram, frameRates, frameP99s, ...b }) => b), pairList: pairs.map(({ on, off, ...p }) => p), frames: frameRows };
  } finally {
    rmSync(runsDir, { recursive: true, force: true });
  }
}
