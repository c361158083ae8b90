/**
 * Stack symbolization in the engine process: the stacks the probes sample are this process's
 * own threads', so its /proc/self/maps and the files mapped in it are the ones that name them.
 *
 *  - kernel IPs: /proc/kallsyms (text symbols), loaded once per engine process, sorted, binary
 *    search. Kernel addresses do not fit a JS number: every x86-64 kernel address is in the
 *    canonical upper half (0xffff…), so the low 48 bits are the key.
 *  - user IPs: /proc/self/maps → the mapped file → its ELF64 symbol table (.symtab, else
 *    .dynsym; STT_FUNC and IFUNC with their sizes). A small reader of our own: npm has no
 *    maintained ELF parser, and the subset needed (headers, PT_LOAD, symbol tables) is small.
 *    C++ names stay mangled: npm has no maintained demangler (c++filt reads them back).
 *  - unresolved: `[unknown]`; an anonymous executable mapping (V8's generated code): `[jit]`.
 *
 * Folded stacks follow the flame-graph convention: "comm;user root…leaf;kernel root…leaf_[k]".
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { FoldedStack } from '../contract/diagnose';

export const UNKNOWN = '[unknown]';
export const JIT = '[jit]';

// ---- native shapes (native/index.d.ts, probes: issue 12) -------------------------------
// IPs are lowercase hex without 0x, leaf first, as the kernel returns them.
export interface NativeProfileSample { tid: number; comm: string; kernelIps: string[]; userIps: string[]; count: number }
export interface NativeProfileFrame { hz: number; samples: NativeProfileSample[]; lost: number }
export interface NativeOffCpuEvent { tid: number; comm: string; offNs: number; endMonotonicNs: number; kernelIps: string[] }
export interface NativeOffCpuFrame { minUs: number; events: NativeOffCpuEvent[]; truncated: number }

// ---- kernel: /proc/kallsyms ---------------------------------------------------------------

/** Kernel text symbols, sorted by address (low 48 bits). */
export class KernelSymbols {
  private readonly addrs: Float64Array;
  /** Where each symbol's name sits in the kallsyms text, in address order: names are cut out
   *  when a stack needs them. Building ~120k strings and sorting tuples up front took ~185 ms
   *  of the engine's start here; the typed arrays, 45–60 ms. */
  private readonly nameAt: Uint32Array;
  private readonly nameEnd: Uint32Array;
  private readonly text: string;

  constructor(kallsyms: string) {
    this.text = kallsyms;
    // At most one symbol per line: "ffffffff81000000 T _stext" or "ffffffffc0a01000 t name\t[module]".
    let lines = 1;
    for (let i = kallsyms.indexOf('\n'); i >= 0; i = kallsyms.indexOf('\n', i + 1)) lines++;
    const keys = new Float64Array(lines);
    const at = new Uint32Array(lines);
    const end = new Uint32Array(lines);
    let n = 0;
    let start = 0;
    while (start < kallsyms.length) {
      let eol = kallsyms.indexOf('\n', start);
      if (eol < 0) eol = kallsyms.length;
      const lineStart = start;
      start = eol + 1;
      const type = kallsyms.charCodeAt(lineStart + 17);
      // t/T: text; w/W: weak (functions among them).
      if (eol - lineStart < 20 || !(type === 84 || type === 116 || type === 87 || type === 119)) continue;
      const key = kernelKey(kallsyms.slice(lineStart, lineStart + 16));
      if (key === null || key === 0) continue;
      // A module's symbol ends at a tab; most lines have none (indexOf would run on to the next line that does).
      let nameEnd = lineStart + 19;
      while (nameEnd < eol && kallsyms.charCodeAt(nameEnd) !== 9) nameEnd++;
      keys[n] = key;
      at[n] = lineStart + 19;
      end[n] = nameEnd;
      n++;
    }
    // Modules' symbols follow the core kernel's in kallsyms, at addresses of their own.
    const order = ascendingOrder(keys, n);
    this.addrs = permuted(keys, order);
    this.nameAt = permuted(at, order);
    this.nameEnd = permuted(end, order);
  }

