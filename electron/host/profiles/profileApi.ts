/**
 * The LabApi's profile methods (listPresets, listProfiles, saveProfile, deleteProfile,
 * importProfile, exportProfile; applyProfile is the run's, in labService.ts). The service gives
 * each call its client: the client's current profile, and how to make a profile the client's.
 */
import type { z } from 'zod';
import { LabError, type ExportProfileParamsSchema, type ImportProfileParamsSchema, type Profile, type RunStatus, type SaveProfileParamsSchema } from '../../contract';
import { exportProfile, type ExportedProfile } from './export';
import { listPresets, type Preset } from './presets';
import { checkProfileText } from './profileFile';
import { ProfileStore, checkProfileName, storeNameFor, type SavedProfile } from './profileStore';
import { parseProfile } from './validate';

export interface ProfileClient {
  /** The client's profile now (the run's, when it controls one). */
  current(): Promise<Profile>;
  /** Makes `profile` the client's (during a run it controls, a new phase). */
  apply(profile: Profile): Promise<RunStatus>;
}

export function presetList(): { presets: Preset[] } {
  return { presets: listPresets() };
}

export function savedProfileList(store = new ProfileStore()): ReturnType<ProfileStore['scan']> {
  return store.scan();
}

export async function saveProfileFor(client: ProfileClient, params: z.output<typeof SaveProfileParamsSchema>, store = new ProfileStore()): Promise<SavedProfile> {
  checkProfileName(params.name);
  const profile = params.profile === undefined ? await client.current() : parseProfile(params.profile, 'saveProfile.profile');
  // Saving over a saved profile is a choice the user makes knowingly (the UI asks first).
  if (params.replace !== true && store.has(params.name)) {
    throw new LabError({
      code: 'PROFILE_EXISTS', kind: 'input', field: 'name',
      message: `a saved profile named ${JSON.stringify(params.name)} exists already`,
      fix: 'choose another name, or replace it (saveProfile with replace: true)',
    });
  }
  return store.save(params.name, profile);
}

export function deleteSavedProfile(params: { name: string }, store = new ProfileStore()): { name: string } {
  store.delete(params.name);
  return { name: params.name };
}

/**
 * Import: the text is checked (migrated from an older version where it is one), saved under a
 * name of its own (a taken one gets -2, -3, …: nothing saved is replaced), then made the
 * client's; if that is refused (another client controls the run, the budget), the new file goes
 * again, so a refusal at any step leaves the store as it was.
 */
export async function importProfileFor(client: ProfileClient, params: z.output<typeof ImportProfileParamsSchema>, store = new ProfileStore()): Promise<{ profile: Profile; migratedFrom: number | null; name: string }> {
  const { profile, migratedFrom } = checkProfileText(params.text, 'import');
  const wanted = params.name === undefined ? storeNameFor(profile.name) : checkProfileName(params.name);
  const saved = store.saveNew(wanted, profile);
  try {
    await client.apply(saved.profile);
  } catch (err) {
    store.delete(saved.name);
    throw err;
  }
  return { profile: saved.profile, migratedFrom, name: saved.name };
}

export async function exportProfileFor(client: ProfileClient, params: z.output<typeof ExportProfileParamsSchema>): Promise<ExportedProfile> {
  const profile = params.profile === undefined ? await client.current() : parseProfile(params.profile, 'exportProfile.profile');
  return exportProfile(profile, params.format);
}
