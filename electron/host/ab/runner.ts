/**
 * The A/B runner: rounds of A and B interleaved in randomised blocks (ABBA or BAAB per pair of
 * rounds, from a seed), each arm one run of the lab with its own engine start and its own
 * warm-up discarded, so no ring, buffer or connection outlives its arm; then the report.
 *
 * Interleaving is what makes the comparison fair on a machine whose speed drifts (thermal,
 * other tenants): a drift hits both arms alike (Google Benchmark's random interleaving, the
 * benchstat advice; ../shared/reference/profiles_ab.md §3).
 */
import os from 'node:os';
import { median } from 'simple-statistics';
import { LabError, oneLineText, unevenServiceWarning, type LabEvent, type Profile, type RunSummary, type SparseHistogram } from '../../contract';
import { AbReportSchema, type AbMetricName, type AbProgress, type AbReport, type AbRoundArm } from '../../contract/ab';
import { HOST_DIED } from './abStore';
import { AB_ENTRY_PREFIX, ActiveRunRegistry } from '../run/contention';
import { armSpikes, countedRounds, knobDifferences, metricsOf, pooledPercentiles, roundDiagnosis } from './report';
import { MIN_SAMPLES_PER_ARM } from './statistics';
import { withoutOtherWorkloadKnobs } from '../run/runRecord';
import { seededRandom } from './statistics';

/** One arm-run's outcome, as the runner needs it. */
export interface ArmOutcome {
  summary: RunSummary;
  /** Measured frames: [tMs since the run started, sparse histogram]. */
  frames: [number, SparseHistogram][];
}

/** Runs one arm: a whole run of the lab with `profile`, resolved at its terminal event. */
export interface ArmRunner {
  runArm(profile: Profile): Promise<ArmOutcome>;
  /** Stops the arm in progress as interrupted (its run ends; the runner stops after it). */
  interrupt(reason: string): Promise<void>;
}

export interface AbExperimentOptions {
  a: Profile;
  b: Profile;
  rounds: number;
  durationS: number;
  /** Warm-up of every arm (discarded); default: the longer of the two profiles' duration.warmupS,
   *  so both arms measure after the same warm-up (each its own made the windows differ, and the
   *  report named A's). */
  warmupS?: number;
  /** The machine's register of live lab runs (run/contention.ts); default: the user's. */
  activeRunsDir?: string;
  seed?: number;
  resamples?: number;
  alpha?: number;
  noise?: number;
}

export const AB_DEFAULT_ROUNDS = 10;
export const AB_DEFAULT_DURATION_S = 3;

/** The interleaved order: blocks of two rounds, each ABBA or BAAB at random; an odd last round AB or BA. */
export function interleavedOrder(rounds: number, seed: number): { round: number; arm: 'a' | 'b' }[] {
  const random = seededRandom(seed);
  const order: { round: number; arm: 'a' | 'b' }[] = [];
  for (let r = 0; r < rounds; r += 2) {
    const aFirst = random() < 0.5;
    const first: 'a' | 'b' = aFirst ? 'a' : 'b';
    const second: 'a' | 'b' = aFirst ? 'b' : 'a';
    order.push({ round: r, arm: first }, { round: r, arm: second });
    if (r + 1 < rounds) order.push({ round: r + 1, arm: second }, { round: r + 1, arm: first });
  }
  return order;
}

function metricsOfSummary(summary: RunSummary): Record<AbMetricName, number | null> {
  const ok = summary.requests > 0;
  return {
    throughputRps: ok ? summary.throughputRps : null,
    p50Us: ok ? summary.latencyUs.p50 : null,
    p99Us: ok ? summary.latencyUs.p99 : null,
    p999Us: ok ? summary.latencyUs.p999 : null,
    serverCpuNsPerReq: summary.serverCpuNsPerReq,
    loadCpuNsPerReq: summary.loadCpuNsPerReq,
  };
}

/** The arm's profile: the experiment's window, everything else as the user gave it. */
function armProfile(profile: Profile, options: AbExperimentOptions): Profile {
  return { ...profile, duration: { warmupS: options.warmupS ?? profile.duration.warmupS, measureS: options.durationS } };
}

/** The experiment's warm-up: --warmup, else the longer of the two profiles' (the same for both arms). */
function experimentWarmupS(options: AbExperimentOptions): number {
  return options.warmupS ?? Math.max(options.a.duration.warmupS, options.b.duration.warmupS);
}

