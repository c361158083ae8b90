/**
 * Issue 12's kernel evidence from the probes, each from a real run on this machine: which tasks
 * ran instead of the engine (runqueue's sched.competitors: a busy process pinned to the
 * server's CPU is named), reclaim at a memory cgroup's limit (memory), a paused server's block
 * with its kernel stack (offcpu), on-CPU stacks of the server thread (profile), and none of the
 * new programs left after detach.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NativeKernelFrame, NativeProbeStatus } from '../../native';
import { threadsOf } from '../procThreads';
import { bpfObjectExists, config, heldProgramIds, native, probeHelperCopy, sleep, stopQuietly } from './engineHarness';

const isRoot = process.getuid?.() === 0;
const children: ChildProcess[] = [];

afterEach(async () => {
  native.probesDetach();
  await stopQuietly();
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Time the hypervisor took from this VM's CPUs so far (/proc/stat's steal, all CPUs), in ns. */
function stealNs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  return Number(cpu[8] ?? 0) * 10e6; // USER_HZ ticks (100 per second)
}

/** /proc/kallsyms as a sorted table: an address → the function it falls in. */
function kallsyms(): (ip: string) => string {
  const syms: [bigint, string][] = [];
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, type, name] = line.split(' ');
    if (!name || !/^[tTwW]$/.test(type)) continue;
    const a = BigInt(`0x${addr}`);
    if (a !== 0n) syms.push([a, name.split('\t')[0]]);
  }
  syms.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return (ip) => {
    const a = BigInt(`0x${ip}`);
    let lo = 0;
    let hi = syms.length - 1;
    if (!syms.length || a < syms[0][0]) return '?';
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (syms[mid][0] <= a) lo = mid;
      else hi = mid - 1;
    }
    return syms[lo][1];
  };
}

