/**
 * Knob changes in words for phase labels ("SQPOLL off → on"), derived from the knob's
 * dotted profile path alone, so no second catalogue of knob names lives in the renderer.
 * The section (`server.`, `load.`) and a trailing `.enabled` are dropped; the io_uring
 * acronyms are spelled the way the kernel docs spell them.
 */
import type { KnobChange, Phase, RejectedKnob } from '../../../electron/contract';

const SECTIONS = new Set(['server', 'load', 'storage', 'probes', 'duration']);
const ACRONYMS: Record<string, string> = { sqpoll: 'SQPOLL', iopoll: 'IOPOLL', napi: 'NAPI', numa: 'NUMA', cpu: 'CPU' };

/** `server.sqpoll.enabled` → "SQPOLL", `server.bufferRing.size` → "bufferRing.size". */
export function knobName(path: string): string {
  const parts = path.split('.');
  if (parts.length > 1 && SECTIONS.has(parts[0]!)) parts.shift();
  if (parts.length > 1 && parts[parts.length - 1] === 'enabled') parts.pop();
  return parts.map((p) => ACRONYMS[p.toLowerCase()] ?? p).join('.');
}

/** A knob value for a label: on/off for switches, "unset" for null, JSON for anything structured. */
export function knobValueText(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (value === null || value === undefined) return 'unset';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** "SQPOLL off → on". */
export function knobChangeText(change: KnobChange): string {
  return `${knobName(change.path)} ${knobValueText(change.from)} → ${knobValueText(change.to)}`;
}

/** "SQPOLL on refused (EPERM)". */
export function refusedKnobText(r: RejectedKnob): string {
  return `${knobName(r.knob)} ${knobValueText(r.requested)} refused (${r.code})`;
}

/** Short label for a phase line on a chart: "SQPOLL on", "SQPOLL on refused (EPERM)", else "phase N". */
export function phaseLabel(phase: Pick<Phase, 'index' | 'changed' | 'rejected'>): string {
  const refused = new Set(phase.rejected.map((r) => r.knob));
  const parts = phase.changed.filter((c) => !refused.has(c.path)).map((c) => `${knobName(c.path)} ${knobValueText(c.to)}`);
  for (const r of phase.rejected) parts.push(refusedKnobText(r));
  return parts.length ? parts.join(', ') : `phase ${phase.index}`;
}
