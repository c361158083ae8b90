/**
 * The engine counters of one frame (its `server` object: what the server did in the frame's
 * interval) as the Live view shows them: per-request ratios (enters/request is the number that
 * makes SQPOLL's effect visible: with the SQPOLL thread submitting, the server stops entering
 * the kernel), the buffer pool, ENOBUFS and re-arms, zero-copy vs copied sends, CQ overflows,
 * and the server's CPU split into user, system and the SQPOLL thread. Pure, no DOM.
 */
import { addSqpollWork, LOOPBACK_ZC_NOTE, sqpollBusyShare, ZC_BUDGET_NOTE, type RunFrame, type SqpollWork } from '../../../electron/contract';
import { formatBytes, formatInt, formatNs, formatPercent, trimZeros } from './numbers';

/** The counters a frame carries (electron/contract/run.ts ServerFrameSchema). */
export type ServerCounters = NonNullable<RunFrame['server']>;

/** The frame fields this view reads; `server` is null without a server (and absent from a host older than this page). */
export type CountersFrame = Pick<RunFrame, 'requests' | 'intervalMs' | 'phase'> & { server?: ServerCounters | null };

/** One number with its label, its text, and the raw value (for tests and data attributes). */
export interface CounterCell {
  key: string;
  label: string;
  text: string;
  value: number | null;
  /** A remark shown beside it, or a reason it is highlighted. */
  title?: string;
  warn?: boolean;
}

export interface EngineCountersView {
  /** enters, CQEs, sends and recvs per request of the frame (null value: no request completed). */
  ratios: CounterCell[];
  pool: CounterCell & { inUse: number; total: number; fraction: number | null };
  events: CounterCell[];
  /** note: the whole sentences (the cell's title); noteShort: what fits under the counts. */
  sends: { zeroCopy: number; copied: number; fallbacks: number; text: string; note: string | null; noteShort: string | null };
  cpu: CounterCell[];
  /** Frames the CPU split is summed over. */
  cpuFrames: number;
  errors: { total: number; text: string };
  requests: number;
}

// The sentences the UI shows beside the SEND_ZC counts: the run summary's and the server
// verb's words (contract/runStats.ts).
export { LOOPBACK_ZC_NOTE, ZC_BUDGET_NOTE };

/** ' · N in ring' where the ring offers fewer than every free buffer (bufferRing.hotFirst);
 *  nothing for a run saved before it was recorded, or when the whole free pool is in it. */
function inRingText(s: ServerCounters): string {
  const free = s.buffersTotal - s.buffersInUse;
  const inRing = s.buffersInRing;
  return inRing != null && inRing < free ? ` · ${formatInt(inRing)} in ring` : '';
}

/**
 * The SQPOLL cell, with the share of its CPU that found work where every frame of the window
 * says (the kernel's SqWorkTime, Linux 6.11): '· 12 % busy'. The rest of the thread's CPU spun
 * idle, waiting for submissions until sqpoll.idleMs let it sleep.
 */
function sqpollCell(cell: CounterCell, frames: readonly CountersFrame[]): CounterCell {
  let sum: SqpollWork | null = null;
  for (const f of frames) {
    // Unlike the summary's, the window's share needs every frame's work time.
    if (f.server!.sqpollWorkNs == null) return cell;
    sum = addSqpollWork(sum, f.server!);
  }
  const busy = sqpollBusyShare(sum);
  if (busy === null) return cell;
  return {
    ...cell,
    text: `${cell.text} · ${formatPercent(busy)} busy`,
    title: `${cell.title}; busy: the share of its CPU in passes that submitted or polled (the kernel's SqWorkTime), the other ${formatPercent(1 - busy)} spun idle until sqpoll.idleMs`,
  };
}

/** What the segment cells say they are (the kernel's counters, not the engine's). */
export const SEGMENTS_NOTE = 'the kernel\'s own per-socket counts (tcp_info segs and data_segs, read with sock_diag once a second) for the server\'s connections; "data": segments that carried bytes, the rest are pure ACKs, handshakes and FINs. An echo up to the MSS is one segment; more than that per request means the send path split the echo';

/** Frames searched, newest first, for the latest segment read: the engine reads them once a
 *  second, so most frames carry none. */
export const SEGMENTS_WINDOW_FRAMES = 30;

/**
 * TCP segments per request, out and in, each with its data-carrying ones, from the newest frame
 * of `frames` that read them (its counts over the requests of the same span). '—' with why
 * where none did: not read yet (a run's first second), sock_diag for TCP unreadable here, or
 * a run saved before they were recorded.
 */
