#!/usr/bin/env node
/**
 * `uring-lab` command line: the lab without a window. Verbs, flags and exit codes are a
 * contract that users' scripts rely on (DESIGN.md):
 *   0   the run completed cleanly;
 *   1   the run failed, or completed with errors, timeouts or with another lab run sharing the machine
 *       (one line on stderr; with --json the summary is still printed, with status/failure);
 *   2   bad input: one line naming the field and the fix; nothing started;
 *   130 interrupted by SIGINT/SIGTERM: the run was stopped cleanly and its partial summary
 *       printed with status "interrupted".
 * Every error line is one line, bounded, with control characters escaped (LabError does it).
 */
import { markStarted, settleSignals, takeOverSignals } from './earlySignals'; // first: see the file
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { batchedWaitWords, connectionServiceWords, serverConnectionServiceWords, echoErrorsText, formatBinaryBytes, formatKnobValue, knobLabel, LabError, latencyText, serverLoopWords, storageRunWords, zeroCopyWords, oneLineText, Profile, RunSummary, DoctorReport, TerminalEvent, HISTORY_WARNING_PREFIX } from './contract';
import { LabService, type LoadTarget } from './host/labService';
import { exportCommand } from './host/profiles/export/exportVerb';
import { SERVER_MAX_DURATION_S, ServerOnly, type ServerListening, type ServerSummary } from './host/serverOnly';
import { parseTarget, probeTarget, resolveTarget, targetConnectError } from './host/loadOnly';
import { kernelSummaryLines } from './host/run/probes';
import { startFailedSummary } from './host/run/runRecord';
import { RUNS_USAGE, runsCommand } from './host/history/runsVerb';
import { AB_HELP, AB_USAGE, abCommand } from './host/ab/abCommand';
import { DIAGNOSE_HELP, DIAGNOSE_USAGE, diagnoseCommand } from './host/diagnose/diagnoseCommand';
import { checkFlagTokens, decimalFlag, flagParseError } from './host/cliFlags';
import { buildLoadProfile, buildRunProfile, buildServerProfile, UsageError, usageError, withInjections } from './host/verbProfiles';

/** `uring-lab serve`'s port when --port is not given. */
const SERVE_DEFAULT_PORT = 7420;
/** `uring-lab server`'s port when --port is not given (next to `serve`'s). */
const SERVER_DEFAULT_PORT = 7421;

const USAGE = `uring-lab — a lab for kernel-level I/O tuning (io_uring echo server + load generator)

Usage:
  uring-lab run [--profile FILE] [--set key.path=value]... [--inject KIND@START:DURATION]... [--duration SECONDS] [--json]
  uring-lab server [--port P] [--bind ADDR] [--profile FILE] [--set key.path=value]... [--inject KIND@START:DURATION]... [--duration SECONDS] [--json]
  uring-lab load --target HOST:PORT [--profile FILE] [--set load.*=value]... [--duration SECONDS] [--json]
  uring-lab doctor [--json]
  uring-lab export PROFILE.json --format json|fio|tuned|shell [--out FILE]
  uring-lab serve [--port P] [--token-file PATH]
  uring-lab --version
${RUNS_USAGE}
${DIAGNOSE_USAGE}
${AB_USAGE}

  run      one measured run of the echo workload (warm-up, then --duration seconds measured);
           --json prints one RunSummary object on stdout; --inject cpuHog@4s:1s injects a fault
           4 s into the run (warm-up included) for 1 s (repeatable; appended to diagnose.inject;
           kinds cpuHog, memoryPressure, ioWqPunt, bufferStarvation, serverPause, softirqLoad)
  server   the echo server alone, no load, on 127.0.0.1:P (default ${SERVER_DEFAULT_PORT}; 0 picks a free
           port), for a client of your own; --bind ADDR listens on that IPv4 address instead
           (0.0.0.0: every interface, for a uring-lab load on another host). Prints one line
           when it listens (--json:
           {"event":"listening","port":P,"pid":N}, N the engine process that serves; with
           --bind also "address"), then,
           on SIGINT/SIGTERM or after --duration seconds, its summary (--json: one object with
           "event":"summary"): connections served, bytes echoed, requests (bytes echoed /
           load.messageBytes: set it to your client's message size), echoes per connection
           (fewest, most, Jain's index), server CPU, applied and refused knobs. Without
           --duration it runs until a signal, at most ${SERVER_MAX_DURATION_S / 3600} h.
           --set takes server.* knobs and load.messageBytes; a second signal exits at once (130)
  load     the load alone against a TCP echo server that is not this lab's (uring-lab server
           on another host, or anyone's): HOST is an IPv4 address or a name resolving to one.
           Warm-up, then --duration seconds measured, like run; --json prints one RunSummary
           with "target" set and the server-side fields null (serverCpuNsPerReq, engine): the
           server is not ours to measure. --set takes load.* and duration.* keys, not server.*
  doctor   what this machine offers: kernel, io_uring and each capability a knob needs, memlock,
           BTF, tracefs, NUMA nodes and CPUs, huge pages; then the knobs it cannot use, and why
  export   a profile file in another format, on stdout or in --out FILE (written whole or not
           at all): json (with "$schema", every knob), fio (a job for the storage analogue),
           tuned (a tuned.conf of the sysctls it implies), shell (a script that checks, asks,
           sets the sysctls and runs it; --dry-run prints the commands). Bad file or format: exit 2
${AB_HELP}
${DIAGNOSE_HELP}
  runs     the run history: every run is saved (URING_LAB_RUNS_DIR, default
           $XDG_DATA_HOME/uring-lab/runs; the oldest unpinned beyond URING_LAB_RUNS_MAX runs or
           URING_LAB_RUNS_MAX_BYTES bytes are pruned); a run whose lab process died shows as
           interrupted with the frames it saved. export: json (meta and frames), csv (one row
           per frame), md (the summary for a ticket), to stdout or --out FILE
  serve    the lab's UI in a browser, on 127.0.0.1 (prints the URL with its access token);
           --token-file keeps the token (created 0600 when missing) so a restarted host keeps
           its URL and an open tab reconnects by itself

Exit codes: 0 completed cleanly (server: also when ended by SIGINT/SIGTERM); 1 failed or
completed with errors (load: also a --target that refuses or does not answer); 2 bad input
(server: also a port in use; load: a malformed or unresolvable --target, a server.* --set);
130 interrupted (SIGINT/SIGTERM; the partial summary is still printed)

Examples:
  uring-lab run --duration 3 --set server.sqpoll.enabled=true --json
  uring-lab run --set load.connections=8 --set load.messageBytes=4096
  uring-lab run --set server.numa.cpus=0 --set load.cpus=1   # CPU lists as taskset -c takes them: 0-3,8
  uring-lab server --port 9000 --set server.engine=epoll --set load.messageBytes=4096
  uring-lab load --target 10.0.0.2:9000 --duration 5 --set load.connections=16 --json`;


