/**
 * The LabApi: the one service every front end talks to (Electron preload, WebSocket,
 * in-process), declared once as a method table — each method's params and result schemas.
 * The LabApi type, the host's dispatcher, the preload bridge and the WebSocket client are
 * derived from it (VS Code's ProxyChannel idea: one service interface over any transport,
 * validated at the edge), so adding a method is one row here plus its implementation.
 */
import { z } from 'zod';
import { LabErrorSchema } from './errors';
import { LAB_METHOD_NAMES, type LabMethod } from './labMethods';
import {
  DeleteRunResultSchema, ExportRunParamsSchema, ExportRunResultSchema, GetRunParamsSchema, GetRunResultSchema, ListRunsParamsSchema, ListRunsResultSchema,
  PinRunParamsSchema, PinRunResultSchema, RunIdParamsSchema, RunIdSchema,
} from './history';
import { ProfileSchema } from './profile';
import { AbListRowSchema, AbReportSchema, AbStateSchema, ExperimentIdParamsSchema, ExportAbParamsSchema, ExportAbResultSchema, StartAbParamsSchema } from './ab';
import { LabEventEnvelopeSchema, LabEventSchema, type LabEvent } from './events';
import { DoctorReportSchema, PhaseSchema, RunFrameSchema, RunStatusSchema, RunSummarySchema } from './run';
import { ProfilesSchema, SpikeReportSchema } from './diagnose';

export { LAB_METHOD_NAMES, type LabMethod };

const NoParams = z.undefined().or(z.strictObject({}));

