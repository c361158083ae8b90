/**
 * Tuning profiles in the UI: the shipped presets (with when to use each), the user's saved
 * profiles, import of a profile file (the host validates it and names the field that is wrong;
 * the text the user gave is kept, so nothing is lost), export in each format, apply and save.
 * The host keeps each client's profile; the layout store remembers which preset or saved
 * profile was applied last, so the Profiles view can say so after a reload.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import { z } from 'zod';
import { PresetSchema, PROFILE_EXPORT_FORMATS, SavedProfileSchema, type LabErrorData } from '../../../electron/contract';
import { downloadText } from '../format/chartExport';
import { useConnectionStore } from './connection';
import { viewCalls } from './viewCalls';
import { toErrorData } from './errors';
import { callLab } from './history';
import { useKnobsStore } from './knobs';
import { useLayoutStore } from './layout';
import { useRunStore } from './run';

export type Preset = z.infer<typeof PresetSchema>;
export type SavedProfile = z.infer<typeof SavedProfileSchema>;
export type ProfileExportFormat = (typeof PROFILE_EXPORT_FORMATS)[number];
export { PROFILE_EXPORT_FORMATS };

/** What the last import said: its error (with the field), or what it migrated from. */
export type ImportOutcome = { ok: true; name: string; migratedFrom: number | null } | { ok: false; error: LabErrorData };

export const useProfilesStore = defineStore('profiles', () => {
  const conn = useConnectionStore();
  const layout = useLayoutStore();
  const presets = shallowRef<Preset[]>([]);
  const saved = shallowRef<SavedProfile[]>([]);
  /** Older saved profiles the host left out of its list (one answer carries at most 4 MiB of them). */
  const leftOut = ref(0);
  const loaded = ref(false);
  /** Which of the two lists arrived in the last refresh: each says "none" only for itself. */
  const presetsListed = ref(false);
  const savedListed = ref(false);
  const busy = ref(false);
  const failure = shallowRef<LabErrorData | null>(null);
  /** The import box's text, kept here so a refused import (or a view switch) loses nothing. */
  const importText = ref('');
  const importName = ref('');
  const importOutcome = shallowRef<ImportOutcome | null>(null);

  const { api: apiOrThrow, guarded } = viewCalls(() => conn.api(), failure, busy);

  async function refresh(): Promise<void> {
    await guarded(async () => {
      const api = apiOrThrow();
      // Settled apart: the presets ship with the lab, and a saved-profiles folder the host
      // cannot read (XDG_DATA_HOME a file, read-only) hid them too.
      const [p, s] = await Promise.allSettled([
        callLab(api, 'listPresets', undefined),
        callLab(api, 'listProfiles', undefined),
      ]);
      if (p.status === 'fulfilled') presets.value = p.value.presets;
      if (s.status === 'fulfilled') {
        saved.value = s.value.profiles;
        leftOut.value = s.value.leftOut;
      }
      presetsListed.value = p.status === 'fulfilled';
      savedListed.value = s.status === 'fulfilled';
      loaded.value = true;
      if (p.status === 'rejected') throw p.reason;
      if (s.status === 'rejected') throw s.reason;
    });
  }

  /** Makes `profile` this client's profile (during a run it controls: a new phase). */
  function apply(profile: unknown, remembered: { kind: 'preset' | 'saved'; name: string }): Promise<void> {
    // A start meanwhile waits until the answer is adopted (knobs.settled): it sends the profile this replaces.
    return useKnobsStore().track((async () => {
      const asked = useRunStore().askStatus();
      const status = await guarded(() => callLab(apiOrThrow(), 'applyProfile', { profile }));
      if (!status) return;
      useRunStore().applyStatus(status, asked);
      layout.lastProfile = remembered;
    })());
  }

  /** Saves the current knobs (this client's profile on the host) under `name`; a saved one of
   *  that name only with `replace` (the view asks first; else the host refuses PROFILE_EXISTS). */
  async function saveCurrent(name: string, replace = false): Promise<void> {
    const done = await guarded(() => callLab(apiOrThrow(), 'saveProfile', { name, replace }));
    if (!done) return;
    layout.lastProfile = { kind: 'saved', name };
    await refresh();
  }

  async function remove(name: string): Promise<void> {
    const done = await guarded(() => callLab(apiOrThrow(), 'deleteProfile', { name }));
    if (!done) return;
    if (layout.lastProfile?.kind === 'saved' && layout.lastProfile.name === name) layout.lastProfile = null;
    await refresh();
  }

  /**
   * Imports `importText`: the host validates, migrates, saves and applies it, or refuses with
   * one field-level error, touching nothing. The text stays in the box either way.
   */
  async function importProfile(): Promise<ImportOutcome | null> {
    const api = conn.api();
    if (!api) return null;
    busy.value = true;
    try {
      const name = importName.value.trim();
      // A start meanwhile waits until the imported profile is adopted (knobs.settled).
      const res = await useKnobsStore().track((async () => {
        const answer = await callLab(api, 'importProfile', { text: importText.value, ...(name ? { name } : {}) });
        await useRunStore().refreshStatus();
        return answer;
      })());
      importOutcome.value = { ok: true, name: res.name, migratedFrom: res.migratedFrom };
      layout.lastProfile = { kind: 'saved', name: res.name };
      busy.value = false;
      await refresh();
    } catch (err) {
      importOutcome.value = { ok: false, error: toErrorData(err) };
    } finally {
      busy.value = false;
    }
    return importOutcome.value;
  }

  /** The host's export of `profile` (absent: this client's current one), downloaded as the file it names. */
  async function exportProfile(format: ProfileExportFormat, profile?: unknown): Promise<void> {
    const res = await guarded(() => callLab(apiOrThrow(), 'exportProfile', { format, ...(profile === undefined ? {} : { profile }) }));
    if (res) downloadText(res.filename, res.mediaType, res.text);
  }

  /** The name of the client's current profile (the knob panel's), for the save box. */
  function currentName(): string {
    return useKnobsStore().profile?.name ?? '';
  }

  return {
    presets, saved, leftOut, loaded, presetsListed, savedListed, busy, failure, importText, importName, importOutcome,
    refresh, apply, saveCurrent, remove, importProfile, exportProfile, currentName,
  };
});

