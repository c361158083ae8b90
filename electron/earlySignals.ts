/**
 * The CLI's first import, so it runs before the others load (~0.3 s of requires): until a verb
 * takes SIGINT/SIGTERM over with handlers of its own, a signal ends the command at once with
 * exit 130 and one line. Without it Node's default action killed the process silently (no
 * line, no exit code a script could read as "interrupted") when Ctrl-C came that early.
 * Nothing has started by then that needs stopping: the engine process follows its IPC channel.
 */
const onEarlySignal = (signal: NodeJS.Signals): void => {
  process.stderr.write(`uring-lab: ${signal} before the command got going; nothing was left running\n`);
  process.exit(130);
};
process.on('SIGINT', onEarlySignal);
process.on('SIGTERM', onEarlySignal);

/**
 * The same signal again this soon after the first is the same event delivered twice, not a
 * second request: `timeout` (and any supervisor that signals its child and then its process
 * group) sends one SIGTERM to the command and another to the group, back to back; libuv queues
 * both even while JavaScript is busy (loading modules), and their handlers run microseconds
 * apart. The second used to take the "second signal: exit at once" path, losing the summary of
 * a run that `timeout` meant to stop in order. A person pressing Ctrl-C twice is far slower, and
 * so is a script's deliberate second signal (serveShutdown.test.ts sends one 100 ms later).
 * 50 ms, not the 10 it was: on a machine whose CPUs are all busy the sender can be off the CPU
 * between its two kill() calls; a test that sent them 1 ms apart saw them arrive more than 10 ms
 * apart with another test file's runs on both CPUs, and the run lost its summary.
 */
export const DUPLICATE_SIGNAL_MS = 50;

/**
 * A verb that handles SIGINT/SIGTERM itself hands them to `handler` (duplicates dropped, see
 * DUPLICATE_SIGNAL_MS) and calls the returned function when it is done with them. Its handler
 * goes on first: a signal that came while modules were loading waits in the signal watcher,
 * and removing the last listener first would close that watcher and lose it (measured: Ctrl-C
 * 120–200 ms after the start was dropped and the run went on to complete).
 */
export function takeOverSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  let last: { signal: NodeJS.Signals; at: number } | null = null;
  const listener = (signal: NodeJS.Signals) => {
    const at = performance.now();
    if (last && last.signal === signal && at - last.at < DUPLICATE_SIGNAL_MS) return;
    last = { signal, at };
    handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  process.off('SIGINT', onEarlySignal);
  process.off('SIGTERM', onEarlySignal);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}
