// `npm run bench:store`: the run history's speed (issue 10): listing 1,000 saved runs and
// opening one of 36,000 frames (an hour at 10 frames/s) should each take < 200 ms.
//
// The data is synthetic but valid and realistic in size: each run is made by the host's own
// RunRecord from generated engine snapshots (a ~40-bucket latency histogram per frame, server
// counters), saved by the real store (RunStore: meta.json written atomically, frames.jsonl
// appended and synced), in a temporary folder. It measures the store, not the engine.
// Timings are the median and range of repeated calls, each on a fresh RunStore (no memory
// cache; the OS page cache is warm, as it is for a user who lists twice).
//
//   npm run bench:store -- [--runs N] [--frames N] [--repeat N] [--keep]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const dist = (p) => path.join(root, 'dist/electron', p);
let RunStore, RunRecord, defaultProfile, GetRunParamsSchema;
try {
  ({ GetRunParamsSchema } = require(dist('contract/index.js')));
  ({ RunStore } = require(dist('host/history/runStore.js')));
  ({ RunRecord } = require(dist('host/run/runRecord.js')));
  ({ defaultProfile } = require(dist('host/profiles/index.js')));
} catch (err) {
  console.error(`bench:store: build first (npm run build:main): ${err.message.split('\n')[0]}`);
  process.exit(2);
}

const USAGE = `npm run bench:store -- [options]
  --runs N     saved runs to list (default 1000)
  --frames N   frames of the big run (default 36000)
  --repeat N   timed calls of each operation (default 7)
  --keep       keep the temporary runs folder`;

function options(argv) {
  const o = { runs: 1000, frames: 36000, repeat: 7, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--keep') { o.keep = true; continue; }
    if (flag === '--help' || flag === '-h') { console.log(USAGE); process.exit(0); }
    const key = { '--runs': 'runs', '--frames': 'frames', '--repeat': 'repeat' }[flag];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isInteger(value) || value < 1) { console.error(`bench:store: bad option ${flag} ${argv[i + 1] ?? ''}\n${USAGE}`); process.exit(2); }
    o[key] = value;
    i++;
  }
  return o;
}

// A deterministic generator: the same data every time the bench runs.
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const started = {
  protocol: 1, port: 40000,
  applied: { server: { ringEntries: 4096, sqpoll: { enabled: false, cpu: null, idleMs: 1000 }, taskrun: 'defer', bufferRing: { size: 2048, count: 4096 } } },
  refused: [], ring: { flags: ['CQSIZE'], features: ['NODROP'], sqEntries: 4096, cqEntries: 8192 },
  loadThreads: 1, serverWorkers: [{ tid: 1, cpu: null, numaNode: null, attachedWq: false }],
};

function histogram() {
  // ~40 buckets around 20–300 µs, like a loopback echo run's 100 ms frame.
  const buckets = [];
  for (let index = 20; index < 200 && buckets.length < 40; index += 1 + Math.floor(random() * 4)) buckets.push([index, 1 + Math.floor(random() * 4000)]);
  return buckets;
}

function snapshot(monotonicNs) {
  const h = histogram();
  const requests = h.reduce((n, [, c]) => n + c, 0);
  return {
    requests, bytes: requests * 128, errors: 0, serverErrors: 0, enobufs: 0, timeouts: 0,
    histogram: h, correctedHistogram: h, serverCpuNs: 9e7 * random(), loadCpuNs: 9e7 * random(), loadThreadCpuNs: [8e7 * random()],
    processCpuNs: 1.8e8 * random(), monotonicNs, activeConnections: 16, liveLoadConnections: 16, inFlight: 16, oldestInFlightUs: 80, running: true, serverError: null,
    server: {
      enters: requests * 0.6, cqes: requests * 2, recvs: requests, sends: requests, bytesOut: requests * 128, zeroCopySends: 0, copiedSends: 0,
      enobufs: 0, rearms: 0, cqOverflows: 0, buffersInUse: 16, buffersTotal: 4096, userCpuNs: 2e7 * random(), systemCpuNs: 6e7 * random(), sqpollCpuNs: 0,
      errorsByOp: { accept: 0, recv: 0, send: 0, other: 0 },
    },
    serverWorkers: [{ accepted: 16, active: 16 }],
  };
}

/** One saved run of `frames` frames through the real RunRecord and RunStore. */
async function saveRun(store, runId, frames) {
  const t0 = 1e12;
  const profile = { ...defaultProfile(), name: `bench ${runId}` };
  const record = new RunRecord(runId, t0, 0, null);
  record.addPhase(profile, started, t0);
  const writer = store.begin({ runId, startedAt: record.startedAt, profile, phases: record.phaseList });
  for (let i = 1; i <= frames; i++) writer.frame(record.addSnapshot(snapshot(t0 + i * 1e8), i === frames));
  const problem = writer.end(record.summary('completed', null, { otherRuns: [], otherCpus: null }));
  await writer.settled;
  if (problem ?? writer.problem) throw new Error(problem ?? writer.problem);
}

