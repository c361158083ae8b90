/**
 * Profile versions: every earlier shape a uring-lab wrote is migrated forward, one pure step
 * per version (Grafana's schemaVersion chain), before the current schema validates it; a
 * profile from a newer uring-lab is refused with what to do.
 *
 * Version 0 — the flat profile of uring-lab 0.x, before the knob catalogue. It had no `kind`,
 * `"schemaVersion": 0`, and these keys at the top level (all optional):
 *   name, description                text, as in v1
 *   engine        "io_uring" | "epoll"              → server.engine
 *   sqpoll        boolean                           → server.sqpoll.enabled
 *   sqpollCpu     CPU number or null                → server.sqpoll.cpu
 *   sqpollIdleMs  ms                                → server.sqpoll.idleMs
 *   taskrun       "defer" | "coop" | "default"      → server.taskrun
 *   ringEntries   power of two                      → server.ringEntries
 *   bufferSize    bytes per provided buffer         → server.bufferRing.size
 *   bufferCount   provided buffers                  → server.bufferRing.count
 *   connections, messageBytes, threads              → load.connections, load.messageBytes, load.threads
 *   warmup, duration   seconds                      → duration.warmupS, duration.measureS
 * Its defaults were not v1's: 2 KiB × 4096 whole (not incremental) buffers, and with SQPOLL
 * the kernel's task-run default (0.x dropped DEFER_TASKRUN silently). The step writes those
 * values out, so a v0 profile runs the same experiment it ran then rather than v1's defaults.
 * A file is v0 only when it says `"schemaVersion": 0` and has no `kind`: anything else without
 * a kind is refused as not a profile (a stray JSON file must not become a default run).
 */
