/**
 * The resource budget and the engine time limits follow from the work a profile asks for:
 * memory beyond half of MemAvailable or beyond RLIMIT_MEMLOCK is refused up front with the
 * knobs and bytes named, and start/stop limits grow with connections and buffers.
 */
import { describe, expect, it } from 'vitest';
import { checkBudget } from '../../electron/host/run/budget';
import { formatBinaryBytes } from '../../electron/contract';
import { engineTimeouts } from '../../electron/host/labService';
import { nativeConfigFor } from '../../electron/host/engine/adapter';
import { defaultProfile, withKnob } from '../../electron/host/profiles';
import type { EngineResources } from '../../electron/engine/protocol';

const GiB = 2 ** 30;
function resources(over: Partial<EngineResources['needs']>, memAvailableBytes: number | null = 20 * GiB): EngineResources {
  const needs = { bufferRingBytes: 8 << 20, loadBufferBytes: 1 << 20, ringBytes: 1 << 20, connectionStateBytes: 1 << 16, totalBytes: 0, pinnedBytes: 1 << 20, memlockExempt: false, memlockLimitBytes: 8 << 20, ...over };
  needs.totalBytes = over.totalBytes ?? needs.bufferRingBytes + needs.loadBufferBytes + needs.ringBytes + needs.connectionStateBytes;
  return { needs, memAvailableBytes };
}

describe('resource budget', () => {
  it('lets a profile that fits through', () => {
    expect(checkBudget(defaultProfile(), resources({}))).toBeNull();
  });

  it('refuses more than half of available memory, naming the biggest knobs and the bytes', () => {
    let p = withKnob(defaultProfile(), 'server.bufferRing.count', 16384);
    p = withKnob(p, 'server.bufferRing.size', 1 << 20);
    const e = checkBudget(p, resources({ bufferRingBytes: 16 * GiB }, 20 * GiB))!;
    expect(e.code).toBe('RESOURCE_BUDGET');
    expect(e.field).toBe('server.bufferRing.count');
    expect(e.message).toMatch(/16384 × 1\.0 MiB = 16\.0 GiB/);
    expect(e.message).toMatch(/20\.0 GiB available/);
    expect(e.message).toMatch(/10\.0 GiB/);
    expect(e.fix).toMatch(/server\.bufferRing\.count or server\.bufferRing\.size/);
    expect(e.fix).not.toMatch(/ulimit/);
  });

  it('names load.connections × messageBytes when the load buffers are the biggest part', () => {
    let p = withKnob(defaultProfile(), 'load.connections', 4096);
    p = withKnob(p, 'load.messageBytes', 1 << 20);
    const e = checkBudget(p, resources({ loadBufferBytes: 8 * GiB }, 4 * GiB))!;
    expect(e.field).toBe('load.connections');
    expect(e.message).toMatch(/4096 connections × 2 × 1\.0 MiB = 8\.0 GiB/);
    // With a pipeline its send slots are part of it: said, and the fix names the knob.
    const piped = checkBudget(withKnob(p, 'load.pipeline', 4), resources({ loadBufferBytes: 20 * GiB }, 4 * GiB))!;
    expect(piped.message).toMatch(/4096 connections × 1\.0 MiB with pipeline 4 = 20\.0 GiB/);
    expect(piped.fix).toMatch(/load\.pipeline/);
  });

  it('refuses locked memory beyond RLIMIT_MEMLOCK unless the process is exempt', () => {
    const over = resources({ pinnedBytes: 64 << 20, memlockLimitBytes: 8 << 20 });
    const e = checkBudget(defaultProfile(), over)!;
    expect(e.code).toBe('RESOURCE_BUDGET');
    expect(e.message).toMatch(/locks 64\.0 MiB.*RLIMIT_MEMLOCK allows 8\.0 MiB/);
    expect(e.fix).toMatch(/ulimit -l/);
    expect(checkBudget(defaultProfile(), resources({ pinnedBytes: 64 << 20, memlockLimitBytes: 8 << 20, memlockExempt: true }))).toBeNull();
    expect(checkBudget(defaultProfile(), resources({ pinnedBytes: 64 << 20, memlockLimitBytes: null }))).toBeNull();
  });

  it('formats bytes in binary units', () => {
    expect(formatBinaryBytes(512)).toBe('512 B');
    expect(formatBinaryBytes(1536)).toBe('1.5 KiB');
    expect(formatBinaryBytes(32 * GiB)).toBe('32.0 GiB');
  });
});

describe('engine time limits follow the work', () => {
  it('grow with connections and buffer bytes, and stay at least 5 s', () => {
    const small = engineTimeouts(nativeConfigFor(defaultProfile(), 10_000));
    let heavy = withKnob(defaultProfile(), 'load.connections', 4096);
    heavy = withKnob(heavy, 'load.messageBytes', 1 << 20);
    const big = engineTimeouts(nativeConfigFor(heavy, 10_000));
    expect(small.startMs).toBeGreaterThanOrEqual(5000);
    expect(small.stopMs).toBeGreaterThanOrEqual(5000);
    // 4096 connects and 8 GiB of buffers to touch: far more than the old fixed 15 s.
    expect(big.startMs).toBeGreaterThan(60_000);
    expect(big.stopMs).toBeGreaterThan(small.stopMs);
  });
});
