/**
 * Faults from the start window. Right after the native start the engine reads one snapshot to
 * zero the counters, so the first frame carries neither the CPU of connecting and touching
 * buffers nor requests from before the run's time origin. Faults are different: a mismatched
 * echo, a failed connection, a request abandoned or a server error in that window happened all
 * the same. On a slow machine a load of 8 connections finished its first three requests each
 * before that read, and a server corrupting the third message of every connection passed as
 * clean (errors 0, exit 0). So the read's faults are kept and added to the first frame.
 */
import type { EngineSnapshot } from '../../native';

type Faults = Pick<EngineSnapshot, 'errors' | 'mismatches' | 'timeouts' | 'serverErrors'> & {
  errorsByOp: { accept: number; recv: number; send: number; other: number } | null;
};

export class StartFaults {
  private pending: Faults | null;

  constructor(baseline: EngineSnapshot | null) {
    this.pending = baseline && (baseline.errors || baseline.timeouts || baseline.serverErrors)
      ? {
        errors: baseline.errors,
        mismatches: baseline.mismatches ?? 0,
        timeouts: baseline.timeouts,
        serverErrors: baseline.serverErrors,
        errorsByOp: baseline.server ? { ...baseline.server.errorsByOp } : null,
      }
      : null;
  }

  /** The snapshot with the start window's faults added (once: the first snapshot only). */
  into(snapshot: EngineSnapshot): EngineSnapshot {
    const faults = this.pending;
    if (!faults) return snapshot;
    this.pending = null;
    const byOp = faults.errorsByOp;
    return {
      ...snapshot,
      errors: snapshot.errors + faults.errors,
      mismatches: (snapshot.mismatches ?? 0) + faults.mismatches,
      timeouts: snapshot.timeouts + faults.timeouts,
      serverErrors: snapshot.serverErrors + faults.serverErrors,
      server: snapshot.server && byOp
        ? {
          ...snapshot.server,
          errorsByOp: {
            accept: snapshot.server.errorsByOp.accept + byOp.accept,
            recv: snapshot.server.errorsByOp.recv + byOp.recv,
            send: snapshot.server.errorsByOp.send + byOp.send,
            other: snapshot.server.errorsByOp.other + byOp.other,
          },
        }
        : snapshot.server,
    };
  }
}
