/**
 * A provided-buffer pool larger than the CPU's last-level cache, with hotFirst off, is named in
 * the summary of every verb that runs our server (`run`, and so `ab` and the UI, which save runs
 * the same way; `server`), with the knob that fixes it; hotFirst on, or the epoll engine (no
 * pool), says nothing. Sized from this machine's cache, as the lab reads it.
 */
import { describe, expect, it } from 'vitest';
import { lastLevelCache } from '../../electron/host/run/bufferPool';
import type { ServerSummary } from '../../electron/host/serverOnly';
import type { RunSummary } from '../../electron/contract';
import { startCli } from './cliProcess';

const MiB = 1 << 20;
const cache = lastLevelCache();
// The smallest power-of-two count of 1 MiB buffers that outgrows the cache (512 at 508 MiB).
const count = cache ? 2 ** Math.ceil(Math.log2(cache.bytes / MiB + 1)) : 64;
// hotFirst is on by default (with recvOnReady): the warning is about a pool with it off.
const bigPool = ['--set', 'server.bufferRing.size=1048576', '--set', `server.bufferRing.count=${count}`, '--set', 'server.bufferRing.hotFirst=false'];
const coldWords = new RegExp(`^the buffer pool \\(${count >= 1024 ? `${count / 1024} GiB` : `${count} MiB`}: ${count} × 1 MiB\\) is larger than the CPU's last-level cache .*set server\\.bufferRing\\.hotFirst=true, or lower server\\.bufferRing\\.count$`);
const cold = (warnings: string[]) => warnings.filter((w) => w.startsWith('the buffer pool'));

async function cli(args: string[]) {
  const r = await startCli(args).done;
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe(`a pool of ${count} × 1 MiB against a last-level cache of ${cache ? `${cache.bytes / MiB} MiB (${cache.source})` : 'unknown size'}`, () => {
  it('`server`: warned in the JSON summary and the text one; not with hotFirst on (the default)', async () => {
    const json = await cli(['server', '--json', '--port', '0', '--duration', '0.3', ...bigPool]);
    const s = JSON.parse(json.stdout.trim().split('\n')[1]) as ServerSummary;
    expect(s.applied.server.bufferRing.count).toBe(count);
    if (cache) expect(cold(s.warnings)).toEqual([expect.stringMatching(coldWords)]);
    else expect(cold(s.warnings)).toEqual([]); // no cache size known here: nothing to compare against
    if (cache) {
      const text = await cli(['server', '--port', '0', '--duration', '0.3', ...bigPool]);
      expect(text.stdout).toMatch(/^ {2}warning {6}the buffer pool \(/m);
    }
    // The default's hot first (no --set for it) says nothing.
    const hot = await cli(['server', '--json', '--port', '0', '--duration', '0.3', ...bigPool.slice(0, 4)]);
    expect((JSON.parse(hot.stdout.trim().split('\n')[1]) as ServerSummary).applied.server.bufferRing.hotFirst).toBe(true);
    expect(cold((JSON.parse(hot.stdout.trim().split('\n')[1]) as ServerSummary).warnings)).toEqual([]);
  });

  it('`run`: warned in the run summary; not for the epoll engine, which has no pool', async () => {
    const run = await cli(['run', '--json', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', ...bigPool]);
    const s = JSON.parse(run.stdout) as RunSummary;
    expect(s.status).toBe('completed');
    expect(s.mismatches).toBe(0);
    expect(cold(s.warnings)).toEqual(cache ? [expect.stringMatching(coldWords)] : []);
    const epoll = await cli(['run', '--json', '--duration', '0.3', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--set', 'server.engine=epoll', ...bigPool]);
    expect(cold((JSON.parse(epoll.stdout) as RunSummary).warnings)).toEqual([]);
  });
});