async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--version' || verb === '-V' || verb === 'version') {
    process.stdout.write(`uring-lab ${labVersion()}\n`);
    return 0;
  }
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    // No command is bad input: exit 2 with its one line on stderr, like every other.
    if (!verb) throw usageError('no command given', 'use one of: run, server, load, doctor, export, serve, runs, ab, diagnose (uring-lab --help)', 'command');
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  markStarted(verb);
  switch (verb) {
    case 'run': return runCommand(rest);
    case 'server': return serverCommand(rest);
    case 'load': return loadCommand(rest);
    case 'doctor': return doctorCommand(rest);
    case 'export': return exportCommand(rest);
    case 'serve': return serveCommand(rest);
    case 'runs': return runsCommand(rest);
    case 'ab': return abCommand(rest);
    case 'diagnose': return diagnoseCommand(rest);
    default:
      throw usageError(`unknown command "${verb}"`, 'use one of: run, server, load, doctor, export, serve, runs, ab, diagnose (uring-lab --help)', 'command');
  }
}

/**
 * The lab's version, from the package.json it ships in: dist/electron/cli.js sits two folders
 * below it in the repository and in the packaged app's archive alike.
 */
function labVersion(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  const version: unknown = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new LabError({ code: 'INTERNAL', message: `${file} names no version`, fix: 'reinstall uring-lab' });
  return version;
}

type ParsedValues = { [name: string]: string | boolean | string[] | undefined };

function parse(verb: string, args: string[], options: ParseArgsOptionsConfig): { values: ParsedValues } {
  try {
    const { values, tokens } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false, tokens: true });
    checkFlagTokens(verb, options, tokens);
    return { values: values as ParsedValues };
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError(verb, args, err, `see uring-lab ${verb} --help`);
  }
}


/** The most a second signal after a run's end waits for its save before the process exits. */
export const SAVE_WAIT_MS = 2000;

/** Exit code 130: the shell's convention for a command ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

async function runCommand(args: string[]): Promise<number> {
  const { values } = parse('run', args, {
    profile: { type: 'string' }, set: { type: 'string', multiple: true }, duration: { type: 'string' }, json: { type: 'boolean' },
    inject: { type: 'string', multiple: true },
  });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const profile = withInjections(buildRunProfile(values as { profile?: string; set?: string[]; duration?: string }), (values.inject as string[] | undefined) ?? []);

  return superviseRun(Boolean(values.json), profile, null, (lab) => lab.startRun({ profile, untilStopped: false }).then(() => undefined));
}

/**
 * A run of `run` or `load` from start to its one terminal event: SIGINT/SIGTERM interrupt it
 * in order (a second signal exits at once), progress goes to a terminal's stderr, the summary
 * to stdout (`--json`: one line), and its exit code says how it ended. A start that fails for
 * a reason other than bad input (exit 1: the target refused, the engine could not start) still
 * prints a `--json` summary, with status "failed", the failure, and nothing measured.
 */
