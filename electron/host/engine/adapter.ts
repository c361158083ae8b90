/**
 * The engine protocol adapter: a validated Profile becomes the engine's configuration, and
 * what the engine reports (knobs the kernel applied, ring setup flags it refused, the setup
 * step that failed) becomes profile terms again. All of it is derived from the knob
 * catalogue: the engine protocol carries each `engine: true` knob at its profile path, and a
 * refused flag or failed step is put back on the knob whose row lists it in `settings`.
 */
import { knobEntries, knobForSetting, LabError, onlyWithFix, onlyWithHolds, onlyWithText, Profile, RejectedKnob, type KnobEntry } from '../../contract';
import { setValueAt, valueAt } from '../profiles';
import { ringRefusalCause } from '../ioUringAccess';
import { ENGINE_PROTOCOL_VERSION, type NativeApplied, type NativeEngineConfig, type NativeRefusal, type NativeTarget, type EngineErrorData, type ProbesRequest } from '../../engine/protocol';

const ENGINE_KNOBS = knobEntries().filter((entry) => entry.engine);

/**
 * The engine configuration of `profile`; the engine stops by itself after `maxDurationMs`.
 * With `target` (uring-lab load) no server of ours runs: the load connects there (an IPv4
 * address: names are resolved by the caller), and the profile's server part is only carried.
 */
export function nativeConfigFor(profile: Profile, maxDurationMs: number, target: NativeTarget | null = null): NativeEngineConfig {
  const config: Record<string, unknown> = { protocol: ENGINE_PROTOCOL_VERSION, port: 0, maxDurationMs: Math.round(maxDurationMs) };
  for (const entry of ENGINE_KNOBS) setValueAt(config, entry.path.split('.'), valueAt(profile, entry.path.split('.')));
  if (target) config.target = { host: target.host, port: target.port };
  return config as unknown as NativeEngineConfig;
}

/** Whether the engine process attaches the eBPF probes after starting `profile` (probes.* is not an engine knob). */
export function probesRequestFor(profile: Profile): ProbesRequest {
  return { enabled: profile.probes.enabled, perRequest: profile.probes.perRequest, perRequestDuty: profile.probes.perRequestDuty };
}

/** The requested profile with every knob the engine reports replaced by what it applied. */
export function appliedProfile(requested: Profile, applied: NativeApplied): Profile {
  const profile = structuredClone(requested) as unknown as Record<string, unknown>;
  const engine = engineOf(requested, applied);
  for (const entry of ENGINE_KNOBS) {
    const path = entry.path.split('.');
    // A knob that does nothing for this engine or this workload, or without the knob it goes
    // with, is not "applied": it shows its default (off).
    const unused = (entry.engines && !entry.engines.includes(engine)) || (entry.workloads && !entry.workloads.includes(requested.workload)) || !onlyWithIn(entry, requested);
    const value = unused ? entry.schema.parse(undefined) : valueAt(applied, path);
    if (value !== undefined) setValueAt(profile, path, value);
  }
  return profile as unknown as Profile;
}

function engineOf(requested: Profile, applied: NativeApplied): Profile['server']['engine'] {
  return ((applied as { server?: { engine?: Profile['server']['engine'] } }).server?.engine) ?? requested.server.engine;
}

/**
 * Knobs asked for that the engine in use has no use for (ring knobs with the epoll server):
 * refused by the lab itself (errno 0), so the summary never shows them as if they applied.
 */
export function inapplicableKnobs(requested: Profile, applied: NativeApplied): RejectedKnob[] {
  const engine = engineOf(requested, applied);
  const rejected: RejectedKnob[] = [];
  for (const entry of ENGINE_KNOBS) {
    const value = valueAt(requested, entry.path.split('.'));
    if (JSON.stringify(value) === JSON.stringify(entry.schema.parse(undefined))) continue;
    if (entry.engines && !entry.engines.includes(engine)) {
      rejected.push({
        knob: entry.path, requested: value, errno: 0, code: 'NOT_APPLICABLE',
        reason: `${entry.label} acts on io_uring rings; the ${engine} server has none, so it did nothing`,
        fix: `set server.engine to ${entry.engines.join(' or ')} to use it, or leave ${entry.path} at its default`,
      });
    } else if (!onlyWithIn(entry, requested)) {
      rejected.push({
        knob: entry.path, requested: value, errno: 0, code: 'NOT_APPLICABLE',
        reason: `${entry.label} means something only with ${onlyWithText(entry.onlyWith!)}, so it did nothing`,
        fix: `${onlyWithFix(entry.onlyWith!)} to use it, or leave ${entry.path} at its default`,
      });
    }
  }
  return rejected;
}

/** Whether the knob `entry` goes with (its onlyWith) has the value it needs in `requested`. */
function onlyWithIn(entry: KnobEntry, requested: Profile): boolean {
  return onlyWithHolds(entry.onlyWith, (path) => valueAt(requested, path.split('.')));
}

