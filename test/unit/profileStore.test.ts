/**
 * The saved-profile store and the LabApi's profile methods: saves are atomic and land in
 * $XDG_DATA_HOME/uring-lab/profiles; an import is checked, migrated, named without replacing a
 * saved profile, made the client's and saved — and 1,000 generated malformed profiles (seeded
 * mutations of valid ones) are each refused with the field at fault while the store stays
 * byte-for-byte as it was. applyProfile during a run it controls starts a new phase.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LabError, PROFILE_KIND, type LabEvent } from '../../electron/contract';
import { EngineSupervisor } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';
import { defaultProfile } from '../../electron/host/profiles';
import { PROFILE_SCHEMA_URL } from '../../electron/host/profiles/jsonSchema';
import { listPresets } from '../../electron/host/profiles/presets';
import { MAX_LIST_BYTES, ProfileStore, profilesDir } from '../../electron/host/profiles/profileStore';
import { FakeEngineHost } from './fakeEngine';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-store-'));
const savedEnv = { XDG_DATA_HOME: process.env.XDG_DATA_HOME };
beforeAll(() => { process.env.XDG_DATA_HOME = path.join(scratch, 'data'); });
afterAll(() => {
  if (savedEnv.XDG_DATA_HOME === undefined) delete process.env.XDG_DATA_HOME; else process.env.XDG_DATA_HOME = savedEnv.XDG_DATA_HOME;
  rmSync(scratch, { recursive: true, force: true });
});

const labs: LabService[] = [];
afterEach(async () => { await Promise.all(labs.splice(0).map((l) => l.close())); });
function makeLab() {
  const fake = new FakeEngineHost();
  const supervisor = new EngineSupervisor(fake.spawn, { unresponsiveMs: 250, spawnTimeoutMs: 1000, defaultTimeoutMs: 1000 });
  const lab = new LabService({ supervisor, frameIntervalMs: 20, activeRunsDir: mkdtempSync(path.join(scratch, 'runs-')), timeouts: () => ({ startMs: 400, stopMs: 400 }) });
  labs.push(lab);
  return { fake, lab };
}

/** Every file of the store with its bytes' hash: what "unchanged" means. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')]));
}

function refusal(p: Promise<unknown>): Promise<LabError> {
  return p.then(() => { throw new Error('expected a refusal'); }, (e) => { expect(e).toBeInstanceOf(LabError); return e as LabError; });
}

const K = { kind: PROFILE_KIND, schemaVersion: 1 };

describe('saved profiles', () => {
  it('saves atomically under the data directory, lists, and deletes', async () => {
    const { lab } = makeLab();
    const dir = profilesDir();
    expect(dir).toBe(path.join(scratch, 'data', 'uring-lab', 'profiles'));
    await lab.setKnob({ path: 'server.sqpoll.enabled', value: true });
    const saved = await lab.saveProfile({ name: 'my sqpoll' });
    expect(saved).toMatchObject({ name: 'my sqpoll', profile: { name: 'my sqpoll', server: { sqpoll: { enabled: true } } } });
    // The file is an exported JSON profile: `uring-lab run --profile` reads it as it is.
    const file = JSON.parse(readFileSync(path.join(dir, 'my sqpoll.json'), 'utf8'));
    expect(file.$schema).toBe(PROFILE_SCHEMA_URL);
    expect(readdirSync(dir)).toEqual(['my sqpoll.json']); // no temp file left behind
    expect(statSync(path.join(dir, 'my sqpoll.json')).mode & 0o777).toBe(0o600);
    await lab.saveProfile({ name: 'epoll', profile: { ...K, server: { engine: 'epoll' } } });
    const { profiles } = await lab.listProfiles();
    expect(profiles.map((p) => p.name).sort()).toEqual(['epoll', 'my sqpoll']);
    expect(Date.parse(profiles[0].savedAt)).toBeGreaterThan(Date.now() - 60_000);
    await lab.deleteProfile({ name: 'epoll' });
    expect((await lab.listProfiles()).profiles.map((p) => p.name)).toEqual(['my sqpoll']);
    const gone = await refusal(lab.deleteProfile({ name: 'epoll' }));
    expect(gone).toMatchObject({ code: 'PROFILE_UNKNOWN', field: 'name', kind: 'input' });
    for (const bad of ['../escape', '.hidden', 'a/b', 'x'.repeat(65)]) {
      const e = await refusal(lab.saveProfile({ name: bad }));
      expect(e.field, bad).toMatch(/name/);
    }
    expect(readdirSync(dir)).toEqual(['my sqpoll.json']);
  });

  it('saving under a taken name is refused (PROFILE_EXISTS, the file kept byte for byte) unless replace: true', async () => {
    const { lab } = makeLab();
    await lab.saveProfile({ name: 'taken', profile: { ...K, server: { rings: 2 } } });
    const file = path.join(profilesDir(), 'taken.json');
    const before = readFileSync(file, 'utf8');
    const e = await refusal(lab.saveProfile({ name: 'taken', profile: { ...K, server: { rings: 3 } } }));
    expect(e).toMatchObject({ code: 'PROFILE_EXISTS', field: 'name', kind: 'input' });
    expect(e.fix).toMatch(/another name|replace/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    const replaced = await lab.saveProfile({ name: 'taken', profile: { ...K, server: { rings: 3 } }, replace: true });
    expect(replaced.profile.server.rings).toBe(3);
  });

  it('an import-style save never replaces a file, even one that appears after the check', () => {
    const store = new ProfileStore(path.join(scratch, 'no-clobber'));
    store.save('x', defaultProfile());
    const before = readFileSync(path.join(store.dir, 'x.json'), 'utf8');
    expect(store.saveNew('x', { ...defaultProfile(), description: 'second' }).name).toBe('x-2');
    expect(readFileSync(path.join(store.dir, 'x.json'), 'utf8')).toBe(before);
    // has() said free, but the name is taken by the time the file is linked: the next one is used.
    const racing = new ProfileStore(store.dir);
    const realHas = racing.has.bind(racing);
    let raced = false;
    racing.has = (name: string) => {
      if (name === 'y' && !raced) { raced = true; writeFileSync(path.join(store.dir, 'y.json'), 'theirs'); return false; }
      return realHas(name);
    };
    expect(racing.saveNew('y', defaultProfile()).name).toBe('y-2');
    expect(readFileSync(path.join(store.dir, 'y.json'), 'utf8')).toBe('theirs');
    expect(readdirSync(store.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('reports a file it cannot read with why, and leaves it in place', () => {
    const store = new ProfileStore(path.join(scratch, 'hand-edited'));
    store.save('good', defaultProfile());
    writeFileSync(path.join(store.dir, 'broken.json'), '{ "kind": ');
    writeFileSync(path.join(store.dir, 'future.json'), JSON.stringify({ kind: PROFILE_KIND, schemaVersion: 3 }));
    const { profiles, unreadable } = store.scan();
    expect(profiles.map((p) => p.name)).toEqual(['good']);
    expect(unreadable.map((u) => [u.name, u.error.code])).toEqual([['broken', 'PROFILE_NOT_JSON'], ['future', 'PROFILE_VERSION']]);
    expect(unreadable[1].error.message).toMatch(/made by a newer uring-lab/);
    expect(existsSync(path.join(store.dir, 'broken.json'))).toBe(true);
  });

  // 800 profiles with 9,000-character descriptions made a 14 MB answer: the WebSocket host
  // dropped the connection (over its 8 MiB unsent cap) and the Profiles view never loaded again.
  it('a list carries at most MAX_LIST_BYTES of profiles, newest first, and counts the rest in leftOut', async () => {
    const store = new ProfileStore(path.join(scratch, 'many'));
    const profile = { ...defaultProfile(), description: 'd'.repeat(9000) };
    for (let i = 0; i < 300; i++) store.save(`bulk ${String(i).padStart(3, '0')}`, profile);
    const { profiles, leftOut } = store.scan();
    const bytes = Buffer.byteLength(JSON.stringify(profiles));
    expect(bytes).toBeLessThanOrEqual(MAX_LIST_BYTES);
    expect(profiles.length).toBeGreaterThan(100);
    expect(profiles.length + leftOut).toBe(300);
    expect(leftOut).toBeGreaterThan(0);
    // Newest first: what is left out is older than everything listed.
    const listedOldest = profiles[profiles.length - 1]!.savedAt;
    const listed = new Set(profiles.map((p) => p.name));
    for (let i = 0; i < 300; i++) {
      const name = `bulk ${String(i).padStart(3, '0')}`;
      if (!listed.has(name)) expect(store.read(name).savedAt <= listedOldest, name).toBe(true);
    }
    // Through the LabApi (what a WebSocket client gets): the same bound and count.
    process.env.XDG_DATA_HOME = path.join(scratch, 'many-data');
    const lab = makeLab().lab;
    const big = new ProfileStore();
    for (let i = 0; i < 300; i++) big.save(`p${i}`, profile);
    const answer = await lab.listProfiles();
    expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThan(MAX_LIST_BYTES + 64 * 1024);
    expect(answer.profiles.length + answer.leftOut).toBe(300);
    process.env.XDG_DATA_HOME = path.join(scratch, 'data');
  });

  it('a folder that refuses reads or writes (under /proc, or a file in its place) is one PROFILES_DIR error naming XDG_DATA_HOME; nothing hangs', () => {
    // /proc answers ENOENT for a new child of a folder that exists: Node's recursive mkdir
    // spun there forever, so this save hung the host before makeFolders.
    const proc = new ProfileStore('/proc/uring-lab-nowhere/profiles');
    expect(() => proc.save('p', defaultProfile())).toThrow(expect.objectContaining({
      code: 'PROFILES_DIR', kind: 'input', field: 'XDG_DATA_HOME',
      message: 'saved profiles cannot be written in /proc/uring-lab-nowhere/profiles (ENOENT)', fix: expect.stringMatching(/XDG_DATA_HOME/),
    }));
    expect(() => proc.saveNew('p', defaultProfile())).toThrow(expect.objectContaining({ code: 'PROFILES_DIR' }));
    expect(proc.list()).toEqual([]);
    const file = path.join(scratch, 'a-file');
    writeFileSync(file, 'mine');
    const inFile = new ProfileStore(file);
    expect(() => inFile.save('p', defaultProfile())).toThrow(expect.objectContaining({ code: 'PROFILES_DIR', message: expect.stringMatching(/\(EEXIST\)$/) }));
    expect(() => inFile.scan()).toThrow(expect.objectContaining({ code: 'PROFILES_DIR', message: expect.stringMatching(/cannot be read in .*a-file \(ENOTDIR\)$/) }));
    expect(() => inFile.delete('p')).toThrow(expect.objectContaining({ code: 'PROFILES_DIR', message: expect.stringMatching(/cannot be deleted in .*\(ENOTDIR\)$/) }));
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });

  it('lists the presets', async () => {
    const { lab } = makeLab();
    const { presets } = await lab.listPresets();
    expect(presets.map((p) => p.id)).toEqual(listPresets().map((p) => p.id));
    expect(presets.every((p) => p.description.length > 0)).toBe(true);
  });
});

describe('import', () => {
  it('checks, migrates, names without replacing, makes it the client\'s profile, then saves', async () => {
    const { lab } = makeLab();
    const a = lab.session('tab-a');
    const first = await a.importProfile({ text: JSON.stringify({ ...K, name: 'from a colleague', load: { connections: 7 } }) });
    expect(first).toMatchObject({ name: 'from a colleague', migratedFrom: null, profile: { load: { connections: 7 } } });
    expect((await a.getStatus()).profile.load.connections).toBe(7);
    // Same name again: saved beside it, never over it.
    const second = await a.importProfile({ text: JSON.stringify({ schemaVersion: 0, name: 'from a colleague', connections: 9 }) });
    expect(second).toMatchObject({ name: 'from a colleague-2', migratedFrom: 0, profile: { load: { connections: 9 }, server: { bufferRing: { size: 2048 } } } });
    const names = (await a.listProfiles()).profiles.map((p) => p.name).filter((n) => n.startsWith('from a colleague')).sort();
    expect(names).toEqual(['from a colleague', 'from a colleague-2']);
    // Another client's profile is its own.
    expect((await lab.session('tab-b').getStatus()).profile.load.connections).toBe(defaultProfile().load.connections);
  });

  it('exports the client\'s profile in each format, or the one given', async () => {
    const { lab } = makeLab();
    await lab.setKnob({ path: 'server.napiBusyPollUs', value: 25 });
    const tuned = await lab.exportProfile({ format: 'tuned' });
    expect(tuned).toMatchObject({ filename: 'default.tuned.conf', mediaType: 'text/plain' });
    expect(tuned.text).toMatch(/^net\.core\.busy_poll=25$/m);
    const json = await lab.exportProfile({ format: 'json', profile: { ...K, name: 'x' } });
    expect(JSON.parse(json.text)).toMatchObject({ $schema: PROFILE_SCHEMA_URL, name: 'x' });
    const bad = await refusal(lab.exportProfile({ format: 'json', profile: { ...K, server: { ringEntries: 3 } } }));
    expect(bad.field).toBe('server.ringEntries');
    const format = await refusal(lab.exportProfile({ format: 'yaml' as 'json' }));
    expect(format.field).toBe('params.format');
  });

  it('1,000 generated malformed profiles are each refused with the field at fault; the store is unchanged byte for byte', async () => {
    const { lab } = makeLab();
    const client = lab.session('fuzz');
    await client.saveProfile({ name: 'keep me', profile: { ...K, server: { sqpoll: { enabled: true } } } });
    await client.importProfile({ text: JSON.stringify({ ...K, name: 'imported before' }) });
    const dir = profilesDir();
    const before = snapshot(dir);
    const statusBefore = await client.getStatus();
    const seeds = [...listPresets().map((p) => p.profile), { schemaVersion: 0, sqpoll: true, bufferSize: 4096 }];
    const rng = mulberry32(0x5eed);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const seed = seeds[i % seeds.length];
      const { text, kind } = mutate(seed, rng);
      counts[kind] = (counts[kind] ?? 0) + 1;
      const e = await refusal(client.importProfile({ text }));
      expect(e.kind, `#${i} ${kind}: ${text.slice(0, 200)}`).toBe('input');
      expect(e.field, `#${i} ${kind}: ${e.message}`).toBeTruthy();
      expect(e.fix, `#${i} ${kind}`).toBeTruthy();
      // The field path is named in the line itself, not only in `field`.
      expect(e.message.includes(e.field!) || e.field === 'profile' || e.field === '(profile)', `#${i} ${kind}: ${e.field} not in "${e.message}"`).toBe(true);
    }
    expect(snapshot(dir)).toEqual(before);
    expect((await client.getStatus()).profile).toEqual(statusBefore.profile);
    // Every class of mutation was exercised.
    expect(Object.keys(counts).sort()).toEqual(['bad JSON', 'deleted structure', 'out of range', 'unknown key', 'wrong type']);
  });
});

describe('applyProfile', () => {
  it("sets an idle client's profile; during a run it controls, starts a new phase; refuses a bad one with its field", async () => {
    const { lab } = makeLab();
    const events: LabEvent[] = [];
    lab.onEvent((e) => events.push(e));
    const idle = await lab.applyProfile({ profile: { ...K, load: { connections: 3 } } });
    expect(idle.profile.load.connections).toBe(3);
    await lab.startRun({ profile: { ...K, load: { connections: 3 }, duration: { warmupS: 0, measureS: 30 } } });
    const during = await lab.applyProfile({ profile: { ...K, load: { connections: 5 }, duration: { warmupS: 0, measureS: 30 } } });
    expect(during.phases).toHaveLength(2);
    expect(during.profile.load.connections).toBe(5);
    expect(events.filter((e) => e.type === 'phase')).toHaveLength(2);
    // An observer cannot change the run's profile.
    const observer = await refusal(lab.session('other').applyProfile({ profile: K }));
    expect(observer.code).toBe('NOT_CONTROLLER');
    // An import by the observer is refused the same way, and leaves no file behind.
    const storeBefore = snapshot(profilesDir());
    const imported = await refusal(lab.session('other').importProfile({ text: JSON.stringify({ ...K, name: 'observer import' }) }));
    expect(imported.code).toBe('NOT_CONTROLLER');
    expect(snapshot(profilesDir())).toEqual(storeBefore);
    const bad = await refusal(lab.applyProfile({ profile: { ...K, load: { connections: -1 } } }));
    expect(bad.field).toBe('load.connections');
    expect((await lab.getStatus()).phases).toHaveLength(2);
    await lab.stopRun();
  });

  it('a save or export sent right after a knob change mid-run takes the changed profile (read after the phase restart)', async () => {
    const { fake, lab } = makeLab();
    await lab.startRun({ profile: { ...K, load: { connections: 3 }, duration: { warmupS: 0, measureS: 30 } } });
    // The phase's engine restart takes a while: the change waits in the state queue.
    fake.behaviour = { ...fake.behaviour, delayMs: 150 };
    const change = lab.setKnob({ path: 'server.napiBusyPollUs', value: 40 });
    const saved = lab.saveProfile({ name: 'right after' });
    const exported = lab.exportProfile({ format: 'tuned' });
    await change;
    expect((await saved).profile.server.napiBusyPollUs).toBe(40);
    expect((await exported).text).toMatch(/^net\.core\.busy_poll=40$/m);
    await lab.stopRun();
  });
});

// ---- seeded mutations of valid profiles ----------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Leaf paths of a document (object keys only: arrays are values here). */
function leaves(doc: Json, at: string[] = []): string[][] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [at];
  return Object.entries(doc).flatMap(([k, v]) => leaves(v, [...at, k]));
}
function groups(doc: Json, at: string[] = []): string[][] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [];
  return [at, ...Object.entries(doc).flatMap(([k, v]) => groups(v, [...at, k]))];
}
function setAt(doc: Record<string, Json>, p: string[], value: Json | undefined): void {
  let node = doc;
  for (const k of p.slice(0, -1)) node = node[k] as Record<string, Json>;
  if (value === undefined) delete node[p[p.length - 1]];
  else node[p[p.length - 1]] = value;
}
function getAt(doc: Json, p: string[]): Json {
  return p.reduce<Json>((n, k) => (n as Record<string, Json>)[k], doc);
}

