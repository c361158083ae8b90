/**
 * A/B experiments in the UI: what A and B are (a preset, a saved profile, a saved run's
 * profile, the current knobs, or the current knobs with one change), starting and stopping an
 * experiment on the host, its live progress (abProgress events) and its report (abEnded), and
 * the saved experiments to reopen and export. Every answer is validated at this edge (callLab).
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import { isCpuListKnob, knobAt, LabError, typedCpuList, type AbListRow, type AbProgress, type AbReport, type LabErrorData, type LabEvent, type Profile } from '../../../electron/contract';
import { downloadText } from '../format/chartExport';
import { useConnectionStore } from './connection';
import { viewCalls } from './viewCalls';
import { callLab } from './history';
import { useKnobsStore } from './knobs';
import { useRunStore } from './run';
import { knobControl } from '../components/knobs/knobControl';

/** Where one arm's profile comes from. */
export type AbSource =
  | { kind: 'current' }
  | { kind: 'preset'; id: string }
  | { kind: 'saved'; name: string }
  | { kind: 'run'; runId: string }
  /** The current knobs with one knob changed (B only): `path=value`, value as JSON or a bare word. */
  | { kind: 'change'; path: string; value: string };

/**
 * `value` as the user typed it for the knob at `path`, read as `--set` reads it: JSON when it
 * parses (numbers, true, null, "text"), else the bare text; a text knob takes the text as typed
 * (`name=123`), a CPU list knob a list typed as taskset -c takes one (`load.cpus=0-1`).
 */
export function parseKnobValue(path: string, text: string): unknown {
  const t = text.trim();
  let value: unknown;
  try { value = JSON.parse(t); } catch { value = t; }
  const entry = knobAt(path);
  // A text knob takes the text as typed, as `--set` does; one that may be null takes `null` as null.
  const control = entry && knobControl(entry.schema);
  if (control && typeof value !== 'string' && control.control.kind === 'text' && !(value === null && control.nullable)) return t;
  if (!isCpuListKnob(path)) return value;
  const list = typedCpuList(value);
  if (!list) return value;
  if (list.ok) return list.cpus;
  throw new LabError({ code: 'INVALID_VALUE', kind: 'input', field: 'b.change', message: `${path} = ${t.slice(0, 60)}: ${list.reason}`, fix: 'give a CPU list such as 0-3,8 (or [0,1]), or null for any CPU' });
}

/** A copy of `profile` with the knob at dotted `path` set (the host validates the result and names the field if wrong). */
export function withChange(profile: Profile, path: string, value: unknown): Profile {
  const copy = structuredClone(profile) as unknown as Record<string, unknown>;
  const keys = path.split('.').filter(Boolean);
  if (!keys.length) throw new LabError({ code: 'USAGE', kind: 'input', field: 'b.change', message: 'the knob to change is empty', fix: 'name a knob, e.g. server.sqpoll.enabled' });
  let node = copy;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      throw new LabError({ code: 'USAGE', kind: 'input', field: 'b.change', message: `"${path}" is not a knob of the profile`, fix: 'name a knob as the knob panel shows it, e.g. server.sqpoll.enabled' });
    }
    node = next as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
  // Named after the change, so the report says what B is.
  copy.name = `${profile.name} + ${path}=${JSON.stringify(value)}`.slice(0, 200);
  return copy as unknown as Profile;
}

export const useAbStore = defineStore('ab', () => {
  const conn = useConnectionStore();
  const progress = shallowRef<AbProgress | null>(null);
  const running = ref(false);
  const report = shallowRef<AbReport | null>(null);
  const saved = shallowRef<AbListRow[]>([]);
  const failure = shallowRef<LabErrorData | null>(null);
  const busy = ref(false);
  const a = ref<AbSource>({ kind: 'current' });
  const b = ref<AbSource>({ kind: 'change', path: 'server.engine', value: 'epoll' });
  const rounds = ref(10);
  const durationS = ref(3);

  const { api, guarded } = viewCalls(() => conn.api(), failure, busy);

  async function profileOf(source: AbSource): Promise<Profile> {
    // The knobs as the panel shows them: a change on its way is answered first.
    await useKnobsStore().settled();
    const current = useKnobsStore().profile;
    switch (source.kind) {
      case 'current':
      case 'change': {
        if (!current) throw new LabError({ code: 'DISCONNECTED', message: 'the current knobs are not known yet', fix: 'wait for the connection' });
        return source.kind === 'current' ? current : withChange(current, source.path, parseKnobValue(source.path, source.value));
      }
      case 'preset': {
        const { presets } = await callLab(api(), 'listPresets', undefined);
        const p = presets.find((x) => x.id === source.id);
        if (!p) throw new LabError({ code: 'USAGE', kind: 'input', field: 'preset', message: `no preset ${source.id}`, fix: 'pick one from the list' });
        return p.profile;
      }
      case 'saved': {
        const { profiles } = await callLab(api(), 'listProfiles', undefined);
        const p = profiles.find((x) => x.name === source.name);
        if (!p) throw new LabError({ code: 'USAGE', kind: 'input', field: 'profile', message: `no saved profile ${source.name}`, fix: 'pick one from the list' });
        return p.profile;
      }
      case 'run': {
        const run = await callLab(api(), 'getRun', { runId: source.runId, fromSeq: 0, limit: 1 });
        return run.meta.profile;
      }
    }
  }

  async function start(): Promise<void> {
    await guarded(async () => {
      const [pa, pb] = await Promise.all([profileOf(a.value), profileOf(b.value)]);
      report.value = null;
      progress.value = null;
      await callLab(api(), 'startAb', { a: pa, b: pb, rounds: rounds.value, durationS: durationS.value });
      running.value = true;
    });
  }

  async function stop(): Promise<void> {
    await guarded(async () => {
      const r = await callLab(api(), 'stopAb', undefined);
      if (r) report.value = r;
    });
  }

  /** The host's word on A/B (after a reload or reconnect). */
  async function refresh(): Promise<void> {
    await guarded(async () => {
      const state = await callLab(api(), 'getAbState', undefined);
      running.value = state.running;
      progress.value = state.progress;
      if (!report.value && state.lastReport) report.value = state.lastReport;
      saved.value = (await callLab(api(), 'listAb', undefined)).experiments;
    });
  }

  async function open(experimentId: string): Promise<void> {
    await guarded(async () => {
      report.value = (await callLab(api(), 'getAb', { experimentId })).report;
    });
  }

  async function exportReport(experimentId: string, format: 'json' | 'html'): Promise<void> {
    await guarded(async () => {
      const file = await callLab(api(), 'exportAb', { experimentId, format });
      downloadText(file.filename, file.mediaType, file.text);
    });
  }

  async function remove(experimentId: string): Promise<void> {
    await guarded(async () => {
      await callLab(api(), 'deleteAb', { experimentId });
      if (report.value?.experimentId === experimentId) report.value = null;
      saved.value = (await callLab(api(), 'listAb', undefined)).experiments;
    });
  }

  function handleEvent(event: LabEvent): void {
    if (event.type === 'abProgress') {
      running.value = true;
      progress.value = event.progress;
    } else if (event.type === 'abEnded') {
      running.value = false;
      report.value = event.report;
      void refresh();
      // The host gave this client its own knobs back after the arms' runs: show them again.
      void useRunStore().refreshStatus();
    }
  }

  const percentDone = computed(() => (progress.value ? Math.round((100 * progress.value.done) / Math.max(1, progress.value.total)) : 0));

  return { a, b, rounds, durationS, progress, running, report, saved, failure, busy, percentDone, start, stop, refresh, open, exportReport, remove, handleEvent };
});
