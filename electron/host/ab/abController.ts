/**
 * A/B experiments for the LabApi (the UI): one at a time per lab host, run as a client's own
 * runs (so every other client watches its arms live, as any run), with progress and the final
 * report as events to every client, and each experiment saved in the history (abStore.ts).
 */
import { LabError, type LabEvent, type Profile } from '../../contract';
import type { AbListRow, AbProgress, AbReport, AbState } from '../../contract/ab';
import { AbStore } from './abStore';
import { AB_DEFAULT_DURATION_S, AB_DEFAULT_ROUNDS, checkComparableArms, labArmRunner, startAbExperiment, type AbRun, type ArmHost } from './runner';

export interface AbStartParams {
  a: Profile;
  b: Profile;
  rounds?: number;
  durationS?: number;
  warmupS?: number;
  seed?: number;
}


export class AbController {
  private current: { run: AbRun; clientId: string; progress: AbProgress | null } | null = null;
  private lastReport: AbReport | null = null;

  constructor(
    /** The host as a client sees it: runs started for `clientId`. */
    private readonly hostFor: (clientId: string) => ArmHost,
    private readonly emit: (event: LabEvent) => void,
    readonly store: AbStore = new AbStore(),
    /** The machine's register of live lab runs (run/contention.ts); default: the user's. */
    private readonly activeRunsDir?: string,
    /** Whether a client still has a window (a session a transport holds open). */
    private readonly clientAttached: (clientId: string) => boolean = () => true,
  ) {}

  state(): AbState {
    return { running: this.current !== null, experimentId: this.current?.run.experimentId ?? null, progress: this.current?.progress ?? null, lastReport: this.lastReport };
  }

  /** One experiment at a time per host: a second is refused before its arms are even checked
   *  (the checks plan in the engine process, which the running one's arm is using). */
  refuseIfRunning(): void {
    if (this.current) {
      throw new LabError({ code: 'AB_ACTIVE', message: `A/B experiment ${this.current.run.experimentId} is still going`, fix: 'stop it first, or wait for it to end' });
    }
  }

  start(clientId: string, params: AbStartParams): { experimentId: string } {
    if (params.a === undefined || params.b === undefined) throw new LabError({ code: 'USAGE', kind: 'input', field: params.a === undefined ? 'a' : 'b', message: 'an A/B experiment needs two profiles', fix: 'give a and b' });
    this.refuseIfRunning();
    checkComparableArms(params.a, params.b);
    this.store.checkWritable();
    const options = {
      a: params.a, b: params.b,
      rounds: params.rounds ?? AB_DEFAULT_ROUNDS, durationS: params.durationS ?? AB_DEFAULT_DURATION_S,
      warmupS: params.warmupS, seed: params.seed, activeRunsDir: this.activeRunsDir,
    };
    const host = this.hostFor(clientId);
    const run = startAbExperiment(options, labArmRunner(host), (progress) => {
      if (this.current?.run === run) this.current.progress = progress;
      this.emit({ type: 'abProgress', progress });
    }, (report, final) => (this.store.save(report, final) ? null : this.store.lastSaveError ?? 'unknown error'));
    this.current = { run, clientId, progress: null };
    void run.report.then((report) => {
      this.lastReport = report;
      this.emit({ type: 'abEnded', report });
    }, () => undefined).finally(() => {
      host.done?.();
      if (this.current?.run === run) this.current = null;
    });
    return { experimentId: run.experimentId };
  }

  /** Stops the experiment (its arm in progress is interrupted); resolves with the report of the rounds done. */
  async stop(clientId: string): Promise<AbReport | null> {
    const current = this.current;
    if (!current) return null;
    // The window that started it stops it; once that window is closed (its tab, its socket) any
    // window may: an experiment of 20 rounds × 60 s whose owner closed its tab went on for 40
    // minutes with every other window's Stop refused.
    const orphaned = current.clientId !== clientId && !this.clientAttached(current.clientId);
    if (current.clientId !== clientId && !orphaned) {
      throw new LabError({ code: 'NOT_CONTROLLER', message: `A/B experiment ${current.run.experimentId} was started by another window, which is still open`, fix: 'stop it from that window (A/B view), or wait for it to end; once that window is closed, Stop works from any window' });
    }
    current.run.interrupt(orphaned ? 'stopped by the user (from another window: the one that started it was closed)' : 'stopped by the user');
    return current.run.report;
  }

  list(): { experiments: AbListRow[] } {
    return { experiments: this.store.list() };
  }

  get(experimentId: string): { report: AbReport; running: boolean } {
    return this.store.get(experimentId);
  }

  export(experimentId: string, format: 'json' | 'html') {
    return this.store.export(experimentId, format);
  }

  delete(experimentId: string): void {
    if (this.current?.run.experimentId === experimentId) {
      throw new LabError({ code: 'AB_ACTIVE', field: 'experimentId', message: `A/B experiment ${experimentId} is still going`, fix: 'stop it first' });
    }
    this.store.delete(experimentId);
  }

  /** Stops the experiment whoever started it (the engine process was asked to end); its report
   *  says `reason`. No-op without one. */
  interrupt(reason: string): void {
    this.current?.run.interrupt(reason);
  }

  /** The host is closing: an experiment still going ends interrupted. */
  async close(): Promise<void> {
    const current = this.current;
    if (!current) return;
    current.run.interrupt('the lab host is shutting down');
    await current.run.report.catch(() => undefined);
  }
}
