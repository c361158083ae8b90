/**
 * TCP segments summed over the frames that read them (addSegments, segmentsPerRequest): a span
 * whose kernel words on closing connections were lost (segmentsLost) is left out with its
 * requests, so the ratios stay those of the spans counted, and it is counted as lost.
 */
import { describe, expect, it } from 'vitest';
import { addSegments, segmentsPerRequest, type SegmentTotals } from '../../electron/contract';

const read = (out: number, inn: number, requests: number) =>
  ({ segmentsOut: out, segmentsIn: inn, dataSegmentsOut: out / 2, dataSegmentsIn: inn / 2, segmentsRequests: requests, segmentsLost: false });
const between = { segmentsOut: null, segmentsIn: null, dataSegmentsOut: null, dataSegmentsIn: null, segmentsRequests: null, segmentsLost: false };
const lost = { ...between, segmentsLost: true };

describe('segment totals over frames', () => {
  it('sums the reads, skips the frames between them, and divides by the requests of the spans read', () => {
    let t: SegmentTotals | null = null;
    for (const f of [read(200, 100, 100), between, between, read(400, 200, 200)]) t = addSegments(t, f);
    expect(t).toEqual({ out: 600, in: 300, dataOut: 300, dataIn: 150, requests: 300, lostSpans: 0 });
    expect(segmentsPerRequest(t)).toEqual({ outPerReq: 2, inPerReq: 1, dataOutPerReq: 1, dataInPerReq: 0.5, lostSpans: 0 });
  });

  it('a lost span adds nothing, not even its requests, and is counted', () => {
    let t: SegmentTotals | null = null;
    for (const f of [read(200, 100, 100), lost, between, read(400, 200, 200)]) t = addSegments(t, f);
    expect(t).toEqual({ out: 600, in: 300, dataOut: 300, dataIn: 150, requests: 300, lostSpans: 1 });
    expect(segmentsPerRequest(t)!.outPerReq).toBe(2);
  });

  it('only lost spans: counted as lost, and no ratio (no request counted)', () => {
    const t = addSegments(addSegments(null, lost), lost);
    expect(t).toEqual({ out: 0, in: 0, dataOut: 0, dataIn: 0, requests: 0, lostSpans: 2 });
    expect(segmentsPerRequest(t)).toBeNull();
    expect(addSegments(null, between)).toBeNull();
  });
});
