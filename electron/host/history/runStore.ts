/**
 * The run history on disk: one folder per run under the runs directory
 * ($XDG_DATA_HOME/uring-lab/runs, or URING_LAB_RUNS_DIR):
 *
 *   <runId>/meta.json     StoredRunMeta, rewritten atomically (temp file, fsync, rename) at the
 *                         start, at each phase change and at the end
 *   <runId>/frames.jsonl  the frames, appended while the run goes (frameLog.ts)
 *   <runId>/frames.idx    the byte offset of every 256th frame line, so a page of a long run is
 *                         read without reading what comes before it
 *   <runId>/pinned        present when the run is pinned (kept by retention)
 *   index.json            a cache of the list rows, keyed by each meta.json's inode, size and
 *                         times: listing 1,000 runs reads one file and stats the folders
 *                         instead of parsing 1,000 summaries
 *
 * Why JSON Lines and not SQLite: appending a line is one write(2) that a kill -9 cannot tear
 * in the middle of the file, reading back needs no native module (none to rebuild for each
 * Electron ABI), every file is readable with jq, and several lab processes (a CLI run, the
 * window, a browser host) share the folder without a database lock: each run has one writer
 * (its owner), the index is only a cache that every reader checks against the files.
 * The pin is a file of its own for the same reason: pinning a running run never races its
 * owner's rewrite of meta.json.
 *
 * Crash safety: a meta that still says `running` while its owner (pid + start time + boot) is
 * gone is a run whose host died; the next open marks it `interrupted`, with the statistics of
 * the frames it saved (RunTally: the summary's own rules), its summary null.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { mkdir as mkdirAsync, readdir as readdirAsync, rename as renameAsync, rm, stat, writeFile as writeFileAsync } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  LabError, oneLineText, RunTally, STORED_RUN_FORMAT, StoredRunMetaSchema, type GetRunResult, type ListRunsResult, type Phase, type Profile, type RunFrame,
  type RunHeadline, type RunListRow, type RunSummary, type StoredRunMeta,
} from '../../contract';
import { RunIdSchema, RunListRowSchema, RunOwnerSchema, StoredRunStatusSchema } from '../../contract/history';
import { refuseUnwritableFolder, runsDirFromEnv } from '../labPaths';
import { syncDirectory, writeFileAtomic, writeFileAtomicAsync } from '../atomicFile';
import { FrameLog, readFrames, type FramesPage } from './frameLog';
import { NotARegularFile, readRegularFile, readRegularFileSync } from './regularFile';
import { currentOwner, ownerAlive } from './owner';
import { dropEndNote, readEndNote, reserveEndNote, writeEndNote } from './endNote';
import { makeFoldersAsync } from '../makeFolders';

export const DEFAULT_MAX_RUNS = 500;
export const DEFAULT_MAX_BYTES = 2 * 2 ** 30;

export interface RunStoreOptions {
  /** The runs directory. */
  dir: string;
  /** Retention: at most this many runs are kept (pinned ones and the newest always). */
  maxRuns?: number;
  /** Retention: at most this many bytes of runs are kept (same exceptions). */
  maxBytes?: number;
  /** Retention runs after a run at most this often per folder and process (default 2 s). */
  pruneIntervalMs?: number;
}

/** Per runs folder, this process's retention schedule (shared by every store of the folder). */
/** `running`: the prune at work now (its timer fired), which a closing host waits for. */
const pruneSchedules = new Map<string, { lastAt: number; keep: Set<string>; pending: Promise<void> | null; dueAt: number; running: Promise<void> | null }>();

const META = 'meta.json';
const FRAMES = 'frames.jsonl';
/** Frames per read when frames are read back for getFrames (StoredRunWriter.savedFrames). */
const SAVED_FRAMES_PAGE = 256;
const FRAMES_INDEX = 'frames.idx';
const PINNED = 'pinned';
/** How the run ended, when its final meta could not be written (endNote.ts). */
const END_NOTE = 'ended.json';
const INDEX = 'index.json';
/** Folders of runs being deleted: renamed away first so a list never sees half a run. */
const DELETING_PREFIX = '.deleting-';
/** A meta.json larger than this is not read (a real one is tens of KiB; one of gigabytes took
 *  the memory of every list). The index gets the same bound. */
export const MAX_META_BYTES = 64 * 2 ** 20;

/** One size variable of the environment: a positive integer, or one line naming it. */
function envCount(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LabError({ code: 'USAGE', kind: 'input', field: name, message: `${name}=${oneLineText(text, 40)} is not a positive whole number`, fix: `set ${name} to a whole number ≥ 1, or unset it (default ${fallback})` });
  }
  return value;
}

/**
 * Where the history lives and how much of it is kept, from the environment:
 * URING_LAB_RUNS_DIR (absolute), URING_LAB_RUNS_MAX (runs), URING_LAB_RUNS_MAX_BYTES.
 */