/**
 * A and B as the experiment runs them: its own --duration and warm-up replace both profiles'
 * duration. What is checked before the first arm, and what the report compares when an arm
 * never ran (the files as given differ in duration where the arms never would).
 */
export function experimentArms(options: AbExperimentOptions): { a: Profile; b: Profile } {
  const o = { ...options, warmupS: experimentWarmupS(options) };
  return { a: armProfile(options.a, o), b: armProfile(options.b, o) };
}

/**
 * Both arms through `check` (LabService.checkStartable: every check a run's start makes) before
 * any arm runs, A first. A refusal is said of its arm: the one line names the arm, its profile,
 * the field and the fix, and stays bad input (exit 2). Anything else (the engine could not
 * plan) is passed on as it is.
 */
export async function checkArmsStartable(options: AbExperimentOptions, check: (profile: Profile) => Promise<void>): Promise<void> {
  const arms = experimentArms(options);
  for (const arm of ['a', 'b'] as const) {
    try {
      await check(arms[arm]);
    } catch (err) {
      const e = LabError.from(err);
      if (e.kind !== 'input') throw err;
      const name = oneLineText(arms[arm].name, 80);
      throw new LabError({
        code: e.code, kind: 'input', field: `${arm}.${e.field ?? 'profile'}`,
        // Most refusals already begin with their field ("server.sqpoll.cpu: CPU 99 …"): not twice.
        message: `arm ${arm.toUpperCase()} (profile "${name}"): ${e.field && !e.message.startsWith(e.field) ? `${e.field}: ` : ''}${e.message}; nothing ran`,
        fix: e.fix ?? `fix profile ${arm.toUpperCase()}`,
      });
    }
  }
}

export interface AbRun {
  experimentId: string;
  /** Resolves with the report (also when interrupted or failed: status says which). */
  report: Promise<AbReport>;
  /** Stops after the arm in progress ends (that arm is interrupted and not counted). */
  interrupt(reason: string): void;
}

/** The report's warning when its final record could not be written. */
export function notSavedWarning(reason: string): string {
  return `this experiment could not be saved in the history (${reason}): this report is its only copy`;
}

/** Consecutive failed arm-runs after which the experiment gives up (the engine cannot run one side). */
const MAX_CONSECUTIVE_FAILURES = 2;

/**
 * Starts an experiment. `onSaved(report, final)` gets the report after every arm-run (as it
 * would read if the host died now: the rounds so far, `interrupted`) and the final one, for
 * the history (abStore.ts).
 */
/**
 * Two arms compare only when they measure the same thing: an echo arm's requests per second and
 * a storage arm's I/Os per second share the metric names but not a meaning. Refused up front.
 */
export function checkComparableArms(a: Profile, b: Profile): void {
  if (a.workload === b.workload) return;
  throw new LabError({
    code: 'USAGE', kind: 'input', field: 'workload',
    message: `A measures the ${a.workload} workload and B the ${b.workload} one: their numbers (echo requests vs storage I/Os) do not compare`,
    fix: 'compare two profiles of the same workload (set workload in one of them)',
  });
}

