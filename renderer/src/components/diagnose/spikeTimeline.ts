/**
 * The evidence panel's timeline: what happened around a spike, on the run's clock (ms since the
 * run started), built from the saved frames of the window and a little context either side.
 * Rows of intervals (injections, off-CPU blocks of the engine's threads), points (TCP
 * retransmits and drops) and per-frame bars (the client p99, other tasks' CPU on the engine's
 * CPUs, IRQ + softirq time, reclaim). A row the frames have no data for is left out and named
 * in `missing`, never drawn as zeros. Pure.
 */
import { isClosingRetransmit, onEnginePorts, type InjectionResult, type RunFrame, type Spike } from '../../../../electron/contract';

export interface TimelineSpan { fromMs: number; toMs: number; label: string }
export interface TimelineBar { fromMs: number; toMs: number; value: number; label: string }

export type TimelineRow =
  | { kind: 'spans'; id: string; title: string; spans: TimelineSpan[] }
  | { kind: 'points'; id: string; title: string; points: { tMs: number; label: string }[] }
  | { kind: 'bars'; id: string; title: string; unit: string; max: number; bars: TimelineBar[] };

export interface SpikeTimeline {
  fromMs: number;
  toMs: number;
  /** The spike's window. */
  spike: { fromMs: number; toMs: number };
  rows: TimelineRow[];
  /** Rows left out because no frame of the window carried their data (e.g. probes off). */
  missing: string[];
}

/** Context shown either side of the spike: a second, or the spike's own length if longer. */
export function timelineContextMs(spike: Pick<Spike, 'durationMs'>): number {
  return Math.max(1000, spike.durationMs);
}

const ms = (ns: number) => ns / 1e6;

export function buildSpikeTimeline(spike: Spike, frames: readonly RunFrame[], injections: readonly InjectionResult[]): SpikeTimeline {
  const ctx = timelineContextMs(spike);
  const fromMs = Math.max(0, spike.atMs - ctx);
  const toMs = spike.atMs + spike.durationMs + ctx;
  const inView = (a: number, b: number) => b >= fromMs && a <= toMs;
  const rows: TimelineRow[] = [];
  const missing: string[] = [];

  // Injections: as applied (RunSummary.injections), else as requested (the spike's `injected`).
  const injSpans: TimelineSpan[] = [];
  for (const i of injections) {
    if (!i.applied) continue;
    const a = i.startedAtMs ?? i.atMs;
    const b = i.endedAtMs ?? i.atMs + i.durationMs;
    if (inView(a, b)) injSpans.push({ fromMs: a, toMs: b, label: i.kind });
  }
  if (!injSpans.length) for (const i of spike.injected) injSpans.push({ fromMs: i.atMs, toMs: i.atMs + i.durationMs, label: `${i.kind} (requested)` });
  if (injSpans.length) rows.push({ kind: 'spans', id: 'injections', title: 'injected', spans: injSpans });

  const sorted = [...frames].filter((f) => inView(f.tMs - f.intervalMs, f.tMs)).sort((x, y) => x.tMs - y.tMs);
  const bars = (id: string, title: string, unit: string, pick: (f: RunFrame) => { value: number; label: string } | null) => {
    const out: TimelineBar[] = [];
    for (const f of sorted) {
      const v = pick(f);
      if (v) out.push({ fromMs: f.tMs - f.intervalMs, toMs: f.tMs, ...v });
    }
    if (!out.length) {
      missing.push(title);
      return;
    }
    rows.push({ kind: 'bars', id, title, unit, max: Math.max(...out.map((b) => b.value)), bars: out });
  };

  bars('p99', 'client p99', 'µs', (f) => (f.requests > 0 ? { value: f.latencyUs.p99, label: `p99 ${Math.round(f.latencyUs.p99)} µs, ${f.requests} requests` } : null));

  // Who ran instead: the eBPF competitors where the sched evidence is there, else /proc's othersCpuNs.
  bars('others', 'other tasks on CPU', 'ms', (f) => {
    const sched = f.kernel?.sched;
    if (sched) {
      const total = sched.competitors.reduce((t, c) => t + c.onCpuNs, 0) + sched.othersOnCpuNs;
      const top = sched.competitors[0];
      return { value: ms(total), label: `${ms(total).toFixed(1)} ms${top ? `, most ${top.comm} (${top.pid}) ${ms(top.onCpuNs).toFixed(1)} ms` : ''}` };
    }
    return f.system ? { value: ms(f.system.othersCpuNs), label: `${ms(f.system.othersCpuNs).toFixed(1)} ms (from /proc)` } : null;
  });
  bars('irq', 'IRQ + softirq', 'ms', (f) => (f.system ? { value: ms(f.system.irqNs + f.system.softirqNs), label: `${ms(f.system.irqNs + f.system.softirqNs).toFixed(2)} ms, ${f.system.netRxSoftirqs} NET_RX` } : null));
  bars('reclaim', 'reclaim + compaction', 'ms', (f) => {
    const m = f.kernel?.memory;
    if (!m) return null;
    const total = m.directReclaimNs + m.memcgReclaimNs + m.compactionNs;
    return { value: ms(total), label: `${ms(total).toFixed(2)} ms (${m.directReclaimCount} direct, ${m.memcgReclaimCount} cgroup, ${m.compactionCount} compaction)` };
  });

  const offSpans: TimelineSpan[] = [];
  let offSeen = false;
  for (const f of sorted) {
    const off = f.kernel?.offCpu;
    if (!off) continue;
    offSeen = true;
    for (const e of off.events) {
      const a = e.endTMs - e.offMs;
      if (inView(a, e.endTMs)) offSpans.push({ fromMs: a, toMs: e.endTMs, label: `${e.comm} blocked ${e.offMs.toFixed(1)} ms in ${e.stack.split(';').slice(-1)[0] || '?'}` });
    }
  }
  if (offSeen) rows.push({ kind: 'spans', id: 'offcpu', title: 'off-CPU blocks', spans: offSpans });
  else missing.push('off-CPU blocks');

  const points: { tMs: number; label: string }[] = [];
  let tcpSeen = false;
  for (const f of sorted) {
    const tcp = f.kernel?.tcp;
    if (!tcp) continue;
    tcpSeen = true;
    // Whose connection it was, where the frame names the run's ports: the counts are
    // machine-wide, and only the run's own count toward tcp-retransmit.
    const ports = tcp.enginePorts;
    const whose = (e: (typeof tcp.events)[number]) => !ports ? '' : onEnginePorts(ports, e) ? ' (this run)' : ' (another connection)';
    // A retransmit of a socket being closed (a FIN sent again) delays no request: said, as the
    // evidence leaves it out.
    const closing = (e: (typeof tcp.events)[number]) => (isClosingRetransmit(e) ? ` in ${e.state}: a closing socket's, not counted` : '');
    for (const e of tcp.events) if (e.tMs >= fromMs && e.tMs <= toMs) points.push({ tMs: e.tMs, label: `${e.kind}${e.reason ? ` ${e.reason}` : ''} ${e.sport}→${e.dport}${whose(e)}${closing(e)}` });
  }
  if (tcpSeen) rows.push({ kind: 'points', id: 'tcp', title: 'TCP retransmits / drops', points });
  else missing.push('TCP events');

  return { fromMs, toMs, spike: { fromMs: spike.atMs, toMs: spike.atMs + spike.durationMs }, rows, missing };
}