import { z } from 'zod';
import { KNOBS, LabError, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../../contract';
import { closest } from './keySuggestions';
import { userText } from './messageText';
import { describeSchema } from './schemaWords';
import { describeGot } from './refusals';
import { firstInexactNumber } from './validate';

/** v0's keys: each one's schema (a v1 row's, so its bounds are the same) and its v1 path. */
const V0_KEYS = {
  name: { schema: KNOBS.name.schema, to: ['name'] },
  description: { schema: KNOBS.description.schema, to: ['description'] },
  engine: { schema: KNOBS.server.engine.schema, to: ['server', 'engine'] },
  sqpoll: { schema: KNOBS.server.sqpoll.enabled.schema, to: ['server', 'sqpoll', 'enabled'] },
  sqpollCpu: { schema: KNOBS.server.sqpoll.cpu.schema, to: ['server', 'sqpoll', 'cpu'] },
  sqpollIdleMs: { schema: KNOBS.server.sqpoll.idleMs.schema, to: ['server', 'sqpoll', 'idleMs'] },
  taskrun: { schema: KNOBS.server.taskrun.schema, to: ['server', 'taskrun'] },
  ringEntries: { schema: KNOBS.server.ringEntries.schema, to: ['server', 'ringEntries'] },
  bufferSize: { schema: KNOBS.server.bufferRing.size.schema, to: ['server', 'bufferRing', 'size'] },
  bufferCount: { schema: KNOBS.server.bufferRing.count.schema, to: ['server', 'bufferRing', 'count'] },
  connections: { schema: KNOBS.load.connections.schema, to: ['load', 'connections'] },
  messageBytes: { schema: KNOBS.load.messageBytes.schema, to: ['load', 'messageBytes'] },
  threads: { schema: KNOBS.load.threads.schema, to: ['load', 'threads'] },
  warmup: { schema: KNOBS.duration.warmupS.schema, to: ['duration', 'warmupS'] },
  duration: { schema: KNOBS.duration.measureS.schema, to: ['duration', 'measureS'] },
} as const satisfies Record<string, { schema: z.ZodType; to: readonly string[] }>;
type V0Key = keyof typeof V0_KEYS;

/** What 0.x used where a v0 file left a key out (and v1's default differs). */
const V0_DEFAULTS = { bufferSize: 2048, bufferCount: 4096, incremental: false } as const;

/** One step per version: a document of version N in, a document of version N + 1 out. */
const STEPS: Record<number, (doc: Record<string, unknown>) => Record<string, unknown>> = {
  0: fromV0,
};

export interface Migrated {
  /** The document in the current version's shape (still to be validated). */
  document: unknown;
  /** The version it was written in, or null when it was current already. */
  migratedFrom: number | null;
}

/**
 * Brings an untrusted document to the current version. A document that is not an object, or
 * claims no version this code knows, is left for the validator to refuse in its own words;
 * a newer version is refused here.
 */
export function migrateProfile(input: unknown, source: string, raws: Map<string, string>): Migrated {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { document: input, migratedFrom: null };
  const obj = input as Record<string, unknown>;
  const version = obj.schemaVersion;
  // Only a document that says it is a profile is "from a newer uring-lab"; others get the kind's
  // error. Versions are whole numbers: 1.5 is a typo, not a newer uring-lab's file (it was told
  // to upgrade), and is left for the validator's "write schemaVersion: 1".
  if (obj.kind === PROFILE_KIND && typeof version === 'number' && Number.isInteger(version) && version > PROFILE_SCHEMA_VERSION) {
    throw new LabError({
      code: 'PROFILE_VERSION', field: 'schemaVersion',
      message: `${source}: schemaVersion ${describeGot(version, raws.get('["schemaVersion"]'))} is not supported by this uring-lab (it reads schemaVersion ${PROFILE_SCHEMA_VERSION}): the profile was made by a newer uring-lab`,
      fix: `upgrade uring-lab to read it, or export the profile again as schemaVersion ${PROFILE_SCHEMA_VERSION} from the newer one (uring-lab export FILE --format json)`,
    });
  }
  if (version !== 0 || Object.hasOwn(obj, 'kind')) return { document: input, migratedFrom: null };
  let doc: Record<string, unknown> = obj;
  let at = 0;
  while (at < PROFILE_SCHEMA_VERSION) {
    doc = STEPS[at](at === 0 ? checkedV0(obj, source, raws) : doc);
    at++;
  }
  return { document: doc, migratedFrom: 0 };
}

/** The v0 document checked key by key, with errors naming its own (flat) keys. */
function checkedV0(obj: Record<string, unknown>, source: string, raws: Map<string, string>): Record<string, unknown> {
  const known = Object.keys(V0_KEYS);
  for (const key of Object.keys(obj)) {
    if (key === 'schemaVersion' || key === '$schema') continue;
    if (!Object.hasOwn(V0_KEYS, key)) {
      const guess = closest(key, known);
      throw new LabError({
        code: 'UNKNOWN_KEY', field: userText(key, 60),
        message: `${source}: unknown key "${userText(key, 60)}" in a schemaVersion 0 profile${guess ? ` (did you mean "${guess}"?)` : ''}`,
        fix: `remove it or correct the spelling; keys of a schemaVersion 0 profile: ${known.join(', ')}`,
      });
    }
  }
  const inexact = firstInexactNumber(obj);
  for (const key of known as V0Key[]) {
    if (!Object.hasOwn(obj, key)) continue;
    const { schema, to } = V0_KEYS[key];
    const bad = (inexact !== undefined && inexact[0] === key) || !schema.safeParse(obj[key]).success;
    if (bad) {
      throw new LabError({
        code: 'INVALID_VALUE', field: key,
        message: `${source}: ${key} must be ${describeSchema(schema)} (got ${describeGot(obj[key], raws.get(JSON.stringify([key])))})`,
        fix: `give ${key} ${describeSchema(schema)} (a schemaVersion 0 key; in schemaVersion ${PROFILE_SCHEMA_VERSION} it is ${to.join('.')})`,
      });
    }
  }
  return obj;
}

/** v0 → v1: flat keys into the groups, with 0.x's defaults written out where v1's differ. */
function fromV0(v0: Record<string, unknown>): Record<string, unknown> {
  const v1: Record<string, unknown> = { kind: PROFILE_KIND, schemaVersion: 1 };
  const put = (path: readonly string[], value: unknown) => {
    let node = v1;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]] = value;
  };
  for (const [key, { to }] of Object.entries(V0_KEYS)) if (Object.hasOwn(v0, key)) put(to, v0[key]);
  if (!Object.hasOwn(v0, 'bufferSize')) put(V0_KEYS.bufferSize.to, V0_DEFAULTS.bufferSize);
  if (!Object.hasOwn(v0, 'bufferCount')) put(V0_KEYS.bufferCount.to, V0_DEFAULTS.bufferCount);
  // 0.x consumed whole buffers: incremental consumption arrived with the catalogue.
  put(['server', 'bufferRing', 'incremental'], V0_DEFAULTS.incremental);
  // 0.x with SQPOLL ran the kernel's task-run default whatever taskrun said (v1 would refuse the pair).
  if (v0.sqpoll === true) put(V0_KEYS.taskrun.to, 'default');
  return v1;
}
