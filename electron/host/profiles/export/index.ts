/**
 * Profile exports: `uring-lab export PROFILE.json --format json|fio|tuned|shell [--out FILE]`
 * (exportVerb.ts) and the LabApi's exportProfile. Each format lays out what the knob catalogue
 * says about the profile (export/common.ts); a format never knows a knob by name except where
 * the rows' exports cannot say it (the shell export's privilege checks).
 */
import { PROFILE_EXPORT_FORMATS, type Profile } from '../../../contract';
import { refuseOversizedReservation, slug } from './common';
import { fioJobFile } from './fio';
import { profileJson } from './json';
import { shellScript } from './shell';
import { tunedConf } from './tuned';

/** The formats, as the LabApi's exportProfile names them. */
export const EXPORT_FORMATS = PROFILE_EXPORT_FORMATS;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportedProfile {
  /** A file name for a download or a save dialog. */
  filename: string;
  mediaType: string;
  text: string;
}

const FORMATS: Record<ExportFormat, { suffix: string; mediaType: string; write: (p: Profile) => string }> = {
  json: { suffix: '.json', mediaType: 'application/json', write: profileJson },
  fio: { suffix: '.fio', mediaType: 'text/plain', write: fioJobFile },
  tuned: { suffix: '.tuned.conf', mediaType: 'text/plain', write: tunedConf },
  shell: { suffix: '.sh', mediaType: 'text/x-shellscript', write: shellScript },
};

export function exportProfile(profile: Profile, format: ExportFormat): ExportedProfile {
  const f = FORMATS[format];
  // The formats that set sysctls (TuneD applies them unasked), from the CLI and the UI alike.
  if (format === 'tuned' || format === 'shell') refuseOversizedReservation(profile);
  return { filename: `${slug(profile.name)}${f.suffix}`, mediaType: f.mediaType, text: f.write(profile) };
}
