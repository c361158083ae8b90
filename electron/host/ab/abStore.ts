/**
 * A/B experiments in the run history: `<runs dir>/experiments/<experimentId>.json`, one file per
 * experiment, rewritten atomically (temp, fsync, rename) after every arm-run. Each arm is also
 * a run of its own in the history (the lab saves every run), so an experiment file holds the
 * report: rounds, statistics and what was compared.
 *
 * Crash safety without a recovery step: while the experiment goes, the file's report already
 * says `interrupted` ("the lab process ended before the experiment finished") over the rounds
 * done so far, and `final: false` with its owner (pid + start time + boot). A reader shows it
 * as running while that owner lives; if the owner died, what is on disk is the truth — the
 * finished rounds, marked interrupted. The last write replaces it with the final report.
 */
import { existsSync, lstatSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LabError, oneLineText } from '../../contract';
import { AbReportSchema, ExperimentIdSchema, type AbListRow, type AbReport } from '../../contract/ab';
import { RunOwnerSchema } from '../../contract/history';
import { writeFileAtomic } from '../atomicFile';
import { refuseUnwritableFolder } from '../labPaths';
import { currentOwner, ownerAlive } from '../history/owner';
import { dropEndNote, readEndNote, reserveEndNote, writeEndNote } from '../history/endNote';
import { NotARegularFile, readRegularFileSync } from '../history/regularFile';
import { EXPERIMENTS_FOLDER, runStoreOptionsFromEnv } from '../history/runStore';
import { abReportHtml } from './html';
import { makeFolders } from '../makeFolders';

const StoredExperimentSchema = z.object({
  format: z.literal(1),
  final: z.boolean(),
  owner: RunOwnerSchema,
  report: AbReportSchema,
});
type StoredExperiment = z.infer<typeof StoredExperimentSchema>;


/** The most a record can be and still be read: V8's longest string (JSON.parse takes no more).
 *  A 1,000-round experiment of long arms stays far below it. */
const MAX_RECORD_BYTES = 0x1fffffe8;

function lstatOrNull(path: string): Stats | null {
  try { return lstatSync(path); } catch { return null; }
}

export const HOST_DIED = { code: 'HOST_DIED', message: 'the lab process ended before the experiment finished; the rounds it completed are kept' } as const;

export class AbStore {
  private dirCache: string | null = null;

  /** `runsDir` overrides URING_LAB_RUNS_DIR (tests); resolved at first use, so a bad environment is an error of that call. */
  constructor(private readonly runsDir?: string) {}

  get dir(): string {
    this.dirCache ??= join(this.runsDir ?? runStoreOptionsFromEnv().dir, EXPERIMENTS_FOLDER);
    return this.dirCache;
  }

  private file(experimentId: string): string {
    const id = ExperimentIdSchema.safeParse(experimentId);
    if (!id.success) throw new LabError({ code: 'AB_UNKNOWN', kind: 'input', field: 'experimentId', message: `"${String(experimentId).slice(0, 100)}" is not an experiment id`, fix: 'use an id from the A/B list (ab-…)' });
    return join(this.dir, `${experimentId}.json`);
  }

  /** How the experiment ended, when its final record could not be written (endNote.ts); a dot
   *  name, so the list never takes it for a record. */
  private endNote(experimentId: string): string {
    return join(this.dir, `.${experimentId}.ended`);
  }

  /** Why the last save failed (`ENOSPC`, `ENOTDIR`, …), or null when it worked. */
  lastSaveError: string | null = null;

  /**
   * Refuses, before anything runs, a folder that cannot take the experiment's record: the
   * runs' folder can be writable while its `experiments` is a file or a read-only mount, and
   * then every save failed silently and the experiment was in no list (exit 0).
   */
  checkWritable(): void {
    refuseUnwritableFolder(this.dir, 'A/B experiments', 'make it a folder you can write (move away what is there), or point URING_LAB_RUNS_DIR at another one');
  }

