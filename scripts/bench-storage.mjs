// `npm run bench:storage`: the lab's storage workload against fio, on the same file, block size,
// queue depth and ring knobs.
//
// One file on the disk the repository is on (tmpfs refuses O_DIRECT), written once with
// non-zero data and named to both as a user's file: the lab then neither fills nor checks it
// (fio does not verify either), so both do the same work. For each variant (randread 4 KiB
// QD 32, O_DIRECT, one job: plain, SQPOLL, registered buffers + registered file, and submit
// batches of up to 32), rounds are interleaved (fio, lab, lab, fio, ...) so machine noise hits
// both alike. Both submit each I/O on its own by default (fio's iodepth_batch_submit=1, the
// lab's storage.submitBatch=1). The last variant is information: the lab with batches of up to
// 32 per io_uring_enter (its submission before issue 8's fix: ~0.85× fio); fio given
// iodepth_batch_submit=32 still entered about once per I/O here (perf stat: 180,988 enters for
// 175,512 submits in 2 s), so its row is fio as usual.
// SQPOLL: fio (3.33) never enters the kernel (one io_uring_enter in a whole run, strace -c): it
// spins on the CQ ring in user space while the SQPOLL thread spins on the SQ, two busy loops on
// a 2-CPU VM. Quiet, it does ~74k IOPS; with any other runnable task (a build) it falls to
// 5–62k, varying from run to run, while the lab, which waits in io_uring_enter, keeps 63–67k.
// That row is information too.
//   fio: --ioengine=io_uring --direct=1 --rw=randread --bs --iodepth --numjobs=1
//        (--sqthread_poll=1 / --fixedbufs=1 --registerfiles=1), time-based, lat_percentiles
//        (submit to completion, the lab's definition); CPU = the whole fio process's user+system
//        time, its io_uring kernel threads included (RUSAGE_CHILDREN through a python3 wrapper),
//        over its I/Os.
//   lab: `uring-lab run --json` with workload=storage; CPU = loadCpuNsPerReq (the job thread
//        plus its SQPOLL and io-wq helpers, measured window only).
// Targets (issue 8): the lab's IOPS within 10 % of fio's, its CPU per I/O ≤ 1.1× fio's.
//
//   npm run bench:storage -- [--rounds N] [--seconds S] [--size-mib M] [--out FILE]
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitWithChildrenOnSignal, privateRunsDir, spawnCollect } from './benchRun.mjs';
import { checkLabArgs, checkOut, writeOut } from './benchOptions.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/electron/cli.js');
// The runs this bench saves stay out of the user's history (benchRun.mjs).
privateRunsDir('bench-storage');

const USAGE = `npm run bench:storage -- [options]
  --rounds N      rounds per variant, fio and the lab interleaved (default 3; medians and ranges)
  --seconds S     seconds each measurement runs (default 4)
  --size-mib M    the test file's size (default 256)
  --out FILE      also write every sample as JSON`;

function fail(msg) {
  console.error(`bench:storage: ${msg}`);
  process.exit(2);
}