  /** Symbols loaded (0: the addresses are hidden, kptr_restrict without privilege). */
  get size(): number {
    return this.addrs.length;
  }

  /** The function containing `hex` (nearest symbol at or below it), or null. */
  resolve(hex: string): string | null {
    const key = kernelKey(hex);
    if (key === null) return null;
    const i = floorIndex(this.addrs, key);
    if (i < 0) return null;
    // Past the last symbol (or in a gap far beyond one): not ours to name.
    if (i === this.addrs.length - 1 && key - this.addrs[i]! > 1 << 20) return null;
    return this.text.slice(this.nameAt[i]!, this.nameEnd[i]!);
  }
}

/** The indexes 0 … n − 1 of `keys` in ascending order of key (ties by index); no sort when
 *  they are in order already. */
function ascendingOrder(keys: Float64Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && keys[i]! < keys[i - 1]!) sorted = false;
  }
  return sorted ? order : order.sort((a, b) => keys[a]! - keys[b]! || a - b);
}

/** `from` read in `order`: [from[order[0]], from[order[1]], …]. */
function permuted<T extends Float64Array | Uint32Array>(from: T, order: Uint32Array): T {
  const out = new (from.constructor as new (length: number) => T)(order.length);
  for (let i = 0; i < order.length; i++) out[i] = from[order[i]!]!;
  return out;
}

/** Low 48 bits of a canonical upper-half address ("ffff…", 16 hex digits); null otherwise. */
function kernelKey(hex: string): number | null {
  if (hex.length !== 16 || !hex.startsWith('ffff')) return null;
  const key = parseInt(hex.slice(4), 16);
  return Number.isNaN(key) ? null : key;
}

/** Largest i with sorted[i] ≤ key, or -1. */
function floorIndex(sorted: Float64Array, key: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= key) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

// ---- user: ELF64 symbol tables --------------------------------------------------------------

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

interface LoadSegment { offset: number; vaddr: number; filesz: number }

/** An ELF64 little-endian file's function symbols and loadable segments. */
export class ElfSymbols {
  readonly segments: LoadSegment[] = [];
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  /** Each function's name: an offset into the string table, in address order. */
  private readonly nameAt: Uint32Array;
  private readonly strtab: Buffer = Buffer.alloc(0);
  /** Which table the names came from ('.symtab', '.dynsym', or null: none). */
  readonly table: '.symtab' | '.dynsym' | null;

