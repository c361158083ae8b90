/**
 * Flame graphs from folded stacks (electron/contract/flameGraph.ts): the tree's counts, the
 * layout's geometry (widths are shares, callees inside their caller, zoom), the differential
 * graph's per-side normalisation and colours, and the SVG (self-contained, escaped, titled).
 */
import { describe, expect, it } from 'vitest';
import { flameColor, flameDiff, flameDiffScale, flameFind, flameLayout, flameSvg, flameTree, threadRole, type FlameRect } from '../../electron/contract/flameGraph';

const FOLDED: [string, number][] = [
  ['uring-srv-0;main;loop;io_uring_enter_[k]', 60],
  ['uring-srv-0;main;loop;handle', 30],
  ['uring-srv-0;main', 10],
  ['uring-load-0;run;send_[k]', 100],
];

const byPath = (rects: FlameRect[], path: string) => rects.find((r) => r.path === path)!;

describe('flameTree', () => {
  it('adds each stack to every frame along it and to its leaf as self time', () => {
    const t = flameTree(FOLDED);
    expect(t.value).toBe(200);
    const main = flameFind(t, ['uring-srv-0', 'main'])!;
    expect(main.value).toBe(100);
    expect(main.self).toBe(10);
    expect(flameFind(t, ['uring-srv-0', 'main', 'loop'])!.value).toBe(90);
    expect(flameFind(t, ['uring-srv-0', 'main', 'loop', 'handle'])!.self).toBe(30);
    // children by name: load before srv
    expect(t.children.map((c) => c.name)).toEqual(['uring-load-0', 'uring-srv-0']);
  });

  it('merges repeated stacks and skips empty frames and non-positive or non-finite counts', () => {
    const t = flameTree([['a;;b', 2], ['a;b', 3], ['a;c', 0], ['a;d', -4], ['a;e', Number.NaN], ['', 9]]);
    expect(t.value).toBe(5);
    expect(flameFind(t, ['a', 'b'])!.value).toBe(5);
    expect(t.children[0]!.children.map((c) => c.name)).toEqual(['b']);
  });
});

describe('flameLayout', () => {
  it('makes each frame as wide as its share, callees within their caller, root spanning all', () => {
    const rects = flameLayout(flameTree(FOLDED));
    const root = rects[0]!;
    expect(root).toMatchObject({ depth: 0, x0: 0, x1: 1, name: 'all', value: 200 });
    const load = byPath(rects, 'uring-load-0');
    const srv = byPath(rects, 'uring-srv-0');
    expect(load.x0).toBe(0);
    expect(load.x1).toBeCloseTo(0.5);
    expect(srv.x0).toBeCloseTo(0.5);
    expect(srv.x1).toBeCloseTo(1);
    const loop = byPath(rects, 'uring-srv-0;main;loop');
    expect(loop.depth).toBe(3);
    expect(loop.x1 - loop.x0).toBeCloseTo(0.45);
    for (const r of rects) {
      if (r.depth === 0) continue;
      const parent = byPath(rects, r.path.split(';').slice(0, -1).join(';')) ?? root;
      expect(r.x0).toBeGreaterThanOrEqual(parent.x0 - 1e-12);
      expect(r.x1).toBeLessThanOrEqual(parent.x1 + 1e-12);
      expect(r.depth).toBe(parent.depth + 1);
    }
  });

  it('zooms into a frame: it spans the width, its ancestors stay below it, its siblings go', () => {
    const rects = flameLayout(flameTree(FOLDED), { zoom: ['uring-srv-0', 'main', 'loop'] });
    const loop = byPath(rects, 'uring-srv-0;main;loop');
    expect([loop.x0, loop.x1]).toEqual([0, 1]);
    expect(byPath(rects, 'uring-srv-0;main')).toMatchObject({ x0: 0, x1: 1, depth: 2 });
    expect(rects.find((r) => r.name === 'uring-load-0')).toBeUndefined();
    const enter = byPath(rects, 'uring-srv-0;main;loop;io_uring_enter_[k]');
    expect(enter.x1 - enter.x0).toBeCloseTo(60 / 90);
    // a path the tree does not have: the whole graph
    expect(flameLayout(flameTree(FOLDED), { zoom: ['nope'] })).toHaveLength(flameLayout(flameTree(FOLDED)).length);
  });

  it('leaves out frames narrower than minWidth, with their callees', () => {
    const rects = flameLayout(flameTree([['a;b', 999], ['a;c;d', 1]]), { minWidth: 0.01 });
    expect(rects.map((r) => r.path)).toEqual(['', 'a', 'a;b']);
  });

  it('draws an empty profile as the root alone', () => {
    expect(flameLayout(flameTree([]))).toEqual([{ depth: 0, x0: 0, x1: 1, name: 'all', value: 0, self: 0, path: '' }]);
  });
});

