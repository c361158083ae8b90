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
import { DoctorReportSchema, LabEventSchema, PhaseSchema, RunFrameSchema, RunStatusSchema, RunSummarySchema, type LabEvent } from './run';

export { LAB_METHOD_NAMES, type LabMethod };

const NoParams = z.undefined().or(z.strictObject({}));

export const StartRunParamsSchema = z.strictObject({
  /** A profile to run; absent: the client's own pending profile. Validated by the host. */
  profile: z.unknown().optional(),
  /** Run until stopped (UI); otherwise the profile's warm-up + measure window bounds it. */
  untilStopped: z.boolean().default(false),
});
export const SetKnobParamsSchema = z.strictObject({ path: z.string().min(1).max(200), value: z.unknown() });
export const GetFramesParamsSchema = z.strictObject({ runId: z.string().max(100), fromSeq: z.number().int().min(0) });
export const FramesResultSchema = z.object({
  runId: z.string(),
  frames: z.array(RunFrameSchema),
  /** Frames from `fromSeq` on that the host no longer keeps (they are lost to this client). */
  lost: z.number().int().min(0),
});
export type FramesResult = z.infer<typeof FramesResultSchema>;

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