  constructor(path: string) {
    const fd = openSync(path, 'r');
    try {
      const read = (offset: number, length: number): Buffer => {
        // Its own memory (not the pool), so typed views of it are aligned.
        const b = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, b, done, length - done, offset + done);
          if (n <= 0) throw new Error(`${path}: ELF truncated at ${offset + done}`);
          done += n;
        }
        return b;
      };
      const h = read(0, 64);
      // \x7fELF, ELFCLASS64, ELFDATA2LSB: the only kind this lab runs on.
      if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) throw new Error(`${path}: not a little-endian ELF64 file`);
      const phoff = Number(h.readBigUInt64LE(32));
      const shoff = Number(h.readBigUInt64LE(40));
      const phentsize = h.readUInt16LE(54);
      const phnum = h.readUInt16LE(56);
      const shentsize = h.readUInt16LE(58);
      const shnum = h.readUInt16LE(60);
      const ph = read(phoff, phentsize * phnum);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        if (ph.readUInt32LE(o) !== PT_LOAD) continue;
        this.segments.push({ offset: Number(ph.readBigUInt64LE(o + 8)), vaddr: Number(ph.readBigUInt64LE(o + 16)), filesz: Number(ph.readBigUInt64LE(o + 32)) });
      }
      const sections = shnum > 0 ? read(shoff, shentsize * shnum) : Buffer.alloc(0);
      const section = (i: number) => {
        const o = i * shentsize;
        return { type: sections.readUInt32LE(o + 4), offset: Number(sections.readBigUInt64LE(o + 24)), size: Number(sections.readBigUInt64LE(o + 32)), link: sections.readUInt32LE(o + 40), entsize: Number(sections.readBigUInt64LE(o + 56)) };
      };
      let table: ReturnType<typeof section> | null = null;
      let tableName: ElfSymbols['table'] = null;
      for (const [type, name] of [[SHT_SYMTAB, '.symtab'], [SHT_DYNSYM, '.dynsym']] as const) {
        for (let i = 0; i < shnum && !table; i++) {
          const s = section(i);
          if (s.type === type && s.size > 0) { table = s; tableName = name; }
        }
        if (table) break;
      }
      this.table = tableName;
      // Typed arrays, names decoded when a stack needs them: node's .symtab has ~109k entries,
      // and tuples, BigInt reads and a string each up front took ~220 ms of the engine's start.
      let n = 0;
      let starts = new Float64Array(0);
      let ends = new Float64Array(0);
      let nameAt = new Uint32Array(0);
      if (table) {
        const strs = section(table.link);
        this.strtab = read(strs.offset, strs.size);
        const syms = read(table.offset, table.size);
        const entsize = table.entsize || 24;
        const count = Math.floor(syms.length / entsize);
        starts = new Float64Array(count);
        ends = new Float64Array(count);
        nameAt = new Uint32Array(count);
        // Elf64_Sym, 24 bytes: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64,
        // st_size u64; read as 32-bit words (the buffer is its own, so aligned; little-endian hosts only, as above).
        const words = new Uint32Array(syms.buffer, syms.byteOffset, syms.length >> 2);
        const step = entsize >> 2;
        for (let w = 0; w + 6 <= words.length; w += step) {
          const info = syms[w * 4 + 4]! & 0xf;
          if (info !== STT_FUNC && info !== STT_GNU_IFUNC) continue;
          const value = words[w + 2]! + words[w + 3]! * 2 ** 32;
          if (value === 0 || (words[w + 1]! >>> 16) === 0) continue; // undefined (imported)
          starts[n] = value;
          ends[n] = value + Math.max(1, words[w + 4]! + words[w + 5]! * 2 ** 32);
          nameAt[n] = words[w]!;
          n++;
        }
      }
      const order = ascendingOrder(starts, n);
      this.starts = permuted(starts, order);
      this.ends = permuted(ends, order);
      this.nameAt = permuted(nameAt, order);
    } finally {
      closeSync(fd);
    }
  }

  get size(): number {
    return this.starts.length;
  }

  /** The virtual address (as linked) of a file offset, through the PT_LOAD segments. */
  vaddrOf(fileOffset: number): number | null {
    for (const s of this.segments) {
      if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
    }
    return null;
  }

  /** The function whose [value, value + size) holds `vaddr`, or null. Sizes overlap for
   *  aliases; the nearest start at or below wins, as long as its size covers the address
   *  (else the one before it may: a small function nested in a large one is rare but legal). */
  resolve(vaddr: number): string | null {
    for (let i = floorIndex(this.starts, vaddr), tries = 0; i >= 0 && tries < 4; i--, tries++) {
      if (vaddr < this.ends[i]!) {
        const at = this.nameAt[i]!;
        const end = this.strtab.indexOf(0, at);
        return this.strtab.toString('utf8', at, end < 0 ? this.strtab.length : end);
      }
    }
    return null;
  }
}

interface Mapping { start: number; end: number; offset: number; path: string | null }

/** /proc/self/maps' executable mappings. */
export function readExecutableMappings(maps = readFileSync('/proc/self/maps', 'latin1')): Mapping[] {
  const out: Mapping[] = [];
  for (const line of maps.split('\n')) {
    // "start-end perms offset dev inode   path"
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (!m || m[3]![2] !== 'x') continue;
    const path = m[5]!.trim();
    // No name: anonymous memory (generated code). A replaced file cannot be read back.
    const named = path === '' ? null : path.endsWith(' (deleted)') ? '[deleted]' : path;
    out.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), offset: parseInt(m[4]!, 16), path: named });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Names this process's user IPs. */