/** A value that is wrong for `current` whatever its knob: another JSON type. */
function wrongTypeFor(current: Json, rng: () => number): Json {
  const options: Json[] = typeof current === 'string'
    ? [42, true, [current], { v: current }]
    : typeof current === 'number'
      ? [String(current), true, [current], { n: current }]
      : typeof current === 'boolean'
        ? [String(current), current ? 1 : 0, [current]]
        : Array.isArray(current)
          ? [String(current[0]), { 0: current[0] ?? 1 }, true]
          : current === null
            ? [{ x: 1 }, true, [[]]]
            : ['object', 7, [current]];
  return options[Math.floor(rng() * options.length)];
}

/** A value outside every bound the catalogue sets for a number (or a string too long). */
function outOfRangeFor(current: Json, rng: () => number): Json | undefined {
  if (typeof current === 'number') return [-1 - Math.floor(rng() * 100), 1e12 + Math.floor(rng() * 1000), 1e400, Number.MAX_SAFE_INTEGER * 4][Math.floor(rng() * 4)];
  if (typeof current === 'string') return 'x'.repeat(10_001);
  return undefined;
}

function mutate(seed: unknown, rng: () => number): { text: string; kind: string } {
  const doc = JSON.parse(JSON.stringify(seed)) as Record<string, Json>;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rng() * xs.length)];
  const kinds = ['wrong type', 'out of range', 'unknown key', 'deleted structure', 'bad JSON'] as const;
  const kind = pick([...kinds]);
  const valueLeaves = leaves(doc).filter((p) => p.length > 0 && p[0] !== '$schema');
  switch (kind) {
    case 'wrong type': {
      const p = pick(valueLeaves);
      setAt(doc, p, wrongTypeFor(getAt(doc, p), rng));
      break;
    }
    case 'out of range': {
      // Names are free text up to 200, descriptions 10,000: both overflow with 10,001 characters.
      const numeric = valueLeaves.filter((p) => outOfRangeFor(getAt(doc, p), rng) !== undefined && p[0] !== 'schemaVersion');
      const p = pick(numeric);
      const v = outOfRangeFor(getAt(doc, p), rng)!;
      if (v === 1e400) {
        // JSON.stringify cannot write 1e400: a marker in its place, swapped for the raw text.
        setAt(doc, p, '__RAW_1e400__');
        return { text: JSON.stringify(doc).replace('"__RAW_1e400__"', '1e400'), kind };
      }
      setAt(doc, p, v);
      break;
    }
    case 'unknown key': {
      const g = pick(groups(doc));
      const parent = g.length ? (getAt(doc, g) as Record<string, Json>) : doc;
      const keys = Object.keys(parent);
      // A typo of a key that is there, or a key from nowhere.
      const typo = keys.length && rng() < 0.7 ? `${pick(keys)}${pick(['s', 'x', '_', '2'])}` : pick(['sqpol', 'bufferSise', 'connectoins', 'ringEntires', '__proto__x', 'extra']);
      parent[typo] = 1;
      break;
    }
    case 'deleted structure': {
      // kind or schemaVersion gone, or a group replaced by something that is not one.
      const r = rng();
      if (r < 0.3 && 'kind' in doc) delete doc.kind;
      else if (r < 0.5) delete doc.schemaVersion;
      else {
        const g = groups(doc).filter((p) => p.length > 0);
        if (g.length) setAt(doc, pick(g), pick<Json>([null, [], 'server', 0]));
        else delete doc.schemaVersion;
      }
      break;
    }
    case 'bad JSON': {
      const text = JSON.stringify(doc, null, 2);
      const cut = 1 + Math.floor(rng() * (text.length - 2));
      const breakers = [
        () => text.slice(0, cut), // truncated
        () => text.replace(/": /, '": ,'), // a stray comma
        () => text.replace(/"([a-zA-Z]+)":/, "'$1':"), // single quotes
        () => `${text}}`, // trailing garbage
        () => text.replace(/\}\s*$/, ',}'), // trailing comma
      ];
      return { text: pick(breakers)(), kind };
    }
  }
  return { text: JSON.stringify(doc), kind };
}
