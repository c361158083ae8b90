/**
 * Leftovers of fault injection whose engine died (kill -9, a crash): its children die with it
 * (PR_SET_PDEATHSIG), but a memory cgroup directory outlives every process — only rmdir ends
 * it. The native side names them `uring-lab-inject-<enginePid>-<id>` (the contract between the
 * two); the host removes those whose engine pid is not alive, at each run start and when an
 * engine dies. A live engine's cgroups are its own to remove (injectStopAll).
 */
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';

/** Where memory cgroups are made: cgroup v1's memory hierarchy, and the v2 unified root. */
export const INJECT_CGROUP_ROOTS = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'] as const;
const NAME = /^uring-lab-inject-(\d+)-\d+$/;

/** Whether `pid` is a live process (not a zombie: a dead engine awaiting its reaper). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface InjectCleanupResult {
  removed: string[];
  /** Directories that could not be removed yet (a task still inside: EBUSY), with the errno. */
  left: { dir: string; code: string }[];
}

/** Removes the inject cgroups of engines that are gone; never those of a live engine. */
export function removeDeadInjectCgroups(roots: readonly string[] = INJECT_CGROUP_ROOTS, alive: (pid: number) => boolean = processAlive): InjectCleanupResult {
  const result: InjectCleanupResult = { removed: [], left: [] };
  for (const root of roots) {
    let names: string[];
    try { names = readdirSync(root); } catch { continue; }
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m || alive(Number(m[1]))) continue;
      const dir = path.join(root, name);
      try {
        rmdirSync(dir);
        result.removed.push(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
        if (code !== 'ENOENT') result.left.push({ dir, code });
      }
    }
  }
  return result;
}

/**
 * After an engine died: its children may still be exiting (a killed task leaves its cgroup
 * when it is reaped), so what is busy is tried again a few times, 100 ms apart.
 */
export async function removeDeadInjectCgroupsSoon(tries = 20, roots: readonly string[] = INJECT_CGROUP_ROOTS): Promise<InjectCleanupResult> {
  let result = removeDeadInjectCgroups(roots);
  const removed = [...result.removed];
  for (let i = 1; i < tries && result.left.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    result = removeDeadInjectCgroups(roots);
    removed.push(...result.removed);
  }
  return { removed, left: result.left };
}
