/**
 * Flame graphs from folded stacks (issue 12): the tree, its layout as rectangles, the
 * differential flame graph of two profiles, and a self-contained SVG. Pure (no DOM): the UI
 * draws the same rectangles interactively (renderer/src/components/diagnose/FlameGraph.vue),
 * and the A/B HTML report embeds flameSvg's output.
 *
 * Folded stacks are Brendan Gregg's format ("root;frame;…;leaf", count), as RunSummary.profiles
 * and Spike.profile carry them (diagnose.ts FoldedStack). Children are ordered by name, as
 * flamegraph.pl does: the x axis is not time, and the same frame sits at the same place in two
 * graphs of similar profiles, which is what makes two of them comparable by eye.
 */

/** One frame in the merged call tree: every stack through this path of frames. */
export interface FlameNode {
  name: string;
  /** Samples of this frame and everything it called (a share, 0–1, in a differential tree). */
  value: number;
  /** Samples in this frame itself (the leaf of their stack). */
  self: number;
  children: FlameNode[];
  /** Differential trees only (flameDiff): this frame's samples and shares in A and B. */
  diff?: FlameDiffValues;
}

export interface FlameDiffValues {
  /** Samples (frame and callees) in A and in B. */
  a: number;
  b: number;
  /** Those as shares of each side's total samples (each side normalised on its own). */
  shareA: number;
  shareB: number;
  /** shareB − shareA: > 0 grew (red), < 0 shrank (blue). */
  delta: number;
}

export interface FlameRect {
  /** 0 = the root ("all"), 1 = the stacks' first frames (thread names in our profiles), … */
  depth: number;
  /** Horizontal extent as fractions of the graph's width (0–1). */
  x0: number;
  x1: number;
  name: string;
  value: number;
  self: number;
  /** The frames from the root's first child to this one, joined by ';' (identifies a frame in zoom). */
  path: string;
  diff?: FlameDiffValues;
}

export type FoldedInput = readonly (readonly [string, number])[];

/** The root's name, as flamegraph.pl calls it. */
export const FLAME_ROOT = 'all';

function node(name: string): FlameNode {
  return { name, value: 0, self: 0, children: [] };
}

/** Children kept in a map while building; sorted by name when done. */
type Building = FlameNode & { index?: Map<string, Building> };

function childOf(parent: Building, name: string): Building {
  parent.index ??= new Map();
  let c = parent.index.get(name);
  if (!c) {
    c = node(name);
    parent.index.set(name, c);
    parent.children.push(c);
  }
  return c;
}

function finish(n: Building): FlameNode {
  delete n.index;
  n.children.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  for (const c of n.children) finish(c);
  return n;
}

/**
 * The call tree of `folded`: each stack's count added to every frame along it and to its leaf's
 * `self`. Stacks with a count ≤ 0 or not finite, and empty frames (";;"), are skipped.
 */
export function flameTree(folded: FoldedInput): FlameNode {
  const root: Building = node(FLAME_ROOT);
  for (const [stack, count] of folded) {
    if (!(count > 0) || !Number.isFinite(count)) continue;
    const frames = stack.split(';').filter((f) => f.length > 0);
    if (!frames.length) continue;
    root.value += count;
    let at: Building = root;
    for (const f of frames) {
      at = childOf(at, f);
      at.value += count;
    }
    at.self += count;
  }
  return finish(root);
}

/** The node at `path` (frame names below the root), or null when the tree has no such path. */
export function flameFind(tree: FlameNode, path: readonly string[]): FlameNode | null {
  let at: FlameNode | undefined = tree;
  for (const name of path) {
    at = at.children.find((c) => c.name === name);
    if (!at) return null;
  }
  return at;
}

export interface FlameLayoutOptions {
  /** Zoom: the frame (path of names below the root) that spans the full width; its ancestors
   *  are drawn full width below it, everything beside it is left out. */
  zoom?: readonly string[];
  /** Frames narrower than this fraction of the width are left out (with their callees). */
  minWidth?: number;
}

/**
 * The rectangles of `tree`, root first (depth 0), each frame as wide as its value's share of
 * the shown root (the zoomed frame, else the root), children left to right in name order
 * (their callees' widths add up to at most the parent's; the rest is the parent's self time).
 */
