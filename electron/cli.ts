#!/usr/bin/env node
/**
 * `uring-lab` command line: the lab without a window. Verbs and flags are a contract that
 * users' scripts rely on (DESIGN.md): exit 0 on success, 2 with a one-line error naming the
 * field and the fix on bad input, 1 when the run itself failed.
 */
import { parseArgs, ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { LabError, Profile, RunSummary, DoctorReport } from './contract';
import { LabService } from './host/labService';
import { defaultProfile, loadProfileFile, parseSetAssignment, withKnob } from './host/profiles';

const USAGE = `uring-lab — a lab for kernel-level I/O tuning (io_uring echo server + load generator)

Usage:
  uring-lab run [--profile FILE] [--set key.path=value]... [--duration SECONDS] [--json]
  uring-lab doctor [--json]
  uring-lab serve [--port P]

  run      one measured run of the echo workload (warm-up, then --duration seconds measured);
           --json prints one RunSummary object on stdout
  doctor   what this machine offers: kernel, io_uring, SQPOLL, taskrun modes, memlock, BTF, tracefs
  serve    the lab's UI in a browser, on 127.0.0.1 (prints the URL with its access token)

Examples:
  uring-lab run --duration 3 --set server.sqpoll.enabled=true --json
  uring-lab run --set load.connections=8 --set load.messageBytes=4096`;

class UsageError extends LabError {}

function usageError(message: string, fix: string, field?: string): UsageError {
  return new UsageError({ code: 'USAGE', message, fix, field });
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return verb ? 0 : 2;
  }
  switch (verb) {
    case 'run': return runCommand(rest);
    case 'doctor': return doctorCommand(rest);
    case 'serve': return serveCommand(rest);
    default:
      throw usageError(`unknown command "${verb}"`, 'use one of: run, doctor, serve (uring-lab --help)', 'command');
  }
}

type ParsedValues = { [name: string]: string | boolean | string[] | undefined };

function parse(verb: string, args: string[], options: ParseArgsOptionsConfig): { values: ParsedValues } {
  try {
    const { values } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return { values: values as ParsedValues };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify.*$/, '');
    throw usageError(`${verb}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`, `see uring-lab ${verb} --help`);
  }
}

export function buildRunProfile(values: { profile?: string; set?: string[]; duration?: string }): Profile {
  let profile = values.profile ? loadProfileFile(values.profile) : defaultProfile();
  for (const assignment of values.set ?? []) {
    const { path, value } = parseSetAssignment(assignment);
    profile = withKnob(profile, path, value);
  }
  if (values.duration !== undefined) {
    const seconds = Number(values.duration);
    if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) {
      throw usageError(`--duration "${values.duration}" is not a number of seconds between 0.1 and 3600`, 'give the measured seconds, e.g. --duration 3', 'duration');
    }
    profile = withKnob(profile, 'duration.measureS', seconds);
  }
  return profile;
}

async function runCommand(args: string[]): Promise<number> {
  const { values } = parse('run', args, {
    profile: { type: 'string' }, set: { type: 'string', multiple: true }, duration: { type: 'string' }, json: { type: 'boolean' },
  });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const profile = buildRunProfile(values as { profile?: string; set?: string[]; duration?: string });

  const lab = new LabService();
  const interrupt = () => { void lab.stopRun(); };
  process.once('SIGINT', interrupt);
  try {
    const ended = new Promise<RunSummary>((resolve, reject) => {
      lab.onEvent((event) => {
        if (event.type === 'ended') resolve(event.summary);
        if (event.type === 'failed') reject(new LabError(event.error));
        if (event.type === 'frame' && !values.json && process.stderr.isTTY && event.frame.seq % 10 === 9) {
          process.stderr.write(`\r  ${(event.frame.tMs / 1000).toFixed(1)} s  ${fmtInt(event.frame.throughputRps)} req/s  p99 ${event.frame.latencyUs.p99} µs${event.frame.measuring ? '' : '  (warm-up)'}   `);
        }
      });
    });
    await lab.startRun({ profile, untilStopped: false });
    const summary = await ended;
    if (process.stderr.isTTY && !values.json) process.stderr.write('\n');
    process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    return summary.requests > 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    await lab.close();
  }
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
  const { values } = parse('serve', args, { port: { type: 'string' } });
  if (values.help) { process.stdout.write(`${USAGE}\n`); return 0; }
  const port = values.port === undefined ? 7420 : Number(values.port as string);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw usageError(`--port "${values.port}" is not a TCP port`, 'give a number from 0 to 65535 (0 picks a free one)', 'port');
  }
  const { startWebHost } = await import('./web');
  const lab = new LabService();
  const web = await startWebHost(lab, { port });
  process.stdout.write(`uring-lab is serving its UI at ${web.url}\n`);
  await new Promise<void>((resolve) => {
    const shutdown = () => resolve();
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
  await web.close();
  await lab.close();
  return 0;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatSummary(s: RunSummary): string {
  const lines = [
    `run ${s.runId} — ${s.profileName}, kernel ${s.kernel.release}`,
    `  throughput   ${fmtInt(s.throughputRps)} req/s over ${s.measuredS.toFixed(2)} s (${fmtInt(s.requests)} requests, ${s.errors} errors)`,
    `  latency µs   p50 ${s.latencyUs.p50}  p90 ${s.latencyUs.p90}  p99 ${s.latencyUs.p99}  p99.9 ${s.latencyUs.p999}  max ${s.latencyUs.max}`,
    `  CPU/request  server ${s.serverCpuNsPerReq === null ? 'n/a' : `${fmtInt(s.serverCpuNsPerReq)} ns`}  load ${s.loadCpuNsPerReq === null ? 'n/a' : `${fmtInt(s.loadCpuNsPerReq)} ns`}`,
    `  SQPOLL       ${s.applied.server.sqpoll.enabled ? 'on' : 'off'}   taskrun ${s.applied.server.taskrun}   ring flags ${s.ring.flags.join('|') || 'none'}`,
  ];
  for (const r of s.rejected) lines.push(`  refused      ${r.knob}=${JSON.stringify(r.requested)}: ${r.code} — ${r.reason}${r.fix ? ` (${r.fix})` : ''}`);
  return `${lines.join('\n')}\n`;
}

function formatDoctor(report: DoctorReport): string {
  const mark = (ok: boolean | null) => (ok === true ? 'ok  ' : ok === false ? 'NO  ' : '?   ');
  const lines = report.checks.map((c) => {
    const head = `${mark(c.ok)}${c.label.padEnd(32)} ${c.value}`;
    const why = `      ${c.reason}`;
    return c.fix && c.ok !== true ? `${head}\n${why}\n      fix: ${c.fix}` : `${head}\n${why}`;
  });
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err) => {
      if (err instanceof LabError) {
        process.stderr.write(`uring-lab: ${err.oneLine()}\n`);
        const inputError = err instanceof UsageError || ['USAGE', 'UNKNOWN_KEY', 'INVALID_VALUE', 'NOT_A_LEAF', 'READ_ONLY', 'SET_SYNTAX', 'PROFILE_INVALID', 'PROFILE_VERSION', 'PROFILE_UNREADABLE', 'PROFILE_NOT_JSON', 'EADDRINUSE'].includes(err.code);
        process.exitCode = inputError ? 2 : 1;
      } else {
        process.stderr.write(`uring-lab: ${(err as Error).stack ?? String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
