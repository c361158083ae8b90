/**
 * Events from the host to every client: a run's frames, phases and its one terminal event;
 * control changes; an A/B experiment's progress and its report.
 */
import { z } from 'zod';
import { AbProgressSchema, AbReportSchema } from './ab';
import { LabErrorSchema } from './errors';
import { PhaseSchema, RunFrameSchema, RunSummarySchema } from './run';

export const LabEventSchema = z.discriminatedUnion('type', [
  /** A live frame: kernel.profile.folded and kernel.offCpu.events are left out (their counts stay);
   *  the stacks are in the saved frames (getFrames, runs show, diagnose). */
  z.object({ type: z.literal('frame'), frame: RunFrameSchema }),
  z.object({ type: z.literal('phase'), runId: z.string(), phase: PhaseSchema }),
  // Exactly one of ended / failed / interrupted closes every run that started.
  z.object({ type: z.literal('ended'), runId: z.string(), summary: RunSummarySchema }),
  z.object({ type: z.literal('failed'), runId: z.string(), error: LabErrorSchema, summary: RunSummarySchema }),
  z.object({ type: z.literal('interrupted'), runId: z.string(), reason: z.string(), summary: RunSummarySchema }),
  /** Control of the run moved to another client (takeControl). */
  z.object({ type: z.literal('control'), runId: z.string(), controllerId: z.string() }),
  /** An A/B experiment finished an arm-run (its arms are runs, with the events above). */
  z.object({ type: z.literal('abProgress'), progress: AbProgressSchema }),
  /** An A/B experiment ended (completed, stopped or failed): its report. */
  z.object({ type: z.literal('abEnded'), report: AbReportSchema }),
]);
export type TerminalEvent = Extract<LabEvent, { type: 'ended' | 'failed' | 'interrupted' }>;
export const TERMINAL_EVENT_TYPES = ['ended', 'failed', 'interrupted'] as const;
export type LabEvent = z.infer<typeof LabEventSchema>;
