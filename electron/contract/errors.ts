/**
 * Errors cross every boundary as data of one shape, {code, kind, message, field?, fix?}, put
 * into words once where they arise. `kind` says whose fault it is: `input` (a flag, profile,
 * knob or budget: nothing started, the CLI exits 2), `kernel` (the kernel refused something
 * the engine asked), `engine` (the engine process failed or hung), `internal` (our bug).
 */
import { z } from 'zod';

export const ErrorKindSchema = z.enum(['input', 'kernel', 'engine', 'internal']);
export type ErrorKind = z.infer<typeof ErrorKindSchema>;

export const LabErrorSchema = z.object({
  code: z.string(),
  kind: ErrorKindSchema,
  message: z.string(),
  /** Dotted path of the field at fault, where there is one. */
  field: z.string().optional(),
  fix: z.string().optional(),
});
export type LabErrorData = z.infer<typeof LabErrorSchema>;
/** What a thrower gives: `kind` may be left to the code's default (kindOfCode). */
export type LabErrorInit = Omit<LabErrorData, 'kind'> & { kind?: ErrorKind };

/** Longest message / fix / field an error carries; longer text is elided with a count. */
export const ERROR_TEXT_LIMITS = { message: 400, fix: 300, field: 120, code: 40 } as const;

/**
 * Makes untrusted text safe for one terminal line or one UI label: control characters
 * (ANSI escapes, newlines that would forge a second `uring-lab:` line) are escaped as \xNN
 * or \uNNNN, and text beyond `max` characters is cut with the number of characters left out.
 */
export function oneLineText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  // Bidi controls too: they can make a terminal line read differently from what it says.
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  if (escaped.length <= max) return escaped;
  const keep = Math.max(0, max - 30);
  return `${escaped.slice(0, keep)}… (${escaped.length - keep} more characters)`;
}

/** A value quoted for an error message: JSON where possible, bounded, escaped. */
export function quoteValue(value: unknown, max = 60): string {
  let text: string;
  if (typeof value === 'number' && !Number.isFinite(value)) text = String(value);
  else if (typeof value === 'bigint') text = `${value}`;
  else if (typeof value === 'string') {
    // Cut inside the quotes, so a long string still reads as one quoted value.
    return `"${oneLineText(JSON.stringify(value).slice(1, -1), Math.max(1, max - 2))}"`;
  } else {
    try { text = JSON.stringify(value) ?? String(value); } catch { text = String(value); }
  }
  return oneLineText(text, max);
}

/**
 * Codes whose kind is `input` when the thrower does not say: the input was wrong (a flag, a
 * profile, a knob, a resource budget), nothing started, and the CLI exits 2.
 */
const INPUT_CODES: ReadonlySet<string> = new Set([
  'USAGE', 'UNKNOWN_KEY', 'INVALID_VALUE', 'NOT_A_LEAF', 'READ_ONLY', 'SET_SYNTAX',
  'PROFILE_INVALID', 'PROFILE_VERSION', 'PROFILE_UNREADABLE', 'PROFILE_NOT_JSON',
  'EADDRINUSE', 'RESOURCE_BUDGET', 'TOKEN_FILE', 'BAD_REQUEST', 'UNKNOWN_METHOD',
  'NOT_CONTROLLER', 'RUN_ACTIVE', 'NO_RUN', 'RUN_UNKNOWN', 'AB_ACTIVE', 'AB_UNKNOWN',
]);
const ENGINE_CODES: ReadonlySet<string> = new Set([
  'ENGINE_CRASHED', 'ENGINE_UNRESPONSIVE', 'ENGINE_TIMEOUT', 'ENGINE_ERROR', 'SERVER_FAILED', 'LOAD_CONNECTIONS_LOST',
  'LOAD_TIMED_OUT',
]);

/** The kind of an error whose thrower did not say: errno names (E…) are the kernel's. */
export function kindOfCode(code: string): ErrorKind {
  if (INPUT_CODES.has(code)) return 'input';
  if (ENGINE_CODES.has(code)) return 'engine';
  if (/^E[A-Z0-9]+$/.test(code)) return 'kernel';
  return 'internal';
}

export class LabError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly field?: string;
  readonly fix?: string;
  constructor(data: LabErrorInit) {
    // Every error is bounded and free of control characters from the moment it exists, so
    // no transport or terminal downstream can be flooded or forged by what a user typed.
    super(oneLineText(String(data.message), ERROR_TEXT_LIMITS.message));
    this.name = 'LabError';
    this.code = oneLineText(String(data.code), ERROR_TEXT_LIMITS.code);
    this.kind = data.kind && ErrorKindSchema.safeParse(data.kind).success ? data.kind : kindOfCode(this.code);
    if (data.field !== undefined) this.field = oneLineText(String(data.field), ERROR_TEXT_LIMITS.field);
    if (data.fix !== undefined) this.fix = oneLineText(String(data.fix), ERROR_TEXT_LIMITS.fix);
  }
  toData(): LabErrorData {
    const data: LabErrorData = { code: this.code, kind: this.kind, message: this.message };
    if (this.field !== undefined) data.field = this.field;
    if (this.fix !== undefined) data.fix = this.fix;
    return data;
  }
  /** Any thrown value as a LabError (words kept, bounded and escaped like every LabError). */
  static from(err: unknown, code = 'INTERNAL'): LabError {
    if (err instanceof LabError) return err;
    const e = err as { code?: unknown; kind?: unknown; message?: unknown; field?: unknown; fix?: unknown } | null;
    return new LabError({
      code: typeof e?.code === 'string' ? e.code : code,
      kind: ErrorKindSchema.safeParse(e?.kind).success ? (e!.kind as ErrorKind) : undefined,
      message: typeof e?.message === 'string' ? e.message : String(err),
      field: typeof e?.field === 'string' ? e.field : undefined,
      fix: typeof e?.fix === 'string' ? e.fix : undefined,
    });
  }
  /** One line for a terminal: what is wrong, with which field, and how to fix it. */
  oneLine(): string {
    return this.fix ? `${this.message}; ${this.fix}` : this.message;
  }
}