export function runStoreOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RunStoreOptions {
  return {
    dir: runsDirFromEnv(env),
    maxRuns: envCount(env, 'URING_LAB_RUNS_MAX', DEFAULT_MAX_RUNS),
    maxBytes: envCount(env, 'URING_LAB_RUNS_MAX_BYTES', DEFAULT_MAX_BYTES),
  };
}

/** What a list row holds that does not change without meta.json changing. */
const CachedRowSchema = RunListRowSchema.omit({ pinned: true, bytesOnDisk: true }).extend({ frames: z.number().int().nullable() });
type CachedRow = z.infer<typeof CachedRowSchema>;
const IndexSchema = z.object({
  format: z.literal(STORED_RUN_FORMAT),
  rows: z.record(z.string(), z.object({ key: z.string(), row: CachedRowSchema })),
});
type Index = z.infer<typeof IndexSchema>;

/** Changes whenever meta.json is replaced (a rename brings a new inode and ctime). */
/** A run folder's files as retention and the list need them. */
interface RunFiles { runId: string; meta: Stats | null; pinned: boolean; framesBytes: number }

/** The A/B experiments' folder inside the runs folder (abStore.ts): not a run. */
export const EXPERIMENTS_FOLDER = 'experiments';

/** The entries of the runs folder that may be runs (not the index, temp files, deletions or
 *  the experiments: every History after an A/B said "1 unreadable"). */
const runFolders = (entries: string[]) => entries.filter((name) => !name.startsWith('.') && name !== INDEX && name !== EXPERIMENTS_FOLDER && RunIdSchema.safeParse(name).success);

const statKey = (s: Stats) => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/** A file's stat, or null when it is not there (ENOTDIR: a stray file where a run folder would be). */
function statOrNull(file: string): Stats | null {
  try { return statSync(file, { throwIfNoEntry: false }) ?? null; } catch { return null; }
}

/**
 * What a list row needs of a meta.json, validated on its own: listing (and retention, which
 * runs inside a host carrying frames) must not pay for validating every run's whole summary and
 * profile. The whole meta is validated when the run is opened (get).
 */
const HeadlineStatsSchema = z.object({ throughputRps: z.number(), latencyUs: z.object({ p50: z.number(), p99: z.number() }), requests: z.number().int(), errors: z.number().int() });
const MetaRowSchema = z.object({
  format: z.literal(STORED_RUN_FORMAT),
  runId: RunIdSchema, name: z.string(), startedAt: z.string(), endedAt: z.string().nullable(), status: StoredRunStatusSchema, workload: z.string(),
  summary: HeadlineStatsSchema.extend({ frames: z.number().int() }).nullable(),
  recovered: z.object({ stats: HeadlineStatsSchema, frames: z.number().int() }).nullable(),
  owner: RunOwnerSchema,
});
type MetaRow = z.infer<typeof MetaRowSchema>;

function headlineOf(meta: MetaRow): RunHeadline | null {
  if (meta.summary) {
    const s = meta.summary;
    return { throughputRps: s.throughputRps, p50Us: s.latencyUs.p50, p99Us: s.latencyUs.p99, requests: s.requests, errors: s.errors };
  }
  if (meta.recovered) {
    const s = meta.recovered.stats;
    return { throughputRps: s.throughputRps, p50Us: s.latencyUs.p50, p99Us: s.latencyUs.p99, requests: s.requests, errors: s.errors };
  }
  return null;
}

function rowOf(meta: MetaRow): CachedRow {
  return {
    runId: meta.runId, name: meta.name, startedAt: meta.startedAt, endedAt: meta.endedAt, status: meta.status, workload: meta.workload,
    headline: headlineOf(meta), frames: meta.summary?.frames ?? meta.recovered?.frames ?? null,
  };
}

/** A list row with its frame count (null while running), for retention and the CLI. */
export type StoredRunRow = RunListRow & { frames: number | null };

function listPage({ rows, unreadable }: { rows: StoredRunRow[]; unreadable: number }, params: { limit: number; offset: number }): ListRunsResult {
  return { runs: rows.slice(params.offset, params.offset + params.limit).map(({ frames: _frames, ...row }) => row), total: rows.length, unreadable };
}

/**
 * A run folder without meta.json that nobody is creating: its meta's temporary file (named with
 * the writer's pid, atomicFile.ts) belongs to no live process, and it is older than a start takes.
 */
