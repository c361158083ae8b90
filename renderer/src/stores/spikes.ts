/**
 * Spike reports of runs (issue 12) for the heatmap markers, the spike table, the evidence panel
 * and the flame-graph tabs: from RunSummary.spikes / .profiles when a run ends, and from the
 * host's diagnoseRun for saved runs (and for summaries from before issue 12).
 *
 * The reports live at module level, not in one Pinia: a saved run's charts are a small Vue app
 * of their own with a Pinia of its own (components/history/replay.ts), and its heatmap markers
 * must see the report the page loaded, and open the page's evidence panel. Only the page's
 * store (useSpikesStore, started by App.vue) talks to the host.
 */
import { defineStore } from 'pinia';
import { computed, shallowRef, watch, type ComputedRef } from 'vue';
import {
  LabError, type InjectionResult, type LabApi, type LabErrorData, type Profiles, type RunFrame,
  type RunSummary, type Spike, type SpikeParams, type SpikeReport,
} from '../../../electron/contract';
import { toErrorData } from './errors';
import { callLab, useHistoryStore } from './history';
import { useConnectionStore } from './connection';
import { useRunStore } from './run';

/** What the lab knows about one run's spikes. */
export interface RunDiagnosis {
  runId: string;
  /** null: the run has no report (no measured frames, or the host could not build one). */
  report: SpikeReport | null;
  profiles: Profiles | null;
  /** The run's injections as applied (RunSummary.injections); empty when unknown. */
  injections: InjectionResult[];
  /** Where the report came from: the run's summary, or diagnoseRun (recomputed from its frames). */
  source: 'summary' | 'diagnose';
  /** The tuning diagnoseRun was asked with (null: the defaults). */
  params: Partial<SpikeParams> | null;
}

/** Reports kept (most recent runs); older ones are fetched again when asked for. */
const KEEP = 12;

const diagnoses = shallowRef<ReadonlyMap<string, RunDiagnosis>>(new Map());
const loadingRuns = shallowRef<ReadonlySet<string>>(new Set());
const failures = shallowRef<ReadonlyMap<string, LabErrorData>>(new Map());
/** The spike whose evidence panel is open. */
const openedSpike = shallowRef<{ runId: string; spikeId: number } | null>(null);

function keep(d: RunDiagnosis): void {
  const next = new Map(diagnoses.value);
  next.delete(d.runId);
  next.set(d.runId, d);
  while (next.size > KEEP) next.delete(next.keys().next().value!);
  diagnoses.value = next;
  if (failures.value.has(d.runId)) {
    const f = new Map(failures.value);
    f.delete(d.runId);
    failures.value = f;
  }
}

/** The run's diagnosis, if loaded (reactive). */
export function diagnosisOf(runId: string | null | undefined): RunDiagnosis | null {
  return runId ? (diagnoses.value.get(runId) ?? null) : null;
}

export function diagnosisLoading(runId: string | null | undefined): boolean {
  return !!runId && loadingRuns.value.has(runId);
}

export function diagnosisFailure(runId: string | null | undefined): LabErrorData | null {
  return runId ? (failures.value.get(runId) ?? null) : null;
}

export function openSpike(runId: string, spikeId: number): void {
  openedSpike.value = { runId, spikeId };
}

export function closeSpike(): void {
  openedSpike.value = null;
}

/** The open spike with its run's diagnosis (null when none is open or its report is gone). */
export const openedSpikeView = computed<{ diagnosis: RunDiagnosis; spike: Spike } | null>(() => {
  const o = openedSpike.value;
  const d = diagnosisOf(o?.runId);
  const spike = d?.report?.spikes.find((s) => s.id === o!.spikeId);
  return d && spike ? { diagnosis: d, spike } : null;
});

/** The diagnosis a run's summary carries; null when the summary predates spike reports (no `spikes` key). */
export function diagnosisFromSummary(s: RunSummary): RunDiagnosis | null {
  if (s.spikes === undefined) return null;
  return { runId: s.runId, report: s.spikes ?? null, profiles: s.profiles ?? null, injections: s.injections ?? [], source: 'summary', params: null };
}

