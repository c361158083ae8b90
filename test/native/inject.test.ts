/**
 * Fault injection (issue 12's chaos panel), each fault started during a short real engine run
 * and its real effect asserted: hog children pinned and named, a memory cgroup at its limit
 * with reclaim, NET_RX softirqs on the CPUs, a paused server, io-wq workers, an ENOBUFS storm
 * the run recovers from. Then the refusals, the clean-up after the deadline and after
 * injectStopAll, and the children's death with a SIGKILLed engine process (PR_SET_PDEATHSIG).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { config, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(async () => {
  native.injectStopAll();
  await stopQuietly();
});

const cpuCount = readdirSync('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d)).length;

/** A child that is gone: reaped (no /proc entry), or a zombie left to a non-reaping init. */
function gone(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
/** The kernel keeps 15 characters of a task name (TASK_COMM_LEN 16): what comm reads. */
const commOf = (name: string) => name.slice(0, 15);
const affinity = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/Cpus_allowed_list:\s*(\S+)/)![1];
const cgroupOf = (detail: string) => detail.match(/cgroup (\S+)/)![1];
const leftoverCgroups = () =>
  ['/sys/fs/cgroup/memory', '/sys/fs/cgroup']
    .filter(existsSync)
    .flatMap((root) => readdirSync(root).filter((d) => d.startsWith(`uring-lab-inject-${process.pid}-`)));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await sleep(20);
  }
  return true;
}

function refusal(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected INJECT_REFUSED');
}

/** NET_RX count and softirq jiffies per CPU. */
function softirqs(): { netRx: number[]; softirqTicks: number[] } {
  const line = readFileSync('/proc/softirqs', 'utf8').split('\n').find((l) => l.trim().startsWith('NET_RX:'))!;
  const netRx = line.trim().split(/\s+/).slice(1).map(Number);
  const softirqTicks = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => Number(l.split(/\s+/)[7]));
  return { netRx, softirqTicks };
}

