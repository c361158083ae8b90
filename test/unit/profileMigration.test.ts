/**
 * Profile versions (electron/host/profiles/migrate.ts): a schemaVersion 0 file — flat keys,
 * old names, no kind — becomes the v1 profile that runs the same experiment (0.x's defaults
 * written out where v1's differ); its errors name its own keys; a newer version is refused
 * with what to do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LabError, PROFILE_KIND } from '../../electron/contract';
import { defaultProfile, loadProfileFile, parseProfile } from '../../electron/host/profiles';
import { checkProfileText } from '../../electron/host/profiles/profileFile';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refused(fn: () => unknown): LabError {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(LabError); return e as LabError; }
  throw new Error('expected a refusal');
}

describe('schemaVersion 0 → 1', () => {
  const V0 = {
    schemaVersion: 0, name: 'old sqpoll', description: 'from uring-lab 0.x', engine: 'io_uring', sqpoll: true, sqpollCpu: 1,
    sqpollIdleMs: 2000, taskrun: 'defer', ringEntries: 1024, bufferSize: 4096, connections: 16, messageBytes: 512, threads: 2, warmup: 0.5, duration: 3,
  };

  it('moves every flat key to its group and writes out what 0.x meant', () => {
    const { profile, migratedFrom } = checkProfileText(JSON.stringify(V0), 'old.json');
    expect(migratedFrom).toBe(0);
    const expected = defaultProfile();
    Object.assign(expected, { name: 'old sqpoll', description: 'from uring-lab 0.x' });
    Object.assign(expected.server, { engine: 'io_uring', ringEntries: 1024, taskrun: 'default' });
    Object.assign(expected.server.sqpoll, { enabled: true, cpu: 1, idleMs: 2000 });
    // bufferSize given; bufferCount not: 0.x's 4096; 0.x consumed whole buffers.
    Object.assign(expected.server.bufferRing, { size: 4096, count: 4096, incremental: false });
    Object.assign(expected.load, { connections: 16, messageBytes: 512, threads: 2 });
    Object.assign(expected.duration, { warmupS: 0.5, measureS: 3 });
    expect(profile).toEqual(expected);
  });

  it('an empty v0 profile is 0.x defaults, not v1 defaults', () => {
    const profile = parseProfile({ schemaVersion: 0 });
    expect(profile.server.bufferRing).toEqual({ ...defaultProfile().server.bufferRing, size: 2048, count: 4096, incremental: false });
    expect(profile.server.taskrun).toBe('defer'); // without SQPOLL 0.x did use DEFER_TASKRUN
  });

  it('reads a v0 file through --profile like any other (and a current file is not migrated)', () => {
    const file = path.join(dir, 'v0.json');
    writeFileSync(file, JSON.stringify({ schemaVersion: 0, connections: 8 }));
    expect(loadProfileFile(file).load.connections).toBe(8);
    expect(checkProfileText(JSON.stringify({ kind: PROFILE_KIND, schemaVersion: 1 }), 'x').migratedFrom).toBeNull();
  });

  it("names v0's own keys in its errors, with the nearest key and the v1 path", () => {
    const typo = refused(() => parseProfile({ schemaVersion: 0, bufferSise: 4096 }));
    expect(typo.code).toBe('UNKNOWN_KEY');
    expect(typo.field).toBe('bufferSise');
    expect(typo.message).toMatch(/did you mean "bufferSize"\?/);
    const bad = refused(() => parseProfile({ schemaVersion: 0, bufferSize: 3000 }));
    expect(bad.field).toBe('bufferSize');
    expect(bad.message).toMatch(/bufferSize must be a power of two.*\(got 3000\)/);
    expect(bad.fix).toMatch(/server\.bufferRing\.size/);
    const type = refused(() => parseProfile({ schemaVersion: 0, sqpoll: 'yes' }));
    expect(type.field).toBe('sqpoll');
    expect(type.message).toMatch(/got the string "yes"/);
    // A raw number a double cannot hold is quoted as written.
    const big = refused(() => checkProfileText('{"schemaVersion": 0, "connections": 1e400}', 'f.json'));
    expect(big.message).toMatch(/got 1e400/);
  });

  it('only a kind-less schemaVersion 0 is v0: other kind-less documents are refused as not profiles', () => {
    expect(refused(() => parseProfile({ schemaVersion: 1 })).field).toBe('kind');
    expect(refused(() => parseProfile({ connections: 8 })).field).toBe('kind');
    // With a kind, 0 is simply a version this lab does not read in that shape.
    const kinded = refused(() => parseProfile({ kind: PROFILE_KIND, schemaVersion: 0 }));
    expect(kinded.field).toBe('schemaVersion');
    expect(kinded.fix).toMatch(/remove "kind" to have it migrated/);
  });

  it('refuses a profile from a newer uring-lab, saying so and what to do', () => {
    const e = refused(() => parseProfile({ kind: PROFILE_KIND, schemaVersion: 2, server: { futureKnob: 1 } }, 'new.json'));
    expect(e.code).toBe('PROFILE_VERSION');
    expect(e.field).toBe('schemaVersion');
    expect(e.message).toMatch(/made by a newer uring-lab/);
    expect(e.fix).toMatch(/upgrade uring-lab/);
    expect(e.kind).toBe('input');
    // Something else's file with a large version is refused for what it is, not for its version.
    expect(refused(() => parseProfile({ kind: 'someone-else/config', schemaVersion: 9 })).field).toBe('kind');
  });
});
