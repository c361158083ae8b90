/**
 * The preset profiles shipped in resources/profiles/: one JSON profile per file, its name and
 * description saying when to use it. Loaded like any profile file (profileFile.ts), so a preset
 * that stops validating fails its test (test/unit/profilePresets.test.ts), not a user.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../../contract';
import { loadProfileFile } from './profileFile';

export interface Preset {
  /** The file name without .json (`loopback-sqpoll`): what `--profile resources/profiles/ID.json` names. */
  id: string;
  name: string;
  description: string;
  profile: Profile;
}

/**
 * resources/ of the package: the source tree (electron/host/profiles, under vitest) and the
 * built one (dist/electron/host/profiles, also inside the packaged app) sit at different depths.
 */
export function resourcesDir(): string {
  for (const up of [['..', '..', '..'], ['..', '..', '..', '..']]) {
    const dir = join(__dirname, ...up, 'resources');
    if (existsSync(join(dir, 'profiles'))) return dir;
  }
  return join(__dirname, '..', '..', '..', '..', 'resources');
}

export function presetsDir(): string {
  return join(resourcesDir(), 'profiles');
}

/** Every preset, by id. */
export function listPresets(dir = presetsDir()): Preset[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const profile = loadProfileFile(join(dir, f));
      return { id: f.slice(0, -'.json'.length), name: profile.name, description: profile.description, profile };
    });
}
