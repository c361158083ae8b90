/**
 * `--out FILE` of every verb that writes one (export, runs export, ab, ab export): what the user
 * had is not lost. A target that is not a regular file (a device node, a FIFO, a folder), a
 * read-only file, the command's own input and the lab's own data are refused with one line
 * (exit 2) before any work — an A/B experiment's report exists only after all its rounds —
 * and left as they were; a symlink's target file is written and the link stays; an existing
 * file keeps its permissions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const ROOT = process.getuid?.() === 0;
const PRESET = path.join(__dirname, '../../resources/profiles/loopback-default.json');
let tmp: string;
let env: NodeJS.ProcessEnv;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-out-'));
  env = { ...process.env, XDG_RUNTIME_DIR: path.join(tmp, 'rt'), XDG_DATA_HOME: path.join(tmp, 'data'), URING_LAB_RUNS_DIR: path.join(tmp, 'runs') };
  mkdirSync(env.XDG_RUNTIME_DIR!, { recursive: true, mode: 0o700 });
  mkdirSync(path.join(tmp, 'data', 'uring-lab'), { recursive: true });
  mkdirSync(env.URING_LAB_RUNS_DIR!, { recursive: true });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Each kind of target --out must refuse, made fresh; `same` says whether it is still as it was. */
function refusedTargets(): Array<{ name: string; target: string; same: () => boolean }> {
  const dir = mkdtempSync(path.join(tmp, 'targets-'));
  const out: Array<{ name: string; target: string; same: () => boolean }> = [];
  const fifo = path.join(dir, 'fifo');
  if (spawnSync('mkfifo', [fifo]).status === 0) out.push({ name: 'a FIFO', target: fifo, same: () => lstatSync(fifo).isFIFO() });
  // A copy of /dev/null's node (root only): a rename over it replaced the device with a file.
  const dev = path.join(dir, 'null-device');
  if (spawnSync('mknod', [dev, 'c', '1', '3']).status === 0) out.push({ name: 'a character device', target: dev, same: () => lstatSync(dev).isCharacterDevice() });
  const ro = path.join(dir, 'read-only.txt');
  writeFileSync(ro, 'keep\n');
  chmodSync(ro, 0o444);
  out.push({ name: 'a read-only file', target: ro, same: () => readFileSync(ro, 'utf8') === 'keep\n' });
  out.push({ name: 'a folder', target: dir, same: () => statSync(dir).isDirectory() });
  out.push({ name: 'a missing folder', target: path.join(dir, 'nope', 'x.txt'), same: () => true });
  const saved = path.join(tmp, 'data', 'uring-lab', 'profiles.json');
  writeFileSync(saved, '{"saved":true}\n');
  out.push({ name: "the lab's data", target: saved, same: () => readFileSync(saved, 'utf8') === '{"saved":true}\n' });
  const index = path.join(env.URING_LAB_RUNS_DIR!, 'index.json');
  const indexText = (() => { try { return readFileSync(index, 'utf8'); } catch { return null; } })();
  out.push({ name: 'the run history', target: index, same: () => { try { return readFileSync(index, 'utf8') === indexText; } catch { return indexText === null; } } });
  return out;
}

function expectRefused(r: ReturnType<typeof cli>, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(/^uring-lab: --out .*nothing was written/);
}

describe('--out FILE', () => {
  it('export, runs export, ab and ab export refuse every target that is not a regular file of the user\'s, and leave it as it was', () => {
    // A saved run to export (a short one).
    const run = cli('run', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'load.connections=2', '--set', 'probes.enabled=false', '--json');
    expect(run.code, run.stderr).toBe(0);
    const runId = JSON.parse(run.stdout).runId as string;
    const verbs: Array<[string, (target: string) => string[]]> = [
      ['export', (t) => ['export', PRESET, '--format', 'fio', '--out', t]],
      ['runs export', (t) => ['runs', 'export', runId, '--format', 'csv', '--out', t]],
      // Refused before the experiment runs: with 50 rounds × 3 s it would take minutes.
      ['ab', (t) => ['ab', PRESET, PRESET, '--rounds', '50', '--duration', '3', '--out', t]],
      ['ab export', (t) => ['ab', 'export', 'ab-none', '--format', 'html', '--out', t]],
    ];
    for (const [verb, args] of verbs) {
      for (const { name, target, same } of refusedTargets()) {
        const started = Date.now();
        expectRefused(cli(...args(target)), `${verb} → ${name}`);
        expect(same(), `${verb} left ${name} as it was`).toBe(true);
        expect(Date.now() - started, `${verb} → ${name} refused before any work`).toBeLessThan(20_000);
      }
    }
    // The command's own input.
    const input = path.join(tmp, 'input.json');
    copyFileSync(PRESET, input);
    const before = readFileSync(input, 'utf8');
    expectRefused(cli('export', input, '--format', 'fio', '--out', input), 'export onto its input');
    expectRefused(cli('ab', input, PRESET, '--rounds', '50', '--out', input), 'ab onto an arm\'s profile');
    expect(readFileSync(input, 'utf8')).toBe(before);
  }, 120_000);

  // A rename over a file needs only its folder: as nobody, root's 0644 file in a folder anyone
  // may write (not sticky) passed the mode-bits check and was replaced, owner and all.
  it.skipIf(!SETPRIV || !ROOT)(`another user's file that this user may not write is refused by every --out verb and left as it was, though its folder is writable${SETPRIV && ROOT ? '' : ' (skipped: needs root and setpriv)'}`, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-out-other-'));
    try {
      chmodSync(dir, 0o777);
      const target = path.join(dir, 'roots.html');
      writeFileSync(target, "root's file\n");
      chmodSync(target, 0o644);
      const profile = path.join(dir, 'p.json');
      copyFileSync(PRESET, profile);
      chmodSync(profile, 0o644);
      const asNobody = (...args: string[]) => {
        const r = spawnSync(SETPRIV!, ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, ...args], {
          encoding: 'utf8', timeout: 60_000,
          env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: path.join(dir, 'rt'), XDG_DATA_HOME: path.join(dir, 'data'), URING_LAB_RUNS_DIR: path.join(dir, 'runs') },
        });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      };
      for (const args of [
        ['export', profile, '--format', 'fio', '--out', target],
        ['ab', profile, profile, '--rounds', '50', '--duration', '3', '--out', target],
        ['ab', 'export', 'ab-none', '--format', 'html', '--out', target],
        ['runs', 'export', 'run-none', '--format', 'csv', '--out', target],
      ]) {
        const r = asNobody(...args);
        expectRefused(r, args.slice(0, 2).join(' '));
        expect(r.stderr).toMatch(/not writable by this user \(EACCES: it belongs to uid 0/);
        expect(readFileSync(target, 'utf8')).toBe("root's file\n");
        expect(statSync(target).uid).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a symlink\'s target (the link stays) and keeps an existing file\'s permissions', () => {
    const dir = mkdtempSync(path.join(tmp, 'ok-'));
    const target = path.join(dir, 'target.fio');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o600);
    const link = path.join(dir, 'link.fio');
    symlinkSync('target.fio', link);
    const r = cli('export', PRESET, '--format', 'fio', '--out', link);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toMatch(/^\[global\]|^#|ioengine/m);
    expect(statSync(target).mode & 0o777).toBe(0o600);
  });
});
