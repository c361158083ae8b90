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
 * A verb that handles SIGINT/SIGTERM itself hands them to `handler`. Its handler goes on first:
 * a signal that came while modules were loading waits in the signal watcher, and removing the
 * last listener first would close that watcher and lose it (measured: Ctrl-C 120–200 ms after
 * the start was dropped and the run went on to complete).
 */
export function takeOverSignals(handler: (signal: NodeJS.Signals) => void): void {
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.off('SIGINT', onEarlySignal);
  process.off('SIGTERM', onEarlySignal);
}