describe('process faults', () => {
  it('cpuHog: one pinned uring-lab-hog per CPU, gone after the deadline', async () => {
    native.start(config({ maxDurationMs: 3000 }));
    const cpus = [...Array(cpuCount).keys()];
    const hog = native.injectStart({ kind: 'cpuHog', durationMs: 800, cpus });
    expect(hog.kind).toBe('cpuHog');
    expect(hog.pids).toHaveLength(cpus.length);
    hog.pids.forEach((pid, i) => {
      expect(comm(pid)).toBe('uring-lab-hog');
      expect(affinity(pid)).toBe(String(cpus[i]));
    });
    expect(native.injectActive()).toEqual([
      expect.objectContaining({ id: hog.id, kind: 'cpuHog', pids: hog.pids }),
    ]);
    // Busy: each hog runs (CPU time in ticks of 10 ms; on a loaded machine it may wait its turn).
    const cpuTicks = (pid: number) => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    expect(await until(() => hog.pids.every((pid) => cpuTicks(pid) > 0), 750), 'every hog got CPU time').toBe(true);
    // After the deadline each hog needs one more turn on its CPU to see it and exit.
    expect(await until(() => hog.pids.every(gone) && native.injectActive().length === 0, 3000), 'hogs gone').toBe(true);
    // Reaped, not zombies of ours.
    for (const pid of hog.pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('cpuHog forked while the engine\'s threads run SCHED_BATCH (as during a run) competes as SCHED_OTHER', async () => {
    const policy = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[38]);
    native.start(config({ maxDurationMs: 3000 }));
    expect(native.setLabThreadsBatch(0, true, ['uring-srv-', 'uring-load', 'iou-'])).toBeGreaterThan(0);
    try {
      expect(policy(process.pid), 'this thread, the injections\' parent').toBe(3);
      const hog = native.injectStart({ kind: 'cpuHog', durationMs: 300, cpus: [0] });
      expect(hog.pids.map(policy)).toEqual([0]);
      expect(await until(() => hog.pids.every(gone) && native.injectActive().length === 0, 3000), 'hog gone').toBe(true);
    } finally {
      native.setLabThreadsBatch(0, false, []);
    }
    expect(policy(process.pid)).toBe(0);
  });

  it('memoryPressure: a 64 MiB memory cgroup at its limit with reclaim, removed after the deadline', async () => {
    native.start(config({ maxDurationMs: 4000 }));
    const mp = native.injectStart({ kind: 'memoryPressure', durationMs: 2500, cpus: [] });
    // One reader per online CPU (cpus [] = all of them), every one in the cgroup.
    const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim().split(',').reduce((n, r) => { const [a, b] = r.split('-').map(Number); return n + (b === undefined ? 1 : b - a! + 1); }, 0);
    expect(mp.pids).toHaveLength(online);
    const dir = cgroupOf(mp.detail);
    expect(dir).toMatch(new RegExp(`/uring-lab-inject-${process.pid}-${mp.id}$`));
    // Set up (named, pinned, joined) before injectStart returned.
    for (const pid of mp.pids) expect(comm(pid)).toBe(commOf('uring-lab-mempress'));
    expect(readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n').map(Number).sort()).toEqual([...mp.pids].sort());
    const v1 = existsSync(`${dir}/memory.limit_in_bytes`);
    expect(Number(readFileSync(`${dir}/${v1 ? 'memory.limit_in_bytes' : 'memory.max'}`, 'utf8'))).toBe(64 << 20);
    const stat = () =>
      Object.fromEntries(readFileSync(`${dir}/memory.stat`, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    // Times at the limit (v1 failcnt, v2 events "max") and pages reclaimed (v1 pgpgout, v2 pgsteal).
    const atLimit = () => Number(v1 ? readFileSync(`${dir}/memory.failcnt`, 'utf8') : readFileSync(`${dir}/memory.events`, 'utf8').match(/^max (\d+)/m)![1]);
    const reclaimed = () => (v1 ? stat().pgpgout : stat().pgsteal);
    const t0 = Date.now();
    // Reaching 64 MiB takes the child a fraction of a second of CPU; on a busy machine, longer.
    expect(await until(() => atLimit() > 0 && reclaimed() > 1024, 2200), 'reclaim within the window').toBe(true);
    const t1 = Date.now();
    await sleep(300);
    const s = stat();
    console.log(
      `memoryPressure (${v1 ? 'v1' : 'v2'}): reclaim seen ${t1 - t0} ms after the start; by 300 ms later ${atLimit()} limit hits, ${reclaimed()} pages reclaimed, ` +
        `page cache ${(v1 ? s.cache : s.file) >> 20} MiB`,
    );
    expect((v1 ? s.cache : s.file) / (64 << 20)).toBeGreaterThan(0.5); // it is page cache that fills it
    expect(await until(() => !existsSync(dir) && mp.pids.every(gone), 3000), 'cgroup removed after the deadline').toBe(true);
    expect(native.injectActive()).toEqual([]);
  });

  it('softirqLoad: NET_RX softirqs rise on every CPU it runs on', async () => {
    // A paced run (open loop, 2000 requests/s): its own loopback NET_RX stays small, so what
    // the children add shows in softirq time too, not only in counts.
    native.start(config({ maxDurationMs: 4000, load: { connections: 2, mode: 'open', rateRps: 2000 } }));
    const cpus = [...Array(cpuCount).keys()];
    const windowMs = 800;
    const udp = () => {
      const [names, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/));
      return Number(values[names.indexOf('RcvbufErrors')]);
    };
    // The run's own loopback traffic raises NET_RX too: the same window without injection first.
    const b0 = softirqs();
    await sleep(windowMs);
    const b1 = softirqs();
    const inj = native.injectStart({ kind: 'softirqLoad', durationMs: windowMs, cpus });
    expect(inj.pids.map(comm)).toEqual(cpus.map(() => commOf('uring-lab-softirq')));
    inj.pids.forEach((pid, i) => expect(affinity(pid)).toBe(String(cpus[i])));
    const i0 = softirqs();
    const drops0 = udp();
    await sleep(windowMs);
    const i1 = softirqs();
    // Datagrams the NET_RX softirq delivered to the full, unread socket and dropped there.
    const drops = udp() - drops0;
    console.log(`softirqLoad: ${drops} datagrams dropped at the unread socket in ${windowMs} ms`);
    expect(drops).toBeGreaterThan(10_000);
    for (const c of cpus) {
      const base = b1.netRx[c] - b0.netRx[c];
      const injected = i1.netRx[c] - i0.netRx[c];
      const baseMs = (b1.softirqTicks[c] - b0.softirqTicks[c]) * 10;
      const injMs = (i1.softirqTicks[c] - i0.softirqTicks[c]) * 10;
      console.log(
        `softirqLoad CPU${c}: NET_RX ${base} -> ${injected} per ${windowMs} ms; softirq time ${((baseMs * 1000) / windowMs).toFixed(0)} -> ${((injMs * 1000) / windowMs).toFixed(0)} ms/s`,
      );
      expect(injected).toBeGreaterThan(base);
    }
    // Softirq time is only logged: it is tick-sampled (10 ms, no IRQ_TIME_ACCOUNTING here) and
    // machine-wide, so other processes' loopback traffic moves it as much as the children do.
    expect(await until(() => inj.pids.every(gone), 1500)).toBe(true);
  });
});

describe('server toggles', () => {
  it('serverPause: no completions for at least 80 % of the window, then the run goes on', async () => {
    native.start(config({ maxDurationMs: 3000 }));
    await sleep(150);
    const windowMs = 800;
    native.snapshot();
    const p = native.injectStart({ kind: 'serverPause', durationMs: windowMs, cpus: [] });
    expect(p.pids).toEqual([]);
    const t0 = Date.now();
    let idle = 0;
    let slices = 0;
    while (Date.now() - t0 < windowMs - 50) {
      await sleep(50);
      slices++;
      if (native.snapshot()!.requests === 0) idle++;
    }
    console.log(`serverPause: ${idle}/${slices} 50 ms slices without a completion`);
    expect(idle / slices).toBeGreaterThanOrEqual(0.8);
    await sleep(250);
    native.snapshot();
    await sleep(200);
    expect(native.snapshot()!.requests).toBeGreaterThan(0);
  });

  it('ioWqPunt: io-wq workers (iou-wrk-*) serve the sends during the window', async () => {
    native.start(config({ maxDurationMs: 3000, load: { connections: 8, messageBytes: 1024 } }));
    await sleep(100);
    const workers = () => readdirSync('/proc/self/task').filter((t) => {
      try {
        return comm(Number(t)).startsWith('iou-wrk-');
      } catch {
        return false;
      }
    });
    const before = workers().length;
    native.injectStart({ kind: 'ioWqPunt', durationMs: 800, cpus: [] });
    let during = 0;
    await until(() => (during = workers().length) > 0, 700);
    console.log(`ioWqPunt: iou-wrk threads ${before} before, ${during} during the window`);
    expect(during).toBeGreaterThan(0);
    await sleep(300);
    native.snapshot();
    await sleep(200);
    const s = native.snapshot()!;
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
  });

  it('bufferStarvation: ENOBUFS during the window, every buffer back after it, echo intact', async () => {
    const started = native.start(
      config({ maxDurationMs: 4000, bufferRing: { count: 64, size: 4096 }, load: { connections: 8, messageBytes: 4096 } }),
    );
    await sleep(150);
    native.snapshot();
    native.injectStart({ kind: 'bufferStarvation', durationMs: 600, cpus: [] });
    await sleep(600);
    const during = native.snapshot()!;
    console.log(
      `bufferStarvation window: requests ${during.requests}, enobufs ${during.enobufs}, rearms ${during.server!.rearms}, enters ${during.server!.enters}`,
    );
    expect(during.enobufs).toBeGreaterThan(0);
    // Starved, the loop wakes on its 10 ms tick, not in a spin.
    expect(during.server!.enters).toBeLessThan(5000);
    await sleep(300);
    const after = native.snapshot()!;
    expect(after.server!.rearms + during.server!.rearms).toBeGreaterThan(0);
    expect(after.requests).toBeGreaterThan(0);
    expect(after.errors + during.errors).toBe(0);
    // Every buffer went back: an independent client's echo comes back byte for byte.
    const sock = await connectTo(started.port);
    const msg = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    sock.write(msg);
    expect((await readExactly(sock, msg.length)).equals(msg)).toBe(true);
    sock.destroy();
  });
});

describe('refusals', () => {
  it('the epoll server refuses ioWqPunt and bufferStarvation; no engine refuses every server toggle', async () => {
    for (const kind of ['serverPause', 'ioWqPunt', 'bufferStarvation'] as const) {
      const e = refusal(() => native.injectStart({ kind, durationMs: 100, cpus: [] }));
      expect(e.code).toBe('INJECT_REFUSED');
      expect(e.reason).toBe(`${kind}: no engine is running`);
      expect(e.fix).toMatch(/start a run first/);
      expect(e.errnoCode).toBe('ENOTCONN');
    }
    native.start(config({ engine: 'epoll', maxDurationMs: 3000, load: { connections: 2 } }));
    const punt = refusal(() => native.injectStart({ kind: 'ioWqPunt', durationMs: 100, cpus: [] }));
    expect(punt).toMatchObject({ code: 'INJECT_REFUSED', reason: 'ioWqPunt: the epoll server has no ring to punt from', fix: 'run with server.engine io_uring', errnoCode: 'EOPNOTSUPP' });
    const starve = refusal(() => native.injectStart({ kind: 'bufferStarvation', durationMs: 100, cpus: [] }));
    expect(starve.reason).toBe('bufferStarvation: the epoll server has no provided buffer ring to starve');
    expect(starve.fix).toBe('run with server.engine io_uring');
    expect(native.injectActive()).toEqual([]);
    // serverPause works on both engines.
    // 1.5 s, observed for 250 ms from 50 ms in: a VM stall of the test's timers must not carry
    // the observation past the pause's end (400 ms left 100 ms of margin).
    native.injectStart({ kind: 'serverPause', durationMs: 1500, cpus: [] });
    await sleep(50); // what the loop was already handling when the toggle came
    native.snapshot();
    await sleep(250);
    expect(native.snapshot()!.requests).toBeLessThan(5);
  });

  it('bad arguments name the field and the fix', () => {
    const cases: [unknown, string][] = [
      [{ kind: 'meteor', durationMs: 100, cpus: [] }, 'kind'],
      [{ kind: 'cpuHog', durationMs: 0, cpus: [] }, 'durationMs'],
      [{ kind: 'cpuHog', durationMs: 60_001, cpus: [] }, 'durationMs'],
      [{ kind: 'cpuHog', durationMs: 1.5, cpus: [] }, 'durationMs'],
      [{ kind: 'cpuHog', durationMs: 100, cpus: ['0'] }, 'cpus'],
      [{ kind: 'cpuHog', durationMs: 100 }, 'cpus'],
    ];
    for (const [options, field] of cases) {
      const e = refusal(() => native.injectStart(options as any));
      expect(e.code).toBe('INJECT_REFUSED');
      expect(e.field).toBe(field);
      expect(e.fix.length).toBeGreaterThan(5);
    }
    const offline = refusal(() => native.injectStart({ kind: 'cpuHog', durationMs: 100, cpus: [cpuCount + 7] }));
    expect(offline.reason).toBe(`cpuHog: cpus[0] = ${cpuCount + 7} is not an online CPU`);
    expect(native.injectActive()).toEqual([]);
  });
});

describe('clean-up', () => {
  it('injectStopAll ends everything at once: children reaped, cgroup removed, toggles cleared', async () => {
    native.start(config({ maxDurationMs: 4000 }));
    const hog = native.injectStart({ kind: 'cpuHog', durationMs: 30_000, cpus: [0] });
    const mp = native.injectStart({ kind: 'memoryPressure', durationMs: 30_000, cpus: [0] });
    native.injectStart({ kind: 'serverPause', durationMs: 30_000, cpus: [] });
    await sleep(200);
    expect(native.injectActive().map((a) => a.kind).sort()).toEqual(['cpuHog', 'memoryPressure', 'serverPause']);
    expect(native.injectActive().every((a) => a.endsInMs > 25_000)).toBe(true);
    const t0 = Date.now();
    native.injectStopAll();
    const tookMs = Date.now() - t0;
    for (const pid of [...hog.pids, ...mp.pids]) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(cgroupOf(mp.detail))).toBe(false);
    expect(native.injectActive()).toEqual([]);
    expect(tookMs).toBeLessThan(2000);
    native.injectStopAll(); // idempotent
    // The pause was cleared: the server answers again.
    await sleep(150);
    native.snapshot();
    await sleep(150);
    expect(native.snapshot()!.requests).toBeGreaterThan(0);
    expect(leftoverCgroups()).toEqual([]);
  });

  it('stopping the engine ends a long serverPause at once (the pause watches the wake-up)', async () => {
    native.start(config({ maxDurationMs: 4000 }));
    native.injectStart({ kind: 'serverPause', durationMs: 30_000, cpus: [] });
    await sleep(150);
    const t0 = Date.now();
    native.stop();
    const tookMs = Date.now() - t0;
    console.log(`stop during a 30 s serverPause took ${tookMs} ms`);
    expect(tookMs).toBeLessThan(5000);
  });

  it('a SIGKILLed engine process takes its hogs with it; its emptied cgroup is left for the host', async () => {
    const script = `
      const n = require(${JSON.stringify(require.resolve('../../native'))});
      const hog = n.injectStart({ kind: 'cpuHog', durationMs: 20000, cpus: [] });
      const mp = n.injectStart({ kind: 'memoryPressure', durationMs: 20000, cpus: [0] });
      console.log(JSON.stringify({ pids: [...hog.pids, ...mp.pids], cgroup: mp.detail.match(/cgroup (\\S+)/)[1] }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b) => {
        out += b;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.once('exit', () => reject(new Error(`child exited early: ${out}`)));
    });
    const { pids, cgroup } = JSON.parse(line) as { pids: number[]; cgroup: string };
    expect(pids.length).toBe(cpuCount + 1);
    for (const pid of pids) expect(gone(pid)).toBe(false);
    child.kill('SIGKILL');
    const t0 = Date.now();
    expect(await until(() => pids.every(gone), 1000)).toBe(true);
    console.log(`engine SIGKILLed: ${pids.length} children gone in ${Date.now() - t0} ms; cgroup ${cgroup} left: ${existsSync(cgroup)}`);
    // Nobody was left to remove it: it stays, empty, for the host to remove by name.
    expect(existsSync(cgroup)).toBe(true);
    expect(await until(() => readFileSync(`${cgroup}/cgroup.procs`, 'utf8').trim() === '', 1000)).toBe(true);
    rmdirSync(cgroup); // what the host does for a dead engine
  });
});
