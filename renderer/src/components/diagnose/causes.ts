/**
 * How the UI shows spike causes and fault injections: one colour and one line per cause (the
 * markers, the table, the evidence panel use the same), one line per injection kind saying what
 * it does and which cause it should produce (INJECTION_EXPECTED_CAUSE, the calibration's truth),
 * and the spike markers' geometry on a heatmap's time axis. Pure.
 */
import { INJECTION_EXPECTED_CAUSE, type CauseName, type InjectionKind, type Spike } from '../../../../electron/contract';
import { timeToX, type TimeWindow } from '../../charts/timeAxis';

export const CAUSE_INFO: Readonly<Record<CauseName, { color: string; line: string }>> = {
  'cpu-contention': { color: '#ef6461', line: 'other tasks ran on the engine’s CPUs while its threads waited' },
  'irq-softirq': { color: '#f0b429', line: 'hard-IRQ / softirq work on the engine’s CPUs took their time' },
  'memory-reclaim': { color: '#b58cff', line: 'direct or cgroup reclaim / compaction stalled allocations' },
  'page-faults': { color: '#d68cff', line: 'the engine took many page faults' },
  'io-wq-offload': { color: '#5cb8ff', line: 'requests were punted to io-wq worker threads' },
  'buffer-starvation': { color: '#3ecf8e', line: 'the provided buffer ring ran dry (ENOBUFS, re-arms)' },
  'cq-overflow': { color: '#2bb5a8', line: 'the completion queue overflowed' },
  'tcp-retransmit': { color: '#ff9f5a', line: 'TCP retransmitted or dropped packets' },
  'sqpoll-wakeup': { color: '#8fd3ff', line: 'the SQPOLL thread slept and had to be woken' },
  'load-saturation': { color: '#c9a66b', line: 'the load generator was the bottleneck (busy share ≥ 0.9)' },
  unknown: { color: '#8b95a3', line: 'no evidence rose above its baseline' },
};

export const INJECTION_INFO: Readonly<Record<InjectionKind, { does: string; expected: CauseName }>> = {
  cpuHog: { does: 'a busy process (uring-lab-hog) pinned to each of the engine’s CPUs', expected: INJECTION_EXPECTED_CAUSE.cpuHog },
  memoryPressure: { does: 'reads a large file inside a 64 MiB memory cgroup so reclaim runs', expected: INJECTION_EXPECTED_CAUSE.memoryPressure },
  ioWqPunt: { does: 'the server’s sends get IOSQE_ASYNC (punted to io-wq workers); io_uring server only', expected: INJECTION_EXPECTED_CAUSE.ioWqPunt },
  bufferStarvation: { does: 'consumed provided buffers are withheld, not recycled (ENOBUFS); io_uring with a buffer ring', expected: INJECTION_EXPECTED_CAUSE.bufferStarvation },
  serverPause: { does: 'every server thread sleeps once for the duration (a stall in user space)', expected: INJECTION_EXPECTED_CAUSE.serverPause },
  softirqLoad: { does: 'extra loopback UDP traffic on the engine’s CPUs (NET_RX softirq)', expected: INJECTION_EXPECTED_CAUSE.softirqLoad },
};

/** The innermost frames of a folded stack (root first), leaf first: "schedule ← io_cqring_wait ← …". */
export function stackLeaves(stack: string, n = 3): string {
  return stack.split(';').slice(-n).reverse().join(' ← ');
}

/** A spike's top cause (the first of its ranked list). */
export function topCause(s: Spike): Spike['causes'][number] {
  return s.causes[0]!;
}

/** A spike marker over a heatmap: where it is (CSS px in the plot's box) and what it says. */
export interface SpikeMarkBox {
  spikeId: number;
  left: number;
  width: number;
  color: string;
  label: string;
}

/** The injections a spike's window overlapped (the report's `injected`, from their real start
 *  and end in ms): ", during cpuHog", or "" for none. The rounded "at … s for … ms" cannot say
 *  whether a one-frame spike at an injection's edge overlapped it. */
function duringOf(s: Spike): string {
  const kinds = [...new Set((s.injected ?? []).map((i) => i.kind))];
  return kinds.length ? `, during ${kinds.join(', ')}` : '';
}

/** Markers narrower than this (px) are widened around their centre, so they can be seen and clicked. */
export const MARK_MIN_PX = 8;

/**
 * The markers of `spikes` on a plot `plotWidth` px wide showing `win` (timeAxis.ts): from atMs to
 * atMs + durationMs, clipped to the plot; spikes outside the window are left out.
 */
export function spikeMarkBoxes(spikes: readonly Spike[], win: TimeWindow, plotWidth: number): SpikeMarkBox[] {
  const out: SpikeMarkBox[] = [];
  if (!(plotWidth > 0)) return out;
  for (const s of spikes) {
    const from = s.atMs / 1000;
    const to = (s.atMs + s.durationMs) / 1000;
    if (to < win.min || from > win.max) continue;
    let left = timeToX(Math.max(from, win.min), win, plotWidth);
    let right = timeToX(Math.min(to, win.max), win, plotWidth);
    if (right - left < MARK_MIN_PX) {
      const mid = (left + right) / 2;
      left = Math.max(0, mid - MARK_MIN_PX / 2);
      right = Math.min(plotWidth, left + MARK_MIN_PX);
      left = Math.max(0, right - MARK_MIN_PX);
    }
    const top = topCause(s);
    out.push({
      spikeId: s.id,
      left,
      width: right - left,
      color: CAUSE_INFO[top.cause].color,
      label: `spike ${s.id} at ${from.toFixed(1)} s for ${Math.round(s.durationMs)} ms: ${top.cause} (${Math.round(top.confidence * 100)} %)${duringOf(s)}`,
    });
  }
  return out;
}

/** Same markers, same numbers: lets the canvas binding skip a reactive update when nothing moved. */
export function sameMarkBoxes(a: readonly SpikeMarkBox[], b: readonly SpikeMarkBox[]): boolean {
  return a.length === b.length && a.every((m, i) => {
    const o = b[i]!;
    return m.spikeId === o.spikeId && Math.abs(m.left - o.left) < 0.5 && Math.abs(m.width - o.width) < 0.5 && m.color === o.color && m.label === o.label;
  });
}
