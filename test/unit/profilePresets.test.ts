/**
 * The presets in resources/profiles/: every one validates, says when to use it, and covers the
 * cases the issue lists; and each one really runs here (half a second, warm-up 0) with no knob
 * refused — except storage IOPOLL, whose description says it is refused on this machine's
 * virtio disk, and the run must say so too.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KNOBS, ProfileSchema, RunSummarySchema } from '../../electron/contract';
import { listPresets, presetsDir } from '../../electron/host/profiles/presets';

const CLI = path.join(__dirname, '../../dist/electron/cli.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'uring-lab-presets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The list of presets, by the file that serves each. */
const REQUIRED: Record<string, string> = {
  'epoll baseline': 'epoll-baseline',
  'io_uring default': 'loopback-default',
  'SQPOLL pinned': 'sqpoll-pinned',
  'low latency': 'low-latency',
  'maximum throughput': 'max-throughput',
  'large messages': 'large-messages',
  'NUMA-local': 'numa-local',
  'storage random read': 'storage-randread',
  'storage IOPOLL': 'storage-iopoll',
};

describe('presets', () => {
  const presets = listPresets();

  it('every file validates strictly and is named as its file', () => {
    const files = readdirSync(presetsDir()).filter((f) => f.endsWith('.json'));
    expect(presets.map((p) => `${p.id}.json`)).toEqual(files.sort());
    for (const f of files) {
      const json = JSON.parse(readFileSync(path.join(presetsDir(), f), 'utf8'));
      expect(ProfileSchema.safeParse(json).success, f).toBe(true);
      expect(json.name, f).toBe(f.slice(0, -5));
    }
  });

  it('covers every case of the issue, each with a description of when to use it', () => {
    for (const [what, id] of Object.entries(REQUIRED)) {
      const preset = presets.find((p) => p.id === id);
      expect(preset, what).toBeDefined();
      expect(preset!.description.length, `${id} says when to use it`).toBeGreaterThan(120);
      expect(preset!.description, id).toMatch(/\b(Use it|start here|Run it first)\b/i);
    }
    // README's example path keeps working.
    expect(presets.some((p) => p.id === 'loopback-sqpoll')).toBe(true);
    // Each does what its name says.
    const byId = Object.fromEntries(presets.map((p) => [p.id, p.profile]));
    expect(byId['epoll-baseline'].server.engine).toBe('epoll');
    expect(byId['sqpoll-pinned'].server.sqpoll).toMatchObject({ enabled: true, cpu: 1 });
    expect(byId['low-latency'].load.mode).toBe('open');
    expect(byId['large-messages'].load.messageBytes).toBe(65536);
    expect(byId['numa-local'].server.numa.node).toBe(0);
    expect(byId['storage-randread']).toMatchObject({ workload: 'storage', storage: { pattern: 'randread' } });
    expect(byId['storage-iopoll']).toMatchObject({ workload: 'storage', server: { iopoll: true } });
  });

  it("storage IOPOLL's description gives the refusal the run reports", () => {
    const iopoll = presets.find((p) => p.id === 'storage-iopoll')!;
    expect(KNOBS.server.iopoll.refusal?.no_poll_queues).toBeDefined();
    expect(iopoll.description).toMatch(/rejected \(EOPNOTSUPP: the device has no poll queues\)/);
  });

  it('each preset runs here; only storage IOPOLL is refused, with the reason its description gives', () => {
    const env = { ...process.env, XDG_RUNTIME_DIR: path.join(scratch, 'rt'), XDG_DATA_HOME: path.join(scratch, 'data') };
    for (const preset of presets) {
      const r = spawnSync(process.execPath, [
        CLI, 'run', '--profile', path.join(presetsDir(), `${preset.id}.json`),
        // Short and small: the test checks what runs and what is refused, not the numbers.
        '--set', 'duration.warmupS=0', '--set', 'storage.fileSizeMiB=16', '--duration', '0.5', '--json',
      ], { encoding: 'utf8', env, timeout: 30_000 });
      const summary = RunSummarySchema.parse(JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null'));
      expect(summary.status, `${preset.id}: ${r.stderr}`).toBe('completed');
      expect(summary.requests, preset.id).toBeGreaterThan(0);
      const refused = summary.rejected.map((k) => k.knob);
      if (preset.id === 'storage-iopoll') {
        expect(refused).toEqual(['server.iopoll']);
        expect(summary.rejected[0].reason).toMatch(/no poll queues/);
      } else {
        expect(refused, `${preset.id}: ${JSON.stringify(summary.rejected)}`).toEqual([]);
      }
    }
  });
});
