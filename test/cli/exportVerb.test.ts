/**
 * `uring-lab export PROFILE.json --format json|fio|tuned|shell [--out FILE]` as a user runs it
 * (the built CLI): stdout by default, --out written whole (an existing file replaced, never
 * half-written; a write that cannot happen leaves it as it was), and exit 2 with one line naming
 * the field for a bad file, format or flag.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportProfile } from '../../electron/host/profiles/export';
import { loadProfileFile } from '../../electron/host/profiles';
import { CLI, expectOneErrorLine } from './cliProcess';

const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-export-verb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PRESET = path.join(__dirname, '../../resources/profiles/sqpoll-pinned.json');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'export', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('uring-lab export', () => {
  it('writes each format to stdout, as the LabApi exports it', () => {
    const profile = loadProfileFile(PRESET);
    for (const format of ['json', 'fio', 'tuned', 'shell'] as const) {
      const r = cli(PRESET, '--format', format);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(exportProfile(profile, format).text);
    }
  });

  it('migrates an older file on the way (schemaVersion 0 in, schemaVersion 1 out)', () => {
    const v0 = path.join(dir, 'v0.json');
    writeFileSync(v0, JSON.stringify({ schemaVersion: 0, name: 'old', sqpoll: true, connections: 12 }));
    const r = cli(v0, '--format', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ schemaVersion: 1, name: 'old', server: { sqpoll: { enabled: true }, taskrun: 'default' }, load: { connections: 12 } });
  });

  it('--out replaces the file whole, with no temp file left; a shell script is executable', () => {
    const out = path.join(dir, 'job.fio');
    writeFileSync(out, 'the old content\n');
    const r = cli(PRESET, '--format', 'fio', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe(exportProfile(loadProfileFile(PRESET), 'fio').text);
    const script = path.join(dir, 'run.sh');
    expect(cli(PRESET, '--format', 'shell', '--out', script).code).toBe(0);
    expect(statSync(script).mode & 0o111).not.toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('exits 2 with one line naming the field for bad input, and leaves --out as it was', () => {
    const out = path.join(dir, 'keep.txt');
    writeFileSync(out, 'keep me\n');
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, server: { sqpol: { enabled: true } } }));
    const newer = path.join(dir, 'newer.json');
    writeFileSync(newer, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 7 }));
    const readOnly = path.join(dir, 'ro');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o500);
    const cases: Array<[string[], RegExp]> = [
      [[bad, '--format', 'fio', '--out', out], /unknown key "server\.sqpol" \(did you mean "server\.sqpoll"\?\)/],
      [[newer, '--format', 'json', '--out', out], /made by a newer uring-lab/],
      [[path.join(dir, 'missing.json'), '--format', 'json', '--out', out], /cannot open \(ENOENT/],
      [[PRESET, '--format', 'yaml', '--out', out], /--format "yaml" is not a format; give --format json/],
      [[PRESET, '--out', out], /--format is missing/],
      [['--format', 'json'], /no profile file given/],
      [[PRESET, PRESET, '--format', 'json'], /2 profile files given/],
      [[PRESET, '--format', 'json', '--bogus'], /export: unknown option '--bogus'/],
      [[PRESET, '--format', 'json', '--out', path.join(dir, 'no', 'such', 'dir', 'x.json')], /--out .*: the folder .* does not exist; nothing was written/],
      [[PRESET, '--format', 'json', '--out', dir], /--out .*: is a directory; nothing was written/],
    ];
    // root ignores directory permissions: the read-only case only means something for others.
    if (process.getuid?.() !== 0) cases.push([[PRESET, '--format', 'json', '--out', path.join(readOnly, 'x.json')], /EACCES/]);
    for (const [args, pattern] of cases) {
      const r = cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expectOneErrorLine(r.stderr, pattern);
    }
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    expect(existsSync(path.join(dir, 'no'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('the shell export, run for real and answered "no", changes nothing and runs the profile headless', () => {
    const profileFile = path.join(dir, 'short.json');
    writeFileSync(profileFile, JSON.stringify({ kind: 'uring-lab/profile', schemaVersion: 1, name: 'short napi', server: { napiBusyPollUs: 20 }, load: { connections: 4 }, duration: { warmupS: 0, measureS: 0.5 } }));
    const script = path.join(dir, 'short.sh');
    expect(cli(profileFile, '--format', 'shell', '--out', script).code).toBe(0);
    // The built CLI as `uring-lab` (a wrapper: dist/ is not on PATH, and its mode is the build's business).
    const bin = path.join(dir, 'uring-lab');
    writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    const busyPoll = () => readFileSync('/proc/sys/net/core/busy_poll', 'utf8').trim();
    const before = busyPoll();
    const r = spawnSync('bash', [script, '--', '--json'], {
      encoding: 'utf8', input: 'n\nn\nn\nn\n', timeout: 60_000,
      env: { ...process.env, URING_LAB: bin, XDG_RUNTIME_DIR: path.join(dir, 'rt'), XDG_DATA_HOME: path.join(dir, 'data') },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(busyPoll()).toBe(before);
    if (before !== '20') expect(r.stderr).toMatch(/left net\.core\.busy_poll at|changing it needs root/);
    // The script's own words go to stderr: stdout is the run's JSON alone, as `| jq` needs.
    expect(r.stderr).toMatch(/ok: /);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ status: 'completed', profileName: 'short napi', applied: { server: { napiBusyPollUs: 20 }, load: { connections: 4 } } });
  });

  it('--help prints its usage and exits 0', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: uring-lab export PROFILE\.json --format json\|fio\|tuned\|shell \[--out FILE\]/);
  });
});
