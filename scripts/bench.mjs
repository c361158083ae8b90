// `npm run bench`: the lab's speed numbers, printed rather than asserted. Each case is one
// real `uring-lab run`; cases alternate so slow drift of the machine hits both alike.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithChildrenOnSignal, privateRunsDir, spawnCollect } from './benchRun.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/electron/cli.js');
// The runs this bench saves stay out of the user's history (benchRun.mjs).
privateRunsDir('bench');
// Interrupted: the experiment or run being measured stops before this bench removes its folders.
exitWithChildrenOnSignal();
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);

const cases = [
  { name: 'io_uring, SQPOLL off (taskrun defer)', sets: [] },
  { name: 'io_uring, SQPOLL off (taskrun coop)', sets: ['server.taskrun=coop'] },
  { name: 'io_uring, SQPOLL on  (taskrun default)', sets: ['server.sqpoll.enabled=true', 'server.taskrun=default'] },
  { name: 'io_uring, SQPOLL on, pinned to CPU 1', sets: ['server.sqpoll.enabled=true', 'server.taskrun=default', 'server.sqpoll.cpu=1'] },
  { name: 'io_uring, 4 KiB messages', sets: ['load.messageBytes=4096'] },
  { name: 'io_uring, 64 KiB messages, 8 conns', sets: ['load.messageBytes=65536', 'load.connections=8'] },
  // The receive/send path: the old default (2 KiB whole buffers) against today's (64 × 64 KiB
  // incremental), and the knobs that are off by default.
  { name: 'io_uring, 4 KiB, old 2 KiB buffers', sets: ['load.messageBytes=4096', 'server.bufferRing.size=2048', 'server.bufferRing.count=4096', 'server.bufferRing.incremental=false'] },
  { name: 'io_uring, 64 KiB, 8 conns, old 2 KiB buffers', sets: ['load.messageBytes=65536', 'load.connections=8', 'server.bufferRing.size=2048', 'server.bufferRing.count=4096', 'server.bufferRing.incremental=false'] },
  { name: 'io_uring, 64 KiB, 8 conns, recv bundles', sets: ['load.messageBytes=65536', 'load.connections=8', 'server.recvBundle=true'] },
  { name: 'io_uring, 64 KiB, 8 conns, direct descriptors', sets: ['load.messageBytes=65536', 'load.connections=8', 'server.directDescriptors=true', 'server.registeredRingFd=true'] },
  { name: 'io_uring, 4 KiB, SEND_ZC (copied on lo)', sets: ['load.messageBytes=4096', 'server.sendZeroCopy=true'] },
  // The epoll baseline: the same load, the same frames and counters, a plain epoll server.
  { name: 'epoll,    128 B messages', sets: ['server.engine=epoll'] },
  { name: 'epoll,    4 KiB messages', sets: ['server.engine=epoll', 'load.messageBytes=4096'] },
  { name: 'epoll,    64 KiB messages, 8 conns', sets: ['server.engine=epoll', 'load.messageBytes=65536', 'load.connections=8'] },
];

async function run(sets) {
  const args = [cli, 'run', '--duration', String(seconds), '--set', 'duration.warmupS=1', '--json', ...sets.flatMap((s) => ['--set', s])];
  const r = await spawnCollect(process.execPath, args);
  // Exit 1 can still carry a summary (errors, contention): print it with its reason.
  if (r.status !== 0 && !r.stdout.trim()) {
    console.error(`bench: uring-lab run exited ${r.status ?? r.signal} without a summary: ${(r.stderr.trim().split('\n')[0] || 'no output').slice(0, 300)}`);
    process.exit(1);
  }
  if (r.status !== 0) process.stderr.write(r.stderr);
  return JSON.parse(r.stdout);
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`uring-lab bench: ${rounds} round(s) × ${cases.length} cases, ${seconds} s measured each, 50 connections unless noted`);
const results = new Map(cases.map((c) => [c.name, []]));
for (let round = 0; round < rounds; round++) {
  for (const c of round % 2 ? [...cases].reverse() : cases) results.get(c.name).push(await run(c.sets));
}
for (const c of cases) {
  for (const s of results.get(c.name)) {
    const rejected = s.rejected.map((r) => `${r.knob}:${r.code}`).join(',') || '-';
    console.log(`${c.name.padEnd(48)} ${fmt(s.throughputRps).padStart(9)} req/s  p50 ${String(s.latencyUs.p50).padStart(5)} µs  p99 ${String(s.latencyUs.p99).padStart(6)} µs  p99.9 ${String(s.latencyUs.p999).padStart(6)} µs  corrected p99 ${String(s.latencyCorrectedUs.p99).padStart(6)} µs  server ${fmt(s.serverCpuNsPerReq)} ns/req  load ${fmt(s.loadCpuNsPerReq)} ns/req  load thread ${Math.round(s.loadBusyShare * 100)} % busy${s.loadSaturated ? ' (saturated)' : ''}  in flight at end ${s.inFlightAtEnd.requests}  frames ${s.frames}  ${s.status}  refused ${rejected}`);
  }
}