function time(label, repeat, fn) {
  const samples = [];
  let result;
  for (let i = 0; i < repeat; i++) {
    const t = process.hrtime.bigint();
    result = fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`${label.padEnd(58)} median ${median.toFixed(1).padStart(7)} ms  (range ${sorted[0].toFixed(1)}–${sorted[sorted.length - 1].toFixed(1)} ms, ${repeat} calls)`);
  return { median, result };
}

const o = options(process.argv.slice(2));
const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-bench-store-'));
const caps = { dir, maxRuns: o.runs + 10, maxBytes: 2 ** 40 };
try {
  const fill = process.hrtime.bigint();
  const writer = new RunStore(caps);
  for (let i = 0; i < o.runs - 1; i++) await saveRun(writer, `run-bench-${String(i).padStart(5, '0')}`, 20 + (i % 30));
  const bigId = 'run-bench-big';
  const tBig = process.hrtime.bigint();
  await saveRun(writer, bigId, o.frames);
  const bigWriteS = Number(process.hrtime.bigint() - tBig) / 1e9;
  console.log(`bench:store: ${o.runs} synthetic runs saved in ${dir} in ${(Number(process.hrtime.bigint() - fill) / 1e9).toFixed(1)} s (the ${o.frames}-frame run: ${bigWriteS.toFixed(1)} s, ${(o.frames / bigWriteS).toFixed(0)} frames/s through the writer)`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${os.release()}; timings are noisy while other work runs`);

  const list = time(`list ${o.runs} runs (listRuns, index cache warm)`, o.repeat, () => new RunStore(caps).list({ limit: 1000, offset: 0 }));
  if (list.result.total !== o.runs || list.result.runs.length !== Math.min(1000, o.runs)) throw new Error(`listed ${list.result.total} runs, saved ${o.runs}`);
  time(`list ${o.runs} runs without the index (rebuilt from the metas)`, Math.min(o.repeat, 3), () => {
    rmSync(path.join(dir, 'index.json'), { force: true });
    return new RunStore(caps).list({ limit: 1000, offset: 0 });
  });
  // What the History view does: getRun with its default page (the first frames and nextSeq).
  const openParams = GetRunParamsSchema.parse({ runId: bigId });
  const open = time(`open the ${o.frames}-frame run (getRun default: meta + ${openParams.limit} frames)`, o.repeat, () => new RunStore(caps).get(openParams));
  if (open.result.frames.length !== Math.min(o.frames, openParams.limit) || open.result.meta.summary?.frames !== o.frames) throw new Error(`opened ${open.result.frames.length} frames of ${o.frames}`);
  time(`a page at its end (getRun fromSeq ${o.frames - openParams.limit}, limit ${openParams.limit})`, o.repeat, () => new RunStore(caps).get({ runId: bigId, fromSeq: Math.max(0, o.frames - openParams.limit), limit: openParams.limit }));
  const all = time(`all ${o.frames} frames, page after page`, Math.min(o.repeat, 3), () => {
    const store = new RunStore(caps);
    let count = 0;
    for (let fromSeq = 0; fromSeq !== null;) {
      const page = store.get({ runId: bigId, fromSeq, limit: openParams.limit });
      count += page.frames.length;
      fromSeq = page.nextSeq;
    }
    return count;
  });
  if (all.result !== o.frames) throw new Error(`paged ${all.result} frames of ${o.frames}`);
  // The first call in a fresh process (zod's schemas not yet compiled, nothing cached but the
  // OS page cache): what `uring-lab runs list` or a just-started host pays, node's start excluded.
  const cold = (call) => {
    const script = `const { RunStore } = require(${JSON.stringify(dist('host/history/runStore.js'))});
      const store = new RunStore(${JSON.stringify(caps)});
      const t = process.hrtime.bigint(); ${call};
      process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6));`;
    const samples = [0, 1, 2].map(() => Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })));
    samples.sort((a, b) => a - b);
    return `median ${samples[1].toFixed(1)} ms (range ${samples[0].toFixed(1)}–${samples[2].toFixed(1)} ms, 3 processes)`;
  };
  console.log(`${'list, first call in a fresh process'.padEnd(58)} ${cold('store.list({ limit: 1000, offset: 0 })')}`);
  console.log(`${'open (default page), first call in a fresh process'.padEnd(58)} ${cold(`store.get({ runId: '${bigId}', fromSeq: 0, limit: ${openParams.limit} })`)}`);
  const bytes = list.result.runs.find((r) => r.runId === bigId)?.bytesOnDisk ?? 0;
  console.log(`the ${o.frames}-frame run takes ${(bytes / 2 ** 20).toFixed(1)} MiB on disk; targets: list < 200 ms, open < 200 ms`);
  console.log(`RESULT list_ms=${list.median.toFixed(1)} open_ms=${open.median.toFixed(1)} ${list.median < 200 && open.median < 200 ? 'PASS' : 'OVER TARGET'}`);
} finally {
  if (o.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
