/**
 * Stack symbolization against this machine's real symbols: kernel IPs through /proc/kallsyms,
 * user IPs through /proc/self/maps and the ELF symbol tables of the files mapped here (the
 * native addon, libc, node). Expected names come from other tools' views of the same files
 * (nm, kallsyms' own lines), never from the reader under test.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfSymbols, JIT, KernelSymbols, readExecutableMappings, Symbolizer, UNKNOWN, UserSymbols } from '../../electron/engine/symbolize';
import { fromWire } from '../../electron/host/engine/supervisor';
import type { EngineToHost, WireSnapshot } from '../../electron/engine/protocol';

const native = require('../../native') as { addonPath: string };

const kallsyms = readFileSync('/proc/kallsyms', 'latin1');
const hex = (n: bigint) => n.toString(16).padStart(16, '0');

/** A kernel text symbol's address from kallsyms' own line. */
function kernelAddress(name: string): bigint {
  const m = new RegExp(`^([0-9a-f]{16}) [tT] ${name}$`, 'm').exec(kallsyms);
  if (!m) throw new Error(`${name} not in /proc/kallsyms`);
  return BigInt(`0x${m[1]}`);
}

/** The run-time address of `vaddr` of a mapped ELF file in this process (the loader's view). */
function runtimeAddress(path: string, vaddr: number): number {
  const elf = new ElfSymbols(path);
  const seg = elf.segments.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz)!;
  const fileOffset = vaddr - seg.vaddr + seg.offset;
  const map = readExecutableMappings().find((m) => m.path === path && fileOffset >= m.offset && fileOffset < m.offset + (m.end - m.start));
  if (!map) throw new Error(`${path} offset ${fileOffset} is not mapped executable here`);
  return map.start + fileOffset - map.offset;
}

describe('kernel symbols (/proc/kallsyms)', () => {
  const kernel = new KernelSymbols(kallsyms);

  it('loads the text symbols and names an address inside a function by that function', () => {
    expect(kernel.size).toBeGreaterThan(10_000);
    for (const name of ['schedule', 'do_nanosleep', 'tcp_sendmsg', 'io_submit_sqes']) {
      const at = kernelAddress(name);
      expect(kernel.resolve(hex(at)), name).toBe(name);
      expect(kernel.resolve(hex(at + 5n)), `${name}+5`).toBe(name);
    }
  });

  it('names module symbols (name, tab, [module]) and sorts lines that come out of address order', () => {
    const k = new KernelSymbols([
      'ffffffff81000000 T _stext',
      'ffffffff81000100 t core_fn',
      'ffffffff81000200 D some_data',
      'ffffffffc0a01000 t mod_fn\t[virtio_net]',
      'ffffffff81000300 T late_core',
      'ffffffffc0a00000 t mod_first\t[virtio_net]',
      '0000000000000000 T hidden_by_kptr_restrict',
    ].join('\n'));
    expect(k.size).toBe(5);
    expect(k.resolve('ffffffff81000150')).toBe('core_fn');
    expect(k.resolve('ffffffff81000250')).toBe('core_fn'); // data is no function
    expect(k.resolve('ffffffff81000310')).toBe('late_core');
    expect(k.resolve('ffffffffc0a00010')).toBe('mod_first');
    expect(k.resolve('ffffffffc0a01010')).toBe('mod_fn');
  });

  it('says nothing for what is no kernel address', () => {
    expect(kernel.resolve('00007f0000001000')).toBeNull();
    expect(kernel.resolve('zz')).toBeNull();
  });

  it('folds a leaf-first kernel stack root first', () => {
    const s = new Symbolizer();
    const leafFirst = ['schedule', 'do_nanosleep', 'hrtimer_nanosleep'].map((n) => hex(kernelAddress(n) + 1n));
    expect(s.foldKernel(leafFirst)).toBe('hrtimer_nanosleep;do_nanosleep;schedule');
  });
});

