/**
 * Echoes per load connection, frame by frame: the native engine counts them cumulatively from
 * its start, and each snapshot reads them beside the histogram (native connectionEchoes(): the
 * same completions as that snapshot's `requests`). Each frame carries the differences since the
 * frame before, so the frames' differences add up to the whole start and the host sums them
 * over exactly the frames it measures (RunRecord). The baseline is the start's zeroing
 * snapshot's: the echoes before it belong to no frame, as for every other counter.
 */
import type * as Native from '../../native';

type Reading = ReturnType<typeof Native.connectionEchoes>;

export class ConnectionEchoDeltas {
  private prev: Float64Array | null = null;
  private run = -1;

  /** The start's baseline (null: this start counts no echoes — storage, a server alone). Each
   *  reading is a fresh array of the addon's, so it is kept as it is, not copied. */
  reset(reading: Reading): void {
    this.prev = reading ? reading.counts : null;
    this.run = reading ? reading.run : -1;
  }

  /** Echoes per connection since the last reading, or null when none are counted (or the
   *  reading is of another start than the baseline's). */
  next(reading: Reading): number[] | null {
    const prev = this.prev;
    if (!reading || !prev || reading.run !== this.run || reading.counts.length !== prev.length) return null;
    const out = new Array<number>(prev.length);
    for (let i = 0; i < prev.length; i++) {
      const cur = reading.counts[i];
      out[i] = cur - prev[i];
      prev[i] = cur;
    }
    return out;
  }
}