async function superviseRun(json: boolean, requested: Profile, target: LoadTarget | null, start: (lab: LabService) => Promise<void>): Promise<number> {
  const lab = new LabService();
  let interruptedBy: string | null = null;
  // Once the run has ended only its save is left (the history writes it off the event loop;
  // lab.close waits for it). A signal then waits for that save, a few ms, instead of exiting
  // at once: exiting there left the saved run `running`, recovered later without its summary.
  // The exit code stays the run's. A signal after that one exits without waiting, and still with
  // the run's exit code: the run had ended (and was saved, or is being saved), and 130 with
  // "without waiting for the run to stop" read as a run cut short that had completed.
  let ended = false;
  let endedWith: RunSummary | null = null;
  let signalsAfterEnd = 0;
  const interrupt = (signal: NodeJS.Signals) => {
    if (ended) {
      const what = endedWith ? `run ${endedWith.runId} had already ended (${endedWith.status})` : 'the run had already ended';
      if (++signalsAfterEnd === 1) {
        process.stderr.write(`uring-lab: ${oneLineText(`${signal}: ${what}; finishing its save, the exit code stays the run's`, 400)}\n`);
        return;
      }
      const code = endedWith ? runExit(endedWith).code : process.exitCode === undefined ? 1 : Number(process.exitCode);
      if (signalsAfterEnd === 2) {
        // Out without the rest of the close (the prune of old runs can take seconds), but not
        // before the run's own end is on disk (ms): exiting there left the run `running`, later
        // recovered as interrupted although it had completed and its summary was printed.
        process.stderr.write(`uring-lab: ${oneLineText(`${signal} again: ${what}; exiting with its exit code ${code} once it is saved, without waiting for the lab to close`, 400)}\n`);
        void Promise.race([lab.runsSaved(), new Promise((r) => setTimeout(r, SAVE_WAIT_MS).unref())]).then(() => process.exit(code));
        return;
      }
      process.exit(code); // a third: at once
    }
    if (interruptedBy) {
      // A second signal: the user really wants out; the engine process dies with us.
      process.stderr.write(`uring-lab: ${signal} again, exiting without waiting for the run to stop\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    interruptedBy = signal;
    void lab.interruptRun(`interrupted by ${signal}`).catch(() => undefined);
  };
  const releaseSignals = takeOverSignals(interrupt);
  let decided: number | null = null;
  const setUp = !json && process.stderr.isTTY ? setUpTicker(requested, target) : null;
  try {
    const terminal = new Promise<TerminalEvent>((resolve) => {
      lab.onEvent((event) => {
        if (event.type === 'ended' || event.type === 'failed' || event.type === 'interrupted') {
          ended = true;
          endedWith = event.summary;
          setUp?.stop();
          resolve(event);
        }
        if (event.type === 'frame') setUp?.stop();
        if (event.type === 'frame' && !json && process.stderr.isTTY && event.frame.seq % 10 === 9) {
          process.stderr.write(`\r\x1b[K  ${(event.frame.tMs / 1000).toFixed(1)} s  ${fmtInt(event.frame.throughputRps)} req/s  p99 ${latencyText(event.frame.requests, event.frame.latencyUs.p99)} µs${event.frame.measuring ? '' : '  (warm-up)'}`);
        }
      });
    });
    try {
      lab.checkHistory();
      await start(lab);
    } catch (err) {
      const error = LabError.from(err);
      // SIGINT/SIGTERM during the set-up called the start off: nothing ran, so no run was saved;
      // interrupted all the same (exit 130), with the summary of nothing under --json.
      if (interruptedBy && error.code === 'START_CANCELLED') {
        const failure = { code: 'INTERRUPTED', message: `interrupted by ${interruptedBy} while it set up: nothing ran, nothing was measured` };
        if (json) process.stdout.write(`${JSON.stringify(startFailedSummary(requested, failure, target, 'interrupted'))}\n`);
        process.stderr.write(`uring-lab: run ${failure.message}\n`);
        return EXIT_INTERRUPTED;
      }
      if (json && error.kind !== 'input' && !(err instanceof UsageError)) {
        const failure = { code: error.code, message: error.message, ...(error.fix ? { fix: error.fix } : {}) };
        process.stdout.write(`${JSON.stringify(startFailedSummary(requested, failure, target))}\n`);
      }
      throw err;
    }
    const summary = (await terminal).summary;
    if (process.stderr.isTTY && !json) process.stderr.write('\n');
    process.stdout.write(json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    decided = exitCodeFor(summary);
    return decided;
  } finally {
    ended = true; // whatever brought us here, only the close (and the save) is left
    setUp?.stop();
    await lab.close();
    // From here until the process ends a signal keeps the decided code (earlySignals.ts).
    releaseSignals(decided ?? undefined);
  }
}

/**
 * On a terminal, a line that counts the seconds of a run's set-up until its first frame: large
 * runs spend a long time there before anything is measured (4,096 connections × 1 MiB: ~20 s
 * here, connecting and touching 8 GiB of load buffers whose every page the hypervisor first
 * hands over), and a silent terminal for that long looks hung. It says what is being set up,
 * so the wait can be told apart from a stall. The first frame's progress line overwrites it.
 */
function setUpTicker(profile: Profile, target: LoadTarget | null): { stop(): void } {
  const what = profile.workload === 'storage'
    ? `storage: ${profile.load.threads > 1 ? `${profile.load.threads} jobs × ` : ''}queue depth ${profile.storage.queueDepth} × ${formatBinaryBytes(profile.storage.blockBytes)} blocks`
    : `${fmtInt(profile.load.connections)} connection${profile.load.connections === 1 ? '' : 's'} × ${formatBinaryBytes(profile.load.messageBytes)} messages${target ? ` to ${target.host}:${target.port}` : ''}`;
  const t0 = Date.now();
  const show = () => process.stderr.write(`\r\x1b[K  setting up ${what} (${Math.floor((Date.now() - t0) / 1000)} s)`);
  show();
  const timer = setInterval(show, 1000);
  timer.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      process.stderr.write('\r\x1b[K');
    },
  };
}

/** The exit code for a run's summary, with its one stderr line where it is not 0. */
export function exitCodeFor(summary: RunSummary): number {
  const { code, line } = runExit(summary);
  if (line !== null) process.stderr.write(`uring-lab: ${oneLineText(line, 400)}\n`);
  return code;
}

/** A run's exit code and its one line (null with exit 0), without printing it: a late signal
 *  (superviseRun) ends the process with this code once the run's end is decided. */
export function runExit(summary: RunSummary): { code: number; line: string | null } {
  if (summary.status === 'interrupted') {
    return { code: EXIT_INTERRUPTED, line: `run ${summary.runId} ${summary.failure?.message ?? 'interrupted'}; partial summary after ${summary.measuredS.toFixed(2)} s measured` };
  }
  if (summary.status === 'failed') {
    const f = summary.failure;
    return { code: 1, line: `run ${summary.runId} failed: ${f?.message ?? 'unknown reason'}${f?.fix ? `; ${f.fix}` : ''}` };
  }
  if (summary.errors > 0) {
    const what = summary.applied.workload === 'storage'
      ? 'failed I/Os: an error, or a short read or write, as when the file shrinks under the run'
      : echoErrorsText(summary.errors, summary.mismatches);
    return { code: 1, line: `run ${summary.runId} completed with ${summary.errors} errors (${what}); its numbers exclude them` };
  }
  if ((summary.warmupErrors ?? 0) > 0) {
    const what = summary.applied.workload === 'storage' ? 'failed I/Os' : echoErrorsText(summary.warmupErrors ?? 0, summary.warmupMismatches);
    return { code: 1, line: `run ${summary.runId} completed, but with ${summary.warmupErrors} errors (${what}) during its warm-up; its numbers exclude them` };
  }
  if ((summary.timeouts ?? 0) > 0) {
    return { code: 1, line: `run ${summary.runId} completed with ${summary.timeouts} requests timed out (older than load.timeoutMs; their connections were abandoned); its numbers exclude them` };
  }
  if (summary.contention.otherRuns.length > 0) {
    const other = summary.contention.otherRuns[0];
    return { code: 1, line: `run ${summary.runId} shared this machine with another uring-lab run (pid ${other.pid}${summary.contention.otherRuns.length > 1 ? ` and ${summary.contention.otherRuns.length - 1} more` : ''}): its numbers are not its own; run one at a time` };
  }
  if (summary.requests === 0) {
    return { code: 1, line: `run ${summary.runId} completed no request in its measured window` };
  }
  // A run the history could not take (a full disk mid-run): its summary, printed, is then the
  // only whole copy; exit 0 read as "saved, find it in runs list".
  const unsaved = summary.warnings.find((w) => w.startsWith(HISTORY_WARNING_PREFIX));
  if (unsaved) {
    return { code: 1, line: `run ${summary.runId} completed, but the run history did not take all of it (${unsaved.slice(HISTORY_WARNING_PREFIX.length)}): the summary printed above is its only complete record; free space or point URING_LAB_RUNS_DIR elsewhere` };
  }
  return { code: 0, line: null };
}


async function loadCommand(args: string[]): Promise<number> {
  const { values } = parse('load', args, {
    target: { type: 'string' }, profile: { type: 'string' }, set: { type: 'string', multiple: true }, duration: { type: 'string' }, json: { type: 'boolean' },
  });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const parsed = parseTarget(values.target as string | undefined);
  const profile = buildLoadProfile(values as { profile?: string; set?: string[]; duration?: string });
  const target = await resolveTarget(parsed);

  return superviseRun(Boolean(values.json), profile, target, async (lab) => {
    // Fail fast, in one line, where nothing listens or nothing answers (see loadOnly.ts).
    await probeTarget(target);
    try {
      await lab.startLoad({ profile, target });
    } catch (err) {
      // The engine's connects were refused after the probe's succeeded (the server went away).
      const error = LabError.from(err);
      if (/^E(CONNREFUSED|TIMEDOUT|HOSTUNREACH|NETUNREACH|CONNRESET)$/.test(error.code)) {
        throw targetConnectError(`${target.host}:${target.port}`, error.code, error.message);
      }
      throw error;
    }
  });
}

function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw usageError(`--port "${oneLineText(text, 40)}" is not a TCP port`, 'give a number from 0 to 65535 (0 picks a free one)', 'port');
  }
  return port;
}

async function serverCommand(args: string[]): Promise<number> {
  const { values } = parse('server', args, {
    port: { type: 'string' }, bind: { type: 'string' }, profile: { type: 'string' }, set: { type: 'string', multiple: true }, duration: { type: 'string' }, json: { type: 'boolean' },
    inject: { type: 'string', multiple: true },
  });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const port = parsePort(values.port as string | undefined, SERVER_DEFAULT_PORT);
  const bind = values.bind === undefined ? null : String(values.bind);
  if (bind !== null && !isIPv4(bind)) {
    throw usageError(`--bind "${oneLineText(bind, 60)}" is not an IPv4 address`, 'give one of this host\'s IPv4 addresses, or 0.0.0.0 for every interface (ip -4 addr lists them)', 'bind');
  }
  const address = bind ?? '127.0.0.1';
  let durationS: number | null = null;
  if (values.duration !== undefined) {
    durationS = decimalFlag(String(values.duration));
    if (!Number.isFinite(durationS) || durationS < 0.1 || durationS > SERVER_MAX_DURATION_S) {
      throw usageError(`--duration "${oneLineText(String(values.duration), 40)}" is not a number of seconds between 0.1 and ${SERVER_MAX_DURATION_S}`, 'give the seconds to serve, e.g. --duration 60, or leave it out to serve until SIGINT/SIGTERM', 'duration');
    }
  }
  // Server-side faults for your own client (serverPause, ioWqPunt, cpuHog…), from the listen on.
  const profile = withInjections(buildServerProfile(values as { profile?: string; set?: string[] }), (values.inject as string[] | undefined) ?? []);

  // A reader that took the listening line and left (`| head -1`) does not stop the server: it
  // serves on, and its summary goes nowhere (the CLI's stdout handler takes the EPIPE).
  const server = new ServerOnly({ profile, port, durationS, bind });
  let stoppedBy: string | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy) {
      // A second signal: out now; the engine process exits with us (it follows its IPC channel).
      process.stderr.write(`uring-lab: ${signal} again, exiting without waiting for the server's summary\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    stoppedBy = signal;
    server.stop(signal);
  };
  const releaseSignals = takeOverSignals(onSignal);
  try {
    let listening: ServerListening;
    try {
      listening = await server.start();
    } catch (err) {
      const error = LabError.from(err);
      // SIGINT/SIGTERM while it set up (a large buffer pool to touch) called the start off: the
      // server never listened; ended by a signal, as the contract says, exit 0.
      if (stoppedBy && error.code === 'START_CANCELLED') {
        process.stderr.write(`uring-lab: server stopped by ${stoppedBy} while it set up: it never listened, nothing was served\n`);
        return 0;
      }
      throw portError(error, port, address) ?? err;
    }
    process.stdout.write(values.json
      // The contract's line; `address` only with --bind (the default is 127.0.0.1).
      ? `${JSON.stringify(bind === null ? { event: 'listening', port: listening.port, pid: listening.pid } : { event: 'listening', port: listening.port, pid: listening.pid, address: listening.address })}\n`
      : `${oneLineText(`uring-lab server: ${listening.applied.server.engine} echo server listening on ${listening.address}:${listening.port} (pid ${listening.pid}); ${durationS === null ? `SIGINT/SIGTERM stops it (at most ${SERVER_MAX_DURATION_S / 3600} h)` : `stops after ${durationS} s, or on SIGINT/SIGTERM`}`, 600)}\n`);
    const summary = await server.ended;
    process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatServerSummary(summary));
    const say = (line: string) => process.stderr.write(`uring-lab: ${oneLineText(line, 400)}\n`);
    if (summary.status === 'failed') {
      say(`server on port ${summary.port} failed: ${summary.failure?.message ?? 'unknown reason'}${summary.failure?.fix ? `; ${summary.failure.fix}` : ''}`);
      return 1;
    }
    if (summary.serverErrors > 0) {
      say(`server on port ${summary.port} had ${summary.serverErrors} server errors (failed accepts, receives or sends; peer resets are not counted)`);
      return 1;
    }
    return 0;
  } finally {
    releaseSignals();
  }
}

/** A refused bind is bad input (the port the user chose), named by its flag, with the fix. */
function portError(error: LabError, port: number, address = '127.0.0.1'): UsageError | null {
  if (error.code === 'EADDRNOTAVAIL') {
    return usageError(`--bind ${address}: this host has no such address (EADDRNOTAVAIL)`, 'give one of this host\'s IPv4 addresses (ip -4 addr), or 0.0.0.0 for every interface', 'bind');
  }
  if (error.code === 'EADDRINUSE') {
    return usageError(`--port ${port}: ${address}:${port} is already in use (EADDRINUSE)`, `pick another port, --port 0 for a free one, or stop what listens there (ss -ltnp 'sport = :${port}')`, 'port');
  }
  if (error.code === 'EACCES') {
    return usageError(`--port ${port}: binding ${address}:${port} was refused (EACCES: ports below 1024 need CAP_NET_BIND_SERVICE)`, 'use a port from 1024 up, or --port 0 for a free one', 'port');
  }
  return null;
}

function formatServerSummary(s: ServerSummary): string {
  const server = s.applied.server;
  const zeroCopy = zeroCopyWords(s.counters.zeroCopySends, s.counters.copiedSends, s.counters.zeroCopyFallbacks);
  const lines = [
    `server ${s.address}:${s.port} (pid ${s.pid}) — ${s.profileName}, kernel ${s.kernel.release}: ${s.status}, ended by ${s.endedBy}, after ${s.servedS.toFixed(2)} s`,
    `  connections  ${fmtInt(s.connectionsServed)} served (at most ${s.peakOpenConnections} open at once, ${s.openConnectionsAtStop} open at the stop)${s.workers.length > 1 ? `; per worker ${s.workers.map((w) => w.accepted).join(' / ')}` : ''}`,
    `  echoed       ${fmtInt(s.bytesEchoed)} bytes = ${fmtInt(s.requests)} requests of ${s.messageBytes} B (bytes, not messages: load.messageBytes sets the size)`,
    ...(s.perConnection ? [`  per conn.    ${serverConnectionServiceWords(s.perConnection)}`] : []),
    `  loop         ${fmtInt(s.counters.enters)} enters, ${fmtInt(s.counters.recvs)} recvs, ${fmtInt(s.counters.sends)} sends${s.requests > 0 ? ` (${(s.counters.enters / s.requests).toFixed(2)} enters/request)` : ''}${server.engine === 'io_uring' ? batchedWaitWords(server.minWaitUs, s.counters.batchedWaits, s.counters.enters) : ''}`,
    s.tcpSegments
      ? `  TCP          ${fmtInt(s.tcpSegments.out)} segments out (${fmtInt(s.tcpSegments.dataOut)} with data), ${fmtInt(s.tcpSegments.in)} in (${fmtInt(s.tcpSegments.dataIn)})${s.tcpSegments.perRequest ? `: ${segmentWords(s.tcpSegments.perRequest)}` : ''}${lostSpanWords(s.tcpSegments.lostSpans)}`
      : '  TCP          segments not counted (sock_diag for TCP could not be read: modprobe tcp_diag)',
    `  server CPU   ${fmtInt(s.serverCpuNs)} ns${s.serverCpuNsPerReq === null ? '' : ` = ${fmtInt(s.serverCpuNsPerReq)} ns/request`} (server thread + io_uring helpers); engine process ${fmtInt(s.engineProcessCpuNs)} ns`,
    ...(zeroCopy === null ? [] : [`  SEND_ZC      ${zeroCopy}`]),
    `  errors       ${s.serverErrors} server errors${s.serverErrors > 0 ? ` (accept ${s.serverErrorsByOp.accept}, recv ${s.serverErrorsByOp.recv}, send ${s.serverErrorsByOp.send}, other ${s.serverErrorsByOp.other})` : ''}, ${s.enobufs} ENOBUFS, ${s.counters.cqOverflows} CQ overflows`,
    server.engine === 'io_uring'
      ? `  server       io_uring   ${knobLabel('server.sqpoll.enabled')} ${formatKnobValue('server.sqpoll.enabled', server.sqpoll.enabled)}   ${knobLabel('server.taskrun').toLowerCase()} ${server.taskrun}   ring flags ${s.ring.flags.join('|') || 'none'}`
      : `  server       ${server.engine} (no io_uring ring on the server: ring knobs do not apply)`,
    ...socketLines(server.socket),
  ];
  for (const r of s.rejected) lines.push(`  refused      ${knobLabel(r.knob)} (${r.knob}=${JSON.stringify(r.requested)}): ${r.reason}${r.fix ? `; ${r.fix}` : ''}`);
  lines.push(...injectionLines(s.injections));
  for (const w of s.warnings) lines.push(`  warning      ${w}`);
  return `${lines.map((l) => oneLineText(l, 600)).join('\n')}\n`;
}

/** One line per requested fault injection: when it really ran and what it was, or why not. */
function injectionLines(injections: RunSummary['injections']): string[] {
  return (injections ?? []).map((i) => {
    const asked = `${i.kind} at ${i.atMs} ms for ${i.durationMs} ms`;
    return i.applied
      ? `  injected     ${asked}: ran ${Math.round(i.startedAtMs ?? 0)}…${i.endedAtMs === null ? '?' : Math.round(i.endedAtMs)} ms${i.detail ? ` (${i.detail})` : ''}`
      : `  not injected ${asked}: ${i.refusal?.reason ?? 'not applied'}${i.refusal?.fix ? `; ${i.refusal.fix}` : ''}`;
  });
}

async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parse('doctor', args, { json: { type: 'boolean' } });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const lab = new LabService();
  try {
    const report = await lab.doctor();
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatDoctor(report));
    return 0;
  } finally {
    await lab.close();
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parse('serve', args, { port: { type: 'string' }, 'token-file': { type: 'string' } });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const port = parsePort(values.port as string | undefined, SERVE_DEFAULT_PORT);
  const { startWebHost } = await import('./web');
  let token: string | undefined;
  if (values['token-file'] !== undefined) {
    const { loadOrCreateToken } = await import('./host/tokenFile');
    token = loadOrCreateToken(values['token-file'] as string);
  }
  const lab = new LabService();
  const web = await startWebHost(lab, { port, token });
  process.stdout.write(`uring-lab is serving its UI at ${web.url}\n`);
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      // A second signal: out now (the engine follows its IPC channel); the next serve finds
      // the run's record still open and saves it as interrupted.
      process.stderr.write(`uring-lab: ${signal} again, exiting without waiting for the run to be saved\n`);
      process.exit(EXIT_INTERRUPTED);
    }
    signalled = true;
  };
  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => { onSignal(signal); resolve(); };
    takeOverSignals(shutdown);
  });
  // The run first, while its clients are still connected: they get its terminal event (and the
  // answers to calls under way) before their sockets close with 1001.
  await lab.close();
  await web.close();
  return 0;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Segments per request, each way, with the data-carrying ones (the rest are pure ACKs). */
