/**
 * Knob changes and refusals in words for phase labels and the phase table ("SQPOLL off → on"),
 * from the knob catalogue's labels and value formatting (electron/contract/knobs.ts): the
 * renderer keeps no names of its own.
 */
import { formatKnobValue, knobLabel, type KnobChange, type Phase, type RejectedKnob } from '../../../electron/contract';

/** "SQPOLL off → on". */
export function knobChangeText(change: KnobChange): string {
  return `${knobLabel(change.path)} ${formatKnobValue(change.path, change.from)} → ${formatKnobValue(change.path, change.to)}`;
}

/** "SQPOLL on refused (EPERM)". */
export function refusedKnobText(r: RejectedKnob): string {
  return `${knobLabel(r.knob)} ${formatKnobValue(r.knob, r.requested)} refused (${r.code})`;
}

/** Short label for a phase line on a chart: "SQPOLL on", "SQPOLL on refused (EPERM)", else "phase N". */
export function phaseLabel(phase: Pick<Phase, 'index' | 'changed' | 'rejected'>): string {
  const refused = new Set(phase.rejected.map((r) => r.knob));
  const parts = phase.changed.filter((c) => !refused.has(c.path)).map((c) => `${knobLabel(c.path)} ${formatKnobValue(c.path, c.to)}`);
  for (const r of phase.rejected) parts.push(refusedKnobText(r));
  return parts.length ? parts.join(', ') : `phase ${phase.index}`;
}
