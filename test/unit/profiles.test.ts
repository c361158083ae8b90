import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KNOBS, LabError, ProfileSchema } from '../../electron/contract';
import { defaultProfile, loadProfileFile, parseProfile, parseSetAssignment, withKnob } from '../../electron/host/profiles';

function expectLabError(fn: () => unknown, field: string, messagePart: RegExp): LabError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LabError);
    const e = err as LabError;
    expect(e.field).toBe(field);
    expect(e.oneLine()).toMatch(messagePart);
    expect(e.oneLine()).not.toContain('\n');
    expect(e.fix).toBeTruthy();
    return e;
  }
  throw new Error('expected a LabError');
}

describe('profiles', () => {
  it('fills every key from defaults when given only kind and schemaVersion', () => {
    const p = parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1 });
    expect(p.server.sqpoll).toEqual({ enabled: false, cpu: null, idleMs: 1000, shared: false });
    expect(p.server.bufferRing).toMatchObject({ size: KNOBS.server.bufferRing.size.schema.parse(undefined), count: KNOBS.server.bufferRing.count.schema.parse(undefined) });
    // Every buffer-ring knob of the catalogue, at its default.
    for (const [key, row] of Object.entries(KNOBS.server.bufferRing)) expect(p.server.bufferRing[key as keyof typeof p.server.bufferRing], key).toEqual(row.schema.parse(undefined));
    expect(Object.keys(p.server.bufferRing).sort()).toEqual(Object.keys(KNOBS.server.bufferRing).sort());
    expect(p.load.connections).toBe(50);
    expect(p.duration).toEqual({ warmupS: 1, measureS: 10 });
  });

  it('rejects an unknown key with its full path', () => {
    expectLabError(() => parseProfile({ kind: 'uring-lab/profile', schemaVersion: 1, server: { sqpol: {} } }), 'server.sqpol', /unknown key "server.sqpol"/);
  });

  it('rejects a missing kind and a future schemaVersion', () => {
    expectLabError(() => parseProfile({ schemaVersion: 1 }), 'kind', /missing "kind"/);
    expectLabError(() => parseProfile({ kind: 'uring-lab/profile', schemaVersion: 7 }), 'schemaVersion', /schemaVersion 7/);
  });

  it('sets a knob by dotted path and validates the value', () => {
    const base = defaultProfile();
    const next = withKnob(base, 'server.sqpoll.enabled', true);
    expect(next.server.sqpoll.enabled).toBe(true);
    expect(base.server.sqpoll.enabled).toBe(false); // the user's profile is untouched
    expectLabError(() => withKnob(base, 'server.sqpoll.enabled', 'yes'), 'server.sqpoll.enabled', /must be a boolean \(true or false\) \(got the string "yes"\)/);
    expectLabError(() => withKnob(base, 'server.bufferRing.count', 1000), 'server.bufferRing.count', /power of two/);
    expectLabError(() => withKnob(base, 'load.connections', 0), 'load.connections', /must be a whole number from 1 to 4096 \(got 0\)/);
  });

  it('names unknown paths and suggests the nearest key', () => {
    const e = expectLabError(() => withKnob(defaultProfile(), 'server.sqpol.enabled', true), 'server.sqpol', /unknown profile key "server.sqpol"/);
    expect(e.fix).toContain('server.sqpoll');
    expectLabError(() => withKnob(defaultProfile(), 'server.sqpoll', true), 'server.sqpoll', /group of keys/);
  });

  it('parses --set assignments as JSON where possible', () => {
    expect(parseSetAssignment('server.sqpoll.enabled=true')).toEqual({ path: 'server.sqpoll.enabled', value: true });
    expect(parseSetAssignment('load.messageBytes=4096')).toEqual({ path: 'load.messageBytes', value: 4096 });
    expect(parseSetAssignment('name=my run')).toEqual({ path: 'name', value: 'my run' });
    expectLabError(() => parseSetAssignment('server.sqpoll.enabled'), 'server.sqpoll.enabled', /not key.path=value/);
  });

  it('reports unreadable and malformed profile files in one line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-profile-'));
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ "kind": "uring-lab/profile", ');
    expectLabError(() => loadProfileFile(bad), 'profile', /not valid JSON/);
    expectLabError(() => loadProfileFile(path.join(dir, 'missing.json')), 'profile', /ENOENT/);
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'sq', server: { sqpoll: { enabled: true } } }));
    expect(loadProfileFile(good).server.sqpoll.enabled).toBe(true);
  });

  it('ships preset profiles that validate', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const dir = path.join(__dirname, '../../resources/profiles');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(ProfileSchema.safeParse(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))).success).toBe(true);
  });
});