describe.runIf(isRoot)('diagnosis probes (issue 12)', () => {
  it('attaches offcpu inside runqueue, memory and profile; statuses say how', () => {
    const st = native.probesAttach({ tgid: process.pid, probes: ['runqueue', 'offcpu', 'memory', 'profile'], profileHz: 49 });
    const by = new Map(st.map((s) => [s.name, s]));
    expect(by.get('runqueue')).toMatchObject({ attached: true, variant: 'tp_btf' });
    expect(by.get('offcpu')).toMatchObject({ attached: true, variant: 'tp_btf', fix: null });
    expect(by.get('offcpu')!.reason).toMatch(/inside runqueue/);
    expect(by.get('memory')).toMatchObject({ attached: true, variant: 'tp_btf', fix: null });
    expect(by.get('profile')).toMatchObject({ attached: true, variant: 'perf_event', fix: null });
    expect(by.get('profile')!.reason).toMatch(/49 Hz on \d+ CPUs/);
    const k = native.probesRead()!;
    expect(k.sched).not.toBeNull();
    expect(k.memory).not.toBeNull();
    expect(k.offCpu).toMatchObject({ minUs: 1000 });
    expect(k.profile).toMatchObject({ hz: 49 });
  });

  it('offcpu alone gets its own program; profileHz 0 leaves profile out; bad options name the field', () => {
    const st = native.probesAttach({ tgid: process.pid, probes: ['offcpu', 'profile'], profileHz: 0 });
    expect(st.map((s) => s.name)).toEqual(['offcpu']);
    expect(st[0]).toMatchObject({ attached: true, variant: 'tp_btf', reason: null });
    const k = native.probesRead()!;
    expect(k.profile).toBeNull();
    expect(k.sched).toBeNull();
    expect(() => native.probesAttach({ tgid: process.pid, profileHz: 1e6 })).toThrow(/options\.profileHz/);
    expect(() => native.probesAttach({ tgid: process.pid, offCpuMinUs: -1 })).toThrow(/options\.offCpuMinUs/);
  });

  it('names a busy process pinned to the server\'s CPU among the competitors', async () => {
    native.probesAttach({ tgid: process.pid, probes: ['runqueue'] });
    // 50 connections keep the server thread busy (~90 % of its CPU alone): beside the hog it is
    // runnable most of the time, so the scheduler takes CPU 0 from it for the hog at the end of
    // its slices (preemptedEngine counts those of the workers only, runqueue.bpf.c). With 8 it
    // blocked in its waits often enough that the hog mostly ran while it slept: nothing was
    // preempted in one CI run of many.
    native.start(config({ numa: { node: null, cpus: [0] }, load: { connections: 50, messageBytes: 128, cpus: [1] }, maxDurationMs: 5000 }));
    const hog = spawn('taskset', ['-c', '0', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
    children.push(hog);
    await sleep(1200);
    const k = native.probesRead()!;
    hog.kill('SIGKILL');
    native.stop();
    const comps = k.sched!.competitors;
    expect(comps.length).toBeLessThanOrEqual(16);
    for (let i = 1; i < comps.length; i++) expect(comps[i - 1].onCpuNs).toBeGreaterThanOrEqual(comps[i].onCpuNs);
    const hogEntry = comps.find((c) => c.pid === hog.pid);
    expect(hogEntry, JSON.stringify(comps.slice(0, 5))).toBeDefined();
    // Pinned to CPU 0 for ~1.2 s, sharing it with the server thread: hundreds of ms on CPU,
    // and it is what ran when the server was preempted.
    expect(hogEntry!.onCpuNs).toBeGreaterThan(200e6);
    expect(hogEntry!.comm).toBe('sh');
    expect(hogEntry!.cpus).toContain(0); // (and perhaps the CPU taskset started on)
    expect(hogEntry!.preemptedEngine).toBeGreaterThan(0);
    // No thread of the engine is its own competitor.
    expect(comps.every((c) => c.tgid !== process.pid)).toBe(true);
  });

  it('records a 300 ms pause of the server thread with the stack it slept in', async () => {
    native.probesAttach({ tgid: process.pid, probes: ['runqueue', 'offcpu'] });
    native.start(config({ load: { connections: 4, messageBytes: 128 }, maxDurationMs: 5000 }));
    await sleep(200);
    native.probesRead();
    expect(native.debugPauseServer(300)).toBe(true);
    await sleep(700);
    const k = native.probesRead()!;
    native.stop();
    const sym = kallsyms();
    expect(k.offCpu!.minUs).toBe(1000);
    for (const e of k.offCpu!.events) {
      expect(e.offNs).toBeGreaterThanOrEqual(1e6);
      expect(e.comm).toMatch(/^(uring-|iou-)/);
      for (const ip of e.kernelIps) expect(ip).toMatch(/^[0-9a-f]+$/);
      // Its end is on the frame's clock, within the interval.
      expect(e.endMonotonicNs).toBeLessThanOrEqual(k.monotonicNs);
      expect(e.endMonotonicNs).toBeGreaterThan(k.monotonicNs - 2e9);
    }
    // The pause sleeps on the server thread (a timed sleep or poll, in one block or in slices
    // of a few ms so that a stop is seen): its blocks in a timed sleep add up to the pause.
    const SLEEP = /nanosleep|schedule_hrtimeout|schedule_timeout|do_sys_poll|do_poll/;
    const sleeps = k.offCpu!.events.filter((e) => e.comm === 'uring-srv-0').map((e) => ({ e, names: e.kernelIps.map(sym) }))
      // (not the server's own waits for completions: io_cqring_wait)
      .filter(({ names }) => SLEEP.test(names.join(' ')) && !/io_cqring_wait/.test(names.join(' ')));
    const slept = sleeps.reduce((a, { e }) => a + e.offNs, 0);
    expect(slept, JSON.stringify(k.offCpu!.events.slice(0, 3))).toBeGreaterThanOrEqual(250e6);
    expect(slept).toBeLessThan(1e9);
    // Leaf first, as the kernel saves a sleeping task's stack (its scheduler frames skipped):
    // the sleep first, the system call's entry last.
    const { names } = sleeps[0];
    expect(names.length).toBeGreaterThan(2);
    expect(names.slice(0, 2).join(' '), names.join(' ')).toMatch(/nanosleep|hrtimeout|schedule_timeout|poll/);
    expect(names.slice(-3).join(' '), names.join(' ')).toMatch(/entry_SYSCALL|do_syscall/);
  });

  it('samples uring-srv-0 with kernel and user frames', async () => {
    native.probesAttach({ tgid: process.pid, probes: ['profile'], profileHz: 199 });
    const stealBefore = stealNs();
    native.start(config({ load: { connections: 8, messageBytes: 128 }, maxDurationMs: 5000 }));
    await sleep(1200);
    // The thread's own on-CPU time (schedstat), read next to the probes: the most samples the
    // 199 Hz CPU clock can have taken of it.
    const server = threadsOf('self').find((t) => t.comm === 'uring-srv-0');
    expect(server, 'a thread named uring-srv-0').toBeDefined();
    const onCpuNs = server!.cpuNs;
    const k = native.probesRead()!;
    // The thread's CPU time leaves out what the hypervisor stole while it ran; the CPU clock
    // that samples it does not (CI: 141 samples of a thread that ran 464 ms, 153 %).
    const stolenNs = stealNs() - stealBefore;
    await sleep(400);
    const next = native.probesRead()!;
    native.stop();
    // A stack id's IPs come as one frozen array for the probes' life: a stack sampled again in
    // a later read is the same array (what the engine keeps its folded names on).
    const byStack = new Set(k.profile!.samples.flatMap((s) => [s.kernelIps, s.userIps]).filter((a) => a.length > 0));
    const again = next.profile!.samples.flatMap((s) => [s.kernelIps, s.userIps]).filter((a) => a.length > 0);
    expect([...byStack].every((a) => Object.isFrozen(a))).toBe(true);
    expect(again.some((a) => byStack.has(a)), 'no stack of the second read is an array of the first').toBe(true);
    const srv = k.profile!.samples.filter((s) => s.comm === 'uring-srv-0');
    const total = srv.reduce((a, s) => a + s.count, 0);
    const expected = (onCpuNs / 1e9) * 199;
    console.log(`profile: uring-srv-0 ran ${(onCpuNs / 1e6).toFixed(0)} ms (≈ ${expected.toFixed(0)} clock ticks at 199 Hz), ${total} sampled (${((total / expected) * 100).toFixed(0)} %); ${(stolenNs / 1e6).toFixed(0)} ms stolen by the hypervisor meanwhile`);
    expect(expected, 'uring-srv-0 ran at least 50 ms').toBeGreaterThan(10);
    // Sampled, and never more often than its CPU time allows (each CPU's clock samples what runs
    // on it: ±1 per CPU). No fixed lower share: on this VM a CPU whose tasks often wait for
    // the other delivers as few as 1 in 8 of its clock's samples (`perf record -a -F 199`
    // shows the same: none at all from an idle CPU 1); 28 of 222 was seen on CPU 1.
    expect(total, JSON.stringify(k.profile!.samples.slice(0, 3))).toBeGreaterThanOrEqual(8);
    expect(total, `${(stolenNs / 1e6).toFixed(0)} ms stolen meanwhile`).toBeLessThan(((onCpuNs + stolenNs) / 1e9) * 199 * 1.2 + 4);
    const withKernel = srv.filter((s) => s.kernelIps.length > 0);
    expect(withKernel.length).toBeGreaterThan(0);
    const sym = kallsyms();
    expect(withKernel.flatMap((s) => s.kernelIps.map(sym)).join(' ')).toMatch(/io_uring|tcp_|sock|syscall/);
    // User stacks unwind through the addon (built with frame pointers): report the share ≥ 3 frames.
    const withUser = srv.filter((s) => s.userIps.length > 0);
    expect(withUser.length).toBeGreaterThan(0);
    const deep = withUser.filter((s) => s.userIps.length >= 3).reduce((a, s) => a + s.count, 0);
    const all = withUser.reduce((a, s) => a + s.count, 0);
    console.log(`profile: ${total} samples of uring-srv-0, ${all} with a user stack, ${((deep / all) * 100).toFixed(0)} % of those ≥ 3 frames; lost ${k.profile!.lost}; ${JSON.stringify(Object.entries(k.profile!.samples.reduce((m: Record<string, number>, s) => { m[`${s.comm}/${s.tid}`] = (m[`${s.comm}/${s.tid}`] ?? 0) + s.count; return m; }, {})))}`);
    expect(deep).toBeGreaterThan(0);
    // …and through the addon itself: uring-srv-0's stacks pass through uring_lab.node's text
    // (leaf in libc's syscall wrapper, the server loop (one function, inlined) in the addon,
    // libc's thread start at the root).
    const addonRanges = readFileSync('/proc/self/maps', 'utf8').split('\n')
      .filter((l) => l.endsWith('uring_lab.node') && / r-xp /.test(l))
      .map((l) => l.split(' ')[0].split('-').map((h) => BigInt(`0x${h}`)));
    const inAddon = (ip: string) => addonRanges.some(([lo, hi]) => BigInt(`0x${ip}`) >= lo && BigInt(`0x${ip}`) < hi);
    const addonFrames = withUser.filter((s) => s.userIps.some(inAddon)).reduce((a, s) => a + s.count, 0);
    console.log(`profile: ${addonFrames} of ${all} user stacks pass through the addon`);
    expect(addonFrames).toBeGreaterThan(all / 2);
  });

  it('counts reclaim at a memory cgroup\'s limit (a child reading a file larger than the limit)', async () => {
    const cg = `/sys/fs/cgroup/memory/ul-q1-reclaim-${process.pid}`;
    const file = join(tmpdir(), `ul-q1-sparse-${process.pid}`);
    expect(existsSync('/sys/fs/cgroup/memory'), 'cgroup v1 memory controller').toBe(true);
    native.probesAttach({ tgid: process.pid, probes: ['memory'] });
    mkdirSync(cg);
    try {
      // Page cache only (a read of a sparse file), never anonymous memory: no swap here.
      writeFileSync(`${cg}/memory.limit_in_bytes`, String(32 << 20));
      execFileSync('truncate', ['-s', '256M', file]);
      // The child joins the cgroup itself, then reads: its page cache is charged there.
      execFileSync('sh', ['-c', `echo $$ > ${cg}/tasks && exec cat ${file} > /dev/null`], { timeout: 20_000 });
      const k = native.probesRead()!;
      const m = k.memory!;
      expect(m.memcgReclaimCount, JSON.stringify(m)).toBeGreaterThan(0);
      expect(m.memcgReclaimNs).toBeGreaterThan(0);
      expect(m.byTask.some((t) => t.comm === 'cat' && t.reclaimNs > 0), JSON.stringify(m.byTask)).toBe(true);
      for (let i = 1; i < m.byTask.length; i++) expect(m.byTask[i - 1].reclaimNs).toBeGreaterThanOrEqual(m.byTask[i].reclaimNs);
      expect(m.byTask.length).toBeLessThanOrEqual(8);
      expect(m.engineReclaimNs).toBe(0);
    } finally {
      rmSync(file, { force: true });
      for (let i = 0; i < 50 && existsSync(cg); i++) {
        try { rmdirSync(cg); } catch { await sleep(100); }
      }
    }
    expect(existsSync(cg)).toBe(false);
  });

  it('leaves none of the new programs attached after probesDetach', async () => {
    native.probesAttach({ tgid: process.pid, probes: ['runqueue', 'offcpu', 'memory', 'profile'] });
    // Other runs on this machine may hold programs of the same names: ours are those our fds hold.
    const ours = heldProgramIds(process.pid);
    const names = ours.map((id) => JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })).name as string);
    expect(names.some((n) => n.startsWith('ul_prof_'))).toBe(true);
    expect(names.some((n) => n.startsWith('ul_mem_'))).toBe(true);
    expect(names.some((n) => n.startsWith('ul_rq_switch'))).toBe(true);
    native.probesDetach();
    expect(heldProgramIds(process.pid)).toEqual([]);
    // Gone from the kernel, the profile program's perf events with it (their links held it);
    // freeing after the last reference is deferred (RCU, a workqueue): allow a moment.
    const exists = (id: number) => bpfObjectExists('prog', id);
    for (let i = 0; i < 50 && ours.some(exists); i++) await sleep(100);
    expect(ours.filter(exists)).toEqual([]);
  });
});

