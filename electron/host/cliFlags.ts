/**
 * What every verb's flag parsing shares beyond node:util's parseArgs (strict mode already
 * refuses unknown flags and missing values): a single-valued flag given twice (parseArgs keeps
 * the last one silently, so `--profile A --profile B` ran B without reading A), an empty value
 * (`--profile "$UNSET"` measured the defaults), and numbers written as plain decimals only
 * (Number() also reads "0x2", "0b1" and " 1").
 */
import type { ParseArgsConfig } from 'node:util';
import { LabError, oneLineText } from '../contract';

type Options = NonNullable<ParseArgsConfig['options']>;
interface OptionToken { kind: string; name?: string; rawName?: string; value?: string | undefined }

/** Throws the one-line input error for the first repeated single-valued or empty string flag. */
export function checkFlagTokens(verb: string, options: Options, tokens: readonly OptionToken[] | undefined): void {
  const seen = new Set<string>();
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || !t.name) continue;
    const option = options[t.name];
    // Repeatable flags (--set, --inject) check each value themselves, with their own forms.
    if (!option || option.type !== 'string' || option.multiple) continue;
    if (seen.has(t.name)) throw flagError(`${verb}: --${t.name} is given more than once`, `give --${t.name} once`, t.name);
    seen.add(t.name);
    if (typeof t.value === 'string' && t.value.trim() === '') throw flagError(`${verb}: --${t.name} is empty`, `give --${t.name} a value, or leave it out`, t.name);
  }
}

const DECIMAL = /^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$|^\.[0-9]+([eE][+-]?[0-9]+)?$/;

/** The number a flag's text writes in plain decimal (3, 1.5, .5, 2e1), or NaN for anything else. */
export function decimalFlag(text: string): number {
  return DECIMAL.test(text) ? Number(text) : Number.NaN;
}

function flagError(message: string, fix: string, field: string): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', field, message: oneLineText(message, 200), fix });
}

/**
 * parseArgs' own refusal (an unknown flag, a missing value) as the one-line input error: its
 * first sentence, and for "argument is ambiguous" (a value that starts with '-', e.g.
 * --warmup -1) the way to give that value, written with the value the user typed (`args`, the
 * verb's arguments); otherwise `fix`.
 */
export function flagParseError(verb: string, args: readonly string[], err: unknown, fix: string, field = verb): LabError {
  const message = String((err as Error)?.message ?? err).split('\n')[0]!.replace(/\. To specify.*$/, '').replace(/\.$/, '');
  const line = `${verb}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`;
  const ambiguous = /option '(--[\w-]+)' argument is ambiguous/i.exec(message);
  if (!ambiguous) return flagError(line, fix, field);
  const flag = ambiguous[1]!;
  const at = args.findIndex((a, i) => a === flag && args[i + 1]?.startsWith('-'));
  const value = at >= 0 ? oneLineText(args[at + 1]!, 40) : '-1';
  return flagError(line, `attach a value that starts with '-' with '=', e.g. ${flag}=${value} (then it is checked like any other value)`, field);
}
