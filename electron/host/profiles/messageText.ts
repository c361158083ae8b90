/**
 * How untrusted text appears in a profile error line: keys, paths, sources and quoted values
 * are bounded and escaped (control and bidi characters, and a stray byte-order mark), so a
 * file or a `--set` can neither flood a terminal nor make a line read differently from what
 * it says.
 */
import { oneLineText, quoteValue } from '../../contract';

/** A path inside a profile: object keys, and array indices where a value is an array. */
export type Path = ReadonlyArray<PropertyKey>;

/** Where a profile or a value came from; decides how a fix is phrased (`--set a=b`, JSON, a value). */
export type Style = 'set' | 'json' | 'value';

/**
 * Untrusted text for a message, bounded. oneLineText escapes control and bidi characters;
 * a byte-order mark (U+FEFF, which a file's text may carry) is escaped here as well.
 */
export function userText(text: string, max: number): string {
  return oneLineText(text.replace(/\ufeff/g, '\\ufeff'), max);
}

/** quoteValue, with a byte-order mark escaped too. */
export function quote(value: unknown, max = 60): string {
  return userText(quoteValue(value, max), Number.MAX_SAFE_INTEGER);
}

/** A dotted path for a message or a `field`, each key escaped and bounded. */
export function displayPath(path: Path): string {
  return userText(path.map((s) => userText(String(s), 60)).join('.'), 120);
}

/** The source that starts an error line (a file path keeps its tail, where its name is). */
export function showSource(source: string): string {
  const text = userText(String(source), Number.MAX_SAFE_INTEGER);
  return text.length <= 100 ? text : `…${text.slice(-99)}`;
}

/** 1e308 rather than JS's 1e+308, as a person (and JSON) writes it. */
export function numberText(n: number): string {
  return String(n).replace('e+', 'e');
}