function segmentWords(p: { out: number; in: number; dataOut: number; dataIn: number }): string {
  return `${p.out.toFixed(2)} segments/request out (${p.dataOut.toFixed(2)} with data), ${p.in.toFixed(2)} in (${p.dataIn.toFixed(2)})`;
}

/** Why some spans' segments are missing from the counts, when any are. */
function lostSpanWords(lostSpans: number): string {
  if (!lostSpans) return '';
  return `; ${lostSpans} ${lostSpans === 1 ? 'span' : 'spans'} of about a second left out: the kernel's word on some connections that closed in ${lostSpans === 1 ? 'it' : 'them'} was lost (a burst of closes overran the 4 MiB it waits in), so ${lostSpans === 1 ? 'its' : 'their'} counts would have fallen short`;
}

function formatSummary(s: RunSummary): string {
  const cpu = (ns: number | null) => (ns === null ? 'n/a' : `${fmtInt(ns)} ns`);
  const pct = (r: number | null) => (r === null ? '' : ` ${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)} %`);
  const lines = [
    `run ${s.runId} — ${s.profileName}, kernel ${s.kernel.release}: ${s.status}${s.failure ? ` (${s.failure.code}: ${s.failure.message})` : ''}`,
    `  throughput   ${fmtInt(s.throughputRps)} req/s${s.offeredRps ? ` of ${fmtInt(s.offeredRps)} offered (open loop)` : ''} over ${s.measuredS.toFixed(2)} s (${fmtInt(s.requests)} requests, ${s.errors} errors${s.timeouts ? `, ${s.timeouts} timeouts` : ''})${s.phases.length > 1 ? `, all ${s.phases.length} phases` : ''}`,
    s.requests > 0
      ? `  latency µs   p50 ${s.latencyUs.p50}  p90 ${s.latencyUs.p90}  p99 ${s.latencyUs.p99}  p99.9 ${s.latencyUs.p999}  max ${s.latencyUs.max}`
      // A run that failed before its window (the engine died while starting) has measured nothing either.
      : `  latency µs   none: ${s.measuredS === 0 ? `nothing was measured${s.status === 'interrupted' ? ' (stopped before the warm-up ended)' : ''}` : `no ${s.storage ? 'I/O' : 'request'} completed in the measured window`}`,
    ...(s.requests === 0 ? [] : s.offeredRps
      ? [`  corrected    p99 ${s.latencyCorrectedUs.p99}  p99.9 ${s.latencyCorrectedUs.p999}  (open loop: latency is from intended send times, nothing to correct)`]
      : [`  corrected    p99 ${s.latencyCorrectedUs.p99}  p99.9 ${s.latencyCorrectedUs.p999}  (coordinated omission: re-weights sends the closed loop skipped while waiting)`]),
    `  CPU/request  server ${cpu(s.serverCpuNsPerReq)}  load ${cpu(s.loadCpuNsPerReq)}  (busiest load thread ${Math.round(s.loadBusyShare * 100)} % busy)`,
    ...(s.engine?.segments ? [`  TCP          ${segmentWords({ out: s.engine.segments.outPerReq, in: s.engine.segments.inPerReq, dataOut: s.engine.segments.dataOutPerReq, dataIn: s.engine.segments.dataInPerReq })} (server side)${lostSpanWords(s.engine.segments.lostSpans)}`] : []),
    `  in flight    ${s.inFlightAtEnd.requests} at the end of the window${s.inFlightAtEnd.requests > 0 ? `, oldest ${fmtInt(s.inFlightAtEnd.oldestUs)} µs` : ''}`,
    ...(s.perConnection ? [`  per conn.    ${connectionServiceWords(s.perConnection)}`] : []),
    s.storage
      ? `  storage      ${storageRunWords(s)}; ring flags ${s.ring.flags.join('|') || 'none'}`
      : s.target
      ? `  target       ${s.target.host === s.target.address ? '' : `${s.target.host} = `}${s.target.address}:${s.target.port}, an echo server not run by this lab: no server-side numbers`
      : s.applied.server.engine === 'io_uring'
      ? `  server       io_uring   ${knobLabel('server.sqpoll.enabled')} ${formatKnobValue('server.sqpoll.enabled', s.applied.server.sqpoll.enabled)}   ${knobLabel('server.taskrun').toLowerCase()} ${s.applied.server.taskrun}   ring flags ${s.ring.flags.join('|') || 'none'}`
      : `  server       ${s.applied.server.engine} (no io_uring ring on the server: ring knobs do not apply)`,
    ...(s.storage || s.target ? [] : socketLines(s.applied.server.socket)),
  ];
  lines.push(...serverLoopLines(s));
  if (s.phases.length > 1) {
    for (const p of s.phases) {
      const changed = p.changed.map((c) => `${knobLabel(c.path)} ${formatKnobValue(c.path, c.from)}→${formatKnobValue(c.path, c.to)}`).join(', ') || 'start';
      lines.push(`  phase ${p.index}      ${changed}: ${fmtInt(p.stats.throughputRps)} req/s${pct(p.vsPhase0?.throughputRps ?? null)}  p99 ${latencyText(p.stats.requests, p.stats.latencyUs.p99)} µs${pct(p.vsPhase0?.p99 ?? null)}  server ${cpu(p.stats.serverCpuNsPerReq)}/req`);
    }
  }
  lines.push(...kernelSummaryLines(s));
  lines.push(...injectionLines(s.injections));
  for (const r of s.rejected) lines.push(`  refused      ${knobLabel(r.knob)} (${r.knob}=${JSON.stringify(r.requested)}): ${r.reason}${r.fix ? `; ${r.fix}` : ''}`);
  for (const w of s.warnings) lines.push(`  warning      ${w}`);
  return `${lines.map((l) => oneLineText(l, 600)).join('\n')}\n`;
}

