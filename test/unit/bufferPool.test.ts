/**
 * The cold-pool warning's pieces: the cache size read from sysfs (or cpuid), and the rule that
 * names a provided-buffer pool larger than the last-level cache with hotFirst off.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cacheFromSysfs, parseCacheSize } from '../../electron/host/run/bufferPool';
import { bufferPoolBytes, coldPoolRemark, coldPoolWarning, poolBytesWords, type CacheInfo } from '../../electron/contract';
import { defaultProfile, withKnob } from '../../electron/host/profiles';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function cacheDir(entries: Array<{ level: number; type: string; size: string }>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cache-'));
  dirs.push(dir);
  entries.forEach((e, i) => {
    const d = path.join(dir, `index${i}`);
    mkdirSync(d);
    writeFileSync(path.join(d, 'level'), `${e.level}\n`);
    writeFileSync(path.join(d, 'type'), `${e.type}\n`);
    writeFileSync(path.join(d, 'size'), `${e.size}\n`);
  });
  return dir;
}

const L3: CacheInfo = { bytes: 32 << 20, level: 3, source: 'sysfs' };
const server = (...sets: Array<[string, unknown]>) => sets.reduce((p, [k, v]) => withKnob(p, k, v), defaultProfile()).server;

describe('cache size', () => {
  it('reads sysfs sizes in K, M, G or bytes and refuses anything else', () => {
    expect(parseCacheSize('1024K\n')).toBe(1 << 20);
    expect(parseCacheSize('32M')).toBe(32 << 20);
    expect(parseCacheSize('1G')).toBe(1 << 30);
    expect(parseCacheSize('49152')).toBe(49152);
    for (const bad of ['', '0K', 'K', '12 X', '-1K', '1.5M']) expect(parseCacheSize(bad), bad).toBeNull();
  });

  it('takes the highest-level data or unified cache, never an instruction cache', () => {
    expect(cacheFromSysfs(cacheDir([
      { level: 1, type: 'Data', size: '48K' },
      { level: 1, type: 'Instruction', size: '32K' },
      { level: 2, type: 'Unified', size: '1024K' },
      { level: 3, type: 'Unified', size: '32768K' },
    ]))).toEqual({ bytes: 32 << 20, level: 3, source: 'sysfs' });
    // An instruction cache at a higher level than any other is not where received data goes.
    expect(cacheFromSysfs(cacheDir([
      { level: 1, type: 'Data', size: '32K' },
      { level: 2, type: 'Instruction', size: '8M' },
    ]))).toEqual({ bytes: 32 << 10, level: 1, source: 'sysfs' });
  });

  it('no cache folder, an empty one, or unreadable entries: what is left, else null', () => {
    expect(cacheFromSysfs('/nonexistent/cache')).toBeNull();
    expect(cacheFromSysfs(cacheDir([]))).toBeNull();
    const dir = cacheDir([{ level: 2, type: 'Unified', size: '1024K' }, { level: 3, type: 'Unified', size: 'garbage' }]);
    expect(cacheFromSysfs(dir)).toEqual({ bytes: 1 << 20, level: 2, source: 'sysfs' });
    if (process.getuid?.() !== 0) {
      chmodSync(path.join(dir, 'index0'), 0);
      expect(cacheFromSysfs(dir)).toBeNull();
    }
  });
});

describe('cold-pool warning', () => {
  // hotFirst is on by default (with recvOnReady); the warning is about a pool with it off.
  const cold = (...sets: Array<[string, unknown]>) => server(['server.bufferRing.hotFirst', false], ...sets);

  it('names a pool larger than the last-level cache with hotFirst off, the sizes and both fixes', () => {
    // 1024 × 64 KiB = 64 MiB against 32 MiB.
    const big = cold(['server.bufferRing.count', 1024]);
    expect(bufferPoolBytes(big)).toBe(64 << 20);
    const w = coldPoolWarning([big], L3);
    expect(w).toBe("the buffer pool (64 MiB: 1024 × 64 KiB) is larger than the CPU's last-level cache (L3, 32 MiB): "
      + 'with server.bufferRing.hotFirst off the kernel fills the buffer returned longest ago, which has left the cache, so every receive writes to cold memory; '
      + 'set server.bufferRing.hotFirst=true, or lower server.bufferRing.count');
    expect(coldPoolWarning([big], { ...L3, source: 'cpuid' })).toContain('(L3, 32 MiB, as cpuid reports it)');
  });

  it('counts every ring\'s pool: 2 rings × 256 × 64 KiB is 32 MiB, over a 16 MiB cache', () => {
    const two = cold(['server.rings', 2], ['server.bufferRing.count', 256]);
    expect(coldPoolWarning([two], { ...L3, bytes: 16 << 20 })).toMatch(/^the buffer pool \(32 MiB: 2 rings × 256 × 64 KiB\)/);
    expect(coldPoolWarning([cold(['server.bufferRing.count', 256])], { ...L3, bytes: 16 << 20 })).toBeNull();
  });

  it('says nothing at or under the cache, with hotFirst on, for the epoll engine, or without a known cache', () => {
    expect(coldPoolWarning([cold(['server.bufferRing.count', 512])], L3)).toBeNull(); // exactly 32 MiB
    expect(coldPoolWarning([cold()], L3)).toBeNull(); // the default 4 MiB
    expect(coldPoolWarning([server(['server.bufferRing.count', 4096])], L3)).toBeNull(); // hotFirst on: the default
    expect(coldPoolWarning([cold(['server.bufferRing.count', 4096], ['server.bufferRing.hotFirst', true])], L3)).toBeNull();
    expect(coldPoolWarning([cold(['server.bufferRing.count', 4096], ['server.engine', 'epoll'])], L3)).toBeNull();
    expect(coldPoolWarning([cold(['server.bufferRing.count', 4096])], null)).toBeNull();
  });

  it('the knob panel\'s remark: the same rule, shorter words', () => {
    expect(coldPoolRemark(cold(['server.bufferRing.count', 1024]), L3)).toBe("The buffer pool (64 MiB) is larger than the CPU's last-level cache (L3, 32 MiB): with this off, every receive writes to memory that has left the cache.");
    expect(coldPoolRemark(cold(['server.bufferRing.count', 1024], ['server.bufferRing.hotFirst', true]), L3)).toBeNull();
    expect(coldPoolRemark(cold(['server.bufferRing.count', 1024]), null)).toBeNull();
  });

  it('sizes in words: whole units bare, fractions to one place', () => {
    expect(poolBytesWords(64 << 20)).toBe('64 MiB');
    expect(poolBytesWords(532676608)).toBe('508 MiB');
    expect(poolBytesWords(1536 << 10)).toBe('1.5 MiB');
    expect(poolBytesWords(1 << 30)).toBe('1 GiB');
    expect(poolBytesWords(512)).toBe('512 B');
  });

  it('a run whose phases changed the pool: the largest cold one, whichever phase had it', () => {
    const phases = [cold(), cold(['server.bufferRing.count', 2048]), cold(['server.bufferRing.count', 4096], ['server.bufferRing.hotFirst', true]), cold(['server.bufferRing.count', 1024])];
    expect(coldPoolWarning(phases, L3)).toMatch(/^the buffer pool \(128 MiB: 2048 × 64 KiB\)/);
  });
});
