#!/usr/bin/env node
// Quick native-engine benchmark: a bounded closed-loop run per variant, printing
// throughput, latency percentiles and CPU per request. Loopback only.
//   node scripts/bench-native.mjs [seconds=3] [connections=50] [messageBytes=128]
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const native = require('../native');

const seconds = Number(process.argv[2] ?? 3);
const connections = Number(process.argv[3] ?? 50);
const messageBytes = Number(process.argv[4] ?? 128);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lower = native.histogramLayout().lowerBoundsUs;

/** Percentile as the inclusive lower bound of the bucket holding that rank (µs). */
function percentile(counts, total, p) {
  const rank = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank && counts[i]) return lower[i];
  }
  return NaN;
}

async function run(name, over) {
  const cfg = {
    port: 0,
    ringEntries: 4096,
    sqpoll: { enabled: false, idleMs: 1000, cpu: null },
    taskrun: 'defer',
    bufferRing: { size: 2048, count: 4096 },
    load: { connections, messageBytes, threads: 1 },
    maxDurationMs: seconds * 1000 + 2000, // hard bound even if stop() never came
    ...over,
  };
  const started = native.start(cfg);
  const counts = new Array(lower.length).fill(0);
  const tot = { requests: 0, errors: 0, enobufs: 0, serverCpuNs: 0, loadCpuNs: 0, processCpuNs: 0 };
  const add = (s) => {
    for (const k of Object.keys(tot)) tot[k] += s[k];
    for (const [i, c] of s.histogram) counts[i] += c;
  };
  // Like the host: a snapshot every 100 ms.
  const first = native.snapshot();
  const t0 = first.monotonicNs;
  add(first);
  for (let i = 0; i < seconds * 10; i++) {
    await sleep(100);
    add(native.snapshot());
  }
  const fin = native.stop();
  add(fin);
  const wallS = (fin.monotonicNs - t0) / 1e9;
  const r = tot.requests;
  console.log(
    `${name.padEnd(34)} ${(r / wallS).toFixed(0).padStart(7)} req/s  p50 ${String(percentile(counts, r, 0.5)).padStart(4)} us` +
      `  p99 ${String(percentile(counts, r, 0.99)).padStart(5)} us  errors ${tot.errors}  enobufs ${tot.enobufs}` +
      `  server ${(tot.serverCpuNs / r).toFixed(0)} ns/req  load ${(tot.loadCpuNs / r).toFixed(0)} ns/req` +
      `  flags [${started.ring.flags.join(',')}]` +
      (started.rejected.length ? `  rejected ${started.rejected.map((x) => `${x.knob}:${x.code}`).join(',')}` : ''),
  );
}

console.log(`${seconds}s per run, ${connections} connections x ${messageBytes} B, 1 load thread, ${require('node:os').cpus().length} CPUs`);
await run('SQPOLL off, taskrun defer', {});
await run('SQPOLL off, taskrun coop', { taskrun: 'coop' });
await run('SQPOLL off, taskrun default', { taskrun: 'default' });
await run('SQPOLL on (idle 1000 ms)', { sqpoll: { enabled: true, idleMs: 1000, cpu: null }, taskrun: 'default' });
await run('SQPOLL on, pinned to CPU 1', { sqpoll: { enabled: true, idleMs: 1000, cpu: 1 }, taskrun: 'default' });
