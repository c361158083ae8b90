/**
 * The profile each verb builds from its flags (--profile, --set, --duration, --inject): the
 * CLI's, and the bench scripts' check of what they will hand the CLI (scripts/benchOptions.mjs),
 * which is why this lives apart from cli.ts: importing cli.ts installs the CLI's early signal
 * handlers (earlySignals.ts), which a bench must not get.
 */
import { LabError, oneLineText, parseInjectSpec, Profile } from '../contract';
import { decimalFlag } from './cliFlags';
import { defaultProfile, loadProfileFile, parseSetAssignment, withKnob } from './profiles';

/** Bad input on the command line: exit 2. */
export class UsageError extends LabError {}

export function usageError(message: string, fix: string, field?: string): UsageError {
  return new UsageError({ code: 'USAGE', message, fix, field });
}

/**
 * Each knob once: `--set server.rings=2 --set server.rings=3`, a group and a key inside it, or
 * --duration with duration.measureS would let the last silently win, which the strict flags
 * refuse everywhere else (exit 2).
 */
function refuseRepeatedSets(assignments: readonly string[], duration?: string): void {
  const seen = new Map<string, string>();
  for (const assignment of assignments) {
    const text = String(assignment);
    const key = text.split('=')[0].trim();
    for (const [other, first] of seen) {
      if (other === key || other.startsWith(`${key}.`) || key.startsWith(`${other}.`)) {
        throw usageError(`--set ${oneLineText(key, 80)}: given twice (${oneLineText(first, 60)}, then ${oneLineText(text, 60)}); the last would silently win`, 'give each knob once', key);
      }
    }
    seen.set(key, text);
  }
  if (duration !== undefined && [...seen.keys()].some((k) => k === 'duration' || k === 'duration.measureS')) {
    throw usageError('--duration and --set duration.measureS both give the measured seconds; the last would silently win', 'give one of them', 'duration');
  }
}

export function buildRunProfile(values: { profile?: string; set?: string[]; duration?: string }): Profile {
  refuseRepeatedSets(values.set ?? [], values.duration);
  let profile = values.profile ? loadProfileFile(values.profile) : defaultProfile();
  for (const assignment of values.set ?? []) {
    const { path, value } = parseSetAssignment(assignment);
    profile = withKnob(profile, path, value);
  }
  if (values.duration !== undefined) {
    const seconds = decimalFlag(values.duration);
    if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600) {
      throw usageError(`--duration "${values.duration}" is not a number of seconds between 0.1 and 3600`, 'give the measured seconds, e.g. --duration 3', 'duration');
    }
    profile = withKnob(profile, 'duration.measureS', seconds);
  }
  return profile;
}

/** `--inject KIND@START:DURATION`s appended to the profile's diagnose.inject, checked as the
 *  knob is (two of one kind that overlap are refused, naming diagnose.inject[i]). */
export function withInjections(profile: Profile, specs: readonly string[]): Profile {
  if (specs.length === 0) return profile;
  const added = specs.map((spec) => {
    try {
      return parseInjectSpec(String(spec));
    } catch (err) {
      throw usageError(oneLineText((err as Error).message, 300), 'give KIND@START:DURATION with times as 4s, 1.5s or 500ms, e.g. --inject cpuHog@4s:1s', 'inject');
    }
  });
  return withKnob(profile, 'diagnose.inject', [...profile.diagnose.inject, ...added], '--inject');
}

/**
 * `--set` for `uring-lab server`: the server's knobs, and load.messageBytes (the size its
 * requests are counted in). Other load knobs and the run's window would be silently ignored
 * by a server with no load, so they are refused (a wrong experiment is worse than an error).
 */
export function buildServerProfile(values: { profile?: string; set?: string[] }): Profile {
  refuseRepeatedSets(values.set ?? []);
  let profile = values.profile ? loadProfileFile(values.profile) : defaultProfile();
  for (const assignment of values.set ?? []) {
    const key = String(assignment).split('=')[0].trim();
    if (key.startsWith('load.') && key !== 'load.messageBytes') {
      throw usageError(`--set ${oneLineText(key, 80)}: uring-lab server runs no load, so load knobs do not apply to it`, 'drop it; the only load key the server reads is load.messageBytes (the message size its requests are counted in)', key);
    }
    if (key.startsWith('duration.')) {
      throw usageError(`--set ${oneLineText(key, 80)}: uring-lab server has no warm-up or measured window`, 'use --duration SECONDS (without it the server runs until SIGINT/SIGTERM)', key);
    }
    const { path, value } = parseSetAssignment(assignment);
    profile = withKnob(profile, path, value);
  }
  // The storage workload runs no server at all: `uring-lab run` is its verb.
  if (profile.workload !== 'echo') {
    throw usageError(`workload "${profile.workload}": uring-lab server runs the echo server only`, 'use `uring-lab run --set workload=storage` for the storage workload', 'workload');
  }
  // topology "veth" pairs the server with this lab's own load; a server for outside clients
  // listens on this host's network (--bind), so it would be silently ignored: refused.
  if (profile.topology !== 'loopback') {
    throw usageError(`topology "${profile.topology}": uring-lab server listens on this host's network for outside clients; it sets up no topology`, 'leave topology at loopback and choose the address with --bind (`uring-lab run --set topology=veth` runs the lab across a veth pair)', 'topology');
  }
  return profile;
}

/**
 * `--set` for `uring-lab load`: the load's knobs and the run's window. The server is someone
 * else's, so a server.* key would be silently ignored: refused (exit 2), as `uring-lab server`
 * refuses load.* keys. A profile file's server part is carried as requested (`applied`), unused.
 */
export function buildLoadProfile(values: { profile?: string; set?: string[]; duration?: string }): Profile {
  for (const assignment of values.set ?? []) {
    const key = String(assignment).split('=')[0].trim();
    if (key === 'server' || key.startsWith('server.')) {
      throw usageError(`--set ${oneLineText(key, 80)}: uring-lab load runs no server (the server at --target is not this lab's), so server knobs do not apply to it`, 'drop it, and set the server\'s knobs where it runs (uring-lab server --set ... on that host)', key);
    }
  }
  const profile = buildRunProfile(values);
  // Only the echo workload over the network has a meaning against a remote echo server.
  const shape = profile as unknown as { workload?: string; topology?: string };
  if (shape.workload !== undefined && shape.workload !== 'echo') {
    throw usageError(`workload "${oneLineText(String(shape.workload), 40)}": uring-lab load drives a TCP echo server only`, 'use the echo workload (workload=echo), or `uring-lab run` for the others', 'workload');
  }
  if (shape.topology !== undefined && shape.topology !== 'loopback') {
    throw usageError(`topology "${oneLineText(String(shape.topology), 40)}": uring-lab load connects to --target over this host's network; it sets up no topology`, 'leave topology at loopback (the target decides where the server is)', 'topology');
  }
  return profile;
}
