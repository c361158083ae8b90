/**
 * Whether this machine can use a knob, from the doctor's report (its `knobs` list, derived
 * from each catalogue row's `needs` and the doctor's probes). An unavailable knob is disabled
 * with the doctor's reason and fix as visible text (see blockedByMachine for when it stays
 * changeable). Pure, no DOM.
 */
import type { DoctorReport, KnobEntry, Workload } from '../../../../electron/contract';

export interface KnobAvailability {
  /** unknown: no report yet (or the report does not list the knob). */
  state: 'available' | 'unavailable' | 'unknown';
  /** The capability the row needs, if any. */
  needs: string | null;
  /** One short line: "available here", "not available here", "checking this machine…". */
  text: string;
  reason: string | null;
  fix: string | null;
  /** What to know even when available (NAPI on lo). */
  note: string | null;
}

/**
 * Does the knob mean something for `workload`? From its catalogue row's `workloads` (absent:
 * every workload). The panel hides the others: storage.* in an echo run, the echo server's
 * buffer ring and the load's connections in a storage run.
 */
export function knobApplies(entry: Pick<KnobEntry, 'workloads'>, workload: Workload): boolean {
  return !entry.workloads || entry.workloads.includes(workload);
}

/**
 * The doctor's verdict on the knob for `workload`. The doctor probes capabilities with no
 * workload in mind; a row's `needsFor` says which workloads its `needs` holds for (IOPOLL needs
 * sockets that poll only for echo), and for the others the knob needs nothing probed: a
 * storage run reports a device without poll queues itself, as a refusal with its errno.
 */
export function knobAvailability(
  report: DoctorReport | null,
  entry: Pick<KnobEntry, 'path' | 'needs' | 'needsFor'>,
  checking = false,
  workload: Workload = 'echo',
): KnobAvailability {
  if (entry.needs && entry.needsFor && !entry.needsFor.includes(workload)) return { state: 'available', needs: null, text: '', reason: null, fix: null, note: null };
  const needs = entry.needs ?? null;
  const listed = report?.knobs?.find((k) => k.path === entry.path);
  if (!listed) {
    // A knob that needs nothing probed is usable whatever the doctor says.
    if (!needs) return { state: 'available', needs, text: '', reason: null, fix: null, note: null };
    const text = report ? 'the doctor did not list this knob' : checking ? 'checking this machine…' : 'not checked yet';
    return { state: 'unknown', needs, text, reason: null, fix: null, note: null };
  }
  if (listed.available === null) {
    return { state: 'unknown', needs, text: 'the doctor could not check', reason: listed.reason ?? null, fix: listed.fix ?? null, note: null };
  }
  if (listed.available) {
    return { state: 'available', needs, text: needs ? 'available here' : '', reason: null, fix: null, note: listed.note ?? null };
  }
  return { state: 'unavailable', needs, text: 'not available on this machine', reason: listed.reason ?? 'the doctor found it missing', fix: listed.fix ?? null, note: listed.note ?? null };
}

/**
 * An unavailable knob cannot be turned on: it is blocked while it holds its default and that
 * default is "off" (false, null, 0). One already asked for (not at its default) can be set
 * back, and one whose default is "on" (multishot) stays changeable so it can be turned off;
 * both still show why this machine cannot use them.
 */
export function blockedByMachine(availability: KnobAvailability, requested: unknown, defaultValue: unknown): boolean {
  const defaultIsOff = defaultValue === false || defaultValue === null || defaultValue === 0;
  return availability.state === 'unavailable' && defaultIsOff && Object.is(requested, defaultValue);
}
