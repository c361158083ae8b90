/**
 * Hand-edited and hostile profile files through every CLI path that reads one (`export FILE`
 * and `run --profile FILE`, the same reader as `server`, `load` and `ab`): each is exit 2 with
 * one line naming the field, nothing started (no run saved), and --out left as it was.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, expectOneErrorLine } from './cliProcess';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-hostile-profiles-'));
const runsDir = path.join(dir, 'runs');
const runtime = path.join(dir, 'rt');
mkdirSync(runtime);
const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data'), XDG_RUNTIME_DIR: runtime, URING_LAB_RUNS_DIR: runsDir };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('hostile profile files', () => {
  it('a schemaVersion that is no whole number is named as a typo, not as a newer uring-lab\'s file; a whole newer one still is', () => {
    const out = file('keep.txt', 'keep me\n');
    for (const version of ['1.5', '0.5', '2.25', '-1']) {
      const p = file(`v${version}.json`, `{"kind": "uring-lab/profile", "schemaVersion": ${version}}`);
      for (const args of [['export', p, '--format', 'json', '--out', out], ['run', '--profile', p, '--duration', '0.2']]) {
        const r = cli(...args);
        expect(r.code, `${version} ${args[0]}: ${r.stderr}`).toBe(2);
        expect(r.stdout).toBe('');
        expectOneErrorLine(r.stderr, new RegExp(`schemaVersion ${version.replace('.', '\\.')} is not supported .*write "schemaVersion": 1`));
        expect(r.stderr).not.toMatch(/newer uring-lab/);
      }
    }
    const newer = file('v2.json', '{"kind": "uring-lab/profile", "schemaVersion": 2.0}');
    expectOneErrorLine(cli('export', newer, '--format', 'json').stderr, /schemaVersion 2 is not supported .*made by a newer uring-lab/);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    expect(readdirSync(dir)).not.toContain('runs');
  }, 60_000);

  it('wrong types, unknown and duplicate keys, a stray second value, CRLF: exit 2 naming the field, before any run', () => {
    const K = '"kind": "uring-lab/profile", "schemaVersion": 1';
    const cases: Array<[string, string, RegExp]> = [
      ['type.json', `{${K}, "server": {"rings": "2"}}`, /server\.rings must be a whole number/],
      ['unknown.json', `{${K}, "server": {"ringz": 2}}`, /unknown key "server\.ringz" \(did you mean "server\.rings"\?\)/],
      ['dup.json', `{${K}, "storage": {"blockBytes": 4096, "blockBytes": 512}}`, /key "storage\.blockBytes" appears twice/],
      ['two.json', `{${K}} {}`, /after the end of the JSON value/],
      ['crlf.json', `\ufeff{\r\n${K},\r\n"storage": {"blockBytes": 1000}\r\n}\r\n`, /storage\.blockBytes must be a whole number .*multiple of 512/],
      ['proto.json', `{${K}, "server": {"__proto__": {"rings": 5}}}`, /unknown key "server\.__proto__"/],
    ];
    for (const [name, text, pattern] of cases) {
      const p = file(name, text);
      for (const args of [['export', p, '--format', 'json'], ['run', '--profile', p, '--duration', '0.2']]) {
        const r = cli(...args);
        expect(r.code, `${name} ${args[0]}: ${r.stderr}`).toBe(2);
        expect(r.stdout).toBe('');
        expectOneErrorLine(r.stderr, pattern);
      }
    }
    expect(readdirSync(dir)).not.toContain('runs');
  }, 120_000);
});

describe('hostile storage.path in a profile file', () => {
  it('a NUL byte (\\u0000) in storage.path is exit 2 saying so, not a permissions problem', () => {
    const p = file('nul.json', '{"kind": "uring-lab/profile", "schemaVersion": 1, "workload": "storage", "storage": {"path": "/tmp/x\\u0000y"}}');
    const r = cli('run', '--profile', p, '--duration', '0.2');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expectOneErrorLine(r.stderr, /storage\.path: "\/tmp\/x\\u0000y" holds a NUL byte .*; remove the \\u0000 from storage\.path$/);
    expect(r.stderr).not.toMatch(/permissions/);
  }, 30_000);
});