describe('flameDiff', () => {
  it('normalises each side to its own total: twice the samples in the same proportions is no change', () => {
    const doubled = FOLDED.map(([s, n]) => [s, n * 2] as [string, number]);
    const rects = flameLayout(flameDiff(FOLDED, doubled));
    for (const r of rects) expect(r.diff!.delta).toBeCloseTo(0);
    expect(byPath(rects, 'uring-srv-0;main').diff).toMatchObject({ a: 100, b: 200, shareA: 0.5, shareB: 0.5 });
  });

  it('says what grew and what shrank, and keeps frames of one side only visible', () => {
    const a: [string, number][] = [['srv;send_plain', 80], ['srv;recv', 20]];
    const b: [string, number][] = [['srv;send_zc', 50], ['srv;recv', 50]];
    const rects = flameLayout(flameDiff(a, b));
    const recv = byPath(rects, 'srv;recv');
    expect(recv.diff!.delta).toBeCloseTo(0.3);
    const plain = byPath(rects, 'srv;send_plain');
    expect(plain.diff).toMatchObject({ a: 80, b: 0, shareB: 0 });
    expect(plain.diff!.delta).toBeCloseTo(-0.8);
    expect(plain.x1 - plain.x0).toBeCloseTo(0.4); // mean of 0.8 and 0
    expect(byPath(rects, 'srv;send_zc').x1 - byPath(rects, 'srv;send_zc').x0).toBeCloseTo(0.25);
    expect(flameDiffScale(rects)).toBeCloseTo(0.8);
    // red for growth, blue for shrinkage, white-ish for none
    expect(flameColor(recv, 0.8)).toMatch(/^rgb\(245,/);
    expect(flameColor(plain, 0.8)).toBe('rgb(65,65,245)');
    expect(flameColor(byPath(rects, ''), 0.8)).toBe('rgb(245,235,235)');
  });
});

describe('flameDiff thread roles', () => {
  it("matches io_uring's pid-named threads across runs by role, not by pid", () => {
    expect(threadRole('iou-sqp-4242')).toBe('iou-sqp-*');
    expect(threadRole('iou-wrk-17')).toBe('iou-wrk-*');
    expect(threadRole('uring-srv-0')).toBe('uring-srv-0');
    const rects = flameLayout(flameDiff([['iou-sqp-100;io_sq_thread_[k]', 10]], [['iou-sqp-200;io_sq_thread_[k]', 30]]));
    const sqp = byPath(rects, 'iou-sqp-*;io_sq_thread_[k]');
    expect(sqp.diff).toMatchObject({ a: 10, b: 30, shareA: 1, shareB: 1, delta: 0 });
    expect(rects.filter((r) => r.depth === 1)).toHaveLength(1);
  });
});

describe('flameSvg', () => {
  it('is a self-contained SVG: a rect and a title per visible frame, names escaped, no script', () => {
    const rects = flameLayout(flameTree([['uring-srv-0;operator<<&"x"', 3], ['uring-srv-0;tiny', 0.001]]));
    const svg = flameSvg(rects, { width: 600, title: 'on-CPU <phase 0>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).not.toMatch(/<script|href=|url\(/i);
    expect(svg).toContain('on-CPU &lt;phase 0&gt;');
    expect(svg).toContain('operator&lt;&lt;&amp;&quot;x&quot;');
    // root, thread, leaf drawn; the sub-pixel frame not
    expect(svg.match(/<rect x=/g)).toHaveLength(3);
    expect(svg.match(/<title>/g)).toHaveLength(3);
    expect(svg).toContain('samples (');
    // labels cut to the frame's width
    const narrow = flameSvg(flameLayout(flameTree([['a_very_long_frame_name_indeed;x', 1], ['b', 9]])), { width: 100 });
    expect(narrow).not.toContain('a_very_long_frame_name_indeed<');
  });

  it('puts the root at the bottom row', () => {
    const svg = flameSvg(flameLayout(flameTree([['a;b;c', 1]])), { width: 300, rowHeight: 10 });
    const ys = [...svg.matchAll(/<rect x="[\d.]+" y="(\d+)"/g)].map((m) => Number(m[1]));
    expect(ys).toEqual([30, 20, 10, 0]);
  });
});
