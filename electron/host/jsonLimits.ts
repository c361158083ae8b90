/**
 * Bounds on untrusted JSON before anything walks it recursively. JSON.parse itself copes with
 * deep nesting, but zod, structuredClone and JSON.stringify recurse and overflow the stack on
 * a 60,000-deep `[[[…]]]`; a profile, a `--set` value, an IPC or WebSocket message all pass
 * through here first, so one iterative walk protects every path into the parsers.
 */
import { LabError } from '../contract';

/** Deeper than any real profile (4 levels) or LabApi message, far below any stack limit. */
export const MAX_JSON_DEPTH = 32;
/** More nodes than any real profile or message has. */
export const MAX_JSON_NODES = 10_000;

/**
 * Throws LabError(code) naming `field` when `value` nests deeper than MAX_JSON_DEPTH or has
 * more than MAX_JSON_NODES values. Iterative, so it cannot overflow the stack itself.
 */
export function assertJsonBounds(value: unknown, field: string, code = 'INVALID_VALUE'): void {
  const tooMany = () => new LabError({ code, field, message: `${field}: more than ${MAX_JSON_NODES} values`, fix: 'send a profile-sized value (a profile has a few dozen keys)' });
  const stack: Array<[unknown, number]> = [[value, 1]];
  let nodes = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (++nodes > MAX_JSON_NODES) throw tooMany();
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      throw new LabError({ code, field, message: `${field}: nested more than ${MAX_JSON_DEPTH} levels deep`, fix: 'a knob takes a number, boolean, string or null; a profile nests 3 levels' });
    }
    // for…in counts as it goes: Object.values would first copy every entry of an 800k-key flood.
    for (const key in node as Record<string, unknown>) {
      if (!Object.prototype.hasOwnProperty.call(node, key)) continue;
      if (nodes + stack.length >= MAX_JSON_NODES) throw tooMany();
      stack.push([(node as Record<string, unknown>)[key], depth + 1]);
    }
  }
}