function abandonedWithoutMeta(dir: string): boolean {
  let names: string[];
  try {
    const st = statSync(dir);
    if (!st.isDirectory() || existsSync(join(dir, META)) || Date.now() - st.mtimeMs < 60_000) return false;
    names = readdirSync(dir);
  } catch { return false; }
  for (const name of names) {
    const m = /^\.meta\.json\.(\d+)\.\d+\.tmp$/.exec(name);
    if (m && pidAlive(Number(m[1]))) return false;
  }
  return true;
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

export function unknownRun(runId: string, dir: string): LabError {
  return new LabError({ code: 'RUN_UNKNOWN', kind: 'input', field: 'runId', message: `no saved run ${JSON.stringify(runId)} in ${dir}`, fix: 'uring-lab runs list shows the saved runs (and their ids)' });
}

/** A saved run's file that cannot be read as one: left on disk, one line naming it and what to do. */
function unreadableRun(runId: string, file: string, why: string, fix = 'it is left on disk as it is; delete it with uring-lab runs delete if it is of no use'): LabError {
  return new LabError({ code: 'RUN_UNREADABLE', kind: 'internal', field: 'runId', message: `saved run ${runId}: ${oneLineText(file, 200)} ${why}`, fix });
}

export class RunStore {
  readonly dir: string;
  readonly maxRuns: number;
  readonly maxBytes: number;
  readonly pruneIntervalMs: number;
  private leftoversRemoved = false;

  constructor(options: RunStoreOptions) {
    this.dir = options.dir;
    this.maxRuns = options.maxRuns ?? DEFAULT_MAX_RUNS;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 2000;
  }

  private runDir(runId: string): string {
    // Every id that reaches the disk is a plain folder name (no '/', no leading dot).
    const parsed = RunIdSchema.safeParse(runId);
    // `runs delete experiments` would have deleted every saved A/B experiment.
    if (runId === EXPERIMENTS_FOLDER) throw unknownRun(runId, this.dir);
    if (!parsed.success) throw new LabError({ code: 'RUN_UNKNOWN', kind: 'input', field: 'runId', message: `${JSON.stringify(oneLineText(String(runId), 100))} is not a run id`, fix: 'uring-lab runs list shows the saved runs (and their ids)' });
    return join(this.dir, runId);
  }

  // ---- writing a run -------------------------------------------------------------------

  /**
   * Throws the one-line input error when runs cannot be saved here (not a folder, not
   * writable, a read-only mount or an immutable folder): what a command that saves its run
   * checks before it starts, so a run is never reported with an id it was not saved under.
   */
  checkWritable(): void {
    refuseUnwritableFolder(this.dir, 'runs', 'point URING_LAB_RUNS_DIR at a folder you can write, or unset it');
  }

  /** Creates the run's folder and its meta (`running`); frames follow through the writer. */
  begin(start: { runId: string; startedAt: string; profile: Profile; phases: Phase[] }): StoredRunWriter {
    const dir = this.runDir(start.runId);
    // Off the event loop like every write of a run. Exclusive: one writer per folder; a run id
    // met twice is refused (that run is not saved), never interleaved with the saved one.
    const ready = (async () => {
      await makeFoldersAsync(this.dir);
      try { await mkdirAsync(dir); } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`a saved run ${start.runId} already exists in ${this.dir} (kept as it is)`);
        throw err;
      }
      reserveEndNote(join(dir, END_NOTE));
    })();
    const meta: StoredRunMeta = {
      format: STORED_RUN_FORMAT, runId: start.runId, name: start.profile.name, startedAt: start.startedAt, endedAt: null,
      status: 'running', workload: start.profile.workload, profile: start.profile, phases: start.phases, summary: null, recovered: null,
      owner: currentOwner(),
    };
    const frames = new FrameLog(join(dir, FRAMES), ready);
    return new StoredRunWriter(this, dir, meta, frames, ready);
  }

  // ---- reading -------------------------------------------------------------------------

  private readMeta(runId: string): StoredRunMeta {
    const dir = this.runDir(runId);
    const file = join(dir, META);
    let text: string;
    try { text = readRegularFileSync(file, MAX_META_BYTES); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw unknownRun(runId, this.dir);
      // A FIFO there blocked the read for good; a file of gigabytes took the memory.
      if (err instanceof NotARegularFile) throw unreadableRun(runId, file, err.message.slice(err.path.length + 1));
      throw this.ioError(err, `saved run ${runId}: ${oneLineText(file, 200)} cannot be read`);
    }
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    // A run saved by a newer uring-lab: said so (it read as "format: expected 1", with the
    // advice to delete it).
    const format = (json as { format?: unknown } | null | undefined)?.format;
    if (Number.isInteger(format) && (format as number) > STORED_RUN_FORMAT) {
      throw unreadableRun(runId, file, `was written by a newer uring-lab (run format ${format}; this one reads format ${STORED_RUN_FORMAT})`, 'open it with that uring-lab or a later one; it is left on disk as it is');
    }
    const parsed = StoredRunMetaSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = json === undefined ? 'not JSON' : `${issue.path.join('.') || 'top'}: ${issue.message}`;
      throw unreadableRun(runId, file, `is not a valid run record (${where})`);
    }
    const meta = parsed.data;
    // A copy of a run's folder (a backup beside it) keeps the meta's id: shown, it said it was
    // the other run; recovered, it overwrote the other run's meta.json with its own.
    if (meta.runId !== runId) {
      throw unreadableRun(runId, file, `names run ${meta.runId}, not ${runId} (a copy of that run's folder?)`, `rename the folder to ${meta.runId} if no run of that id is saved, or delete this copy with uring-lab runs delete ${runId}; it is left on disk as it is`);
    }
    return meta.status === 'running' && !ownerAlive(meta.owner) ? this.recover(meta) : meta;
  }

  /** The list's part of a meta (a run whose owner died is recovered first, from the whole meta). */
  private readMetaRow(runId: string, text: string | null): MetaRow {
    if (text === null) throw unknownRun(runId, this.dir);
    const row = MetaRowSchema.parse(JSON.parse(text));
    return row.status === 'running' && !ownerAlive(row.owner) ? MetaRowSchema.parse(this.readMeta(runId)) : row;
  }

  /**
   * A run whose host died: `interrupted`, with the statistics of the frames it saved. Several
   * processes may do this at once: they write the same content.
   */
  private recover(meta: StoredRunMeta): StoredRunMeta {
    const dir = this.runDir(meta.runId);
    const { frames } = this.readRunFrames(meta.runId);
    const tally = new RunTally();
    for (const frame of frames) if (frame.measuring) tally.add(frame, frame.intervalMs * 1e6);
    const last = frames[frames.length - 1];
    const note = readEndNote(join(dir, END_NOTE));
    const endedAt = note?.endedAt ?? (last ? new Date(Date.parse(meta.startedAt) + last.tMs).toISOString() : meta.startedAt);
    // What is saved is incomplete either way (interrupted); the reason says why.
    const reason = note
      ? `the run ended ${note.status}, but its final record could not be written (${note.why}); ${frames.length} frames were saved up to the last write that fit`
      : `the lab process (pid ${meta.owner.pid}) ended without closing the run (a crash, kill -9 or power loss); ${frames.length} frames were saved up to its last write`;
    const recovered: StoredRunMeta = {
      ...meta, status: 'interrupted', endedAt,
      recovered: { stats: tally.stats(), frames: frames.length, reason },
    };
    // Saved where it can be; a history that cannot be written (read-only, full, another user's)
    // still reads: the run shows as recovered every time (it read as unreadable, and show
    // failed with EROFS).
    try { writeFileAtomic(join(dir, META), `${JSON.stringify(recovered)}\n`); } catch { /* recovered again by the next read */ }
    return recovered;
  }

  /** A page of a run's frames; frames.jsonl that is not a file (a FIFO blocked the read for good) is one line naming it. */
  private readRunFrames(runId: string, fromSeq = 0, limit = Number.POSITIVE_INFINITY, maxBytes = Number.POSITIVE_INFINITY): FramesPage {
    try { return readFrames(join(this.runDir(runId), FRAMES), fromSeq, limit, maxBytes); } catch (err) {
      if (err instanceof NotARegularFile) throw unreadableRun(runId, err.path, err.message.slice(err.path.length + 1));
      throw err;
    }
  }

  /** The history's folder cannot be read: one line naming where it comes from and the fix. */
  private dirError(err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code;
    // Every errno, not only the two first met (ENAMETOOLONG, ELOOP, EIO were "internal error").
    if (code === undefined) return err as Error;
    const why = code === 'ENOTDIR' ? 'is not a folder' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code})`;
    return new LabError({ code: 'RUNS_DIR', kind: 'input', field: 'URING_LAB_RUNS_DIR', message: `the run history ${oneLineText(this.dir, 160)} ${why}`, fix: 'point URING_LAB_RUNS_DIR at a folder you can write, or unset it' });
  }

  /**
   * A read or write of one run that the file system refused (ELOOP, ENAMETOOLONG, EACCES, EIO,
   * EROFS): the history's folder's own error where that is what fails, else one line naming the
   * run's file. Never RUN_UNREADABLE: `runs delete` takes that as leave to remove the run, and a
   * run the disk failed to read once is the user's all the same.
   */
  private ioError(err: unknown, what: string): Error {
    if (err instanceof LabError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) return err as Error;
    try { readdirSync(this.dir); } catch (dirErr) { return this.dirError(dirErr); }
    return new LabError({ code: 'RUN_IO', kind: 'internal', field: 'runId', message: `${what} (${code})`, fix: 'it is left on disk as it is; check the file system under URING_LAB_RUNS_DIR (permissions, a read-only or failing disk)' });
  }

  /** Every run's row, newest first; with `unreadable` the folders that are not a valid run. */
  rows(): { rows: StoredRunRow[]; unreadable: number } {
    this.removeDeletedLeftovers();
    let entries: string[];
    try { entries = readdirSync(this.dir); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], unreadable: 0 };
      throw this.dirError(err);
    }
    const files = runFolders(entries).map((runId): RunFiles => {
      const dir = join(this.dir, runId);
      return {
        runId, meta: statOrNull(join(dir, META)), pinned: existsSync(join(dir, PINNED)),
        framesBytes: (statOrNull(join(dir, FRAMES))?.size ?? 0) + (statOrNull(join(dir, FRAMES_INDEX))?.size ?? 0),
      };
    });
    const { rows, unreadable, index } = this.assemble(files);
    if (index) this.writeIndex(index);
    return { rows, unreadable };
  }

  /**
   * The same, with the file system calls on libuv's thread pool: retention runs this while the
   * host carries frames and heartbeats, and a folder of hundreds of runs must not stall them.
   */
  async rowsAsync(): Promise<{ rows: StoredRunRow[]; unreadable: number }> {
    this.removeDeletedLeftovers();
    let entries: string[];
    try { entries = await readdirAsync(this.dir); } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { rows: [], unreadable: 0 };
      throw this.dirError(err);
    }
    const statAsync = (file: string) => stat(file).catch(() => null);
    const files: RunFiles[] = [];
    const folders = runFolders(entries);
    for (let i = 0; i < folders.length; i += 32) {
      files.push(...await Promise.all(folders.slice(i, i + 32).map(async (runId): Promise<RunFiles> => {
        const dir = join(this.dir, runId);
        const [meta, frames, framesIndex, pinned] = await Promise.all([statAsync(join(dir, META)), statAsync(join(dir, FRAMES)), statAsync(join(dir, FRAMES_INDEX)), statAsync(join(dir, PINNED))]);
        return { runId, meta, pinned: pinned !== null, framesBytes: (frames?.size ?? 0) + (framesIndex?.size ?? 0) };
      })));
    }
    const index = this.parseIndex(await readRegularFile(join(this.dir, INDEX), MAX_META_BYTES).catch(() => null));
    // The metas the rows need read (unchanged ones come from the index; running ones are checked).
    const needed = files.filter((f) => f.meta && (index.rows[f.runId]?.key !== statKey(f.meta) || index.rows[f.runId].row.status === 'running'));
    const metaTexts = new Map<string, string | null>();
    for (let i = 0; i < needed.length; i += 32) {
      await Promise.all(needed.slice(i, i + 32).map(async ({ runId }) => {
        metaTexts.set(runId, await readRegularFile(join(this.dir, runId, META), MAX_META_BYTES).catch(() => null));
      }));
    }
    const assembled = this.assemble(files, index, metaTexts);
    if (assembled.index) {
      const temp = join(this.dir, `.${INDEX}.${process.pid}.async.tmp`);
      await writeFileAsync(temp, JSON.stringify(assembled.index)).then(() => renameAsync(temp, join(this.dir, INDEX))).catch(() => rm(temp, { force: true }));
    }
    return { rows: assembled.rows, unreadable: assembled.unreadable };
  }

  /**
   * Rows from the folders' files: cached rows where meta.json is unchanged, else read from it
   * (from `metaTexts` where the caller read it already, off the event loop).
   */
  private assemble(files: RunFiles[], index: Index = this.readIndex(), metaTexts: Map<string, string | null> | null = null): { rows: StoredRunRow[]; unreadable: number; index: Index | null } {
    const metaText = (runId: string) => (metaTexts?.has(runId) ? metaTexts.get(runId) ?? null : readRegularFileSync(join(this.dir, runId, META), MAX_META_BYTES));
    const next: Index = { format: STORED_RUN_FORMAT, rows: {} };
    let changed = false;
    let unreadable = 0;
    const rows: StoredRunRow[] = [];
    for (const { runId, meta: metaStat, pinned, framesBytes } of files) {
      // A folder without meta.json is a run being created this instant (or not a run), or what
      // a lab process left when it died before its first write: that one is counted.
      if (!metaStat) {
        if (abandonedWithoutMeta(join(this.dir, runId))) unreadable++;
        continue;
      }
      const key = statKey(metaStat);
      let row = index.rows[runId]?.key === key ? index.rows[runId].row : null;
      // A `running` row is checked every time: its owner may have died since it was cached.
      if (!row || (row.status === 'running' && !this.ownerOfRowAlive(metaText, runId))) {
        try {
          row = rowOf(this.readMetaRow(runId, metaText(runId)));
        } catch {
          unreadable++;
          continue;
        }
        changed = true;
        // Keyed by the stat taken before the read: a meta replaced since is read again next time.
        next.rows[runId] = { key, row };
      } else {
        next.rows[runId] = { key, row };
      }
      // A copied folder (a backup beside the original) keeps its meta's id: listed, it showed
      // one id twice, and show/delete found the folder of that name, not this one.
      if (row.runId !== runId) {
        unreadable++;
        continue;
      }
      rows.push({ ...row, pinned, bytesOnDisk: metaStat.size + framesBytes });
    }
    rows.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.runId < b.runId ? 1 : -1));
    const indexChanged = changed || Object.keys(index.rows).length !== Object.keys(next.rows).length;
    return { rows, unreadable, index: indexChanged ? next : null };
  }

  /** A cached `running` row's owner, read from the meta itself (the cache holds no owner). */
  private ownerOfRowAlive(metaText: (runId: string) => string | null, runId: string): boolean {
    try {
      const meta = JSON.parse(metaText(runId) ?? '') as { owner?: Parameters<typeof ownerAlive>[0] };
      return meta.owner ? ownerAlive(meta.owner) : false;
    } catch { return false; }
  }

  list(params: { limit: number; offset: number }): ListRunsResult {
    return listPage(this.rows(), params);
  }

  /** The same for a host: its file system calls do not hold up frames and heartbeats. */
  async listAsync(params: { limit: number; offset: number }): Promise<ListRunsResult> {
    return listPage(await this.rowsAsync(), params);
  }

  /** `maxBytes`: a page also ends at about this many bytes of frames (the LabApi's bound). */
  get(params: { runId: string; fromSeq: number; limit: number }, maxBytes = Number.POSITIVE_INFINITY): GetRunResult {
    const meta = this.readMeta(params.runId);
    const dir = this.runDir(params.runId);
    const page = this.readRunFrames(params.runId, params.fromSeq, params.limit, maxBytes);
    // Deleted (or pruned) between reading its meta and its frames: the export of a run that is
    // gone read as the run with no frames, exit 0.
    if (page.frames.length === 0 && !existsSync(join(dir, META))) throw unknownRun(params.runId, this.dir);
    return { meta, pinned: existsSync(join(dir, PINNED)), frames: page.frames, nextSeq: page.nextSeq, skippedLines: page.skippedLines };
  }

  /** The meta and every frame (exports, `runs show --json`). */
  getAll(runId: string): GetRunResult {
    return this.get({ runId, fromSeq: 0, limit: Number.POSITIVE_INFINITY });
  }

  /**
   * The line that reports a damaged frames file of a run read whole (lines that are not a
   * frame were skipped, the file left as it is), or null when every line was read.
   */
  damagedFramesLine(run: GetRunResult): string | null {
    // Frames the run saved (its summary's count, or what recovery found) that the file no longer
    // holds, with no line to show for them: a frames.jsonl cut short at a line's end (a copy, a
    // full disk, a hand edit) or gone read as a whole run with fewer frames, exit 0.
    const saved = run.meta.summary?.frames ?? run.meta.recovered?.frames ?? null;
    if (!run.skippedLines && saved !== null && run.frames.length < saved) {
      const file = oneLineText(join(this.runDir(run.meta.runId), FRAMES), 200);
      return `run ${run.meta.runId}: ${file} holds ${run.frames.length} of the ${saved} frames the run saved (${existsSync(join(this.runDir(run.meta.runId), FRAMES)) ? 'the file was cut short' : 'the file is missing'}; it is left as it is); this covers the ${run.frames.length} frames that could be read`;
    }
    if (!run.skippedLines) return null;
    return `run ${run.meta.runId}: ${run.skippedLines} unreadable line${run.skippedLines === 1 ? '' : 's'} in ${oneLineText(join(this.runDir(run.meta.runId), FRAMES), 200)} skipped (the file is left as it is); this covers the ${run.frames.length} frames that could be read`;
  }

  pin(runId: string, pinned: boolean): { runId: string; pinned: boolean } {
    const dir = this.runDir(runId);
    this.readMeta(runId); // an unknown id is refused, not pinned into existence
    try {
      if (pinned) writeFileSync(join(dir, PINNED), '');
      else rmSync(join(dir, PINNED), { force: true });
      syncDirectory(dir);
    } catch (err) {
      // Deleted or pruned since its meta was read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unknownRun(runId, this.dir);
      throw this.ioError(err, `run ${runId} could not be ${pinned ? 'pinned' : 'unpinned'}`);
    }
    return { runId, pinned };
  }

  delete(runId: string): { runId: string; deleted: true } {
    const dir = this.runDir(runId);
    let meta: StoredRunMeta;
    try {
      meta = this.readMeta(runId);
    } catch (err) {
      // What `runs show` says to delete can be: a run whose meta.json is damaged, or a folder a
      // lab process left without one (it died before its first write).
      const code = err instanceof LabError ? err.code : null;
      if (code !== 'RUN_UNREADABLE' && !(code === 'RUN_UNKNOWN' && abandonedWithoutMeta(dir))) throw err;
      this.remove(runId, dir);
      return { runId, deleted: true };
    }
    if (meta.status === 'running') {
      throw new LabError({ code: 'RUN_ACTIVE', kind: 'input', field: 'runId', message: `run ${runId} is still going (lab process ${meta.owner.pid})`, fix: 'stop it first, then delete it' });
    }
    this.remove(runId, dir);
    return { runId, deleted: true };
  }

  private remove(runId: string, dir: string): void {
    // Renamed away first (atomic): no list ever shows a half-deleted run.
    const doomed = join(this.dir, `${DELETING_PREFIX}${runId}.${process.pid}`);
    try { renameSync(dir, doomed); } catch (err) {
      // Another process deleted (or pruned) it since its meta was read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw unknownRun(runId, this.dir);
      throw this.ioError(err, `run ${runId} could not be deleted`);
    }
    rmSync(doomed, { recursive: true, force: true });
  }

  /** Folders of deletions a crash cut short. */
  private removeDeletedLeftovers(): void {
    if (this.leftoversRemoved) return;
    this.leftoversRemoved = true;
    let entries: string[] = [];
    try { entries = readdirSync(this.dir); } catch { return; }
    // Best effort: one that cannot be removed (read-only history, an immutable file) made every
    // list fail with an internal error; it is hidden from the list either way.
    for (const name of entries) {
      if (name.startsWith(DELETING_PREFIX)) try { rmSync(join(this.dir, name), { recursive: true, force: true }); } catch { /* left for the next one */ }
    }
  }

  /**
   * Retention: removes the oldest unpinned runs that have ended until at most maxRuns runs and
   * maxBytes bytes remain. Pinned runs, runs still going and `keep` (runs that just ended) are
   * never removed, so the caps may be exceeded by them. Returns the removed ids.
   */
  async prune(keep: string[] = []): Promise<string[]> {
    const { rows } = await this.rowsAsync();
    let count = rows.length;
    let bytes = rows.reduce((sum, r) => sum + r.bytesOnDisk, 0);
    const removed: string[] = [];
    const candidates = rows.filter((r) => !r.pinned && r.status !== 'running' && !keep.includes(r.runId)).reverse(); // oldest first
    for (const row of candidates) {
      if (count <= this.maxRuns && bytes <= this.maxBytes) break;
      const doomed = join(this.dir, `${DELETING_PREFIX}${row.runId}.${process.pid}`);
      // Pinned since the scan (a scan of thousands of runs and their removal take seconds):
      // `runs pin` said "retention keeps it", and the prune deleted it. Checked before the
      // rename, and after it, where a pin that landed in between is put back.
      if (existsSync(join(this.dir, row.runId, PINNED))) continue;
      try {
        await renameAsync(join(this.dir, row.runId), doomed);
      } catch { continue; /* deleted by another process meanwhile */ }
      if (existsSync(join(doomed, PINNED))) {
        await renameAsync(doomed, join(this.dir, row.runId)).catch(() => undefined);
        continue;
      }
      await rm(doomed, { recursive: true, force: true });
      removed.push(row.runId);
      count--;
      bytes -= row.bytesOnDisk;
    }
    return removed;
  }

  // ---- the index cache -----------------------------------------------------------------

  private readIndex(): Index {
    let text: string | null = null;
    try { text = readRegularFileSync(join(this.dir, INDEX), MAX_META_BYTES); } catch { /* missing (or not a file): rebuilt from the metas */ }
    return this.parseIndex(text);
  }

  private parseIndex(text: string | null): Index {
    try {
      const parsed = IndexSchema.safeParse(JSON.parse(text ?? ''));
      if (parsed.success) return parsed.data;
    } catch { /* missing or torn by a crash: rebuilt from the metas */ }
    return { format: STORED_RUN_FORMAT, rows: {} };
  }

  /**
   * Atomic (renamed into place) but not fsynced: a cache needs readers never to see half of
   * it, not to survive a power cut; a failed write only means the next list rebuilds it.
   */
  private writeIndex(index: Index): void {
    const temp = join(this.dir, `.${INDEX}.${process.pid}.tmp`);
    try {
      writeFileSync(temp, JSON.stringify(index));
      renameSync(temp, join(this.dir, INDEX));
    } catch {
      rmSync(temp, { force: true });
    }
  }

  // ---- used by the writer --------------------------------------------------------------

  /** @internal */
  writeMeta(dir: string, meta: StoredRunMeta): Promise<void> {
    return writeFileAtomicAsync(join(dir, META), `${JSON.stringify(meta)}\n`);
  }

  /**
   * Retention after a run: at once when this process has not pruned this folder for
   * pruneIntervalMs, else once when that time is up (many runs ending together, as in a test
   * that runs hundreds, cost one scan, not hundreds). `keep`: the run that just ended.
   */
  pruneSoon(keep: string): Promise<void> {
    let schedule = pruneSchedules.get(this.dir);
    if (!schedule) pruneSchedules.set(this.dir, schedule = { lastAt: 0, keep: new Set(), pending: null, dueAt: 0, running: null });
    schedule.keep.add(keep);
    const due = schedule.lastAt + this.pruneIntervalMs - Date.now();
    if (!schedule.pending) schedule.dueAt = Date.now() + Math.max(0, due);
    schedule.pending ??= new Promise<void>((resolve, reject) => {
      // Ref'd on purpose: a CLI that just ran waits for its prune before it exits.
      setTimeout(() => {
        const s = schedule!;
        s.pending = null;
        s.lastAt = Date.now();
        const keepIds = [...s.keep];
        s.keep.clear();
        // Never rejects: a failed prune's error goes to `pending`'s reject.
        const done = this.prune(keepIds).then(() => resolve(), reject);
        s.running = done;
        void done.then(() => { if (s.running === done) s.running = null; });
      }, Math.max(0, due));
    });
    return schedule.pending;
  }

  /**
   * Resolves when no prune of this folder is at work or due now (never rejects). A host that
   * closed while the prune its last run's end started went on (or was about to start: its timer
   * of 0 ms) left it writing index.json and removing runs after close() had resolved. A prune
   * that waits for its interval (another prune ran less than pruneIntervalMs ago) is not waited
   * for: it runs when due, or the next run's prune does its work.
   */
  async pruneIdle(): Promise<void> {
    // One turn of the event loop first: a run's end schedules its prune from a promise chain.
    await new Promise((r) => setImmediate(r));
    const s = pruneSchedules.get(this.dir);
    if (!s) return;
    if (s.pending && s.dueAt <= Date.now() + 50) await s.pending.catch(() => undefined);
    await s.running;
  }
}

/**
 * The open run of this process: frames go to frames.jsonl as they come (one write each); phases
 * and the end rewrite meta.json off the event loop, one after the other (`settled` resolves when
 * every write so far is on disk). At the end the frames are synced before the meta says the run
 * ended, so an ended run always has its frames; then retention runs.
 */
export class StoredRunWriter {
  private ended = false;
  private saving: Promise<void> = Promise.resolve();
  /** The run's folder made, or not (`unsaved`); never rejects. */
  private readonly folderMade: Promise<void>;
  /** The first thing that went wrong saving this run (the run itself goes on). */
  problem: string | null = null;

  /** Set when the run's folder could not be made (nothing of it is written, nothing else is touched). */
  private unsaved = false;

  constructor(private readonly store: RunStore, readonly dir: string, private meta: StoredRunMeta, private readonly frameLog: FrameLog, ready: Promise<void>) {
    // frames.jsonl exists before the meta names the run, so a reader never finds a run without
    // it; until the meta lands the folder is not listed.
    this.folderMade = ready.then(() => undefined, (err) => {
      this.unsaved = true;
      this.problem ??= `it could not be saved to the run history: ${(err as Error).message}`;
    });
    this.saving = this.folderMade.then(() => frameLog.written);
    this.save();
  }

  get runId(): string {
    return this.meta.runId;
  }

  /** Resolves when everything written so far is on disk (never rejects). */
  get settled(): Promise<void> {
    return this.saving;
  }

  /** `json`: the frame's JSON text when the caller has it already. */
  frame(frame: RunFrame, json?: string): void {
    if (this.ended) return;
    this.frameLog.append(frame, json);
  }

  /**
   * The frames with fromSeq ≤ seq < toSeq read back from frames.jsonl, after every frame appended
   * so far is written. Read a page of SAVED_FRAMES_PAGE at a time, yielding to the event loop in
   * between: a client joining late in a long run must not stall the host's frames and heartbeats.
   * It waits for the frames' writes only, not for the meta's or for syncs: those can take long on
   * a busy disk, and meanwhile the frames asked for would no longer be in memory either.
   * [] where the run is not saved or the file cannot be read (the caller counts them lost).
   */
  async savedFrames(fromSeq: number, toSeq: number): Promise<RunFrame[]> {
    await this.folderMade;
    await this.frameLog.written;
    if (this.unsaved) return [];
    const out: RunFrame[] = [];
    let seq = fromSeq;
    try {
      while (seq < toSeq) {
        const page = readFrames(this.frameLog.path, seq, Math.min(SAVED_FRAMES_PAGE, toSeq - seq));
        for (const f of page.frames) if (f.seq < toSeq) out.push(f);
        const last = page.frames[page.frames.length - 1];
        if (!last || page.nextSeq === null) break;
        seq = last.seq + 1;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch {
      // An unreadable file: what was read stands, the rest is lost to this client.
    }
    return out;
  }

  /** A phase began (the start or a knob change). */
  phases(phases: Phase[]): void {
    if (this.ended) return;
    this.meta = { ...this.meta, phases };
    this.save();
  }

  /**
   * The run ended with `summary`. Returns what is known by now to have gone wrong saving it
   * (a failed start of the history, a frame write), or null; the final writes follow (settled).
   */
  end(summary: RunSummary): string | null {
    if (this.ended) return this.problem;
    this.ended = true;
    this.meta = { ...this.meta, status: summary.status, endedAt: new Date().toISOString(), summary };
    this.problem ??= this.frameLog.problem;
    const known = this.problem;
    this.saving = this.saving.then(() => this.frameLog.close());
    this.save();
    // Not part of `settled`: a list right after the end must not wait for a throttled prune.
    // A prune that fails leaves the runs as they were; the next one tries again.
    void this.saving.then(() => this.store.pruneSoon(this.meta.runId)).catch(() => undefined);
    return known;
  }

  private save(): void {
    const meta = this.meta;
    const final = this.ended;
    this.saving = this.saving.then(async () => {
      if (this.unsaved) return;
      try {
        await this.store.writeMeta(this.dir, meta);
      } catch (err) {
        this.problem ??= `writing ${this.dir}/meta.json failed: ${(err as Error).message}`;
        // The final record lost: say how the run ended in the room reserved for it.
        if (final) writeEndNote(join(this.dir, END_NOTE), { status: meta.status, endedAt: meta.endedAt ?? new Date().toISOString(), why: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
        return;
      }
      if (final) dropEndNote(join(this.dir, END_NOTE));
    });
  }
}
