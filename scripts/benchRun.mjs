// One `uring-lab run --json` for the bench scripts: resolves with its RunSummary. Exit 1 with a
// summary is a run that completed with a caution (e.g. another run overlapped): its numbers
// still count. Bounded: killed after `boundS` seconds.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * @param args    node's arguments: the CLI's entry, then `run --json …`
 * @param env     the CLI's environment (and so its engine's)
 * @param boundS  seconds after which the run is killed (warm-up + measured + start/stop room)
 * @param watch   called with the child's pid; what its return value's `stop()` gives at the exit
 *                is passed along as `watched` (bench:probes reads the lab's threads' CPU so)
 */
export function runLabJson(args, env, boundS, watch = () => null) {
  return new Promise((resolve, reject) => {
    const child = trackChild(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
    const watcher = watch(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const killer = setTimeout(() => child.kill('SIGKILL'), boundS * 1000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      let summary = null;
      try { summary = JSON.parse(out.trim().split('\n').pop()); } catch { /* none */ }
      const watched = watcher?.stop() ?? null;
      if ((code === 0 || code === 1) && summary?.status === 'completed') resolve({ summary, watched });
      else reject(new Error(`uring-lab run exited ${code}: ${err.trim().split('\n')[0] || out.trim().slice(0, 300)}`));
    });
  });
}

/**
 * Points the runs this bench starts at a folder of its own, removed when the bench exits, unless
 * URING_LAB_RUNS_DIR already names one (then they are kept there). Every sample is a saved run:
 * one `bench:engine` grid saved 114 into the user's history, where they crowd the list and,
 * past retention's 500, push out the user's own runs. Set before any child is spawned; the
 * children inherit it through process.env.
 * @param name  the bench's name, in the folder's name
 * @returns the folder
 */
export function privateRunsDir(name) {
  if (process.env.URING_LAB_RUNS_DIR) return process.env.URING_LAB_RUNS_DIR;
  const dir = mkdtempSync(path.join(os.tmpdir(), `uring-lab-${name}-runs-`));
  process.env.URING_LAB_RUNS_DIR = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The lab processes this bench started that may still be running (runLabJson's, and any a
 *  bench passes to trackChild). */
export const benchChildren = new Set();

export function trackChild(child) {
  benchChildren.add(child);
  child.on('close', () => benchChildren.delete(child));
  return child;
}

/**
 * SIGINT/SIGTERM: SIGTERM to every child, then exit 130 once all of them have exited (at most
 * `boundMs`). A `uring-lab run` stopped so saves its interrupted run into the bench's private
 * runs folder (privateRunsDir): a bench that exited at once removed the folder before the child
 * wrote there, and the child made it again, left behind in $TMPDIR; a `uring-lab server` went
 * on serving until its --duration. A second signal exits at once.
 */
export function exitWithChildrenOnSignal(children = benchChildren, boundMs = 15_000) {
  let stoppingAt = null;
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      // A second Ctrl-C exits at once, as the CLI's does. One that follows within 100 ms is the
      // same one delivered twice (`timeout` signals the bench, then its process group).
      if (stoppingAt !== null) { if (performance.now() - stoppingAt > 100) process.exit(130); return; }
      stoppingAt = performance.now();
      // Interrupted is the exit code, even where the bench's loop fails first on the run it stopped.
      process.on('exit', () => { process.exitCode = 130; });
      const bound = setTimeout(() => process.exit(130), boundMs);
      // The bench's loop goes on until the exit: a child it starts meanwhile is stopped too.
      const signalled = new Set();
      const check = () => {
        for (const child of children) if (!signalled.has(child)) { signalled.add(child); child.kill('SIGTERM'); }
        if (children.size === 0) { clearTimeout(bound); process.exit(130); }
        else setTimeout(check, 25);
      };
      check();
    });
  }
}

/**
 * spawnSync's result, without blocking: a bench's loop of spawnSync calls never yields, so its
 * signal handler would wait for the whole bench. Tracked (trackChild). After `timeoutMs` it is
 * killed (SIGKILL), or with `termGraceMs` first sent SIGTERM (a lab run then saves itself) and
 * killed that much later; `timedOut` says so. `onSpawn(child)` runs as soon as it started.
 */
export function spawnCollect(cmd, args, { env = process.env, timeoutMs = 0, termGraceMs = null, onSpawn = null } = {}) {
  return new Promise((resolve) => {
    const child = trackChild(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env }));
    if (onSpawn) onSpawn(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const killer = timeoutMs > 0 ? setTimeout(() => {
      timedOut = true;
      if (termGraceMs === null) return child.kill('SIGKILL');
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), termGraceMs).unref();
    }, timeoutMs) : null;
    child.on('error', (error) => { if (killer) clearTimeout(killer); resolve({ status: null, signal: null, stdout, stderr, error, timedOut }); });
    child.on('close', (status, signal) => { if (killer) clearTimeout(killer); resolve({ status, signal, stdout, stderr, timedOut }); });
  });
}
