/**
 * What else used this machine while a run measured. Two runs of the lab at once each get
 * about half the CPUs and report halved numbers that look fine; so every run registers
 * itself in a per-user directory of active runs and looks for others while it goes, and the
 * CPU time of the whole machine (/proc/stat) is compared with the lab's own.
 */
import { lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabError, oneLineText, type RunSummary } from '../../contract';
import { makeFolders } from '../makeFolders';
import { readRegularFileSync } from '../history/regularFile';

type OtherRun = RunSummary['contention']['otherRuns'][number];

/** How an A/B experiment's id starts (ab/runner.ts): its entry spans its arms. */
export const AB_ENTRY_PREFIX = 'ab-';

/** Per user: a run of another user shows up in the machine's CPU time instead. */
export function activeRunsDir(): string {
  // The XDG rule, as labDataDir keeps it for XDG_DATA_HOME: a relative path is ignored (it
  // would name a different folder from each working directory, and two runs miss each other).
  const runtime = process.env.XDG_RUNTIME_DIR;
  const base = runtime && path.isAbsolute(runtime) ? runtime : os.tmpdir();
  return path.join(base, `uring-lab-${process.getuid?.() ?? 'user'}`, 'active-runs');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ActiveRunRegistry {
  private file: string | null = null;
  /** The folder passed the ownership check; an untrusted one is neither written nor read. */
  private trusted = false;
  private readonly seen = new Map<string, OtherRun>();
  /** Why this run could not be marked and others not looked for (the summary says so), or null. */
  unusable: string | null = null;

  constructor(private readonly dir = activeRunsDir()) {}

  /**
   * In a shared temp folder another user could have made this folder (or a link to one): use it
   * only if it is a real folder of ours that nobody else can write to. (A sticky parent such as
   * /tmp itself is fine: nobody can rename our folder in it.) Throws why not.
   */
  private trust(): void {
    const parent = lstatSync(path.dirname(this.dir));
    const chain = (parent.mode & 0o1000) !== 0 ? [this.dir] : [path.dirname(this.dir), this.dir];
    for (const dir of chain) {
      const stat = lstatSync(dir);
      if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) throw new Error(`${dir} is not ours alone`);
    }
    this.trusted = true;
  }

  /** The other live runs now, without marking one of this process (an A/B experiment checks before it starts). */
  peek(): OtherRun[] {
    try { this.trust(); } catch { return []; }
    this.scan();
    return this.otherRuns();
  }

  /** Marks this process's run as active; failures only cost the detection, never the run. */
  register(runId: string, startedAt: string): void {
    try {
      makeFolders(this.dir, 0o700);
      this.trust();
      const file = path.join(this.dir, `${process.pid}-${runId.replace(/[^\w-]/g, '_')}.json`);
      // 'wx' is O_CREAT|O_EXCL: never follows a link planted at that name.
      writeFileSync(file, JSON.stringify({ pid: process.pid, runId, startedAt }), { mode: 0o600, flag: 'wx' });
      this.file = file;
    } catch (err) {
      this.file = null;
      const e = err as NodeJS.ErrnoException;
      this.unusable = `${this.dir}: ${e.code ?? oneLineText(e.message, 120)}`;
    }
    this.scan();
  }

  /** Looks for other live runs now; each one seen during this run is remembered. */
  scan(): void {
    if (!this.trusted) return;
    let names: string[];
    try { names = readdirSync(this.dir); } catch { return; }
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (file === this.file || !name.endsWith('.json')) continue;
      let entry: OtherRun;
      try {
        // Never readFileSync: a FIFO at that name blocked every run's start for good.
        const parsed = JSON.parse(readRegularFileSync(file, 4096)) as Partial<OtherRun>;
        if (typeof parsed.pid !== 'number' || typeof parsed.runId !== 'string' || typeof parsed.startedAt !== 'string') continue;
        entry = { pid: parsed.pid, runId: parsed.runId, startedAt: parsed.startedAt };
      } catch { continue; }
      // An A/B experiment of this process is marked for its whole length: its own arms (runs
      // of the same process) do not contend with it.
      if (entry.pid === process.pid && entry.runId.startsWith(AB_ENTRY_PREFIX)) continue;
      if (!alive(entry.pid)) {
        // Left behind by a process that died without unregistering.
        try { rmSync(file, { force: true }); } catch { /* another scanner removed it */ }
        continue;
      }
      this.seen.set(`${entry.pid}/${entry.runId}`, entry);
    }
  }

  otherRuns(): OtherRun[] {
    return [...this.seen.values()];
  }

  unregister(): void {
    if (this.file) try { rmSync(this.file, { force: true }); } catch { /* gone already */ }
    this.file = null;
  }
}

/**
 * Refuses a run (AB_ACTIVE, bad input: nothing starts) while an A/B experiment of another lab
 * process of this user is going: its entry stays in the register between its arms, so it is
 * seen even when no arm is running at this moment. Entries of this process are not others'
 * (peek skips them): an experiment's own arms start here.
 */
export function refuseDuringOtherAb(dir?: string): void {
  const experiment = new ActiveRunRegistry(dir).peek().find((e) => e.runId.startsWith(AB_ENTRY_PREFIX) && e.pid !== process.pid);
  if (!experiment) return;
  throw new LabError({
    code: 'AB_ACTIVE', kind: 'input', field: 'run',
    message: `A/B experiment ${oneLineText(experiment.runId, 80)} is running in lab process ${experiment.pid}: its arms need the machine to themselves, and a run now would spoil both`,
    fix: `wait for the experiment to end (uring-lab ab list shows it running), or stop it (Ctrl-C in its terminal, or Stop in its window), then start the run`,
  });
}

/** Busy jiffies of the whole machine (all CPUs) from /proc/stat, or null. */
function machineBusyTicks(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return user + nice + system + irq + softirq + (steal ?? 0);
  } catch {
    return null;
  }
}

const TICK_NS = 1e9 / 100; // USER_HZ is 100 on every Linux ABI

/**
 * CPU used by everything but the lab during a window: machine busy time minus the engine
 * process's CPU and this host process's CPU. Jiffy resolution (10 ms), so short windows
 * read noisy; reported in CPUs (0.5 = half a core on average).
 */
export class MachineCpuWindow {
  private startTicks: number | null = null;
  private startHostUs = 0;
  private startNs = 0;

  begin(nowNs: number): void {
    this.startTicks = machineBusyTicks();
    const usage = process.cpuUsage();
    this.startHostUs = usage.user + usage.system;
    this.startNs = nowNs;
  }

  get begun(): boolean {
    return this.startNs !== 0;
  }

  otherCpus(nowNs: number, engineCpuNs: number): number | null {
    const endTicks = machineBusyTicks();
    if (this.startTicks === null || endTicks === null || nowNs - this.startNs < 200e6) return null;
    const usage = process.cpuUsage();
    const hostNs = (usage.user + usage.system - this.startHostUs) * 1000;
    const machineNs = (endTicks - this.startTicks) * TICK_NS;
    const other = Math.max(0, machineNs - engineCpuNs - hostNs) / (nowNs - this.startNs);
    return Math.round(other * 100) / 100;
  }
}
