/**
 * What every export reads from a profile through the knob catalogue: each knob's value, whether
 * it takes effect (the server engine and the workload decide), the system settings the profile
 * implies (the rows' `exports.system`), the kernel it needs (the rows' `kernel`), and the knobs
 * that differ from the defaults. The formats (json, fio, tuned, shell) only lay these out.
 */
import os from 'node:os';
import { knobEntries, LabError, oneLineText, type KnobEntry, type KnobLookup, type Profile, type SystemSetting } from '../../../contract';
import { defaultProfile, valueAt } from '../profileShape';

export const knobValue = (profile: Profile, path: string): unknown => valueAt(profile, path.split('.'));

export const lookupIn = (profile: Profile): KnobLookup => (path) => knobValue(profile, path);

/** Whether a knob acts in this profile: ring knobs do nothing for epoll, echo knobs nothing for storage. */
export function takesEffect(entry: KnobEntry, profile: Profile): boolean {
  if (entry.engines && !entry.engines.includes(profile.server.engine)) return false;
  if (entry.workloads && !entry.workloads.includes(profile.workload)) return false;
  return true;
}

/** The knobs whose value differs from the default, in catalogue order. */
let defaults: Profile | undefined;

export function changedKnobs(profile: Profile): Array<{ entry: KnobEntry; value: unknown }> {
  defaults ??= defaultProfile(); // read only here
  return knobEntries()
    .map((entry) => ({ entry, value: knobValue(profile, entry.path) }))
    .filter(({ entry, value }) => JSON.stringify(value) !== JSON.stringify(knobValue(defaults!, entry.path)));
}

/** A system setting with the knobs it comes from (several knobs may imply one key). */
export interface ImpliedSetting extends SystemSetting {
  from: string[];
}

/** Every sysctl and command-line setting the profile implies, merged by key (a larger number wins). */
export function impliedSettings(profile: Profile): ImpliedSetting[] {
  const at = lookupIn(profile);
  const byKey = new Map<string, ImpliedSetting>();
  for (const entry of knobEntries()) {
    const system = entry.exports?.system;
    if (!system || !takesEffect(entry, profile)) continue;
    for (const s of system.call(entry.exports, knobValue(profile, entry.path) as never, at)) {
      const key = `${s.section} ${s.key}`;
      const had = byKey.get(key);
      if (!had) byKey.set(key, { ...s, from: [entry.path] });
      else {
        had.from.push(entry.path);
        if (Number(s.value) > Number(had.value)) Object.assign(had, { value: s.value, why: s.why });
        had.atLeast = !!(had.atLeast && s.atLeast);
      }
    }
  }
  return [...byKey.values()];
}

/** The Linux version each knob in effect (and switched on) asks for, newest first. */
export function kernelNeeds(profile: Profile): Array<{ path: string; label: string; major: number; minor: number }> {
  const needs: Array<{ path: string; label: string; major: number; minor: number }> = [];
  for (const entry of knobEntries()) {
    if (!entry.kernel || !takesEffect(entry, profile)) continue;
    const value = knobValue(profile, entry.path);
    if (value === false || value === 0 || value === null) continue;
    const version = kernelVersionIn(entry.kernel, value);
    if (version) needs.push({ path: entry.path, label: entry.label, major: version[0], minor: version[1] });
  }
  return needs.sort((a, b) => b.major - a.major || b.minor - a.minor);
}

/**
 * The Linux version in a row's `kernel` words: `defer: Linux 6.1; coop: Linux 5.19` names one per
 * value (a value not named needs none); otherwise the first `Linux X.Y`.
 */
export function kernelVersionIn(words: string, value: unknown): [number, number] | null {
  const perValue = /(\w+): Linux (\d+)\.(\d+)/g;
  const named = [...words.matchAll(perValue)];
  if (named.length > 0) {
    const mine = named.find((m) => m[1] === String(value));
    return mine ? [Number(mine[2]), Number(mine[3])] : null;
  }
  const first = /Linux (\d+)\.(\d+)/.exec(words);
  return first ? [Number(first[1]), Number(first[2])] : null;
}

/** A file-name-safe form of the profile's name (`loopback-sqpoll`), never empty. */
export function slug(name: string): string {
  const s = name.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 64);
  return s || 'profile';
}

/** Free text for one comment line of a generated file: one line, escaped, bounded. */
export function commentText(text: string, max = 200): string {
  return oneLineText(text, max);
}

/** Free text as comment lines of at most `width` characters (word-wrapped; every line escaped). */
export function commentLines(text: string, width = 96): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of oneLineText(paragraph, 10_000).split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) { out.push(line); line = ''; }
      line = line ? `${line} ${word}` : word;
    }
    if (line) out.push(line);
  }
  return out.slice(0, 60);
}

/** A knob value as the user wrote it in a profile (JSON), for comments. */
export function valueText(value: unknown): string {
  return oneLineText(JSON.stringify(value) ?? String(value), 80);
}

/** Refuses a value a format cannot carry (a newline in an INI value would start a new option;
 *  fio expands `$NAME`, `${NAME}` and `$ncpus` in a job file, so a `$` would name another file). */
export function refuseUnwritable(path: string, value: string, format: string): void {
  const control = /[\u0000-\u001f\u007f]/.test(value);
  // fio reads a job file's values its own way, with no escape for these: it expands $, ends a
  // value at ; or # (an inline comment: filename=/tmp/data#2.img named /tmp/data, and a write job
  // wrote that file instead) and trims the spaces around it.
  const fio = format !== 'fio job' ? null
    : value.includes('$') ? { why: 'fio expands $ in job files (environment variables, $ncpus), so it would name another file', without: 'a $' }
      : /[;#]/.test(value) ? { why: 'fio reads ; and # in a job file as the start of a comment, so it would name another file', without: '; or #' }
        : value !== value.trim() ? { why: 'fio trims the spaces around a value in a job file, so it would name another file', without: 'leading or trailing spaces' }
          : null;
  if (control || fio) {
    throw new LabError({
      code: 'INVALID_VALUE', kind: 'input', field: path,
      message: `${path}: ${valueText(value)} cannot be written in a ${format} file (${control ? 'it holds a control character such as a newline' : fio!.why})`,
      fix: `give ${path} without ${control ? 'control characters' : fio!.without}, or export --format json`,
    });
  }
}

/**
 * Refuses a huge-page reservation larger than this machine's memory: TuneD applies its [sysctl]
 * section without asking and the kernel then reserves every huge page it can, so a profile
 * whose pools `run` refuses here (2 TiB for 64 rings × 32,768 × 1 MiB) must not export one.
 */
export function refuseOversizedReservation(profile: Profile, totalBytes = os.totalmem()): void {
  const pages = impliedSettings(profile).find((s) => s.key === 'vm.nr_hugepages');
  if (!pages) return;
  const bytes = Number(pages.value) * (2 << 20);
  if (bytes <= totalBytes) return;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  throw new LabError({
    code: 'INVALID_VALUE', kind: 'input', field: 'server.bufferRing.hugepages',
    message: `server.bufferRing.hugepages: this profile's buffer pools need vm.nr_hugepages=${pages.value} (${gib(bytes)} of 2 MiB pages: server.rings × bufferRing.count × size), more than this machine's ${gib(totalBytes)} of memory`,
    fix: 'lower server.bufferRing.count, server.bufferRing.size or server.rings, or set server.bufferRing.hugepages to false; for a larger server, export the profile there',
  });
}