export function startAbExperiment(
  options: AbExperimentOptions,
  arms: ArmRunner,
  onProgress: (p: AbProgress) => void = () => undefined,
  /** Returns why the save failed (a short reason), or nothing when it worked. */
  onSaved: (report: AbReport, final: boolean) => string | null | void = () => undefined,
): AbRun {
  const experimentId = `${AB_ENTRY_PREFIX}${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  options = { ...options, warmupS: experimentWarmupS(options) };
  // The machine to itself: another lab process's run (or experiment) now is refused, and this
  // experiment stays marked between its arms, so one started in another process meanwhile is
  // refused too (two at once each flagged the other's arms as shared, and both were lost).
  const machine = new ActiveRunRegistry(options.activeRunsDir);
  const others = machine.peek();
  if (others.length) {
    const other = others[0]!;
    throw new LabError({
      code: 'RUN_ACTIVE', kind: 'input', field: 'ab',
      message: `another uring-lab run is going on this machine (${other.runId}, lab process ${other.pid}${others.length > 1 ? `, and ${others.length - 1} more` : ''}): an A/B experiment needs the machine to itself`,
      fix: 'wait for it to end, or stop it, then start the experiment',
    });
  }
  machine.register(experimentId, new Date().toISOString());
  const seed = options.seed ?? (Date.now() % 2 ** 31);
  let interrupted: string | null = null;
  const run: AbRun = {
    experimentId,
    interrupt(reason) {
      if (interrupted) return;
      interrupted = reason;
      void arms.interrupt(reason).catch(() => undefined);
    },
    report: (async () => {
      const startedAt = new Date().toISOString();
      const loadAvgStart = os.loadavg()[0];
      const order = interleavedOrder(options.rounds, seed);
      const samples: AbRoundArm[] = [];
      const applied: { a: RunSummary | null; b: RunSummary | null } = { a: null, b: null };
      let failure: AbReport['failure'] = null;
      let consecutiveFailures = 0;
      let otherRuns = 0;
      const t0 = Date.now();
      const saveSoFar = () => onSaved(buildReport({
        experimentId, options, seed, startedAt, samples, applied, failure: HOST_DIED, interrupted: HOST_DIED.message, loadAvgStart, otherRuns,
      }), false);
      saveSoFar();
      for (let i = 0; i < order.length && !interrupted; i++) {
        const { round, arm } = order[i];
        const profile = armProfile(arm === 'a' ? options.a : options.b, options);
        let outcome: ArmOutcome;
        try {
          outcome = await arms.runArm(profile);
        } catch (err) {
          const e = err as { code?: string; message?: string };
          // Interrupted (a signal, Stop) while the arm set up: its start was called off, and the
          // experiment ends interrupted with the rounds so far, not failed.
          if (interrupted && e.code === 'START_CANCELLED') break;
          // A start refused (bad input on one side, a resource budget): nothing to compare.
          failure = { code: e.code ?? 'AB_ARM_FAILED', message: `arm ${arm.toUpperCase()} of round ${round + 1} could not start: ${e.message ?? String(err)}` };
          break;
        }
        const s = outcome.summary;
        applied[arm] ??= s;
        otherRuns = Math.max(otherRuns, s.contention.otherRuns.length);
        samples.push({
          round, arm, order: i, runId: s.runId, status: s.status,
          failure: s.failure ? { code: s.failure.code, message: s.failure.message } : null,
          measuredS: s.measuredS, requests: s.requests, errors: s.errors,
          metrics: metricsOfSummary(s), histogram: s.histogram.counts, kernel: s.kernelStats?.histograms ?? null, frames: outcome.frames,
          perConnection: s.perConnection ?? null,
          ...roundDiagnosis(s),
        });
        // An arm that ended interrupted was stopped by someone (a signal to the engine process,
        // a host closing), not by this experiment: the experiment stops with it, as from the UI.
        // It used to go on to the next arm and end `completed` (exit 0) minus that round.
        if (s.status === 'interrupted' && !interrupted) interrupted = s.failure?.message ?? 'an arm-run was interrupted';
        if (s.status === 'failed') {
          if (++consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) {
            failure = { code: s.failure?.code ?? 'AB_ARM_FAILED', message: `${MAX_CONSECUTIVE_FAILURES} arm-runs in a row failed; the last: ${s.failure?.message ?? 'unknown'}` };
            break;
          }
        } else consecutiveFailures = 0;
        saveSoFar();
        const done = i + 1;
        const elapsedS = (Date.now() - t0) / 1000;
        const runningMedian = (a: 'a' | 'b', name: AbMetricName) => {
          const xs = samples.filter((x) => x.arm === a && x.status === 'completed').map((x) => x.metrics[name]).filter((v): v is number => v !== null);
          return xs.length ? median(xs) : null;
        };
        const next = order[Math.min(i + 1, order.length - 1)];
        onProgress({
          experimentId, done, total: order.length, round: next.round, arm: next.arm,
          medians: {
            a: { throughputRps: runningMedian('a', 'throughputRps'), p99Us: runningMedian('a', 'p99Us') },
            b: { throughputRps: runningMedian('b', 'throughputRps'), p99Us: runningMedian('b', 'p99Us') },
          },
          etaS: Math.round((elapsedS / done) * (order.length - done)),
        });
      }
      // Every arm-run done, yet no round had both arms complete (failed arms never two in a
      // row, as A failing in each of 2 rounds ordered A B B A): nothing was compared, and
      // "completed" with 0 rounds read as a result.
      if (!failure && !interrupted && samples.length > 0 && countedRounds(samples).size === 0) {
        const last = [...samples].reverse().find((x) => x.status === 'failed');
        failure = { code: last?.failure?.code ?? 'AB_ARM_FAILED', message: `no round had both arms complete, so nothing was compared; the last failed arm-run: ${last?.failure?.message ?? 'unknown'}` };
      }
      const report = buildReport({
        experimentId, options, seed, startedAt, samples, applied, failure, interrupted, loadAvgStart, otherRuns,
      });
      // The final record not saved: the report says so, as it is then the only copy (printed,
      // or in the UI until the host ends), rather than "saved beside the run history".
      const notSaved = onSaved(report, true);
      if (typeof notSaved === 'string') report.warnings.push(notSavedWarning(notSaved));
      return report;
    })().finally(() => machine.unregister()),
  };
  return run;
}

interface ReportInput {
  experimentId: string;
  options: AbExperimentOptions;
  seed: number;
  startedAt: string;
  samples: AbRoundArm[];
  applied: { a: RunSummary | null; b: RunSummary | null };
  failure: AbReport['failure'];
  interrupted: string | null;
  loadAvgStart: number;
  otherRuns: number;
}

function buildReport(input: ReportInput): AbReport {
  const { options, samples, applied } = input;
  const statOptions = { seed: input.seed, resamples: options.resamples ?? 2000, alpha: options.alpha ?? 0.05, noise: options.noise ?? 0.02 };
  const metrics = metricsOf(samples, statOptions);
  const rounds = countedRounds(samples).size;
  // Like with like: the profiles as the experiment runs them (its --duration and warm-up on both
  // arms), never A as applied beside B's file as given, which showed differences that never
  // existed (duration.measureS A 1 B 10; echo-only knobs a storage run shows at their defaults).
  // The other workload's knobs at their defaults, as a run's applied shows them: a storage
  // arm's file may carry echo knobs its run never uses.
  const asRun = experimentArms(options);
  const requested = { a: withoutOtherWorkloadKnobs(asRun.a), b: withoutOtherWorkloadKnobs(asRun.b) };
  const appliedA = applied.a?.applied ?? requested.a;
  const appliedB = applied.b?.applied ?? requested.b;
  const bothRan = applied.a !== null && applied.b !== null;
  const requestedDiff = knobDifferences(requested.a, requested.b);
  // An arm that never ran has no applied knobs: then both sides are compared as requested, and
  // the report says so (knobDiffBasis).
  const knobDiff = bothRan ? knobDifferences(appliedA, appliedB) : requestedDiff;
  const identicalAfterRefusals = requestedDiff.length > 0 && knobDiff.length === 0 && bothRan;
  const warnings: string[] = [];
  if (identicalAfterRefusals) {
    warnings.push(`A and B ran the same configuration: they were asked to differ in ${requestedDiff.map((d) => d.path).join(', ')}, but after the kernel's refusals the applied knobs are identical; any difference is noise`);
  } else if (requestedDiff.length === 0) {
    // Files that differ only in duration are the same profile here: the experiment's own window
    // replaced both (this was blamed on the kernel's refusals, with nothing refused).
    const fileDiff = knobDifferences(options.a, options.b);
    warnings.push(fileDiff.length
      ? `A and B are the same profile once the experiment's own --duration and warm-up replace theirs (the files differ only in ${fileDiff.map((d) => d.path).join(', ')}): this is an A/A experiment (every verdict should be ~)`
      : 'A and B are the same profile: this is an A/A experiment (every verdict should be ~)');
  }
  if (!bothRan) warnings.push(`${applied.a === null && applied.b === null ? 'neither arm ran' : `arm ${applied.a === null ? 'A' : 'B'} never ran`}: the knobs compared are the requested ones (as the experiment would have run them), not the applied ones`);
  for (const [arm, s] of [['A', applied.a], ['B', applied.b]] as const) {
    for (const r of s?.rejected ?? []) warnings.push(`${arm}: ${r.knob} was refused (${r.reason}); ${arm} ran without it`);
  }
  const loadDiff = requestedDiff.filter((d) => d.path.startsWith('load.'));
  if (loadDiff.length) warnings.push(`A and B use different load settings (${loadDiff.map((d) => d.path).join(', ')}): the comparison includes the load change, not only the server's`);
  if (rounds < MIN_SAMPLES_PER_ARM) warnings.push(`only ${rounds} rounds with both arms completed; a verdict needs at least ${MIN_SAMPLES_PER_ARM} (increase --rounds)`);
  for (const m of metrics) if (m.noiseWarning) warnings.push(m.noiseWarning);
  const cpus = os.cpus().length;
  if (input.loadAvgStart > cpus * 0.5) warnings.push(`the machine was busy when the experiment started (load average ${input.loadAvgStart.toFixed(2)} on ${cpus} CPUs): close other work or expect noise`);
  if (input.otherRuns > 0) warnings.push('another uring-lab run shared this machine during the experiment: its numbers are not its own');
  // The metrics are medians over all connections: an arm that starved some of them can still
  // win on throughput and p99. Its rounds' per-connection service says so.
  for (const arm of ['a', 'b'] as const) {
    const done = samples.filter((x) => x.arm === arm && x.status === 'completed');
    const uneven = done.filter((x) => unevenServiceWarning(x.perConnection) !== null);
    if (!uneven.length) continue;
    const worst = uneven.reduce((w, x) => ((x.perConnection!.jain ?? 0) < (w.perConnection!.jain ?? 0) ? x : w));
    warnings.push(`${arm.toUpperCase()}: uneven service in ${uneven.length} of ${done.length} rounds, the worst round ${worst.round + 1}: ${unevenServiceWarning(worst.perConnection)}`);
  }
  const failedArms = samples.filter((s) => s.status !== 'completed');
  if (failedArms.length) warnings.push(`${failedArms.length} arm-runs did not complete and their rounds are left out: ${failedArms.map((s) => `round ${s.round + 1} ${s.arm.toUpperCase()} (${s.failure?.message ?? s.status})`).join('; ')}`);

  const orderText = [...samples].sort((x, y) => x.order - y.order).map((s) => s.arm.toUpperCase()).join('').replace(/(.{4})/g, '$1 ').trim();
  const hostDied = input.failure?.code === HOST_DIED.code;
  const report: AbReport = {
    kind: 'uring-lab/ab-report', version: 1,
    experimentId: input.experimentId,
    status: input.failure && !hostDied ? 'failed' : input.interrupted ? 'interrupted' : 'completed',
    failure: input.failure ?? (input.interrupted ? { code: 'INTERRUPTED', message: input.interrupted } : null),
    startedAt: input.startedAt, endedAt: new Date().toISOString(),
    a: { profileName: options.a.name, applied: appliedA, rejected: applied.a?.rejected ?? [] },
    b: { profileName: options.b.name, applied: appliedB, rejected: applied.b?.rejected ?? [] },
    rounds, roundsRequested: options.rounds,
    durationS: options.durationS,
    warmupS: options.warmupS!,
    order: orderText, seed: input.seed,
    resamples: statOptions.resamples, noiseThreshold: statOptions.noise, alpha: statOptions.alpha,
    metrics, percentiles: pooledPercentiles(samples, statOptions), spikes: armSpikes(samples),
    knobDiff, knobDiffBasis: bothRan ? 'applied' : 'requested', identicalAfterRefusals, warnings,
    machine: { cpus, loadAvgStart: input.loadAvgStart, loadAvgEnd: os.loadavg()[0], otherRuns: input.otherRuns },
    samples,
  };
  return AbReportSchema.parse(report);
}