describe.runIf(isRoot)('diagnosis probes through the privileged helper (SCM_RIGHTS)', () => {
  it('hands over the offcpu ring buffer and the profile\'s perf-event links; an unprivileged engine reads them', () => {
    const { dir, helper } = probeHelperCopy('probe-helper-q1-');
    const addonDir = join(dirname(native.addonPath), '..', '..');
    // A busy main thread (comm node) for the profile; a 20 ms sleep of a thread named uring-*
    // is not available without the engine, so offcpu's channel is checked, not its events.
    const script = `
      const n = require(${JSON.stringify(addonDir)});
      const st = n.probesAttach({ tgid: process.pid, probes: ['runqueue', 'offcpu', 'memory', 'profile'], profileHz: 199 });
      const end = Date.now() + 400; while (Date.now() < end) {}
      const frame = n.probesRead();
      n.probesDetach();
      console.log(JSON.stringify({ st, frame }));`;
    try {
      execFileSync('setcap', ['cap_bpf,cap_perfmon+ep', helper]);
      const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--', process.execPath, '-e', script],
        { encoding: 'utf8', env: { ...process.env, URING_LAB_PROBE_HELPER: helper }, timeout: 30_000 });
      const { st, frame } = JSON.parse(out) as { st: NativeProbeStatus[]; frame: NativeKernelFrame };
      for (const s of st) expect(s, s.name).toMatchObject({ attached: true, loadedBy: 'helper' });
      expect(st.find((s) => s.name === 'profile')!.reason).toMatch(/199 Hz/);
      const node = frame.profile!.samples.filter((x) => x.comm === 'node').reduce((a, x) => a + x.count, 0);
      expect(node, JSON.stringify(frame.profile)).toBeGreaterThan(10); // ~80 expected in 400 ms at 199 Hz
      expect(frame.profile!.hz).toBe(199);
      expect(frame.offCpu).toMatchObject({ minUs: 1000, truncated: 0 });
      expect(frame.memory).not.toBeNull();
      expect(frame.sched).not.toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

