/**
 * The user's saved profiles: `$XDG_DATA_HOME/uring-lab/profiles/NAME.json` (the lab's data
 * directory, as labPaths.ts labDataDir), each an exported JSON profile (export/json.ts) that
 * `uring-lab run --profile` reads as it is. Writes are atomic (a temp file in the same folder,
 * fsync, rename, fsync of the folder), so a crash leaves the old file or the new one, never half
 * of one; every check happens before the first write, so a refused save or import touches nothing.
 */
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, type LabErrorData, type Profile } from '../../contract';
import { writeFileAtomic } from '../atomicFile';
import { labDataDir } from '../labPaths';
import { profileJson } from './export/json';
import { slug } from './export/common';
import { userText } from './messageText';
import { loadProfileFile } from './profileFile';
import { makeFolders } from '../makeFolders';

/** A saved profile's name is its file name: letters, digits, space, dot, dash, underscore. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
/** Most saved profiles listed (a store is a few dozen). */
const MAX_LISTED = 1000;
/**
 * Most bytes of profiles one list carries: a profile may hold a 10,000-character description
 * (twice in its entry), so 1000 of them made a 14 MB answer, past what a WebSocket client may
 * have unsent (8 MiB, labSocket.ts), and the host dropped the connection instead of answering.
 * The newest profiles that fit are listed; the rest are counted in `leftOut`.
 */
export const MAX_LIST_BYTES = 4 * 2 ** 20;

export interface SavedProfile {
  name: string;
  description: string;
  /** When the file was last written (ISO 8601). */
  savedAt: string;
  profile: Profile;
}

export function profilesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(labDataDir(env), 'profiles');
}

/** Refuses a name that is not a plain file name, in one line naming the field. */
export function checkProfileName(name: string, field = 'name'): string {
  if (typeof name !== 'string' || !NAME.test(name) || name.endsWith('.')) {
    throw new LabError({
      code: 'INVALID_VALUE', kind: 'input', field,
      message: `${field}: "${userText(String(name), 80)}" is not a profile name (1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit and not ending with a dot)`,
      fix: `use e.g. "${slug(String(name)).replace(/^[^A-Za-z0-9]+/, '').replace(/[ .]+$/, '') || 'my-profile'}"`,
    });
  }
  return name;
}

/** A store name made from free text (a profile's own name), for imports that give none. */
export function storeNameFor(text: string): string {
  const name = text.normalize('NFKD').replace(/[^A-Za-z0-9 ._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/[ .]+$/, '').slice(0, 64);
  return NAME.test(name) ? name : 'imported';
}

export class ProfileStore {
  constructor(readonly dir: string = profilesDir()) {}

  /** Every saved profile that reads as one, newest first; files that do not are left alone. */
  list(): SavedProfile[] {
    return this.scan().profiles;
  }

  /** The saved profiles, and the files that do not read as one with why (edited by hand, a newer version). */
  scan(): { profiles: SavedProfile[]; unreadable: Array<{ name: string; error: LabErrorData }>; leftOut: number } {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.json') && NAME.test(f.slice(0, -5)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: [], unreadable: [], leftOut: 0 };
      throw this.folderError(err, 'read');
    }
    const profiles: SavedProfile[] = [];
    const unreadable: Array<{ name: string; error: LabErrorData }> = [];
    for (const f of files.sort().slice(0, MAX_LISTED)) {
      try {
        profiles.push(this.read(f.slice(0, -5)));
      } catch (err) {
        // The user's file all the same: reported, never deleted or rewritten.
        unreadable.push({ name: f.slice(0, -5), error: LabError.from(err).toData() });
      }
    }
    profiles.sort((a, b) => b.savedAt.localeCompare(a.savedAt) || a.name.localeCompare(b.name));
    let bytes = 0;
    let fit = 0;
    while (fit < profiles.length) {
      bytes += Buffer.byteLength(JSON.stringify(profiles[fit]));
      if (bytes > MAX_LIST_BYTES) break;
      fit++;
    }
    const leftOut = files.length > MAX_LISTED ? files.length - MAX_LISTED : 0;
    return { profiles: profiles.slice(0, fit), unreadable, leftOut: leftOut + profiles.length - fit };
  }

  has(name: string): boolean {
    try { return statSync(this.pathOf(checkProfileName(name))).isFile(); } catch { return false; }
  }

  read(name: string): SavedProfile {
    const path = this.pathOf(checkProfileName(name));
    const profile = loadProfileFile(path);
    return { name, description: profile.description, savedAt: statSync(path).mtime.toISOString(), profile };
  }

  /** Saves (or replaces) NAME; the profile's own name becomes NAME, so lists and runs agree. */
  save(name: string, profile: Profile): SavedProfile {
    checkProfileName(name);
    try {
      makeFolders(this.dir, 0o700);
      writeFileAtomic(this.pathOf(name), profileJson({ ...profile, name }), { mode: 0o600 });
    } catch (err) {
      throw this.folderError(err, 'written');
    }
    return this.read(name);
  }

  /**
   * Saves under NAME, else NAME-2, NAME-3, … — never over a saved profile, even one another
   * client saves at the same moment (the file appears by link(2), which refuses a taken name).
   */
  saveNew(wanted: string, profile: Profile): SavedProfile {
    const base = checkProfileName(wanted);
    try { makeFolders(this.dir, 0o700); } catch (err) { throw this.folderError(err, 'written'); }
    for (let i = 1; i < 1000; i++) {
      const name = i === 1 ? base : `${base.slice(0, 60)}-${i}`;
      if (this.has(name)) continue;
      let written: boolean;
      try {
        written = writeFileAtomic(this.pathOf(name), profileJson({ ...profile, name }), { mode: 0o600, replace: false });
      } catch (err) {
        throw this.folderError(err, 'written');
      }
      if (written) return this.read(name);
    }
    throw new LabError({ code: 'PROFILE_EXISTS', kind: 'input', field: 'name', message: `name: "${base}" and its numbered copies are all taken`, fix: 'give the import a name of its own' });
  }

  delete(name: string): void {
    try {
      unlinkSync(this.pathOf(checkProfileName(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.folderError(err, 'deleted');
      throw new LabError({ code: 'PROFILE_UNKNOWN', kind: 'input', field: 'name', message: `name: no saved profile is called "${userText(name, 80)}"`, fix: 'listProfiles shows the saved ones' });
    }
  }

  /**
   * The folder of saved profiles refused a read or a write (read-only, full, not a folder, or
   * under /proc): one line naming where it comes from and the fix, not an internal error.
   */
  private folderError(err: unknown, what: 'read' | 'written' | 'deleted'): Error {
    if (err instanceof LabError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) return err as Error;
    return new LabError({
      code: 'PROFILES_DIR', kind: 'input', field: 'XDG_DATA_HOME',
      message: `saved profiles cannot be ${what} in ${userText(this.dir, 160)} (${code})`,
      fix: code === 'ENOSPC' ? 'free space on its disk, or set XDG_DATA_HOME to a folder on another one' : 'set XDG_DATA_HOME to a folder you can write (profiles are kept in $XDG_DATA_HOME/uring-lab/profiles)',
    });
  }

  private pathOf(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}