/**
 * The largest LabApi request the WebSocket host reads, bytes: a bigger message closes the
 * socket (`ws` maxPayload). The largest real one, a startRun with a full profile, is under
 * 4 KiB; a profile description at its 10,000-character limit still fits. The browser client
 * refuses a request past it before sending (sent, the closed socket lost the page's run state).
 */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** A run started until stopped (the app's default) goes on until stopped, but never longer than this. */
export const UNTIL_STOPPED_LIMIT_S = 15 * 60;

export const StartRunParamsSchema = z.strictObject({
  /** A profile to run; absent: the client's own pending profile. Validated by the host. */
  profile: z.unknown().optional(),
  /** Run until stopped (at most UNTIL_STOPPED_LIMIT_S); otherwise the profile's warm-up + measure window bounds it. */
  untilStopped: z.boolean().default(false),
});
export const SetKnobParamsSchema = z.strictObject({ path: z.string().min(1).max(200), value: z.unknown() });
export const GetFramesParamsSchema = z.strictObject({ runId: z.string().max(100), fromSeq: z.number().int().min(0) });
export const FramesResultSchema = z.object({
  runId: z.string(),
  frames: z.array(RunFrameSchema),
  /** Frames from `fromSeq` on that the host no longer keeps (they are lost to this client); with
   *  `more`, only those before `nextSeq`. */
  lost: z.number().int().min(0),
  /** The answer stopped at the host's bound for one reply (FRAMES_REPLY_BYTES of frames, or
   *  FRAMES_READ_MAX read back from the history): ask again from `nextSeq` for the rest. One
   *  answer with every frame of a long run (2,660 frames of 41 KB) passed the 8 MiB a socket may
   *  hold unsent, and the host closed the connection of the tab that asked, again and again. */
  more: z.boolean().default(false),
  /** Where the next page starts (with `more`); after the last page, the seq after the run's last frame. */
  nextSeq: z.number().int().min(0).optional(),
});
export type FramesResult = z.infer<typeof FramesResultSchema>;

// ---- tuning profiles: presets, the user's saved profiles, import, export (host/profiles/) ----
/** A saved profile's name is its file name (host/profiles/profileStore.ts checks it in words). */
const ProfileNameSchema = z.string().min(1).max(64);
export const PresetSchema = z.object({ id: z.string(), name: z.string(), description: z.string(), profile: ProfileSchema });
export const SavedProfileSchema = z.object({ name: z.string(), description: z.string(), savedAt: z.string(), profile: ProfileSchema });
export const SaveProfileParamsSchema = z.strictObject({
  name: ProfileNameSchema,
  /** Absent: this client's current profile. Validated by the host. */
  profile: z.unknown().optional(),
  /** A saved profile of that name is replaced only with `replace: true` (else PROFILE_EXISTS). */
  replace: z.boolean().optional(),
});
export const ImportProfileParamsSchema = z.strictObject({
  /** The profile file's text (JSON; schemaVersion 0 is migrated). */
  text: z.string().max(1 << 20),
  /** The name to save it under; absent: its own name (a taken name gets -2, -3, …). */
  name: ProfileNameSchema.optional(),
});
export const ImportProfileResultSchema = z.object({
  profile: ProfileSchema,
  /** The schemaVersion it was migrated from, or null when it was current. */
  migratedFrom: z.number().int().nullable(),
  /** The name it was saved under. */
  name: z.string(),
});
export const PROFILE_EXPORT_FORMATS = ['json', 'fio', 'tuned', 'shell'] as const;
export const ExportProfileParamsSchema = z.strictObject({
  /** Absent: this client's current profile. Validated by the host. */
  profile: z.unknown().optional(),
  format: z.enum(PROFILE_EXPORT_FORMATS),
});
export const ExportProfileResultSchema = z.object({ filename: z.string(), mediaType: z.string(), text: z.string() });

// ---- spike attribution of a saved run (issue 12; host/diagnose/) ----
export const DiagnoseRunParamsSchema = z.strictObject({
  runId: RunIdSchema,
  /** Detection parameters (SPIKE_DEFAULTS where absent), checked by the host. */
  params: z.strictObject({
    k: z.number().optional(), minRiseUs: z.number().optional(), minRiseFactor: z.number().optional(), maxFactor: z.number().optional(),
    baselineFrames: z.number().optional(), minBaselineFrames: z.number().optional(), labelConfidence: z.number().optional(),
  }).optional(),
});
/** report null: no measured frame; profiles null: no stack samples or off-CPU blocks in the frames. */
export const DiagnoseRunResultSchema = z.object({ report: SpikeReportSchema.nullable(), profiles: ProfilesSchema.nullable() });

interface MethodRow<P extends z.ZodType, R extends z.ZodType> {
  params: P;
  result: R;
  /** One line for people and for generated docs. */
  doc: string;
  /** Params that work, for the fix of a refused call. */
  example?: unknown;
}
const method = <P extends z.ZodType, R extends z.ZodType>(row: MethodRow<P, R>) => row;

export const LAB_METHODS = {
  getStatus: method({ params: NoParams, result: RunStatusSchema, doc: 'The run state as this client sees it (its profile, whether it controls the run).' }),
  startRun: method({ params: StartRunParamsSchema.prefault({}), result: z.object({ runId: z.string(), phase: PhaseSchema }), doc: 'Starts a run; resolves once the engine applied (or refused) every knob.', example: { untilStopped: true } }),
  stopRun: method({ params: NoParams, result: RunSummarySchema.nullable(), doc: 'Stops the run this client controls; resolves with its summary (null if nothing ran).' }),
  setKnob: method({ params: SetKnobParamsSchema, result: RunStatusSchema, doc: 'Changes one knob; during a run this client controls, a new phase with the knob applied.', example: { path: 'server.sqpoll.enabled', value: true } }),
  takeControl: method({ params: NoParams, result: RunStatusSchema, doc: 'Makes this client the controller of the current run (others then observe).' }),
  getFrames: method({ params: GetFramesParamsSchema, result: FramesResultSchema, doc: 'Frames of the current (or last) run from fromSeq on, as far as the host keeps them.', example: { runId: 'run-…', fromSeq: 0 } }),
  doctor: method({ params: NoParams, result: DoctorReportSchema, doc: 'What this machine offers the lab, with reasons and fixes.' }),
  listRuns: method({ params: ListRunsParamsSchema.prefault({}), result: ListRunsResultSchema, doc: 'Saved runs, newest first, with their headline numbers (a page: limit, offset).', example: { limit: 50, offset: 0 } }),
  getRun: method({ params: GetRunParamsSchema, result: GetRunResultSchema, doc: 'A saved run: its meta (profile, phases, status, summary) and its frames from fromSeq on (at most limit; nextSeq for the rest).', example: { runId: 'run-…', fromSeq: 0 } }),
  deleteRun: method({ params: RunIdParamsSchema, result: DeleteRunResultSchema, doc: 'Deletes a saved run (not one still going).', example: { runId: 'run-…' } }),
  pinRun: method({ params: PinRunParamsSchema, result: PinRunResultSchema, doc: 'Pins (keeps from retention) or unpins a saved run.', example: { runId: 'run-…', pinned: true } }),
  exportRun: method({ params: ExportRunParamsSchema, result: ExportRunResultSchema, doc: 'A saved run as a file: json (meta and frames), csv (one row per frame) or md (the summary for a ticket).', example: { runId: 'run-…', format: 'md' } }),
  diagnoseRun: method({ params: DiagnoseRunParamsSchema, result: DiagnoseRunResultSchema, doc: 'The spike report of a saved run, recomputed from its frames (params: detection thresholds), and its stack profiles.', example: { runId: 'run-…', params: { k: 5 } } }),
  listPresets: method({ params: NoParams, result: z.object({ presets: z.array(PresetSchema) }), doc: 'The preset profiles shipped with the lab, each with when to use it.' }),
  listProfiles: method({ params: NoParams, result: z.object({ profiles: z.array(SavedProfileSchema), unreadable: z.array(z.object({ name: z.string(), error: LabErrorSchema })), leftOut: z.number().int().min(0) }), doc: "The user's saved profiles, newest first, as many as fit in one answer (4 MiB; `leftOut` counts the older ones not listed), and the files of the store that do not read as one (left in place)." }),
  saveProfile: method({ params: SaveProfileParamsSchema, result: SavedProfileSchema, doc: "Saves a profile (absent: this client's current one) under a name; a saved profile of that name is replaced only with replace: true (else PROFILE_EXISTS, nothing written).", example: { name: 'my-sqpoll' } }),
  deleteProfile: method({ params: z.strictObject({ name: ProfileNameSchema }), result: z.object({ name: z.string() }), doc: 'Deletes a saved profile.', example: { name: 'my-sqpoll' } }),
  importProfile: method({ params: ImportProfileParamsSchema, result: ImportProfileResultSchema, doc: "Checks a profile file's text, saves it and makes it this client's profile; refused with the field at fault, nothing saved.", example: { text: '{"kind": "uring-lab/profile", "schemaVersion": 1}' } }),
  exportProfile: method({ params: ExportProfileParamsSchema, result: ExportProfileResultSchema, doc: "A profile (absent: this client's current one) as a file: json, a fio job, a tuned.conf or a shell script.", example: { format: 'fio' } }),
  startAb: method({ params: StartAbParamsSchema, result: z.object({ experimentId: z.string() }), doc: 'Starts an A/B experiment: rounds of profiles a and b interleaved (ABBA/BAAB), each arm a run of this client; progress and the report arrive as abProgress/abEnded events.', example: { a: { kind: 'uring-lab/profile', schemaVersion: 1 }, b: { kind: 'uring-lab/profile', schemaVersion: 1, server: { engine: 'epoll' } }, rounds: 10, durationS: 3 } }),
  stopAb: method({ params: NoParams, result: AbReportSchema.nullable(), doc: 'Stops the A/B experiment this client started; resolves with the report of the rounds done (null if none was going).' }),
  getAbState: method({ params: NoParams, result: AbStateSchema, doc: 'Whether an A/B experiment is going, its progress, and the last report.' }),
  listAb: method({ params: NoParams, result: z.object({ experiments: z.array(AbListRowSchema) }), doc: 'Saved A/B experiments, newest first.' }),
  getAb: method({ params: ExperimentIdParamsSchema, result: z.object({ report: AbReportSchema, running: z.boolean() }), doc: 'A saved A/B experiment (while it runs: the rounds so far).', example: { experimentId: 'ab-…' } }),
  exportAb: method({ params: ExportAbParamsSchema, result: ExportAbResultSchema, doc: 'A saved A/B experiment as a file: json (the AbReport) or html (a self-contained report).', example: { experimentId: 'ab-…', format: 'html' } }),
  deleteAb: method({ params: ExperimentIdParamsSchema, result: z.null(), doc: 'Deletes a saved A/B experiment (not one that is going).', example: { experimentId: 'ab-…' } }),
  applyProfile: method({ params: z.strictObject({ profile: z.unknown() }), result: RunStatusSchema, doc: "Makes a whole profile this client's; during a run it controls, a new phase with it applied.", example: { profile: { kind: 'uring-lab/profile', schemaVersion: 1 } } }),
} as const satisfies Record<LabMethod, MethodRow<z.ZodType, z.ZodType>>;

type Params<M extends LabMethod> = z.input<(typeof LAB_METHODS)[M]['params']>;
type Result<M extends LabMethod> = z.output<(typeof LAB_METHODS)[M]['result']>;
/** A method without required params is called with none; the others with their params. */
type Call<M extends LabMethod> = undefined extends Params<M> ? (params?: Params<M>) => Promise<Result<M>> : (params: Params<M>) => Promise<Result<M>>;

/** The service every front end talks to, derived from the method table. */
export type LabApi = { [M in LabMethod]: Call<M> } & {
  /** Subscribes to run events (frames, phases, terminal events); returns the unsubscribe. */
  onEvent(listener: (event: LabEvent) => void): () => void;
};

/**
 * One client's view of the lab (a WebSocket connection, the Electron window, the CLI). The
 * client that starts a run controls it; the others observe its frames and get NOT_CONTROLLER
 * from stopRun/setKnob. Each client's pending profile is its own.
 */
export interface LabSession extends LabApi {
  readonly clientId: string;
  /** The client went away: its listeners are dropped; a run it controls goes on (bounded). */
  dispose(): void;
  /**
   * A transport that answers a client's calls one at a time (the WebSocket) says, as a stopRun
   * arrives, that one is on its way: this client's start still setting up is called off now,
   * rather than after the whole set-up its answer waits for. The stopRun itself is answered in
   * its turn, as before.
   */
  stopComing?(): void;
}
export interface LabSessions {
  session(clientId: string): LabSession;
}

/** The outcome of one call as it crosses a transport: errors are data, never a rejection. */
export type LabCallResult = { ok: true; result: unknown } | { ok: false; error: z.infer<typeof LabErrorSchema> };

/** WebSocket envelope, client → host. */
export const WsRequestSchema = z.strictObject({
  id: z.number().int(),
  method: z.enum(LAB_METHOD_NAMES),
  params: z.unknown().optional(),
});
/** WebSocket envelope, host → client. */
export const WsResponseSchema = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: LabErrorSchema }),
  z.object({ event: LabEventSchema }),
]);
export type WsResponse = z.infer<typeof WsResponseSchema>;
/** The same envelope with events checked as LabEventEnvelopeSchema does (outside development builds). */
export const WsResponseEnvelopeSchema = z.union([
  WsResponseSchema.options[0],
  WsResponseSchema.options[1],
  z.object({ event: LabEventEnvelopeSchema }),
]);