export class UserSymbols {
  private mappings: Mapping[] = [];
  private readonly files = new Map<string, ElfSymbols | null>();
  private readonly cache = new Map<string, string>();

  constructor(private readonly readMaps: () => string = () => readFileSync('/proc/self/maps', 'latin1')) {
    this.reloadMaps();
  }

  reloadMaps(): void {
    this.mappings = readExecutableMappings(this.readMaps());
  }

  resolve(hex: string): string {
    const hit = this.cache.get(hex);
    if (hit !== undefined) return hit;
    const ip = parseInt(hex, 16);
    let map = this.find(ip);
    // A library loaded after the last read (dlopen of the addon, a JIT region): read again once.
    if (!map) { this.reloadMaps(); map = this.find(ip); }
    const name = this.name(ip, map);
    // JIT regions are reused for other code: not cached.
    if (name !== JIT) this.cache.set(hex, name);
    return name;
  }

  private find(ip: number): Mapping | null {
    const m = this.mappings;
    let lo = 0;
    let hi = m.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ip < m[mid]!.start) hi = mid - 1;
      else if (ip >= m[mid]!.end) lo = mid + 1;
      else return m[mid]!;
    }
    return null;
  }

  /** Reads the symbol tables of every file mapped executable now (node's alone takes a few
   *  hundred ms), so the first frames with stacks do not pay for it. */
  preload(): void {
    for (const map of this.mappings) if (map.path?.startsWith('/')) this.elfOf(map.path);
  }

  private elfOf(path: string): ElfSymbols | null {
    let elf = this.files.get(path);
    if (elf === undefined) {
      try { elf = new ElfSymbols(path); } catch { elf = null; }
      this.files.set(path, elf);
    }
    return elf;
  }

  private name(ip: number, map: Mapping | null): string {
    if (!map) return UNKNOWN;
    if (map.path === null) return JIT;
    if (!map.path.startsWith('/')) return UNKNOWN; // [vdso], [vsyscall]
    const elf = this.elfOf(map.path);
    if (!elf) return UNKNOWN;
    const vaddr = elf.vaddrOf(ip - map.start + map.offset);
    return (vaddr !== null && elf.resolve(vaddr)) || UNKNOWN;
  }
}

// ---- the engine's symbolizer ----------------------------------------------------------

export interface SymbolizedOffCpuEvent { tid: number; comm: string; offNs: number; endMonotonicNs: number; stack: string }
export interface SymbolizedOffCpuFrame { minUs: number; events: SymbolizedOffCpuEvent[]; truncated: number }
export interface SymbolizedProfileFrame { hz: number; samples: number; lost: number; folded: FoldedStack[] }
/** A profile frame as it crosses from the engine to the host: each folded stack by an id the
 *  engine gave it (its name goes over once, in the `stacks` of the message that first uses it;
 *  the host's supervisor turns ids back into the names). [id, samples], heaviest first. */
export interface WireProfileFrame { hz: number; samples: number; lost: number; stacks: [id: number, samples: number][] }
/** A stack's id and folded name, sent with the first message that uses the id. */
export type StackName = [id: number, folded: string];

/** One per engine process: kallsyms is read at the first stack, maps as they change. */
export class Symbolizer {
  private kernel: KernelSymbols | null = null;
  private user: UserSymbols | null = null;
  private readonly kernelCache = new Map<string, string>();

  constructor(private readonly kallsyms: () => string = () => readFileSync('/proc/kallsyms', 'latin1')) {}

  /** Loads kallsyms and the mapped files' symbols now (the engine does it while the native
   *  start runs on the thread pool): ~0.5 s of parsing that must not delay the first frames. */
  preload(): void {
    this.loadKernel();
    this.user ??= new UserSymbols();
    this.user.reloadMaps();
    this.user.preload();
  }

  private loadKernel(): KernelSymbols {
    if (!this.kernel) {
      try { this.kernel = new KernelSymbols(this.kallsyms()); } catch { this.kernel = new KernelSymbols(''); }
    }
    return this.kernel;
  }