export function flameLayout(tree: FlameNode, opts: FlameLayoutOptions = {}): FlameRect[] {
  const minWidth = opts.minWidth ?? 0;
  const rects: FlameRect[] = [];
  let top = tree;
  let prefix: string[] = [];
  const zoom = opts.zoom ?? [];
  if (zoom.length) {
    const found = flameFind(tree, zoom);
    if (found) {
      // The zoomed frame's ancestors span the width: where it sits in the tree stays visible.
      rects.push(rectOf(tree, 0, 0, 1, ''));
      let at = tree;
      for (let i = 0; i < zoom.length - 1; i++) {
        at = at.children.find((c) => c.name === zoom[i])!;
        rects.push(rectOf(at, i + 1, 0, 1, zoom.slice(0, i + 1).join(';')));
      }
      top = found;
      prefix = [...zoom];
    }
  }
  const total = top.value;
  const startDepth = prefix.length;
  rects.push(rectOf(top, startDepth, 0, 1, prefix.join(';')));
  if (!(total > 0)) return rects;
  const walk = (n: FlameNode, depth: number, x0: number, path: string) => {
    let x = x0;
    for (const c of n.children) {
      const w = c.value / total;
      const childPath = path ? `${path};${c.name}` : c.name;
      if (w >= minWidth && w > 0) {
        rects.push(rectOf(c, depth + 1, x, x + w, childPath));
        walk(c, depth + 1, x, childPath);
      }
      x += w;
    }
  };
  walk(top, startDepth, 0, prefix.join(';'));
  return rects;
}

function rectOf(n: FlameNode, depth: number, x0: number, x1: number, path: string): FlameRect {
  const r: FlameRect = { depth, x0, x1, name: n.name, value: n.value, self: n.self, path };
  if (n.diff) r.diff = n.diff;
  return r;
}

/**
 * The differential flame graph of profiles `a` and `b` (Gregg's differential flame graphs):
 * both sides normalised to their own total, so a longer or busier run is not "more" by itself;
 * each frame's colour value is its share in B minus its share in A (red grew, blue shrank).
 * Frame widths are the mean of the two shares, so a frame present on one side only still shows
 * (flamegraph.pl's difffolded draws B's widths, where whatever vanished from A is invisible).
 * io_uring's pid-named threads are matched by role (threadRole).
 */
export function flameDiff(a: FoldedInput, b: FoldedInput): FlameNode {
  const ta = flameTree(byThreadRole(a));
  const tb = flameTree(byThreadRole(b));
  const totalA = ta.value;
  const totalB = tb.value;
  const share = (v: number, total: number) => (total > 0 ? v / total : 0);
  const merge = (name: string, na: FlameNode | undefined, nb: FlameNode | undefined): FlameNode => {
    const va = na?.value ?? 0;
    const vb = nb?.value ?? 0;
    const shareA = share(va, totalA);
    const shareB = share(vb, totalB);
    const selfShare = (share(na?.self ?? 0, totalA) + share(nb?.self ?? 0, totalB)) / 2;
    const names = new Set<string>([...(na?.children ?? []).map((c) => c.name), ...(nb?.children ?? []).map((c) => c.name)]);
    const children = [...names].sort().map((n) => merge(n, na?.children.find((c) => c.name === n), nb?.children.find((c) => c.name === n)));
    return { name, value: (shareA + shareB) / 2, self: selfShare, children, diff: { a: va, b: vb, shareA, shareB, delta: shareB - shareA } };
  };
  return merge(FLAME_ROOT, ta, tb);
}

/**
 * The kernel names io_uring's own threads after a pid (`iou-sqp-4242`, `iou-wrk-4243`), which
 * differs from run to run: two profiles are compared by the thread's role, so the first frame
 * of such stacks becomes `iou-sqp-*` / `iou-wrk-*` (the lab's threads, `uring-srv-0`…, are
 * already named by role).
 */
export function threadRole(thread: string): string {
  return thread.replace(/^(iou-(?:sqp|wrk))-\d+$/, '$1-*');
}

function byThreadRole(folded: FoldedInput): FoldedInput {
  return folded.map(([stack, n]) => {
    const cut = stack.indexOf(';');
    const thread = cut < 0 ? stack : stack.slice(0, cut);
    const role = threadRole(thread);
    return [role === thread ? stack : role + stack.slice(thread.length), n] as const;
  });
}

/** Largest |delta| among a differential layout's frames below the root (the colour scale's end). */
export function flameDiffScale(rects: readonly FlameRect[]): number {
  let max = 0;
  for (const r of rects) if (r.depth > 0 && r.diff) max = Math.max(max, Math.abs(r.diff.delta));
  return max;
}