describe('user symbols (ELF64 .symtab/.dynsym of the mapped files)', () => {
  it('reads the addon\'s function symbols as nm does', () => {
    const elf = new ElfSymbols(native.addonPath);
    const nm = execFileSync('nm', ['--defined-only', native.addonPath], { encoding: 'utf8' })
      .split('\n').map((l) => l.split(' ')).filter((f) => f.length === 3 && /^[tTwW]$/.test(f[1]!));
    expect(elf.table).not.toBeNull();
    expect(nm.length).toBeGreaterThan(100);
    // Every nm text symbol with an address resolves to a symbol at that address (aliases share it).
    const byAddress = new Map<number, Set<string>>();
    for (const [addr, , name] of nm) {
      const a = parseInt(addr!, 16);
      if (!byAddress.has(a)) byAddress.set(a, new Set());
      byAddress.get(a)!.add(name!);
    }
    let checked = 0;
    for (const [a, names] of byAddress) {
      const got = elf.resolve(a);
      if (got === null) continue; // zero-sized labels (_init and such) have no extent
      expect(names.has(got), `${a.toString(16)}: ${got} not in ${[...names].join(',')}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(nm.length / 2);
  });

  it('names IPs in the loaded addon, in libc and in node through /proc/self/maps', () => {
    const user = new UserSymbols();
    /** nm's address of `name`, and every name nm gives that address (aliases, version suffixes dropped). */
    const nmAddress = (file: string, name: string, dynamic: boolean) => {
      const rows = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', file], { encoding: 'utf8', maxBuffer: 1 << 28 })
        .split('\n').map((l) => l.split(' ')).filter((f) => f.length === 3 && /^[tTiWw]$/.test(f[1]!))
        .map(([a, , n]) => [parseInt(a!, 16), n!.replace(/@.*$/, '')] as const);
      const at = rows.find(([, n]) => n === name)?.[0];
      if (at === undefined) throw new Error(`${name} not in ${file}`);
      return { at, names: new Set(rows.filter(([a]) => a === at).map(([, n]) => n)) };
    };
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libc = /\s(\/\S*libc\.so\.6)$/m.exec(maps)![1]!;
    const cases: [string, string, boolean][] = [
      [native.addonPath, 'napi_register_module_v1', true],
      [libc, 'epoll_wait', true],
      [process.execPath, 'uv_run', true],
    ];
    for (const [file, name, dynamic] of cases) {
      const { at, names } = nmAddress(file, name, dynamic);
      const got = user.resolve(runtimeAddress(file, at + 2).toString(16));
      expect(names.has(got), `${name} in ${file}: got ${got}`).toBe(true);
    }
  });

  it('says [jit] for anonymous executable memory and [unknown] for unmapped addresses', () => {
    const user = new UserSymbols();
    expect(user.resolve('10')).toBe(UNKNOWN);
    const anon = readExecutableMappings().find((m) => m.path === null);
    // V8 keeps generated code in anonymous executable mappings; node always has some.
    expect(anon).toBeDefined();
    expect(user.resolve(anon!.start.toString(16))).toBe(JIT);
  });
});

describe('profile and off-CPU frames', () => {
  it('folds samples as comm;user root…leaf;kernel root…leaf_[k] and sums equal stacks', () => {
    const s = new Symbolizer();
    const k = (n: string) => hex(kernelAddress(n) + 1n);
    const addon = readExecutableMappings().find((m) => m.path === native.addonPath)!;
    const userIp = (addon.start + 16).toString(16);
    const userName = new UserSymbols().resolve(userIp);
    const sample = { tid: 1, comm: 'uring-srv-0', kernelIps: [k('schedule'), k('do_nanosleep')], userIps: [userIp], count: 3 };
    const p = s.profile({ hz: 99, lost: 2, samples: [sample, { ...sample, tid: 2, count: 4 }] });
    expect(p).toEqual({ hz: 99, samples: 7, lost: 2, stacks: [[0, 7]] });
    expect(s.takeNewStacks()).toEqual([[0, `uring-srv-0;${userName};do_nanosleep_[k];schedule_[k]`]]);
    // The addon's frozen stack arrays (one per stack id): named once, the same fold every time.
    const frozen = { ...sample, kernelIps: Object.freeze([k('schedule'), k('do_nanosleep')]) as string[], userIps: Object.freeze([userIp]) as string[] };
    for (let i = 0; i < 3; i++) expect(s.foldSample(frozen)).toBe(`uring-srv-0;${userName};do_nanosleep_[k];schedule_[k]`);
    expect(s.foldSample({ comm: 'iou-sqp-7', kernelIps: frozen.kernelIps, userIps: [] })).toBe('iou-sqp-7;do_nanosleep_[k];schedule_[k]');
    const o = s.offCpu({ minUs: 1000, truncated: 0, events: [{ tid: 5, comm: 'uring-srv-0', offNs: 3e8, endMonotonicNs: 42, kernelIps: [k('schedule'), k('do_nanosleep')] }] });
    expect(o.events[0]).toEqual({ tid: 5, comm: 'uring-srv-0', offNs: 3e8, endMonotonicNs: 42, stack: 'do_nanosleep;schedule' });
  });
});

describe('profile stacks by id, engine to host', () => {
  const frame = (stacks: [number, number][]) => ({ type: 'snapshot' as const, snapshot: { kernel: { profile: { hz: 99, samples: stacks.reduce((n, [, c]) => n + c, 0), lost: 0, stacks } } } as unknown as WireSnapshot });
  const foldedOf = (m: EngineToHost) => (m.type === 'snapshot' ? m.snapshot.kernel?.profile?.folded : null);

  it('names each stack once; the host gives every frame its names, the same strings', () => {
    const s = new Symbolizer();
    const names = new Map<number, string>();
    const sample = (comm: string, kernelIps: string[], count = 1) => ({ tid: 1, comm, kernelIps, userIps: [], count });
    const a = s.profile({ hz: 99, lost: 0, samples: [sample('uring-srv-0', ['1']), sample('uring-load', ['2'], 3)] });
    const first = fromWire({ ...frame(a.stacks), stacks: s.takeNewStacks() }, names);
    const b = s.profile({ hz: 99, lost: 0, samples: [sample('uring-srv-0', ['1'], 2)] });
    const again = s.takeNewStacks();
    expect(again).toEqual([]); // seen before: no name goes over again
    const second = fromWire(frame(b.stacks), names);
    const [[loadStack, three], [srvStack, one]] = foldedOf(first)!;
    expect([three, one]).toEqual([3, 1]);
    expect(loadStack).toMatch(/^uring-load;/);
    expect(foldedOf(second)).toEqual([[srvStack, 2]]);
    expect(foldedOf(second)![0]![0]).toBe(srvStack);
  });

  it('a read whose frame is dropped sends its new names with the next message; a run starts the ids again', () => {
    const s = new Symbolizer();
    const names = new Map<number, string>();
    const sample = { tid: 1, comm: 'node', kernelIps: ['3'], userIps: [], count: 1 };
    s.profile({ hz: 99, lost: 0, samples: [sample] }); // the start's read: emptied, never posted
    const later = s.profile({ hz: 99, lost: 0, samples: [sample, { ...sample, comm: 'uring-srv-0' }] });
    const m = fromWire({ ...frame(later.stacks), stacks: s.takeNewStacks() }, names);
    expect(foldedOf(m)!.map(([stack]) => stack.split(';')[0])).toEqual(['node', 'uring-srv-0']);
    // A new run: both sides forget, and the same id names another stack.
    s.resetStacks();
    fromWire({ type: 'started', started: {} as never, atNs: 0 }, names);
    expect(names.size).toBe(0);
    const next = s.profile({ hz: 99, lost: 0, samples: [{ ...sample, comm: 'uring-load' }] });
    const n = fromWire({ ...frame(next.stacks), stacks: s.takeNewStacks() }, names);
    expect(foldedOf(n)).toEqual([[expect.stringMatching(/^uring-load;/), 1]]);
    // The final frame of a stop is named the same way.
    const stop = s.profile({ hz: 99, lost: 0, samples: [{ ...sample, comm: 'uring-load' }, sample] });
    const stopped = fromWire({ type: 'stopped', final: frame(stop.stacks).snapshot, stacks: s.takeNewStacks() }, names);
    expect(stopped.type === 'stopped' && stopped.final?.kernel?.profile?.folded.map(([stack]) => stack.split(';')[0])).toEqual(['uring-load', 'node']);
  });
});