  kernelName(hex: string): string {
    const hit = this.kernelCache.get(hex);
    if (hit !== undefined) return hit;
    const name = this.loadKernel().resolve(hex) ?? UNKNOWN;
    this.kernelCache.set(hex, name);
    return name;
  }

  userName(hex: string): string {
    this.user ??= new UserSymbols();
    return this.user.resolve(hex);
  }

  /** A kernel stack (leaf first) folded root first: "entry_SYSCALL_64;…;schedule". */
  foldKernel(ips: readonly string[]): string {
    const names: string[] = [];
    for (let i = ips.length - 1; i >= 0; i--) names.push(this.kernelName(ips[i]!));
    return names.join(';');
  }

  /** "comm;user root…leaf;kernel root…leaf_[k]". */
  foldSample(s: Pick<NativeProfileSample, 'comm' | 'kernelIps' | 'userIps'>): string {
    const user = this.foldedPart(s.userIps, false);
    const kernel = this.foldedPart(s.kernelIps, true);
    return [s.comm, ...(user ? [user] : []), ...(kernel ? [kernel] : [])].join(';');
  }

  /** The addon hands each profile stack over as one frozen array for the probes' life (one per
   *  stack id): its folded names are made once and kept with the array, so a stack seen in
   *  every frame is named once. A stack with a JIT frame is named again each time, as its IPs
   *  are (JIT regions are reused for other code). */
  private readonly foldedStacks = new WeakMap<readonly string[], string>();

  private foldedPart(ips: readonly string[], kernel: boolean): string {
    const hit = this.foldedStacks.get(ips);
    if (hit !== undefined) return hit;
    const names: string[] = [];
    for (let i = ips.length - 1; i >= 0; i--) names.push(kernel ? `${this.kernelName(ips[i]!)}_[k]` : this.userName(ips[i]!));
    const folded = names.join(';');
    if (Object.isFrozen(ips) && (kernel || !names.includes(JIT))) this.foldedStacks.set(ips, folded);
    return folded;
  }

  /**
   * Folded stacks by id, for the run (resetStacks): a frame carries ~15 stacks of ~440 bytes,
   * nearly all seen in earlier frames (~500 distinct in 170 frames at 99 Hz). Sent by name they
   * were half of every frame the engine serialized and the host parsed, 10 times a second on the
   * CPUs the run measures; by id, a name crosses once.
   */
  private readonly stackIds = new Map<string, number>();
  /** Stacks given an id and not yet handed to a message (takeNewStacks). */
  private unsent: StackName[] = [];

  /** A new run: ids start again (the host forgets its names when the run's `started` arrives). */
  resetStacks(): void {
    this.stackIds.clear();
    this.unsent = [];
  }

  /** The stacks named since the last call: for the message that carries their first use (or a
   *  later one: a read whose frame is dropped leaves its new names for the next message). */
  takeNewStacks(): StackName[] {
    const out = this.unsent;
    this.unsent = [];
    return out;
  }

  private stackId(folded: string): number {
    let id = this.stackIds.get(folded);
    if (id === undefined) {
      id = this.stackIds.size;
      this.stackIds.set(folded, id);
      this.unsent.push([id, folded]);
    }
    return id;
  }

  profile(p: NativeProfileFrame): WireProfileFrame {
    const counts = new Map<number, number>();
    let samples = 0;
    for (const s of p.samples) {
      const id = this.stackId(this.foldSample(s));
      counts.set(id, (counts.get(id) ?? 0) + s.count);
      samples += s.count;
    }
    return { hz: p.hz, samples, lost: p.lost, stacks: [...counts].sort((a, b) => b[1] - a[1]) };
  }

  offCpu(o: NativeOffCpuFrame): SymbolizedOffCpuFrame {
    return {
      minUs: o.minUs,
      truncated: o.truncated,
      events: o.events.map((e) => ({ tid: e.tid, comm: e.comm, offNs: e.offNs, endMonotonicNs: e.endMonotonicNs, stack: this.foldKernel(e.kernelIps) })),
    };
  }
}