/** server.socket as the listeners held it (what the kernel granted); none when nothing was set (the kernel's defaults). */
function socketLines(socket: RunSummary['applied']['server']['socket']): string[] {
  const words = { congestion: 'congestion control', receiveBufferBytes: 'receive buffer', sendBufferBytes: 'send buffer' } as const;
  const parts = (Object.keys(words) as Array<keyof typeof words>)
    .filter((key) => socket[key] !== null)
    .map((key) => `${words[key]} ${formatKnobValue(`server.socket.${key}`, socket[key])}`);
  return parts.length ? [`  socket       ${parts.join(', ')} (on every accepted connection)`] : [];
}

/** The server loop's counts and CPU split per request (contract/runStats.ts words), as summary lines. */
function serverLoopLines(s: RunSummary): string[] {
  const words = serverLoopWords(s);
  return words ? [`  server loop  ${words.loop}`, `  server CPU   per request: ${words.cpu}`] : [];
}

function formatDoctor(report: DoctorReport): string {
  const mark = (ok: boolean | null) => (ok === true ? 'ok  ' : ok === false ? 'NO  ' : '?   ');
  const lines = report.checks.map((c) => {
    const head = `${mark(c.ok)}${c.label.padEnd(32)} ${c.value}`;
    const why = `      ${c.reason}`;
    return c.fix && c.ok !== true ? `${head}\n${why}\n      fix: ${c.fix}` : `${head}\n${why}`;
  });
  // The knobs this machine cannot use (the UI disables them with the same words), and notes.
  const unusable = report.knobs.filter((k) => k.available !== true);
  if (unusable.length) lines.push('', 'Knobs this machine cannot use (NO) or the doctor could not check (?):');
  for (const k of unusable) lines.push(`${k.available === false ? 'NO ' : '?  '} ${knobLabel(k.path)} (${k.path})\n      ${k.reason ?? ''}${k.fix ? `\n      fix: ${k.fix}` : ''}`);
  for (const k of report.knobs.filter((k) => k.available && k.note)) lines.push(`note ${knobLabel(k.path)} (${k.path}): ${k.note}`);
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  // A reader that left early (`| head -c 1`) closed our stdout: what is left to print has nowhere
  // to go, and the command still ends as it would have (a run is stopped and saved, not killed
  // by an unhandled EPIPE with a stack trace).
  // Any other write error (a full disk: ENOSPC, an I/O error) lost output the user asked for:
  // one line, once, and the command ends as it would have but with exit 1 where it would have
  // said 0 (no stack trace from an error event nobody handled).
  // A terminal that hung up (SIGHUP: the run is still stopped and saved) fails every write to
  // stderr with EIO: there is no one left to tell, and an unhandled error event must not turn
  // the orderly end into a crash.
  process.stderr.on('error', () => undefined);
  let stdoutLost = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || stdoutLost) return;
    stdoutLost = true;
    process.stderr.write(`uring-lab: ${oneLineText(`could not write to stdout (${err.message}); the output is incomplete`, 400)}\n`);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = stdoutLost && code === 0 ? 1 : code;
      settleSignals(process.exitCode);
    },
    (err) => {
      if (err instanceof LabError) {
        process.stderr.write(`uring-lab: ${err.oneLine()}\n`);
        process.exitCode = err instanceof UsageError || err.kind === 'input' ? 2 : 1;
      } else {
        // A bug of ours: still one bounded line; the stack only when asked for.
        const text = process.env.URING_LAB_DEBUG ? (err as Error)?.stack ?? String(err) : `internal error: ${(err as Error)?.message ?? String(err)} (set URING_LAB_DEBUG=1 for the stack)`;
        process.stderr.write(`uring-lab: ${process.env.URING_LAB_DEBUG ? text : oneLineText(text, 400)}\n`);
        process.exitCode = 1;
      }
      settleSignals(process.exitCode);
    },
  );
}
