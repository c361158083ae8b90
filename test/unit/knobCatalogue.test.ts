/**
 * The knob catalogue is the one description of a knob: the profile schema, the engine
 * configuration, refusal mapping and labels all derive from it.
 */
import { describe, expect, it } from 'vitest';
import { knobAt, knobEntries, knobForSetting, knobLabel, ProfileSchema, PROFILE_KIND, PROFILE_SCHEMA_VERSION } from '../../electron/contract';
import { appliedProfile, nativeConfigFor, rejectedKnobs, startError } from '../../electron/host/engine/adapter';
import { defaultProfile, withKnob } from '../../electron/host/profiles';

describe('knob catalogue', () => {
  it('defines every leaf of the profile schema, and nothing else', () => {
    const leaves: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node && typeof node === 'object' && !Array.isArray(node)) for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
      else leaves.push(path);
    };
    walk(defaultProfile(), '');
    const catalogue = knobEntries().map((e) => e.path);
    expect(leaves.filter((p) => p !== 'kind' && p !== 'schemaVersion').sort()).toEqual([...catalogue].sort());
  });

  it('gives every row a label, help, and a known way of applying', () => {
    for (const row of knobEntries()) {
      expect(row.label.length, row.path).toBeGreaterThan(0);
      expect(row.help.length, row.path).toBeGreaterThan(10);
      expect(['new-ring', 'next-run', 'metadata']).toContain(row.applies);
    }
  });

  it('each native setting belongs to exactly one knob', () => {
    const owners = new Map<string, string[]>();
    for (const row of knobEntries()) for (const s of row.settings ?? []) owners.set(s, [...(owners.get(s) ?? []), row.path]);
    for (const [setting, paths] of owners) expect(paths, setting).toHaveLength(1);
    expect(knobForSetting('SQPOLL')?.path).toBe('server.sqpoll.enabled');
    expect(knobForSetting('BUF_RING_REGISTER')?.path).toBe('server.bufferRing.count');
  });

  it('derives the profile defaults from the rows', () => {
    const p = ProfileSchema.parse({ kind: PROFILE_KIND, schemaVersion: PROFILE_SCHEMA_VERSION });
    for (const row of knobEntries()) {
      const value = row.path.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], p);
      expect(value, row.path).toEqual(row.schema.parse(undefined));
    }
  });

  it('carries every engine knob to the engine at its profile path, and back as applied', () => {
    const profile = withKnob(withKnob(defaultProfile(), 'server.sqpoll.enabled', true), 'load.connections', 7);
    const config = nativeConfigFor(profile, 5000) as unknown as Record<string, any>;
    expect(config.protocol).toBe(1);
    expect(config.maxDurationMs).toBe(5000);
    expect(config.server.sqpoll.enabled).toBe(true);
    expect(config.load.connections).toBe(7);
    expect(config.duration).toBeUndefined();
    for (const row of knobEntries().filter((r) => r.engine)) {
      expect(row.path.split('.').reduce<any>((n, k) => n?.[k], config), row.path).not.toBeUndefined();
    }
    const applied = appliedProfile(profile, { server: { ringEntries: 4096, sqpoll: { enabled: false, cpu: null, idleMs: 1000 }, taskrun: 'defer', bufferRing: { size: 2048, count: 4096 } } } as never);
    expect(applied.server.sqpoll.enabled).toBe(false);
    expect(applied.load.connections).toBe(7);
    expect(profile.server.sqpoll.enabled).toBe(true); // the requested profile is untouched
  });

  it('puts a refused flag back on its knob with the catalogue\'s words and the errno\'s', () => {
    const [taskrun, ...rest] = rejectedKnobs([
      { setting: 'DEFER_TASKRUN', cause: 'conflicts_with_sqpoll', errno: 22, code: 'EINVAL', errnoText: 'Invalid argument', requested: 'defer' },
      { setting: 'SINGLE_ISSUER', cause: 'conflicts_with_sqpoll', errno: 22, code: 'EINVAL', errnoText: 'Invalid argument', requested: 'defer' },
    ] as never);
    expect(rest).toHaveLength(0);
    expect(taskrun.knob).toBe('server.taskrun');
    expect(taskrun.reason).toMatch(/SQPOLL rings take neither.*\(EINVAL: Invalid argument\)/);
    expect(taskrun.fix).toMatch(/'default'/);
    const e = startError({ code: 'ENOMEM', errno: 12, step: 'BUF_RING_REGISTER', message: 'could not register the buffer ring' });
    expect(e.field).toBe('server.bufferRing.count');
    expect(e.kind).toBe('kernel');
    expect(e.message).toMatch(/^Buffers \(server\.bufferRing\.count\): /);
    // The addon ends its message with its fix; the one line says the fix once.
    const open = startError({ code: 'EROFS', errno: 30, step: 'STORAGE_OPEN', message: 'could not open the storage target /x (EROFS): Read-only file system; its filesystem is read-only', fix: 'its filesystem is read-only' });
    expect(open.oneLine().split('its filesystem is read-only')).toHaveLength(2);
  });

  it('labels paths for people', () => {
    expect(knobLabel('server.sqpoll.enabled')).toBe('SQPOLL');
    expect(knobLabel('no.such.knob')).toBe('no.such.knob');
    expect(knobAt('load.messageBytes')?.unit).toBe('bytes');
  });
});