/** The lab's own arm runner: each arm one run of a LabService-like host, frames collected from its events. */
export interface ArmHost {
  startRun(params: { profile: Profile; untilStopped: false }): Promise<{ runId: string }>;
  interruptRun(reason: string): Promise<unknown>;
  onEvent(listener: (event: LabEvent) => void): () => void;
  /** The experiment is over (whatever its end): e.g. the client's own profile is put back. */
  done?(): void;
}

export function labArmRunner(host: ArmHost): ArmRunner {
  return {
    async runArm(profile) {
      const frames: [number, SparseHistogram][] = [];
      let runId: string | null = null;
      const early: LabEvent[] = [];
      let resolveTerminal!: (s: RunSummary) => void;
      const terminal = new Promise<RunSummary>((resolve) => { resolveTerminal = resolve; });
      const take = (event: LabEvent) => {
        if (event.type === 'frame' && event.frame.runId === runId && event.frame.measuring) frames.push([event.frame.tMs, event.frame.histogram]);
        if ((event.type === 'ended' || event.type === 'failed' || event.type === 'interrupted') && event.summary.runId === runId) resolveTerminal(event.summary);
      };
      const off = host.onEvent((event) => { if (runId === null) early.push(event); else take(event); });
      try {
        runId = (await host.startRun({ profile, untilStopped: false })).runId;
        for (const e of early.splice(0)) take(e);
        return { summary: await terminal, frames };
      } finally {
        off();
      }
    },
    async interrupt(reason) {
      await host.interruptRun(reason);
    },
  };
}