/**
 * Every knob refused: by the kernel (with its errno), then by the lab as not applicable. A knob
 * both refuse (shared SQPOLL on one ring with SQPOLL off) is listed once, with the kernel's word.
 */
export function refusedKnobs(refused: readonly NativeRefusal[], requested: Profile, applied: NativeApplied): RejectedKnob[] {
  const byKernel = rejectedKnobs(refused);
  const listed = new Set(byKernel.map((r) => r.knob));
  return [...byKernel, ...inapplicableKnobs(requested, applied).filter((r) => !listed.has(r.knob))];
}

/** Ring setup flags the kernel refused, as the knobs they belong to, with reasons and fixes. */
export function rejectedKnobs(refused: readonly NativeRefusal[]): RejectedKnob[] {
  const byKnob = new Map<string, RejectedKnob>();
  for (const r of refused) {
    const row = knobForSetting(r.setting);
    const knob = row?.path ?? r.setting;
    // One knob can own several flags (taskrun: DEFER_TASKRUN + SINGLE_ISSUER): report it once.
    if (byKnob.has(knob)) continue;
    const words = row?.refusal?.[r.cause];
    byKnob.set(knob, {
      knob,
      requested: r.requested,
      errno: r.errno,
      code: r.code,
      reason: `${words?.reason ?? `the kernel refused ${r.setting}`} (${r.code}: ${r.errnoText})`,
      fix: words?.fix ?? (row ? `change ${row.path} (${row.label}); \`uring-lab doctor\` lists what this kernel supports` : undefined),
    });
  }
  return [...byKnob.values()];
}

/** The error a called-off start rejects with: unwound by the engine, or never sent to it. */
export function startCalledOffError(): LabError {
  return new LabError({ code: 'START_CANCELLED', kind: 'engine', message: 'the start was called off while it set up (a stop or an interrupt came first): nothing ran' });
}

/** A failed engine start in profile terms: the step's knob becomes the error's field. */
export function startError(error: EngineErrorData): LabError {
  // Called off (cancelStart): no knob and no kernel to blame.
  if (error.step === 'START_CANCELLED') return startCalledOffError();
  // No ring at all (EPERM/EACCES from io_uring_setup, at the server's, a load thread's or a
  // storage job's ring): the machine's switch or a seccomp policy, never the knob of the step
  // (it named server.ringEntries, or load.threads for the epoll engine, whose load has rings).
  if ((error.errno === 1 || error.errno === 13) && (error.step === 'SERVER_RING_SETUP' || error.step === 'LOAD_RING_SETUP')) {
    const cause = ringRefusalCause();
    return new LabError({ code: 'IO_URING_DISABLED', kind: 'kernel', message: `no io_uring ring could be made (${error.errno === 1 ? 'EPERM' : 'EACCES'}): ${cause.reason}`, fix: cause.fix });
  }
  const row = error.step ? knobForSetting(error.step) : undefined;
  // The addon's message ends with its fix (for callers that print only the message); the line
  // this error becomes adds the fix once, so it is taken off the message here.
  const message = error.fix && error.message.endsWith(`; ${error.fix}`) ? error.message.slice(0, -(error.fix.length + 2)) : error.message;
  return new LabError({
    code: error.code ?? 'ENGINE_ERROR',
    kind: error.errno ? 'kernel' : 'engine',
    message: row ? `${row.label} (${row.path}): ${message}` : message,
    field: row?.path,
    fix: error.fix ?? (row ? `change ${row.path} and try again; \`uring-lab doctor\` lists what this kernel supports` : 'run `uring-lab doctor` to see what this kernel supports'),
  });
}

/** How long the engine may take to start/stop `config`: it follows from the work asked. */
export function engineTimeouts(config: NativeEngineConfig): { startMs: number; stopMs: number } {
  const conns = config.load.connections;
  // A target (uring-lab load) allocates no server buffers here.
  const serverBytes = config.target ? 0 : config.server.bufferRing.size * config.server.bufferRing.count;
  const bytes = serverBytes + conns * 2 * config.load.messageBytes;
  // Storage: writing the pattern over the lab's test file (≥ 50 MB/s on a slow disk; path null or fill: the lab's file).
  const st = config.workload === 'storage' ? config.storage : undefined;
  const fillMs = st && (st.fill || st.path === null) ? ((st.fileSizeMiB * 1048576) / 50e6) * 1000 : 0;
  return {
    // Connects (~1 ms each under load) and touching the buffers (≥ 100 MB/s even when swapping pages in).
    startMs: Math.round(5_000 + conns * 5 + (bytes / 100e6) * 1000 + fillMs),
    // One drain per thread (each bounded at 2 s natively) and closing every connection.
    stopMs: Math.round(5_000 + 2_000 * (config.load.threads + 1) + conns * 2),
  };
}
