/**
 * "Did you mean …": the profile key or the choice a typo was probably meant to be, by edit
 * distance (`sqpol` → `server.sqpoll`, `deferr` → `defer`).
 */
import { displayPath, type Path } from './messageText';
import { allKeyPaths, schemaAt, shapeOf } from './profileShape';

/**
 * The key the user probably meant: a sibling spelled alike (`sqpol` → `sqpoll`), else the
 * same key somewhere else in the profile (`ringEntries` at the top → `server.ringEntries`).
 */
export function suggestKey(parent: Path, key: string): string | undefined {
  const siblings = Object.keys(shapeOf(schemaAt(parent)) ?? {});
  const near = closest(key, siblings);
  if (near) return displayPath([...parent, near]);
  const elsewhere = allKeyPaths().filter((p) => p[p.length - 1].toLowerCase() === key.toLowerCase());
  if (elsewhere.length === 1) return displayPath(elsewhere[0]);
  const close = allKeyPaths().filter((p) => closest(key, [p[p.length - 1]]) !== undefined && p[p.length - 1].length > 3);
  return close.length === 1 ? displayPath(close[0]) : undefined;
}

/** The candidate nearest to `word`, if it is near enough to be a typo of it. */
export function closest(word: string, candidates: string[]): string | undefined {
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