/** FNV-1a of a name: a stable hue per frame name (the same frame has the same colour everywhere). */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 0xffffffff;
}

/**
 * A frame's fill. Plain graphs: flamegraph.pl's "hot" palette by name (kernel frames, suffix
 * `_[k]`, in orange-brown, the thread roots grey); differential: white for no change, towards
 * red as the share grew and blue as it shrank, relative to `diffScale` (flameDiffScale).
 */
export function flameColor(r: Pick<FlameRect, 'name' | 'depth' | 'diff'>, diffScale = 0): string {
  if (r.diff) {
    const t = diffScale > 0 ? Math.max(-1, Math.min(1, r.diff.delta / diffScale)) : 0;
    const fade = Math.round(235 - 170 * Math.abs(t));
    return t >= 0 ? `rgb(245,${fade},${fade})` : `rgb(${fade},${fade},245)`;
  }
  if (r.depth === 0) return 'rgb(170,170,180)';
  const v = nameHash(r.name);
  if (r.name.endsWith('_[k]')) return `rgb(${Math.round(200 + 40 * v)},${Math.round(120 + 50 * v)},${Math.round(40 + 30 * v)})`;
  return `rgb(${Math.round(205 + 50 * v)},${Math.round(80 + 130 * v)},${Math.round(30 + 40 * v)})`;
}

/** Samples and share of a frame, in words, for tooltips (the SVG's <title>, the UI's hover). */
export function flameLabel(r: FlameRect, rootValue: number): string {
  if (r.diff) {
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    const sign = r.diff.delta >= 0 ? '+' : '−';
    return `${r.name} — A ${r.diff.a} samples (${pct(r.diff.shareA)}), B ${r.diff.b} samples (${pct(r.diff.shareB)}), ${sign}${pct(Math.abs(r.diff.delta))}`;
  }
  const share = rootValue > 0 ? (r.value / rootValue) * 100 : 0;
  return `${r.name} — ${r.value} samples (${share.toFixed(2)} %), ${r.self} in the frame itself`;
}

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface FlameSvgOptions {
  width: number;
  rowHeight?: number;
  title?: string;
  /** Average width of a character of the label font, px (labels are cut to fit their frame). */
  charWidth?: number;
}

/**
 * `rects` (flameLayout) as one self-contained SVG document: no script, no external style; each
 * frame a <rect> with its label cut to fit and a <title> giving its samples and share (the
 * browser's own tooltip). Root at the bottom, as in flamegraph.pl. Frames under half a pixel
 * wide are left out (they cannot be seen or pointed at).
 */
export function flameSvg(rects: readonly FlameRect[], opts: FlameSvgOptions): string {
  const width = Math.max(100, Math.round(opts.width));
  const rowHeight = opts.rowHeight ?? 16;
  const charWidth = opts.charWidth ?? 6.6;
  const titleHeight = opts.title ? 24 : 0;
  const maxDepth = rects.reduce((m, r) => Math.max(m, r.depth), 0);
  const height = titleHeight + (maxDepth + 1) * rowHeight + 4;
  const root = rects.find((r) => r.x0 === 0 && r.x1 === 1 && r.depth === rects.reduce((m, x) => Math.min(m, x.depth), Infinity));
  const rootValue = root?.value ?? 0;
  const scale = flameDiffScale(rects);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, DejaVu Sans Mono, monospace" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fbfaf7"/>`);
  if (opts.title) out.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" fill="#222">${xmlEscape(opts.title)}</text>`);
  for (const r of rects) {
    const x = r.x0 * width;
    const w = (r.x1 - r.x0) * width;
    if (w < 0.5) continue;
    const y = titleHeight + (maxDepth - r.depth) * rowHeight;
    const chars = Math.floor((w - 6) / charWidth);
    const label = chars >= 3 ? (r.name.length <= chars ? r.name : `${r.name.slice(0, chars - 2)}..`) : '';
    out.push(
      `<g><title>${xmlEscape(flameLabel(r, rootValue))}</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${rowHeight - 1}" rx="1.5" fill="${flameColor(r, scale)}"/>` +
        (label ? `<text x="${(x + 3).toFixed(2)}" y="${y + rowHeight - 5}" fill="#111">${xmlEscape(label)}</text>` : '') +
        `</g>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}