function segmentsCells(frames: readonly CountersFrame[]): CounterCell[] {
  const newest = frames.find((f) => {
    const s = f.server;
    return s && (s.segmentsLost || (s.segmentsOut != null && s.segmentsIn != null && s.dataSegmentsOut != null && s.dataSegmentsIn != null && s.segmentsRequests != null));
  })?.server;
  // The newest read lost the kernel's word on some closing connections: its second is not
  // counted, and the one before it is no longer the last second.
  const lost = !!newest?.segmentsLost;
  const read = lost ? undefined : newest;
  const cell = (key: string, label: string, what: string, all: number | null | undefined, data: number | null | undefined): CounterCell => {
    const n = read?.segmentsRequests;
    if (lost) {
      return { key, label, value: null, text: '—', title: `TCP segments ${what} per request: the last second's are not counted, because the kernel's word on some connections that closed in it was lost (a burst of closes overran the 4 MiB it waits in); the next second counts again` };
    }
    if (all == null || data == null || n == null) {
      return { key, label, value: null, text: '—', title: `TCP segments ${what} per request: not counted yet (they are read once a second), or not countable here (sock_diag for TCP unreadable: modprobe tcp_diag), or a run saved before they were recorded` };
    }
    const value = n > 0 ? all / n : null;
    // "1.5 · 1 data" where pure ACKs went too; one figure where every segment carried data (the
    // common case, and the cell fits beside the others at 1024 px).
    const allText = formatRatio(value);
    const dataText = n > 0 ? formatRatio(data / n) : '—';
    const text = value === null ? '—' : allText === dataText ? `${allText}` : `${allText} · ${dataText} data`;
    return { key, label, value, text, title: `TCP segments ${what} per request over the last second read${allText === dataText && value !== null ? ', every one carrying data' : ''}: ${SEGMENTS_NOTE}` };
  };
  return [
    cell('segmentsOut', 'segs out', 'sent by the server', read?.segmentsOut, read?.dataSegmentsOut),
    cell('segmentsIn', 'segs in', 'received by the server', read?.segmentsIn, read?.dataSegmentsIn),
  ];
}

/** A ratio with up to three significant digits: 1, 0.5, 2.04, 0.013, 12.3, 1,234. */
export function formatRatio(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const a = Math.abs(value);
  if (a >= 1000) return formatInt(value);
  const magnitude = Math.floor(Math.log10(a));
  return trimZeros(value.toFixed(Math.max(0, 2 - magnitude)));
}

/** Frames the CPU split is summed over: the engine reads thread CPU in 10 ms ticks, so one
 *  100 ms frame shows 0 or 10 % steps; about a second of frames reads true to a few %. */
export const CPU_WINDOW_FRAMES = 10;

/**
 * The view of a frame's counters, or null when the frame has none (an older engine, or no
 * frame). Ratios and counts are the frame's own; the CPU split is summed over `window` (the
 * newest frames of the same phase, the frame itself among them; just the frame by default).
 */
