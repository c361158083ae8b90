/**
 * `uring-lab export PROFILE.json --format json|fio|tuned|shell [--out FILE]`: the profile file
 * (any version this uring-lab reads; older ones migrated) in another format, on stdout or in
 * FILE. FILE is written whole or not at all (temp file, fsync, rename: profileStore.ts), so an
 * existing FILE is never left half overwritten. Bad input — the file, the format, the flags, a
 * value a format cannot carry — is one line naming the field (exit 2, from the CLI's handler).
 */
import { parseArgs } from 'node:util';
import { LabError, oneLineText } from '../../../contract';
import { checkProfileFile } from '../profileFile';
import { checkOutFile, writeOutFile } from '../../outFile';
import { checkFlagTokens, flagParseError } from '../../cliFlags';
import { EXPORT_FORMATS, exportProfile, type ExportFormat } from './index';

export const EXPORT_USAGE = `Usage: uring-lab export PROFILE.json --format json|fio|tuned|shell [--out FILE]
  json   the profile with "$schema", every knob written out (defaults too)
  fio    a fio job file for the storage analogue (fio FILE); knobs fio has no word for in a comment
  tuned  a tuned.conf with the sysctls and kernel command line the profile implies
  shell  a bash script: checks the kernel and privileges, sets the sysctls (asking first), runs
         uring-lab run with the same knobs; --dry-run (or DRY_RUN=1) prints the commands instead
Without --out the file goes to stdout; with it, FILE is replaced whole or not at all.`;

function usage(message: string, fix: string, field: string): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', field, message, fix });
}

/** Runs the verb; returns its exit code (0), or throws a LabError the CLI prints (input: exit 2). */
export function exportCommand(args: string[], out: { write(text: string): unknown } = process.stdout): number {
  let values: { format?: string; out?: string; help?: boolean };
  let positionals: string[];
  try {
    const options = { format: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
    checkFlagTokens('export', options, parsed.tokens);
    ({ values, positionals } = parsed);
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError('export', args, err, 'see uring-lab export --help');
  }
  if (values.help) {
    out.write(`${EXPORT_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    throw usage(`export: ${positionals.length === 0 ? 'no profile file given' : `${positionals.length} profile files given`}`, 'give one: uring-lab export PROFILE.json --format fio', 'profile');
  }
  const format = values.format;
  if (format === undefined || !(EXPORT_FORMATS as readonly string[]).includes(format)) {
    throw usage(`export: --format ${format === undefined ? 'is missing' : `"${oneLineText(format, 40)}" is not a format`}`, `give --format ${EXPORT_FORMATS.join(', --format ')}`, 'format');
  }
  const { profile } = checkProfileFile(positionals[0]);
  const outPath = values.out === undefined ? null : checkOutFile(values.out, [positionals[0]]);
  const exported = exportProfile(profile, format as ExportFormat);
  if (outPath === null) {
    out.write(exported.text);
    return 0;
  }
  writeOutFile(values.out!, outPath, exported.text, format === 'shell' ? 0o755 : 0o644);
  return 0;
}
