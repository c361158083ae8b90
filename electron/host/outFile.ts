/**
 * `--out FILE` of every verb that writes a file (export, runs export, ab, ab export): one check,
 * made before any work (an A/B experiment runs for minutes before its report exists), and one
 * writer. What the user had is not lost: `--out` writes a regular file only (a rename over
 * /dev/null, a FIFO or a symlink replaced the node itself), never the command's own input or the
 * lab's saved data, and an existing file keeps its permissions. Written whole or not at all
 * (atomicFile.ts); through a symlink, the file it names is replaced and the link stays.
 */
import { accessSync, constants, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LabError, oneLineText } from '../contract';
import { writeFileAtomic } from './atomicFile';
import { labOwnedDirHolding } from './labPaths';

const FIX = 'give a regular file in a folder you can write to, or leave --out out to print to stdout';

function refuse(target: string, why: string, fix = FIX): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', field: 'out', message: `--out ${oneLineText(target, 160)}: ${why}; nothing was written`, fix });
}

function kindOf(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory';
  if (st.isCharacterDevice()) return 'is a character device';
  if (st.isBlockDevice()) return 'is a block device';
  if (st.isFIFO()) return 'is a FIFO';
  if (st.isSocket()) return 'is a socket';
  return 'is not a regular file';
}

/**
 * Checks `--out` before the verb does its work; returns the path to write (a symlink's target).
 * `inputs`: the files the command reads (a profile), which it must not replace.
 */
export function checkOutFile(target: string, inputs: string[] = []): string {
  if (!target.trim()) throw refuse(target, 'is empty', 'name the file to write, e.g. --out report.html, or leave --out out to print to stdout');
  let path = resolve(target);
  let existing: Stats | null = null;
  try {
    const link = lstatSync(path);
    existing = link.isSymbolicLink() ? statSync(path) : link;
    if (link.isSymbolicLink()) path = realpathSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && existing === null && lstatOrNull(path)?.isSymbolicLink()) throw refuse(target, 'is a symlink to nothing');
    if (code !== 'ENOENT') throw refuse(target, `cannot be looked at (${code})`);
  }
  if (existing) {
    const kind = kindOf(existing);
    if (kind) throw refuse(target, kind);
    // Root may write anything; a file with no write bit at all was made read-only on purpose.
    if ((existing.mode & 0o222) === 0) throw refuse(target, 'is read-only', 'make it writable (chmod u+w) if it is meant to be replaced, or write to another file');
    // The file must be writable by this user, as the kernel judges it (owner, group, ACLs, a
    // read-only mount), not by its mode bits alone: the write is a rename over it, which needs
    // only the folder, so another user's 0644 file in a folder this user may write (not sticky)
    // was replaced, owner and all.
    try { accessSync(path, constants.W_OK); } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
      throw refuse(target, `is not writable by this user (${code}${code === 'EACCES' ? `: it belongs to uid ${existing.uid}, mode ${(existing.mode & 0o777).toString(8)}` : ''})`, 'write to a file of your own, or ask its owner to make it writable for you');
    }
    for (const input of inputs) {
      const st = statOrNull(input);
      if (st && st.dev === existing.dev && st.ino === existing.ino) throw refuse(target, `is ${oneLineText(input, 120)}, this command's input: it would be replaced`, 'write to another file');
    }
  }
  const folder = dirname(path);
  const folderStat = statOrNull(folder);
  if (!folderStat) throw refuse(target, `the folder ${oneLineText(folder, 120)} does not exist`);
  if (!folderStat.isDirectory()) throw refuse(target, `${oneLineText(folder, 120)} is not a folder`);
  try { accessSync(folder, constants.W_OK); } catch { throw refuse(target, `the folder ${oneLineText(folder, 120)} is not writable`); }
  const owned = labOwnedDirHolding(path);
  if (owned) throw refuse(target, `is inside ${oneLineText(owned, 120)}, the lab's own data (saved runs, profiles): writing there could damage them`, 'write it somewhere else, e.g. your home folder');
  return path;
}

/** Writes `text` to the path checkOutFile returned: whole or not at all, keeping an existing file's mode. */
export function writeOutFile(target: string, path: string, text: string, mode = 0o644): void {
  const before = statOrNull(path);
  try {
    writeFileAtomic(path, text, { mode: before ? before.mode & 0o7777 : mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const why: Record<string, string> = { ENOENT: `the folder ${dirname(path)} does not exist`, EISDIR: 'it is a directory', EACCES: 'permission denied', EROFS: 'a read-only file system', ENOTDIR: 'a part of the path is not a directory', ENOSPC: 'no space left' };
    throw refuse(target, `cannot write it (${code}${why[code] ? `: ${why[code]}` : ''})`);
  }
}

function statOrNull(path: string): Stats | null {
  try { return statSync(path); } catch { return null; }
}

function lstatOrNull(path: string): Stats | null {
  try { return lstatSync(path); } catch { return null; }
}
