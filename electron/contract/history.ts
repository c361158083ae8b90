/**
 * Run history: what the lab keeps of every run on disk (host/history/), and the shapes of the
 * LabApi methods that list, open, pin, delete and export saved runs.
 *
 * A saved run is a folder: `meta.json` (this file's StoredRunMeta, rewritten atomically) and
 * `frames.jsonl` (one RunFrame per line, appended while the run goes). The meta of a run that is
 * still going says `running`; one whose host died without closing it is found on the next open
 * and becomes `interrupted`, with `recovered` statistics rebuilt from the frames it kept.
 */
import { z } from 'zod';
import { ProfileSchema } from './profile';
import { PhaseSchema, RunFrameSchema, RunStatsSchema, RunSummarySchema } from './run';

/** Version of the on-disk meta.json layout. */
export const STORED_RUN_FORMAT = 1;

/** `running`: its host still has it open (or died and nobody opened the history since). */
export const StoredRunStatusSchema = z.enum(['running', 'completed', 'failed', 'interrupted']);
export type StoredRunStatus = z.infer<typeof StoredRunStatusSchema>;

/** A run id as a folder name: no path separators, no leading dot. */
export const RunIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'a run id (letters, digits, . _ -; as `uring-lab runs list` shows it)');

/** The process that writes a run: it is alive as long as this pid runs with this start time, this boot. */
export const RunOwnerSchema = z.object({
  pid: z.number().int(),
  /** Field 22 of /proc/PID/stat: tells a reused pid from the owner. */
  startTicks: z.number().int(),
  bootId: z.string(),
});

export const StoredRunMetaSchema = z.object({
  format: z.literal(STORED_RUN_FORMAT),
  runId: RunIdSchema,
  /** The profile's name. */
  name: z.string(),
  startedAt: z.string(),
  /** Null while running; for a recovered run, the end of its last saved frame. */
  endedAt: z.string().nullable(),
  status: StoredRunStatusSchema,
  workload: z.string(),
  /** The profile as requested at the start (each phase carries what was applied and refused). */
  profile: ProfileSchema,
  phases: z.array(PhaseSchema),
  /** The summary the run ended with; null while running and for a run whose host died. */
  summary: RunSummarySchema.nullable(),
  /** A run whose host died: the statistics of its saved frames (measured frames only, the
   *  summary's rules), and why it ended. Null otherwise. */
  recovered: z.object({ stats: RunStatsSchema, frames: z.number().int(), reason: z.string() }).nullable(),
  owner: RunOwnerSchema,
});
export type StoredRunMeta = z.infer<typeof StoredRunMetaSchema>;

/** The numbers a list shows: the summary's, or a recovered run's from its frames; null while running. */
export const RunHeadlineSchema = z.object({
  throughputRps: z.number(),
  p50Us: z.number(),
  p99Us: z.number(),
  requests: z.number().int(),
  errors: z.number().int(),
});
export type RunHeadline = z.infer<typeof RunHeadlineSchema>;

export const RunListRowSchema = z.object({
  runId: RunIdSchema,
  name: z.string(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  status: StoredRunStatusSchema,
  pinned: z.boolean(),
  workload: z.string(),
  headline: RunHeadlineSchema.nullable(),
  /** The run's files together (meta.json, frames.jsonl and its offset index). */
  bytesOnDisk: z.number().int().min(0),
});
export type RunListRow = z.infer<typeof RunListRowSchema>;

/** Most frames one getRun returns (an hour at 10 frames/s); page on with fromSeq. */
export const MAX_FRAMES_PER_GET = 36_000;
/** Frames of a getRun without `limit`: enough for the first charts of a long run at once (the
 *  rest follows page by page, from nextSeq), few enough to open it in well under 200 ms. */
export const DEFAULT_FRAMES_PER_GET = 1000;
/** A getRun page also ends at about this many bytes of frames (never empty), so its answer fits
 *  what every transport carries (the browser host drops a client with 8 MiB unsent). */
export const MAX_FRAME_BYTES_PER_GET = 4 * 2 ** 20;
/** An exportRun answer larger than this is refused with the CLI's way to write it to a file. */
export const MAX_EXPORT_BYTES = 6 * 2 ** 20;

export const ListRunsParamsSchema = z.strictObject({
  limit: z.number().int().min(1).max(10_000).default(1000),
  offset: z.number().int().min(0).default(0),
});
export const ListRunsResultSchema = z.object({
  /** Newest first. */
  runs: z.array(RunListRowSchema),
  /** Saved runs in all (for paging). */
  total: z.number().int().min(0),
  /** Folders whose meta.json could not be read or validated (kept on disk, not listed). */
  unreadable: z.number().int().min(0),
});
export type ListRunsResult = z.infer<typeof ListRunsResultSchema>;

export const GetRunParamsSchema = z.strictObject({
  runId: RunIdSchema,
  fromSeq: z.number().int().min(0).default(0),
  limit: z.number().int().min(1).max(MAX_FRAMES_PER_GET).default(DEFAULT_FRAMES_PER_GET),
});
export const GetRunResultSchema = z.object({
  meta: StoredRunMetaSchema,
  pinned: z.boolean(),
  /** Frames with seq ≥ fromSeq, in order: at most `limit`, and at most about MAX_FRAME_BYTES_PER_GET of them. */
  frames: z.array(RunFrameSchema),
  /** Seq to ask next for the rest, or null when these were the last. */
  nextSeq: z.number().int().nullable(),
  /** Lines of frames.jsonl that were not a valid frame (a torn last line after a crash), skipped. */
  skippedLines: z.number().int().min(0),
});
export type GetRunResult = z.infer<typeof GetRunResultSchema>;

export const RunIdParamsSchema = z.strictObject({ runId: RunIdSchema });
export const PinRunParamsSchema = z.strictObject({ runId: RunIdSchema, pinned: z.boolean() });
export const PinRunResultSchema = z.object({ runId: z.string(), pinned: z.boolean() });
export const DeleteRunResultSchema = z.object({ runId: z.string(), deleted: z.literal(true) });

export const RunExportFormatSchema = z.enum(['json', 'csv', 'md']);
export type RunExportFormat = z.infer<typeof RunExportFormatSchema>;
export const ExportRunParamsSchema = z.strictObject({ runId: RunIdSchema, format: RunExportFormatSchema });
/** `damaged`: the line saying the run's frames file was damaged or short (the file covers only the
 *  frames that could be read), else null; a CSV has no agreed place to say it, so the result does. */
export const ExportRunResultSchema = z.object({ filename: z.string(), mediaType: z.string(), text: z.string(), damaged: z.string().nullable() });
export type ExportRunResult = z.infer<typeof ExportRunResultSchema>;