export function engineCountersView(frame: CountersFrame | null | undefined, window?: readonly CountersFrame[], segmentsWindow?: readonly CountersFrame[]): EngineCountersView | null {
  const s = frame?.server;
  if (!frame || !s) return null;
  const req = frame.requests;
  const per = (n: number) => (req > 0 ? n / req : null);
  const ratio = (key: string, label: string, n: number, title: string): CounterCell => {
    const value = per(n);
    return { key, label, value, text: formatRatio(value), title };
  };
  const cpuFrames = (window ?? [frame]).filter((f) => f.server && f.phase === frame.phase);
  const cpuRequests = cpuFrames.reduce((n, f) => n + f.requests, 0);
  const intervalNs = cpuFrames.reduce((n, f) => n + f.intervalMs, 0) * 1e6;
  const cpuSum = (pick: (c: ServerCounters) => number) => cpuFrames.reduce((n, f) => n + pick(f.server!), 0);
  const cpuCell = (key: string, label: string, pick: (c: ServerCounters) => number, title: string): CounterCell => {
    const ns = cpuSum(pick);
    return {
      key, label, value: ns, title,
      // per request (the group's heading says so), and the share of one CPU over the frames' time
      text: `${formatNs(cpuRequests > 0 ? ns / cpuRequests : null)} · ${intervalNs > 0 ? formatPercent(ns / intervalNs) : '—'}`,
    };
  };
  const fraction = s.buffersTotal > 0 ? s.buffersInUse / s.buffersTotal : null;
  const inRing = inRingText(s);
  const allCopied = s.copiedSends > 0 && s.zeroCopySends === 0;
  const pastBudget = s.zeroCopyFallbacks > 0;
  const errors = s.errorsByOp.accept + s.errorsByOp.recv + s.errorsByOp.send + s.errorsByOp.other;
  const errorParts = (['accept', 'recv', 'send', 'other'] as const).filter((k) => s.errorsByOp[k] > 0).map((k) => `${k} ${formatInt(s.errorsByOp[k])}`);
  return {
    requests: req,
    ratios: [
      ratio('enters', 'enters', s.enters, 'io_uring_enter calls the server made per request: SQPOLL and batching bring it down'),
      ratio('cqes', 'CQEs', s.cqes, 'completions the server reaped per request'),
      ratio('sends', 'sends', s.sends, 'send operations per request (coalescing brings it below 1)'),
      ratio('recvs', 'recvs', s.recvs, 'receive completions per request'),
      ...segmentsCells(segmentsWindow ?? window ?? [frame]),
    ],
    pool: {
      key: 'pool', label: 'buffers in use', inUse: s.buffersInUse, total: s.buffersTotal, fraction, value: fraction,
      // With the in-ring count (hot first, on by default) the share goes to the title: at 1024 px
      // "0 / 64 (0.0 %) · 4 in ring" was 2 px wider than its group and cut the row's others.
      text: s.buffersTotal > 0 ? `${formatInt(s.buffersInUse)} / ${formatInt(s.buffersTotal)}${inRing || ` (${formatPercent(fraction)})`}` : 'no buffer pool',
      warn: fraction !== null && fraction >= 0.9,
      title: `provided buffers the server holds at the end of the frame, of the pool${fraction !== null ? ` (${formatPercent(fraction)})` : ''}; "in ring": the free ones the kernel could pick from (hot first keeps the rest back, the most recently returned offered first)`,
    },
    events: [
      { key: 'enobufs', label: 'ENOBUFS', value: s.enobufs, text: formatInt(s.enobufs), warn: s.enobufs > 0, title: 'receives that found the buffer pool empty' },
      { key: 'rearms', label: 're-arms', value: s.rearms, text: formatInt(s.rearms), title: 'receives armed again from the starved queue: after ENOBUFS, or after a connection\'s turn while others waited for buffers' },
      { key: 'spilledBytes', label: 'spilled', value: s.spilledBytes, text: formatBytes(s.spilledBytes), warn: s.spilledBytes > 0, title: 'echo bytes copied out of the buffer pool: their send was stuck on a peer that does not read while other connections waited for buffers' },
      // Only where some wait batched: with server.minWaitUs off (or a run saved before it was
      // counted) there is nothing to show, and the summary says when the knob never engaged.
      ...(s.batchedWaits ? [{ key: 'batchedWaits', label: 'batched waits', value: s.batchedWaits, text: formatInt(s.batchedWaits), title: 'waits with the minimum wait (server.minWaitUs), made only after a reap that gave 4 or more connections data, fewer than half of those open: they gather completions at the cost of up to that much latency' }] : []),
      { key: 'cqOverflows', label: 'CQ overflows', value: s.cqOverflows, text: formatInt(s.cqOverflows), warn: s.cqOverflows > 0, title: 'completions that did not fit the completion queue' },
    ],
    sends: {
      zeroCopy: s.zeroCopySends,
      copied: s.copiedSends,
      fallbacks: s.zeroCopyFallbacks,
      text: s.zeroCopySends + s.copiedSends + s.zeroCopyFallbacks === 0 ? 'no SEND_ZC'
        : `${formatInt(s.zeroCopySends)} zero-copy · ${formatInt(s.copiedSends)} copied`,
      note: [allCopied ? LOOPBACK_ZC_NOTE : null, pastBudget ? ZC_BUDGET_NOTE : null].filter(Boolean).join('; ') || null,
      // The sentences set the group's width and squeezed the other counters to a few letters.
      noteShort: [pastBudget ? `${formatInt(s.zeroCopyFallbacks)} past budget` : null, allCopied ? 'all copied: local delivery' : null].filter(Boolean).join(' · ') || null,
    },
    cpuFrames: cpuFrames.length,
    cpu: [
      cpuCell('user', 'user', (c) => c.userCpuNs, 'server threads in user space'),
      cpuCell('system', 'system', (c) => c.systemCpuNs, 'server threads in the kernel'),
      sqpollCell(cpuCell('sqpoll', 'SQPOLL', (c) => c.sqpollCpuNs, 'the SQPOLL kernel thread, apart from the server threads (it spins while busy)'), cpuFrames),
    ],
    errors: { total: errors, text: errors === 0 ? 'none' : errorParts.join(' · ') },
  };
}
