/**
 * The run history as the lab service uses it: every run it starts is saved (begin → frames →
 * phases → end, each a call that never throws: a full disk must not stop a measurement, it
 * becomes a warning in the summary), and the LabApi's history methods.
 */
import { LabError, MAX_EXPORT_BYTES, MAX_FRAME_BYTES_PER_GET, type ExportRunResult, type GetRunResult, type ListRunsResult, type Phase, type Profile, type RunExportFormat, type RunFrame, type RunSummary } from '../../contract';
import { exportRun } from './runExport';
import { RunStore, runStoreOptionsFromEnv, type StoredRunWriter } from './runStore';

/** What the lab service holds for the run it is saving. */
export interface RunSaving {
  /** `json`: the frame's JSON text when the caller has it already (RunRecord makes it once). */
  frame(frame: RunFrame, json?: string): void;
  phases(phases: Phase[]): void;
  /** Returns what is known by now to have gone wrong saving the run, or null. */
  end(summary: RunSummary): string | null;
  /** The saved frames with fromSeq ≤ seq < toSeq, once every frame appended so far is written
   *  ([] for a run that is not saved, or where the file cannot be read). */
  savedFrames(fromSeq: number, toSeq: number): Promise<RunFrame[]>;
}

/** A run that could not be saved at all: it goes on, and its summary says why it is not in the history. */
class UnsavedRun implements RunSaving {
  constructor(private readonly problem: string) {}
  frame(): void {}
  phases(): void {}
  end(): string { return this.problem; }
  async savedFrames(): Promise<RunFrame[]> { return []; }
}

class SavingRun implements RunSaving {
  constructor(private readonly writer: StoredRunWriter, private readonly track: (settled: Promise<void>) => void) {
    track(writer.settled);
  }
  frame(frame: RunFrame, json?: string): void { this.writer.frame(frame, json); }
  phases(phases: Phase[]): void { this.writer.phases(phases); this.track(this.writer.settled); }
  end(summary: RunSummary): string | null {
    try { return this.writer.end(summary); } catch (err) { return (err as Error).message; } finally { this.track(this.writer.settled); }
  }
  savedFrames(fromSeq: number, toSeq: number): Promise<RunFrame[]> { return this.writer.savedFrames(fromSeq, toSeq); }
}

export class LabHistory {
  private readonly store: RunStore | null = null;
  /** Runs of this process whose writes are not all on disk yet. */
  private readonly unsettled = new Set<Promise<void>>();
  /** A bad URING_LAB_RUNS_* setting: every history call says so, runs go on unsaved. */
  private readonly misconfigured: LabError | null = null;

  /** `dir` overrides URING_LAB_RUNS_DIR (tests); the caps always come from the environment. */
  constructor(dir?: string) {
    try {
      const options = runStoreOptionsFromEnv();
      this.store = new RunStore(dir ? { ...options, dir } : options);
    } catch (err) {
      this.misconfigured = LabError.from(err);
    }
  }

  private get runs(): RunStore {
    if (!this.store) throw this.misconfigured!;
    return this.store;
  }

  /** Throws the input error that would keep a run from being saved (a bad URING_LAB_RUNS_* setting, a folder that cannot be written). */
  checkWritable(): void {
    this.runs.checkWritable();
  }

  begin(start: { runId: string; startedAt: string; profile: Profile; phases: Phase[] }): RunSaving {
    try {
      const writer = this.runs.begin(start);
      return new SavingRun(writer, (settled) => {
        this.unsettled.add(settled);
        void settled.then(() => this.unsettled.delete(settled));
      });
    } catch (err) {
      return new UnsavedRun(`it could not be saved to the run history: ${LabError.from(err).message}`);
    }
  }

  /** Resolves when every write of this process's runs so far is on disk (a host closing waits for it). */
  async settled(): Promise<void> {
    await Promise.all([...this.unsettled]);
  }

  /** settled, and no prune of the history at work: what a closing host waits for. */
  async idle(): Promise<void> {
    await this.settled();
    await this.runs.pruneIdle();
  }

  // The history methods first wait for this process's own writes: a client that lists on `ended`
  // finds the run ended, with its summary.
  async list(params: { limit: number; offset: number }): Promise<ListRunsResult> { await this.settled(); return this.runs.listAsync(params); }
  async get(params: { runId: string; fromSeq: number; limit: number }): Promise<GetRunResult> { await this.settled(); return this.runs.get(params, MAX_FRAME_BYTES_PER_GET); }
  async delete(runId: string) { await this.settled(); return this.runs.delete(runId); }
  async pin(runId: string, pinned: boolean) { await this.settled(); return this.runs.pin(runId, pinned); }
  async export(runId: string, format: RunExportFormat): Promise<ExportRunResult> {
    await this.settled();
    const run = this.runs.getAll(runId);
    const file = exportRun(run, format, this.runs.damagedFramesLine(run));
    const bytes = Buffer.byteLength(file.text);
    if (bytes > MAX_EXPORT_BYTES) {
      throw new LabError({
        code: 'EXPORT_TOO_LARGE', kind: 'input', field: 'format',
        message: `the ${format} export of run ${runId} is ${(bytes / 2 ** 20).toFixed(1)} MiB, more than one LabApi answer carries (${MAX_EXPORT_BYTES / 2 ** 20} MiB)`,
        fix: `write it to a file with \`uring-lab runs export ${runId} --format ${format} --out FILE\`${format === 'json' ? ', or export csv (the frames\' main numbers)' : ''}`,
      });
    }
    return file;
  }
}
