/**
 * The CLI's first import, so it runs before the others load (~0.3 s of requires): until a verb
 * takes SIGINT/SIGTERM over with handlers of its own, a signal ends the command at once with
 * exit 130 and one line. Without it Node's default action killed the process silently (no
 * line, no exit code a script could read as "interrupted") when Ctrl-C came that early.
 * Nothing has started by then that needs stopping: the engine process follows its IPC channel.
 */
let startedVerb: string | null = null;
const onEarlySignal = (signal: NodeJS.Signals): void => {
  // A verb that never takes the signals over (doctor, export, runs, diagnose) is ended here too,
  // while it works: "before the command got going" was wrong once it had started (doctor's
  // report could be out already).
  process.stderr.write(startedVerb === null
    ? `uring-lab: ${signal} before the command got going; nothing was left running\n`
    : `uring-lab: ${signal}: ${startedVerb} stopped before it finished; nothing was left running\n`);
  process.exit(130);
};

/** The command line has been read and `verb` is at work (the early handler's line says so). */
export function markStarted(verb: string): void {
  startedVerb = verb.replace(/[^\w-]/g, '?').slice(0, 20);
}
/**
 * The signals that end a command in order: Ctrl-C, a kill or a supervisor's stop, and the hang-up
 * of the terminal it runs in (closing it, or an ssh session dropping). SIGHUP took Node's default
 * action: exit 129, no summary, and the run left "running" on disk until the next reader called
 * it a crash. Now it is an interruption like the other two: stopped, saved, exit 130.
 */
export const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const listen = (fn: (signal: NodeJS.Signals) => void): void => { for (const s of ENDING_SIGNALS) process.on(s, fn); };
const unlisten = (fn: (signal: NodeJS.Signals) => void): void => { for (const s of ENDING_SIGNALS) process.off(s, fn); };
listen(onEarlySignal);

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
 * The command's outcome is decided (its summary or report printed, its exit code known) but the
 * process has not ended yet: the event loop still drains (the engine process's pipes, a prune of
 * old runs, timers), ~1.5 s after an A/B report. A signal then used to find no handler, and Node's
 * default action killed the process (exit 130 or "killed by SIGINT", no line) after the command
 * had completed. Now it ends the process at once with the exit code already decided, saying so.
 * Signal listeners hold no reference on the event loop, so this keeps nothing alive.
 */
let settledCode: number | null = null;
const onLateSignal = (signal: NodeJS.Signals): void => {
  const code = settledCode ?? (typeof process.exitCode === 'number' ? process.exitCode : null);
  if (code === null) {
    // Not reached in practice (a verb releases its signals only once its outcome is decided, and
    // main's handler sets the exit code before any signal callback can run); said plainly if so.
    process.stderr.write(`uring-lab: ${signal} while the command was finishing; exiting\n`);
    process.exit(130);
  }
  process.stderr.write(`uring-lab: ${signal} after the command had finished; exiting now with its exit code ${code}\n`);
  process.exit(code);
};

/**
 * The command has returned its exit code (every verb, whether or not it took the signals over):
 * from here a signal ends the process at once with that code. A verb that never took them over
 * (doctor, export, runs, diagnose) still had the early handler, whose "before the command got
 * going", exit 130, was wrong once its output was out.
 */
export function settleSignals(code: number): void {
  settledCode = code;
  if (!process.listeners('SIGINT').includes(onLateSignal)) listen(onLateSignal);
  unlisten(onEarlySignal);
}

/**
 * A verb that handles SIGINT/SIGTERM itself hands them to `handler` (duplicates dropped, see
 * DUPLICATE_SIGNAL_MS) and calls the returned function when it is done with them, with the exit
 * code it has decided where it knows it (a late signal keeps that code: see onLateSignal). Its handler
 * goes on first: a signal that came while modules were loading waits in the signal watcher,
 * and removing the last listener first would close that watcher and lose it (measured: Ctrl-C
 * 120–200 ms after the start was dropped and the run went on to complete).
 */
export function takeOverSignals(handler: (signal: NodeJS.Signals) => void): (code?: number) => void {
  let last: { signal: NodeJS.Signals; at: number } | null = null;
  const listener = (signal: NodeJS.Signals) => {
    const at = performance.now();
    if (last && last.signal === signal && at - last.at < DUPLICATE_SIGNAL_MS) return;
    last = { signal, at };
    handler(signal);
  };
  listen(listener);
  unlisten(onEarlySignal);
  // A verb taking the signals again in the same process (tests call verbs in-process) owns them
  // anew: the last one's outcome is not this one's.
  unlisten(onLateSignal);
  settledCode = null;
  return (code?: number) => {
    if (code !== undefined) settledCode = code;
    // The late handler goes on before the verb's comes off: with no listener at all the signal
    // is back at its default action, even for the moment between the two calls.
    if (!process.listeners('SIGINT').includes(onLateSignal)) listen(onLateSignal);
    unlisten(listener);
  };
}
