/**
 * Events from the host to every client: a run's frames, phases and its one terminal event;
 * control changes; an A/B experiment's progress and its report.
 */
import { z } from 'zod';
import { AbProgressSchema, AbReportSchema } from './ab';
import { LabErrorSchema } from './errors';
import { PhaseSchema, RunFrameSchema, RunSummarySchema } from './run';

function labEventSchemaOver<F extends z.ZodType, S extends z.ZodType>(FrameSchema: F, SummarySchema: S) {
  return z.discriminatedUnion('type', [
    /** A live frame: kernel.profile.folded and kernel.offCpu.events are left out (their counts stay);
     *  the stacks are in the saved frames (getFrames, runs show, diagnose). */
    z.object({ type: z.literal('frame'), frame: FrameSchema }),
    z.object({ type: z.literal('phase'), runId: z.string(), phase: PhaseSchema }),
    // Exactly one of ended / failed / interrupted closes every run that started.
    z.object({ type: z.literal('ended'), runId: z.string(), summary: SummarySchema }),
    z.object({ type: z.literal('failed'), runId: z.string(), error: LabErrorSchema, summary: SummarySchema }),
    z.object({ type: z.literal('interrupted'), runId: z.string(), reason: z.string(), summary: SummarySchema }),
    /** Control of the run changed hands (takeControl): whether the receiving client has it now. */
    z.object({ type: z.literal('control'), runId: z.string(), controller: z.boolean() }),
    /** An A/B experiment finished an arm-run (its arms are runs, with the events above). */
    z.object({ type: z.literal('abProgress'), progress: AbProgressSchema }),
    /** An A/B experiment ended (completed, stopped or failed): its report. */
    z.object({ type: z.literal('abEnded'), report: AbReportSchema }),
    /** A client deleted or (un)pinned a saved run: every window's History follows (one tab
     *  deleted a run and another still listed it, then failed RUN_UNKNOWN on it). */
    z.object({ type: z.literal('historyChanged'), runId: z.string(), deleted: z.boolean(), pinned: z.boolean().nullable() }),
  ]);
}

export const LabEventSchema = labEventSchemaOver(RunFrameSchema, RunSummarySchema);

/**
 * The same events with a frame and a summary checked only for the fields that route them (a
 * summary's runId and status; a frame's runId, seq, phase, tMs, measuring), their other fields
 * kept as sent. The browser renderer checks events this way outside development builds, as it
 * checks answers: the renderer is served by the host it talks to, from the same build, and a
 * long run's summary is hundreds of KB that the full schema takes 10–60 ms to walk on the
 * page's main thread at the stop (measured in Node on a 230 KB summary: 66 ms the first time,
 * 2–3 ms once warm; a summary arrives once per run, so it is always the first time), and a frame
 * ~0.5 ms of every 100 ms. Development builds and tests check every event in full.
 */
export const LabEventEnvelopeSchema = labEventSchemaOver(
  RunFrameSchema.pick({ runId: true, seq: true, phase: true, tMs: true, measuring: true }).loose(),
  RunSummarySchema.pick({ runId: true, status: true }).loose(),
);
export type TerminalEvent = Extract<LabEvent, { type: 'ended' | 'failed' | 'interrupted' }>;
export const TERMINAL_EVENT_TYPES = ['ended', 'failed', 'interrupted'] as const;
export type LabEvent = z.infer<typeof LabEventSchema>;