/** A saved run's frames from `fromMs` to `toMs` (run time), for the evidence panel's timeline. */
export async function framesBetween(api: LabApi, runId: string, seqHint: number, fromMs: number, toMs: number): Promise<RunFrame[]> {
  // Frames come every ~100 ms from seq 0: start a little before the hint and page on by time.
  let fromSeq = Math.max(0, seqHint - 40);
  const out: RunFrame[] = [];
  for (let page = 0; page < 8; page++) {
    const res = await callLab(api, 'getRun', { runId, fromSeq, limit: 200 });
    if (!res.frames.length) break;
    if (page === 0 && res.frames[0]!.tMs > fromMs && fromSeq > 0) {
      // Started too late (frames lost or longer intervals): step back once, further.
      fromSeq = Math.max(0, fromSeq - 200);
      continue;
    }
    for (const f of res.frames) if (f.tMs >= fromMs && f.tMs - f.intervalMs <= toMs) out.push(f);
    const last = res.frames[res.frames.length - 1]!;
    if (last.tMs - last.intervalMs > toMs || res.nextSeq === null) break;
    fromSeq = res.nextSeq;
  }
  return out;
}

/**
 * The page's side: follows the run that ended (its summary) and the saved run opened in
 * History, loading their reports; `load` recomputes one with other detection parameters.
 */
export const useSpikesStore = defineStore('spikes', () => {
  const conn = useConnectionStore();
  const run = useRunStore();
  const history = useHistoryStore();

  async function load(runId: string, params?: Partial<SpikeParams>, injections?: InjectionResult[]): Promise<void> {
    const api = conn.api();
    if (!api || loadingRuns.value.has(runId)) return;
    loadingRuns.value = new Set([...loadingRuns.value, runId]);
    try {
      // Validated against the method table's result schema at this edge (callLab).
      const res = await callLab(api, 'diagnoseRun', params ? { runId, params } : { runId });
      keep({ runId, report: res.report, profiles: res.profiles, injections: injections ?? diagnosisOf(runId)?.injections ?? [], source: 'diagnose', params: params ?? null });
    } catch (err) {
      failures.value = new Map([...failures.value, [runId, toErrorData(err)]]);
    } finally {
      const next = new Set(loadingRuns.value);
      next.delete(runId);
      loadingRuns.value = next;
    }
  }

  /** A run's report and profiles without keeping them (the A/B view pools many runs' stacks);
   *  the failure as data instead of thrown. */
  async function fetchDiagnosis(runId: string): Promise<{ report: SpikeReport | null; profiles: Profiles | null } | { failure: LabErrorData }> {
    try {
      const api = conn.api();
      if (!api) throw new LabError({ code: 'DISCONNECTED', message: 'not connected to the lab host', fix: 'wait for the connection to come back' });
      return await callLab(api, 'diagnoseRun', { runId });
    } catch (err) {
      return { failure: toErrorData(err) };
    }
  }

  /** A summary's report, or (a summary from before issue 12, or a host without it) the host's diagnosis. */
  function adoptSummary(s: RunSummary): void {
    const d = diagnosisFromSummary(s);
    if (d) keep(d);
    else if (!diagnosisOf(s.runId)) void load(s.runId, undefined, s.injections ?? []);
  }

  watch(() => run.summary, (s) => s && adoptSummary(s), { immediate: true });
  watch(
    () => history.opened,
    (o) => {
      if (!o) return;
      if (o.meta.summary) adoptSummary(o.meta.summary);
      else void load(o.runId); // a run whose host died: its frames are all there is
    },
    { immediate: true },
  );

  return {
    load,
    fetchDiagnosis,
    adoptSummary,
    diagnoses: computed(() => diagnoses.value),
    opened: computed(() => openedSpike.value),
    openedView: openedSpikeView,
    open: openSpike,
    close: closeSpike,
  };
});

/**
 * The spikes of the run a component shows (its Pinia's run: the page's, or a replay's) and the
 * opener of their evidence panel: what the heatmaps mark.
 */
export function useShownRunSpikes(): { spikes: ComputedRef<readonly Spike[]>; open: (spikeId: number) => void } {
  const run = useRunStore();
  // Only once the run ended: a report is about a finished run, and the live window keeps sliding.
  const spikes = computed<readonly Spike[]>(() => (run.runLive ? NO_SPIKES : (diagnosisOf(run.runId)?.report?.spikes ?? NO_SPIKES)));
  return {
    spikes,
    open: (spikeId: number) => {
      if (run.runId) openSpike(run.runId, spikeId);
    },
  };
}
const NO_SPIKES: readonly Spike[] = Object.freeze([]);