  /** Saves the experiment as it stands; `final` once its report is complete. Failures to save
   *  never stop an experiment: false, and `lastSaveError` says why. */
  save(report: AbReport, final: boolean): boolean {
    const note = this.endNote(report.experimentId);
    try {
      makeFolders(this.dir);
      const record: StoredExperiment = { format: 1, final, owner: currentOwner(), report };
      writeFileAtomic(this.file(report.experimentId), JSON.stringify(record));
      this.lastSaveError = null;
      // Reserved with the first record; dropped once the final one is on disk.
      if (final) dropEndNote(note);
      else reserveEndNote(note);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code ?? oneLineText((err as Error).message ?? String(err), 120);
      this.lastSaveError = code === 'ENOTDIR' || code === 'EEXIST' ? `${code}: ${oneLineText(this.dir, 160)} is not a folder` : why;
      if (final) writeEndNote(note, { status: report.status, endedAt: report.endedAt, why });
      return false;
    }
  }

  /** The experiments' folder cannot be read (not a folder, a symlink loop, a path too long):
   *  one line naming URING_LAB_RUNS_DIR, as `runs list` says of the run history. */
  private dirError(err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) return err as Error;
    return new LabError({
      code: 'RUNS_DIR', kind: 'input', field: 'URING_LAB_RUNS_DIR',
      message: `the A/B experiments folder ${oneLineText(this.dir, 160)} ${code === 'ENOTDIR' ? 'is not a folder (ENOTDIR)' : `cannot be read (${code})`}`,
      fix: code === 'ENOTDIR' ? 'move the file at that path out of the way, or point URING_LAB_RUNS_DIR at a folder you can write (or unset it)' : 'point URING_LAB_RUNS_DIR at a folder you can write, or unset it',
    });
  }

  /** The folder's own error where it cannot be read (none saved yet, ENOENT, is no fault). */
  private folderFault(): Error | null {
    try {
      readdirSync(this.dir);
      return null;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : this.dirError(err);
    }
  }

  /** A read or removal of one record the file system refused (EACCES, EIO, EPERM): never
   *  AB_UNREADABLE, which `ab delete` takes as leave to remove it. */
  private ioError(err: unknown, what: string): Error {
    if (err instanceof LabError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) return err as Error;
    const folder = this.folderFault();
    if (folder) return folder;
    return new LabError({ code: 'AB_IO', kind: 'internal', field: 'experimentId', message: `${what} (${code})`, fix: 'it is left on disk as it is; check the file system under URING_LAB_RUNS_DIR (permissions, a read-only or failing disk)' });
  }

  private read(experimentId: string): StoredExperiment {
    const path = this.file(experimentId);
    if (!existsSync(path)) {
      // Not there, or the folder itself cannot be read: that is said, not "no saved experiment".
      const folder = this.folderFault();
      if (folder) throw folder;
      throw new LabError({ code: 'AB_UNKNOWN', kind: 'input', field: 'experimentId', message: `no saved A/B experiment ${experimentId}`, fix: 'uring-lab ab list shows the saved ones' });
    }
    let json: unknown;
    let where: string;
    try {
      // Never readFileSync: a FIFO at that name blocked it for good, deaf to SIGTERM.
      json = JSON.parse(readRegularFileSync(path, MAX_RECORD_BYTES));
      const parsed = StoredExperimentSchema.safeParse(json);
      if (parsed.success) return this.withEndNote(parsed.data);
      const issue = parsed.error.issues[0]!;
      where = `${issue.path.join('.') || 'top'}: ${issue.message}`;
    } catch (err) {
      // A folder, a FIFO, a device or a file of gigabytes at that name: nothing the lab wrote.
      if (err instanceof NotARegularFile) {
        where = lstatOrNull(path)?.isDirectory() ? 'EISDIR' : err.message.slice(err.path.length + 1);
      } else {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== undefined) throw this.ioError(err, `saved A/B experiment ${experimentId}: ${oneLineText(path, 200)} cannot be read`);
        where = err instanceof SyntaxError ? 'not JSON' : (err as Error).message;
      }
    }
    // A folder of that name is nothing the lab wrote: `ab delete` leaves it (it could hold anything).
    const fix = where === 'EISDIR'
      ? `it is a folder, left as it is; move it out of ${this.dir} if it is of no use`
      : `it is left on disk as it is; delete it with uring-lab ab delete ${experimentId} if it is of no use`;
    throw new LabError({ code: 'AB_UNREADABLE', kind: 'internal', field: 'experimentId', message: `saved A/B experiment ${experimentId}: ${path} is not a valid experiment record (${where})`, fix });
  }

  /**
   * A record left mid-experiment (HOST_DIED: what every arm's save records until the final one) whose end
   * note says the experiment did end, but its final record could not be written: that, not "the
   * lab process ended", is what happened.
   */
  private withEndNote(stored: StoredExperiment): StoredExperiment {
    if (stored.final || stored.report.failure?.code !== HOST_DIED.code) return stored;
    const note = readEndNote(this.endNote(stored.report.experimentId));
    if (!note) return stored;
    const message = `the experiment ended ${note.status}, but its final record could not be written (${note.why}); the rounds saved before are kept`;
    return { ...stored, final: true, report: { ...stored.report, endedAt: note.endedAt, failure: { code: 'AB_NOT_SAVED', message } } };
  }

  get(experimentId: string): { report: AbReport; running: boolean } {
    const stored = this.read(experimentId);
    const running = !stored.final && ownerAlive(stored.owner);
    // A live experiment's record reads `interrupted`, failure HOST_DIED, in case its process
    // dies; shown as it was, a running experiment read as a failed one while `ab list` said
    // running. While its owner lives it is running, with no failure.
    const report: AbReport = running && stored.report.failure?.code === HOST_DIED.code
      ? { ...stored.report, status: 'running', failure: null }
      : stored.report;
    return { report, running };
  }

  list(): AbListRow[] {
    return this.rows().rows;
  }

  /** Every experiment's row, newest first; with `unreadable` the files that are not a valid one. */
  rows(): { rows: AbListRow[]; unreadable: number } {
    let names: string[];
    try { names = readdirSync(this.dir); } catch (err) {
      // None saved yet: an empty list. A history that is a file, or a folder the lab may not
      // read, is what `runs list` refuses too: "no saved A/B experiments" hid it (exit 0).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], unreadable: 0 };
      throw this.dirError(err);
    }
    const rows: AbListRow[] = [];
    let unreadable = 0;
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        const { report, running } = this.get(name.slice(0, -5));
        const tp = report.metrics.find((m) => m.name === 'throughputRps');
        rows.push({
          experimentId: report.experimentId, startedAt: report.startedAt, endedAt: report.endedAt,
          status: running ? 'running' : report.status,
          a: report.a.profileName, b: report.b.profileName, rounds: report.rounds, roundsRequested: report.roundsRequested,
          throughput: { ratio: tp?.ratio ?? null, verdict: tp?.verdict ?? 'insufficient' },
        });
      } catch { unreadable++; /* a torn or foreign file is not an experiment; counted, left as it is */ }
    }
    return { rows: rows.sort((x, y) => y.startedAt.localeCompare(x.startedAt)), unreadable };
  }

  /**
   * Deletes a saved experiment, an unreadable one too (`ab show` points here to clear it). One
   * still running in a live lab process is refused, as `runs delete` refuses a running run:
   * deleted, it went on and wrote itself back after every arm.
   */
  delete(experimentId: string): void {
    let stored: StoredExperiment | null = null;
    try {
      stored = this.read(experimentId);
    } catch (err) {
      if (!(err instanceof LabError) || err.code !== 'AB_UNREADABLE') throw err;
    }
    if (stored && !stored.final && ownerAlive(stored.owner)) {
      throw new LabError({
        code: 'AB_ACTIVE', kind: 'input', field: 'experimentId',
        message: `A/B experiment ${experimentId} is still running (lab process ${stored.owner.pid})`,
        fix: 'stop it first (Ctrl-C in its terminal, or stopAb in the UI), then delete it',
      });
    }
    const path = this.file(experimentId);
    // rmSync on a folder threw EISDIR out as an internal error; a folder is not ours to remove.
    if (lstatOrNull(path)?.isDirectory()) {
      throw new LabError({
        code: 'AB_UNREADABLE', kind: 'input', field: 'experimentId',
        message: `${oneLineText(path, 200)} is a folder, not an experiment record: nothing was deleted`,
        fix: `move it out of ${oneLineText(this.dir, 160)} yourself if it is of no use`,
      });
    }
    try {
      rmSync(path, { force: true });
      rmSync(this.endNote(experimentId), { force: true });
    } catch (err) {
      throw this.ioError(err, `A/B experiment ${experimentId} could not be deleted`);
    }
  }

  export(experimentId: string, format: 'json' | 'html'): { filename: string; mediaType: string; text: string } {
    const { report } = this.get(experimentId);
    return format === 'json'
      ? { filename: `${experimentId}.json`, mediaType: 'application/json', text: `${JSON.stringify(report, null, 2)}\n` }
      : { filename: `${experimentId}.html`, mediaType: 'text/html', text: abReportHtml(report) };
  }
}
