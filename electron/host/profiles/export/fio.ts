/**
 * `--format fio`: a fio job file for the storage analogue of the profile. fio's io_uring engine
 * does file and block I/O only (no sockets), so an echo profile becomes the storage job its
 * server ring would run: the ring knobs map one to one (sqthread_poll, sqthread_poll_cpu, hipri,
 * fixedbufs, registerfiles), the storage.* knobs give rw/bs/iodepth/size/direct/filename,
 * duration.* gives ramp_time/runtime. Each mapping is the knob row's `exports.fio`
 * (electron/contract/knobs.ts); the knobs fio has no word for are listed in the header comment.
 * `fio --parse-only` accepts the result (test/unit/exportFormats.test.ts).
 */
import { statSync } from 'node:fs';
import { knobEntries, type Profile } from '../../../contract';
import { changedKnobs, commentLines, commentText, knobValue, lookupIn, refuseUnwritable, slug, valueText } from './common';

const MIB = 1024 * 1024;

/**
 * A file the user named is the lab's to read (and write, for a write pattern) up to
 * min(storage.fileSizeMiB, its size), never to create or extend. fio's `size=` is no such
 * limit: a file smaller than it is laid out anew (truncated and rewritten) before a read job
 * starts, so a job that named a 1 MiB file with the default size=1024M wiped it. So for a named
 * path fio may not create the file (allow_file_create=0: a missing one is an error, as in the
 * lab), and an existing regular file smaller than fileSizeMiB gets size= its own size at export,
 * in whole blocks, with a note that it must not shrink. Devices are never laid out by fio.
 */
function namedPathOptions(profile: Profile, options: Map<string, string | number>, notes: string[]): void {
  const path = profile.storage.path;
  if (path === null) return;
  options.set('allow_file_create', 0);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return;
    size = st.size;
  } catch {
    notes.push(`storage.path ${path} does not exist here: fio is told not to create it (allow_file_create=0), as the lab would not`);
    return;
  }
  const asked = profile.storage.fileSizeMiB * MIB;
  if (size >= asked) return;
  const block = profile.storage.blockBytes;
  const region = Math.floor(size / block) * block;
  if (region === 0) {
    options.delete('size');
    notes.push(`storage.path ${path} holds ${size} B, less than one ${block} B block: the lab refuses it, and fio gets no size= so it cannot lay the file out anew`);
    return;
  }
  options.set('size', region);
  notes.push(`size=${region}: what ${path} held at export in whole blocks (under fileSizeMiB), as the lab uses it`);
  notes.push('fio overwrites a file smaller than size= (it lays it out anew): export again if the file shrinks');
}

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
  namedPathOptions(profile, options, notes);
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
