/**
 * `--format fio`: a fio job file for the storage analogue of the profile. fio's io_uring engine
 * does file and block I/O only (no sockets), so an echo profile becomes the storage job its
 * server ring would run: the ring knobs map one to one (sqthread_poll, sqthread_poll_cpu, hipri,
 * fixedbufs, registerfiles), the storage.* knobs give rw/bs/iodepth/size/direct/filename,
 * duration.* gives ramp_time/runtime. Each mapping is the knob row's `exports.fio`
 * (electron/contract/knobs.ts); the knobs fio has no word for are listed in the header comment.
 * `fio --parse-only` accepts the result (test/unit/exportFormats.test.ts).
 */
import { knobEntries, type Profile } from '../../../contract';
import { changedKnobs, commentLines, commentText, knobValue, lookupIn, refuseUnwritable, slug, valueText } from './common';

export function fioJobFile(profile: Profile): string {
  const at = lookupIn(profile);
  const options = new Map<string, string | number>();
  const notes: string[] = [];
  const unmapped: string[] = [];
  const notApplied: string[] = [];
  const changed = new Set(changedKnobs(profile).map((c) => c.entry.path));
  for (const entry of knobEntries()) {
    if (entry.applies === 'metadata') continue; // name and description are in the header
    const value = knobValue(profile, entry.path);
    if (entry.engines && !entry.engines.includes(profile.server.engine)) {
      if (changed.has(entry.path)) notApplied.push(`${entry.path} = ${valueText(value)} (does nothing with server.engine ${profile.server.engine})`);
      continue;
    }
    const words = entry.exports?.fio?.call(entry.exports, value as never, at);
    // Echo knobs mean nothing to a storage profile: not "lost" in its job, so not listed.
    if (!words && entry.workloads && !entry.workloads.includes(profile.workload)) continue;
    if (!words) {
      unmapped.push(`${entry.path} = ${valueText(value)}${changed.has(entry.path) ? '' : ' (default)'}`);
      continue;
    }
    if (words.note) notes.push(words.note);
    for (const [key, v] of Object.entries(words.options ?? {})) {
      refuseUnwritable(entry.path, String(v), 'fio job');
      options.set(key, v);
    }
  }
  // numjobs > 1: threads rather than processes (like the lab's jobs), one report for the group.
  if (Number(options.get('numjobs') ?? 1) > 1) {
    options.set('thread', 1);
    options.set('group_reporting', 1);
  }
  const description = commentLines(profile.description).map((l) => `;   ${l}`);
  const lines = [
    `; uring-lab profile "${commentText(profile.name, 120)}" as a fio job: the storage analogue of its io_uring ring.`,
    '; Made by `uring-lab export --format fio`; run it with `fio FILE` (fio 3.x with io_uring).',
    ...(description.length ? ['; Description:', ...description] : []),
    ...(notes.length ? ['; Notes:', ...notes.map((n) => `;   ${commentText(n)}`)] : []),
    '; Knobs fio has no word for (not carried into this job):',
    ...unmapped.map((u) => `;   ${commentText(u)}`),
    ...(notApplied.length ? ['; Knobs without effect in this profile:', ...notApplied.map((u) => `;   ${commentText(u)}`)] : []),
    '',
    // "[global]" is fio's section of defaults, not a job: a profile of that name gets another.
    `[${slug(profile.name).toLowerCase() === 'global' ? 'uring-lab-global' : slug(profile.name)}]`,
    ...[...options].map(([k, v]) => `${k}=${v}`),
  ];
  return `${lines.join('\n')}\n`;
}
