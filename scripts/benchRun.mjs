// One `uring-lab run --json` for the bench scripts: resolves with its RunSummary. Exit 1 with a
// summary is a run that completed with a caution (e.g. another run overlapped): its numbers
// still count. Bounded: killed after `boundS` seconds.
import { spawn } from 'node:child_process';

/**
 * @param args    node's arguments: the CLI's entry, then `run --json …`
 * @param env     the CLI's environment (and so its engine's)
 * @param boundS  seconds after which the run is killed (warm-up + measured + start/stop room)
 * @param watch   called with the child's pid; what its return value's `stop()` gives at the exit
 *                is passed along as `watched` (bench:probes reads the lab's threads' CPU so)
 */
export function runLabJson(args, env, boundS, watch = () => null) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
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
