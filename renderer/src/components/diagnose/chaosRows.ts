/**
 * The chaos panel's rows as the user typed them (kind, start s, duration s) and their check
 * against the contract (InjectionSchema) before anything goes to the host: one line per bad
 * row naming it and the fix. Overlapping rows of the same kind are refused here too, as the
 * host would refuse them (one fault of a kind at a time). Pure.
 */
import { INJECTION_KINDS, INJECTION_MAX_DURATION_MS, InjectionSchema, type Injection, type InjectionKind } from '../../../../electron/contract';

export interface ChaosRow {
  kind: InjectionKind | string;
  /** Seconds as typed (text inputs: "2", "1.5"). */
  startS: string;
  durationS: string;
}

export type ChaosCheck = { ok: true; injections: Injection[] } | { ok: false; errors: { row: number; message: string }[] };

const seconds = (text: string): number => (text.trim() === '' ? Number.NaN : Number(text.trim()));

/** Rows 1… (as the panel numbers them) as injections, or what is wrong with each bad row. */
export function checkChaosRows(rows: readonly ChaosRow[]): ChaosCheck {
  const errors: { row: number; message: string }[] = [];
  const injections: Injection[] = [];
  /** The row number of each valid injection. */
  const rowNumbers: number[] = [];
  rows.forEach((r, i) => {
    const n = i + 1;
    if (!(INJECTION_KINDS as readonly string[]).includes(r.kind)) {
      errors.push({ row: n, message: `row ${n}: unknown kind "${r.kind}" — pick one of ${INJECTION_KINDS.join(', ')}` });
      return;
    }
    const start = seconds(r.startS);
    const duration = seconds(r.durationS);
    if (!Number.isFinite(start) || start < 0) {
      errors.push({ row: n, message: `row ${n}: start "${r.startS}" is not a time — give seconds since the run starts, ≥ 0 (e.g. 2 or 1.5)` });
      return;
    }
    if (!Number.isFinite(duration) || duration <= 0 || duration * 1000 > INJECTION_MAX_DURATION_MS) {
      errors.push({ row: n, message: `row ${n}: duration "${r.durationS}" is out of range — give seconds between 0.001 and ${INJECTION_MAX_DURATION_MS / 1000}` });
      return;
    }
    const parsed = InjectionSchema.safeParse({ kind: r.kind, atMs: Math.round(start * 1000), durationMs: Math.round(duration * 1000) });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      errors.push({ row: n, message: `row ${n}: ${issue?.path.join('.') || 'injection'} ${issue?.message ?? 'is invalid'} — start ≤ 3600 s, duration 0.001…${INJECTION_MAX_DURATION_MS / 1000} s` });
      return;
    }
    const clash = injections.findIndex((o) => o.kind === parsed.data.kind && o.atMs < parsed.data.atMs + parsed.data.durationMs && parsed.data.atMs < o.atMs + o.durationMs);
    if (clash >= 0) {
      const other = injections[clash]!;
      errors.push({ row: n, message: `row ${n}: overlaps row ${rowNumbers[clash]} (both ${other.kind}) — start it at ${(other.atMs + other.durationMs) / 1000} s or later` });
      return;
    }
    injections.push(parsed.data);
    rowNumbers.push(n);
  });
  return errors.length ? { ok: false, errors } : { ok: true, injections };
}

/** Stored injections as rows (seconds without trailing zeros). */
export function chaosRowsOf(injections: readonly Injection[]): ChaosRow[] {
  return injections.map((i) => ({ kind: i.kind, startS: String(i.atMs / 1000), durationS: String(i.durationMs / 1000) }));
}

/** The stored value of diagnose.inject, read leniently: anything not a valid list is an empty one. */
export function storedInjections(value: unknown): Injection[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v) => {
    const p = InjectionSchema.safeParse(v);
    return p.success ? [p.data] : [];
  });
}
