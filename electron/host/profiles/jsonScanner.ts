/**
 * An iterative JSON scanner for profile files. JSON.parse's own messages vary by Node version
 * and quote the file's text (which may be /proc/self/environ); this one reports a line and
 * column, refuses duplicate keys and excessive depth, and keeps the literal text of numbers a
 * double cannot hold exactly (1e400, 12345678901234567890) so errors can quote what the user
 * wrote. It only checks; JSON.parse builds the value once the scan has passed.
 */
import { oneLineText } from '../../contract';
import { MAX_JSON_DEPTH } from '../jsonLimits';
import { userText, type Path } from './messageText';

type ScanResult =
  | { ok: true; raws: Map<string, string> }
  | { ok: false; kind: 'syntax' | 'depth' | 'duplicate'; offset: number; problem: string; path: Path };

interface Frame { type: 'object' | 'array'; index: number; key: string; keys: Set<string> | null }

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function scanJson(text: string): ScanResult {
  const raws = new Map<string, string>();
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  let expect: 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'after' = 'value';
  const pathOf = (): PropertyKey[] => stack.map((f) => (f.type === 'object' ? f.key : f.index));
  const fail = (kind: 'syntax' | 'depth' | 'duplicate', offset: number, problem: string, path: Path = []): ScanResult => ({ ok: false, kind, offset, problem, path });
  const unexpected = (at: number, wanted: string): ScanResult =>
    fail('syntax', at, `expected ${wanted}, found ${charWords(text, at)}`);
  /** End (exclusive) of the string starting at `at`, or a failure. */
  const stringEnd = (at: number): number | ScanResult => {
    let j = at + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c === 0x5c) {
        const e = text[j + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) return fail('syntax', j, 'a \\u escape needs four hex digits');
          j += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          j += 2;
        } else {
          return fail('syntax', j, `invalid escape ${e === undefined ? 'at the end of the file' : `"\\${oneLineText(e, 4)}"`} in a string`);
        }
        continue;
      }
      if (c < 0x20) return fail('syntax', j, `a control character (${oneLineText(text[j], 8)}) inside a string; write it escaped, e.g. \\n`);
      j++;
    }
    return fail('syntax', at, 'a string that never ends (missing closing ")');
  };

  for (;;) {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
    if (i >= n) {
      if (expect === 'after' && stack.length === 0) return { ok: true, raws };
      return fail('syntax', n, stack.length === 0 && expect === 'value' ? 'the file has no JSON value' : `unexpected end of the file (${stack.length} unclosed ${stack.length === 1 ? 'bracket' : 'brackets'})`);
    }
    const c = text[i];
    switch (expect) {
      case 'value':
      case 'valueOrEnd': {
        if (expect === 'valueOrEnd' && c === ']') { stack.pop(); i++; expect = 'after'; break; }
        if (c === '{' || c === '[') {
          if (stack.length + 1 > MAX_JSON_DEPTH) return fail('depth', i, 'too deep');
          stack.push({ type: c === '{' ? 'object' : 'array', index: 0, key: '', keys: c === '{' ? new Set() : null });
          i++;
          expect = c === '{' ? 'keyOrEnd' : 'valueOrEnd';
          break;
        }
        if (c === '"') {
          const end = stringEnd(i);
          if (typeof end !== 'number') return end;
          i = end; expect = 'after';
          break;
        }
        if (c === '-' || (c >= '0' && c <= '9')) {
          NUMBER_RE.lastIndex = i;
          const m = NUMBER_RE.exec(text);
          if (!m) return fail('syntax', i, `"-" must be followed by a digit`);
          const literal = m[0];
          const value = Number(literal);
          if (!Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) raws.set(JSON.stringify(pathOf()), literal);
          i += literal.length; expect = 'after';
          break;
        }
        const word = c === 't' ? 'true' : c === 'f' ? 'false' : c === 'n' ? 'null' : '';
        if (word && text.startsWith(word, i)) { i += word.length; expect = 'after'; break; }
        if (c === ']' && expect === 'value' && stack[stack.length - 1]?.type === 'array') return fail('syntax', i, 'found "]" where a value should be (a trailing comma?)');
        return unexpected(i, 'a value (an object, array, string, number, true, false or null)');
      }
      case 'key':
      case 'keyOrEnd': {
        const top = stack[stack.length - 1];
        if (expect === 'keyOrEnd' && c === '}') { stack.pop(); i++; expect = 'after'; break; }
        if (c !== '"') {
          if (c === '}') return fail('syntax', i, 'found "}" where a key should be (a trailing comma?)');
          return unexpected(i, 'a key in double quotes');
        }
        const end = stringEnd(i);
        if (typeof end !== 'number') return end;
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys!.has(key)) return fail('duplicate', i, 'duplicate key', [...pathOf().slice(0, -1), key]);
        top.keys!.add(key);
        top.key = key;
        i = end; expect = 'colon';
        break;
      }
      case 'colon':
        if (c !== ':') return unexpected(i, '":" after the key');
        i++; expect = 'value';
        break;
      case 'after': {
        const top = stack[stack.length - 1];
        if (!top) return fail('syntax', i, `unexpected ${charWords(text, i)} after the end of the JSON value (one profile object per file)`);
        if (c === ',') { i++; if (top.type === 'array') { top.index++; expect = 'value'; } else expect = 'key'; break; }
        if ((c === '}' && top.type === 'object') || (c === ']' && top.type === 'array')) { stack.pop(); i++; expect = 'after'; break; }
        return unexpected(i, top.type === 'object' ? '"," or "}"' : '"," or "]"');
      }
    }
  }
}

function charWords(text: string, at: number): string {
  if (at >= text.length) return 'the end of the file';
  const cp = text.codePointAt(at)!;
  return `"${userText(String.fromCodePoint(cp), 12)}"`;
}

/** The 1-based line and column of `offset`, for an error line. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1; let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) { line++; lineStart = i + 1; }
  return { line, column: offset - lineStart + 1 };
}