function options(argv) {
  const o = { rounds: 3, seconds: 4, sizeMiB: 256, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
    const num = (v) => (Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : fail(`${a} needs a positive number (got ${v})`));
    if (a === '--rounds') o.rounds = Math.round(num(value()));
    else if (a === '--seconds') o.seconds = num(value());
    else if (a === '--size-mib') o.sizeMiB = Math.round(num(value()));
    else if (a === '--out') o.out = checkOut(value(), fail);
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown option ${a}\n${USAGE}`);
  }
  return o;
}

const VARIANTS = [
  { id: 'plain', label: 'randread 4k QD32', fio: [], lab: [] },
  { id: 'sqpoll', label: '+ SQPOLL', fio: ['--sqthread_poll=1'], lab: ['server.sqpoll.enabled=true', 'server.taskrun=default'] },
  { id: 'fixed', label: '+ registered buffers/file', fio: ['--fixedbufs=1', '--registerfiles=1'], lab: ['server.registeredBuffers=true', 'server.directDescriptors=true'] },
  // Up to 32 I/Os per io_uring_enter: one plugged list for the block layer, one batch for the device.
  { id: 'batch32', label: '+ submit batches of up to 32 (lab storage.submitBatch=32, fio iodepth_batch_submit=32)', fio: ['--iodepth_batch_submit=32'], lab: ['storage.submitBatch=32'] },
];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// fio under a python3 wrapper that prints the children's rusage: the whole process's CPU.
const RUSAGE = `import resource, subprocess, sys, json
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(json.dumps({"rc": p.returncode, "cpuS": r.ru_utime + r.ru_stime, "out": p.stdout.decode()}))`;

async function runFio(file, o, v) {
  const args = ['fio', '--name=bench', `--filename=${file}`, '--ioengine=io_uring', '--direct=1', '--rw=randread', '--bs=4k', '--iodepth=32',
    '--numjobs=1', `--size=${o.sizeMiB}M`, '--time_based', `--runtime=${o.seconds}`, '--lat_percentiles=1', '--output-format=json', ...v.fio];
  const r = await spawnCollect('python3', ['-c', RUSAGE, ...args], { timeoutMs: (o.seconds + 30) * 1000 });
  if (r.status !== 0) fail(`fio failed: ${r.stderr}`);
  const w = JSON.parse(r.stdout);
  if (w.rc !== 0) fail(`fio exited ${w.rc}`);
  const job = JSON.parse(w.out.slice(w.out.indexOf('{'))).jobs[0];
  const pct = job.read.lat_ns.percentile;
  return {
    iops: job.read.iops, ios: job.read.total_ios, errors: job.error,
    p50: pct['50.000000'] / 1000, p99: pct['99.000000'] / 1000,
    cpuNsPerIo: (w.cpuS * 1e9) / job.read.total_ios,
    fioOwnCpuNsPerIo: (((job.usr_cpu + job.sys_cpu) / 100) * (job.job_runtime / 1000) * 1e9) / job.read.total_ios,
  };
}

/** `uring-lab run`'s arguments for one lab sample of a variant. */
function labArgs(file, o, v) {
  const sets = ['workload=storage', `storage.path=${file}`, `storage.fileSizeMiB=${o.sizeMiB}`, 'storage.blockBytes=4096', 'storage.pattern=randread',
    'storage.queueDepth=32', 'storage.direct=true', 'load.threads=1', 'duration.warmupS=0.5', ...v.lab];
  return [cli, 'run', '--json', '--duration', String(o.seconds), ...sets.flatMap((s) => ['--set', s])];
}

async function runLab(file, o, v) {
  const args = labArgs(file, o, v);
  const r = await spawnCollect(process.execPath, args, { timeoutMs: (o.seconds + 60) * 1000 });
  let s = null;
  try { s = JSON.parse(r.stdout); } catch { /* no summary: failed below */ }
  // Exit 1 with a completed summary: the run shared the machine with another lab run (other
  // helpers, CI); its numbers are kept and the sample is marked.
  if (!s || s.status !== 'completed') fail(`uring-lab run failed (${r.status}): ${r.stderr}`);
  if (r.status !== 0) console.log(`  (lab sample contended: ${r.stderr.trim()})`);
  return { contended: r.status !== 0, iops: s.throughputRps, ios: s.requests, errors: s.errors, p50: s.latencyUs.p50, p99: s.latencyUs.p99, cpuNsPerIo: s.loadCpuNsPerReq, rejected: s.rejected.map((x) => x.knob) };
}

const o = options(process.argv.slice(2));
// Every variant's run, checked as the CLI will check it (--seconds past --duration's range, the
// file size past storage.fileSizeMiB's), before the test file is written.
for (const v of VARIANTS) checkLabArgs(labArgs(path.join(root, '.bench-storage-check', 'bench.dat'), o, v), fail, `the lab's ${v.id} run`);
const fioVersion = spawnSync('fio', ['--version'], { encoding: 'utf8' });
if (fioVersion.error || fioVersion.status !== 0) {
  console.log('bench:storage: skipped — fio is not installed (Debian: apt-get install fio; scripts/setup.sh installs it)');
  process.exit(0);
}
if (spawnSync('python3', ['--version']).status !== 0) {
  console.log('bench:storage: skipped — python3 is needed to read fio\'s whole-process CPU (RUSAGE_CHILDREN)');
  process.exit(0);
}

const dir = mkdtempSync(path.join(root, '.bench-storage-'));
const file = path.join(dir, 'bench.dat');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// Interrupted: fio or the run being measured stops before this bench removes its test file.
exitWithChildrenOnSignal();
{
  // Written data (not a sparse file): both read real blocks from the device.
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let m = 0; m < o.sizeMiB; m++) writeSync(fd, chunk);
  fsyncSync(fd);
  closeSync(fd);
}

console.log(`bench:storage — ${fioVersion.stdout.trim()} vs uring-lab; ${o.sizeMiB} MiB file on the repository's disk, ${o.rounds} rounds × ${o.seconds} s, interleaved`);
const samples = [];
for (const v of VARIANTS) {
  const fio = [], lab = [];
  for (let r = 0; r < o.rounds; r++) {
    // Alternate who goes first, so a trend in the machine's noise does not favour one side.
    if (r % 2 === 0) { fio.push(await runFio(file, o, v)); lab.push(await runLab(file, o, v)); }
    else { lab.push(await runLab(file, o, v)); fio.push(await runFio(file, o, v)); }
  }
  samples.push({ variant: v.id, fio, lab });
  const m = (xs, k) => median(xs.map((x) => x[k]));
  const range = (xs, k, d = 0) => `${Math.min(...xs.map((x) => x[k])).toFixed(d)}–${Math.max(...xs.map((x) => x[k])).toFixed(d)}`;
  const iopsRatio = m(lab, 'iops') / m(fio, 'iops');
  const cpuRatio = m(lab, 'cpuNsPerIo') / m(fio, 'cpuNsPerIo');
  console.log(`\n${v.label}`);
  console.log(`  fio  IOPS ${Math.round(m(fio, 'iops'))} (${range(fio, 'iops')})  p50 ${m(fio, 'p50').toFixed(0)} µs  p99 ${m(fio, 'p99').toFixed(0)} µs  CPU/IO ${Math.round(m(fio, 'cpuNsPerIo'))} ns (${range(fio, 'cpuNsPerIo')}; fio's own accounting ${Math.round(m(fio, 'fioOwnCpuNsPerIo'))})`);
  console.log(`  lab  IOPS ${Math.round(m(lab, 'iops'))} (${range(lab, 'iops')})  p50 ${m(lab, 'p50')} µs  p99 ${m(lab, 'p99')} µs  CPU/IO ${Math.round(m(lab, 'cpuNsPerIo'))} ns (${range(lab, 'cpuNsPerIo')})  errors ${lab.reduce((s, x) => s + x.errors, 0)}${lab[0].rejected.length ? `  refused ${lab[0].rejected.join(',')}` : ''}`);
  console.log(`  lab/fio IOPS ${iopsRatio.toFixed(3)} (target ≥ 0.90: ${iopsRatio >= 0.9 ? 'met' : 'NOT met'})  CPU/IO ${cpuRatio.toFixed(3)} (target ≤ 1.10: ${cpuRatio <= 1.1 ? 'met' : 'NOT met'})`);
}
if (o.out) writeOut(o.out, `${JSON.stringify({ options: { ...o, out: o.out.path }, fio: fioVersion.stdout.trim(), samples }, null, 2)}\n`, 'bench:storage');
