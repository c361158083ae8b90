/**
 * Cause classification on constructed frames: every rule fires on its own evidence (and is the
 * top cause), none fires without it (unknown), the disambiguations between rules that see the
 * same mechanism, and the whole path (detection → evidence → causes → report) on a run.
 */
import { describe, expect, it } from 'vitest';
import { CAUSES, SpikeReportSchema, type CauseName, type RunFrame } from '../../electron/contract';
import { classify, RULES, type Sources } from '../../electron/host/diagnose/classify';
import { spikeEvidence } from '../../electron/host/diagnose/evidence';
import { diagnoseFrames, spikeParams } from '../../electron/host/diagnose/report';
import { withLabHostNamed } from '../../electron/host/run/probes';
import { quietFrames, slowFrame } from './spikeFixtures';

const ALL: Sources = { system: true, sched: true, memory: true, offCpu: true, profile: true, probes: true };
const baseline = quietFrames(0, 30);

/** Three slow frames, each changed by `raise` (the evidence of one mechanism). */
function windowWith(raise: (f: RunFrame) => void): RunFrame[] {
  return [30, 31, 32].map((seq) => {
    const f = slowFrame(seq, 3000);
    raise(f);
    return f;
  });
}
const causesOf = (window: RunFrame[], sources = ALL) => classify(spikeEvidence(window, baseline), sources);

const hog = (f: RunFrame, comm = 'uring-lab-hog', pid = 4242, ms = 80, preempted = 30) => {
  f.kernel!.sched!.competitors.push({ pid, tgid: pid, comm, onCpuNs: ms * 1e6, preemptedEngine: preempted, cpus: [0] });
  f.system!.othersCpuNs += ms * 1e6;
};

const RAISE: Record<Exclude<CauseName, 'unknown'>, (f: RunFrame) => void> = {
  'cpu-contention': (f) => hog(f),
  'irq-softirq': (f) => { f.system!.softirqNs += 30e6; f.system!.netRxSoftirqs += 20_000; },
  'memory-reclaim': (f) => {
    f.kernel!.memory!.memcgReclaimNs = 5e6;
    f.kernel!.memory!.memcgReclaimCount = 40;
    f.kernel!.memory!.byTask = [{ pid: 5151, comm: 'uring-lab-mempress', reclaimNs: 5e6 }];
  },
  'page-faults': (f) => { f.system!.minorFaults = 5000; },
  'io-wq-offload': (f) => { f.kernel!.uring.ioWqPunts = 500; },
  'buffer-starvation': (f) => { f.server!.enobufs = 20; f.server!.rearms = 20; },
  'cq-overflow': (f) => { f.server!.cqOverflows = 5; },
  'tcp-retransmit': (f) => { f.kernel!.tcp.retransmits = 3; },
  'sqpoll-wakeup': (f) => { f.kernel!.sqpoll.wakeups = 100; },
  'load-saturation': (f) => { f.loadBusyShare = 0.97; },
};

describe('cause rules', () => {
  it('has one rule per cause but unknown', () => {
    expect(RULES.map((r) => r.cause).sort()).toEqual(CAUSES.filter((c) => c !== 'unknown').sort());
  });

  for (const [cause, raise] of Object.entries(RAISE)) {
    it(`${cause}: fires on its evidence, ranked first, with window and baseline numbers`, () => {
      const causes = causesOf(windowWith(raise));
      expect(causes[0]!.cause).toBe(cause);
      expect(causes[0]!.confidence).toBeGreaterThanOrEqual(0.5);
      expect(causes[0]!.confidence).toBeLessThanOrEqual(0.99);
      const rule = RULES.find((r) => r.cause === cause)!;
      const shown = Object.entries(causes[0]!.evidence).filter(([m]) => rule.signals.some((s) => s.metric === m));
      expect(shown.some(([, v]) => v.window > v.baseline)).toBe(true);
      // No other cause is labelled from this evidence alone.
      expect(causes.slice(1).every((c) => c.confidence < 0.5)).toBe(true);
    });
  }

  it('says unknown when a slow window has no evidence above baseline, more sure the more it could see', () => {
    const causes = causesOf(windowWith(() => undefined));
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({ cause: 'unknown' });
    expect(causes[0]!.summary).toMatch(/no measured signal rose/);
    const blind = causesOf(windowWith(() => undefined), { system: true, sched: false, memory: false, offCpu: false, profile: false, probes: false });
    expect(blind[0]!.confidence).toBeLessThan(causes[0]!.confidence);
  });

  it('confidence grows with the rise: just past the thresholds 0.5, far past near 1', () => {
    const small = causesOf(windowWith((f) => { f.kernel!.uring.ioWqPunts = 35; }))[0]!;
    const large = causesOf(windowWith((f) => { f.kernel!.uring.ioWqPunts = 5000; }))[0]!;
    expect(small.cause).toBe('io-wq-offload');
    expect(small.confidence).toBeGreaterThanOrEqual(0.5);
    expect(small.confidence).toBeLessThan(0.7);
    expect(large.confidence).toBeGreaterThan(0.95);
    // 10 punts/s over none: below the absolute floor (200/s), not a cause.
    expect(causesOf(windowWith((f) => { f.kernel!.uring.ioWqPunts = 1; }))[0]!.cause).toBe('unknown');
  });
});

describe('tcp-retransmit counts losses, not sockets being closed', () => {
  it('takes no cause from closeDrops (the kernel\'s count of drops at closing sockets)', () => {
    const closing = causesOf(windowWith((f) => { f.kernel!.tcp.drops = 0; f.kernel!.tcp.closeDrops = 500; }));
    expect(closing.some((c) => c.cause === 'tcp-retransmit')).toBe(false);
  });

  it('ignores teardown drops (QUEUE_PURGE, TCP_ABORT_ON_DATA) of other connections ending, in frames from before closeDrops', () => {
    const drop = (reason: string) => ({ tMs: 3000, kind: 'drop' as const, reason, sport: 1, dport: 2, state: 'CLOSE' });
    const teardown = causesOf(windowWith((f) => { f.kernel!.tcp.drops = 10; f.kernel!.tcp.events = Array.from({ length: 10 }, (_, i) => drop(i % 2 ? 'QUEUE_PURGE' : 'TCP_ABORT_ON_DATA')); }));
    expect(teardown.some((c) => c.cause === 'tcp-retransmit')).toBe(false);
    const lost = causesOf(windowWith((f) => { f.kernel!.tcp.drops = 10; f.kernel!.tcp.events = Array.from({ length: 10 }, () => drop('TCP_OFO_DROP')); }));
    expect(lost[0]!.cause).toBe('tcp-retransmit');
  });

  it('takes no cause from duplicates (copies the receiver already had): duplicateDrops, nor their events in frames from before it, nor NO_SOCKET', () => {
    const counted = causesOf(windowWith((f) => { f.kernel!.tcp.drops = 0; f.kernel!.tcp.duplicateDrops = 500; f.kernel!.tcp.closeDrops = 300; }));
    expect(counted.some((c) => c.cause === 'tcp-retransmit')).toBe(false);
    const drop = (reason: string) => ({ tMs: 3000, kind: 'drop' as const, reason, sport: 1, dport: 2, state: 'ESTABLISHED' });
    const reasons = ['TCP_OLD_DATA', 'TCP_OLD_SEQUENCE', 'TCP_OFOMERGE', 'TCP_OLD_ACK', 'NO_SOCKET'];
    const old = causesOf(windowWith((f) => { f.kernel!.tcp.drops = 10; f.kernel!.tcp.events = Array.from({ length: 10 }, (_, i) => drop(reasons[i % reasons.length]!)); }));
    expect(old.some((c) => c.cause === 'tcp-retransmit')).toBe(false);
  });
});

describe('tcp-retransmit counts the run\'s own connections', () => {
  const ENGINE_PORT = 7000;
  const retransmit = (sport: number, dport: number) => ({ tMs: 3000, kind: 'retransmit' as const, reason: null, sport, dport, state: 'ESTABLISHED' });
  const drop = (sport: number, dport: number) => ({ tMs: 3000, kind: 'drop' as const, reason: 'TCP_OFO_DROP', sport, dport, state: 'ESTABLISHED' });
  /** `own` of `count` retransmits (and as many drops) on the engine's port, the rest on another connection. */
  const tcpWith = (count: number, own: number, carried = count) => (f: RunFrame) => {
    const events = Array.from({ length: carried }, (_, i) => (i < (own * carried) / count ? [retransmit(ENGINE_PORT, 40_000 + i), drop(40_000 + i, ENGINE_PORT)] : [retransmit(22, 50_000 + i), drop(50_000 + i, 22)])).flat();
    Object.assign(f.kernel!.tcp, { retransmits: count, drops: count, events, truncated: 2 * (count - carried), enginePorts: [ENGINE_PORT] });
  };

  it('takes no cause from another connection\'s retransmits and drops; shows them as machine-wide context', () => {
    const causes = causesOf(windowWith(tcpWith(56, 0)));
    expect(causes.some((c) => c.cause === 'tcp-retransmit'), JSON.stringify(causes)).toBe(false);
  });

  it('fires on the engine\'s own (either end on its port), with the machine-wide counts beside them', () => {
    const causes = causesOf(windowWith(tcpWith(56, 28)));
    expect(causes[0]!.cause).toBe('tcp-retransmit');
    const ev = causes[0]!.evidence;
    // 28 of 56 a frame are the engine's: half the machine's, over the same window.
    expect(ev.machineTcpRetransmits!.window).toBeGreaterThan(0);
    expect(ev.tcpRetransmits!.window).toBeCloseTo(ev.machineTcpRetransmits!.window / 2, 6);
    expect(ev.tcpDrops!.window).toBeCloseTo(ev.machineTcpDrops!.window / 2, 6);
  });

  it('scales the events a frame could not carry by the share of those it did', () => {
    // 300 a frame, 100 carried, half of them the engine's: 150 of the 300 are counted its own.
    const ev = causesOf(windowWith(tcpWith(300, 150, 100)))[0]!.evidence;
    expect(ev.tcpRetransmits!.window).toBeCloseTo(ev.machineTcpRetransmits!.window / 2, 6);
    expect(ev.tcpDrops!.window).toBeCloseTo(ev.machineTcpDrops!.window / 2, 6);
  });

  it('counts every socket on the machine where the frame recorded no ports (runs saved before) or carried no event', () => {
    const saved = causesOf(windowWith((f) => { tcpWith(56, 0)(f); delete f.kernel!.tcp.enginePorts; }));
    expect(saved[0]!.cause).toBe('tcp-retransmit');
    const uncarried = causesOf(windowWith((f) => { tcpWith(56, 0)(f); f.kernel!.tcp.events = []; f.kernel!.tcp.truncated = 112; }));
    expect(uncarried[0]!.cause).toBe('tcp-retransmit');
  });

  it('a CPU hog is the cause even while another connection on the machine retransmits', () => {
    // The report that made this rule: the hog's spike, 558 retransmits/s elsewhere ranked first.
    const causes = causesOf(windowWith((f) => { hog(f, 'uring-lab-hog', 4242, 28, 2); tcpWith(56, 0)(f); }));
    expect(causes[0]!.cause).toBe('cpu-contention');
    expect(causes.some((c) => c.cause === 'tcp-retransmit')).toBe(false);
  });
});

describe('tcp-retransmit leaves out the FINs of sockets being closed', () => {
  const ENGINE_PORT = 34235;
  const rtx = (state: string, sport: number, dport = ENGINE_PORT) => ({ tMs: 3050, kind: 'retransmit' as const, reason: null, sport, dport, state });
  const closingStates = ['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK', 'TIME_WAIT', 'CLOSE'];

  it('the run\'s own connections retransmitting their FINs at its stop are no cause (the report: 50 in FIN_WAIT1 in the stop frame, tcp-retransmit 0.96)', () => {
    const causes = causesOf(windowWith((f) => {
      if (f.seq !== 32) return;
      Object.assign(f.kernel!.tcp, { retransmits: 50, duplicateDrops: 50, events: Array.from({ length: 50 }, (_, i) => rtx('FIN_WAIT1', 57_000 + i)), enginePorts: [ENGINE_PORT] });
    }));
    expect(causes.some((c) => c.cause === 'tcp-retransmit'), JSON.stringify(causes)).toBe(false);
  });

  it('in every closing state, on any port, in frames with or without the ports; those the frame could not carry scaled alike', () => {
    for (const ports of [[ENGINE_PORT], undefined]) {
      const causes = causesOf(windowWith((f) => {
        Object.assign(f.kernel!.tcp, { retransmits: 120, events: Array.from({ length: 60 }, (_, i) => rtx(closingStates[i % closingStates.length]!, 50_000 + i, i % 2 ? ENGINE_PORT : 22)), truncated: 60, ...(ports ? { enginePorts: ports } : {}) });
      }));
      expect(causes.some((c) => c.cause === 'tcp-retransmit'), `ports ${ports}: ${JSON.stringify(causes)}`).toBe(false);
    }
  });

  it('a retransmit of an open connection (ESTABLISHED, or CLOSE_WAIT: it may still owe data) still counts, beside the closing ones', () => {
    const causes = causesOf(windowWith((f) => {
      const events = [...Array.from({ length: 20 }, (_, i) => rtx(i % 2 ? 'ESTABLISHED' : 'CLOSE_WAIT', 40_000 + i)), ...Array.from({ length: 20 }, (_, i) => rtx('FIN_WAIT1', 41_000 + i))];
      Object.assign(f.kernel!.tcp, { retransmits: 40, events, enginePorts: [ENGINE_PORT] });
    }));
    expect(causes[0]!.cause).toBe('tcp-retransmit');
    // 20 of each frame's 40 (three frames and the quiet one before, 0.4 s): 150/s; the
    // machine-wide context leaves the closing ones out too.
    expect(causes[0]!.evidence.tcpRetransmits!.window).toBeCloseTo(150, 6);
    expect(causes[0]!.evidence.machineTcpRetransmits!.window).toBeCloseTo(150, 6);
  });
});

describe('cpu-contention names the competitors', () => {
  it('names the lab\'s own host as such, not as "node"', () => {
    // Every frame's competitors pass withLabHostNamed as the host records it (kernelFrameOf).
    const hostPid = 31337;
    const named = (f: RunFrame) => { f.kernel!.sched = withLabHostNamed(f.kernel!.sched!, hostPid); };
    const window = windowWith((f) => { hog(f, 'node', hostPid, 60, 20); hog(f, 'bash', 4343, 5, 0); named(f); });
    const causes = causesOf(window);
    expect(causes[0]!.cause).toBe('cpu-contention');
    expect(causes[0]!.summary).toMatch(/uring-lab host \(node\) \(pid 31337\) ran 180 ms in the window/);
    expect(causes[0]!.tasks![0]!.comm).toBe('uring-lab host (node)');
    // Other processes keep the kernel's names; a frame without the host is returned as it was.
    expect(window[0]!.kernel!.sched!.competitors.find((c) => c.pid === 4343)!.comm).toBe('bash');
    const quiet = quietFrames(0, 1)[0]!.kernel!.sched!;
    expect(withLabHostNamed(quiet, hostPid)).toBe(quiet);
  });

  it('prefers tasks that preempted the engine over bigger ones that did not', () => {
    const causes = causesOf(windowWith((f) => { hog(f, 'bigbatch', 777, 90, 0); hog(f, 'uring-lab-hog', 4242, 60, 20); }));
    expect(causes[0]!.cause).toBe('cpu-contention');
    expect(causes[0]!.tasks!.map((t) => t.comm).slice(0, 2)).toEqual(['uring-lab-hog', 'bigbatch']);
    expect(causes[0]!.tasks![0]).toMatchObject({ pid: 4242, ms: 180 });
    expect(causes[0]!.summary).toMatch(/uring-lab-hog \(pid 4242\) ran 180 ms in the window, preempting the engine 60 times/);
  });

  it('sees a hog on a machine already busy: the total hardly rises, the hog\'s own CPU does', () => {
    const busy = (f: RunFrame, ms: number) => hog(f, 'cc1', 3131, ms, 0);
    const base = quietFrames(0, 30).map((f) => { busy(f, 80); return f; });
    const window = windowWith((f) => { busy(f, 40); hog(f, 'uring-lab-hog', 4242, 40, 5); });
    const ev = spikeEvidence(window, base);
    expect(ev.window.metrics.competitorsCpu! - ev.baseline.metrics.competitorsCpu!).toBeLessThan(100);
    const causes = classify(ev, ALL);
    expect(causes[0]!.cause).toBe('cpu-contention');
    expect(causes[0]!.evidence['topCompetitorCpu[uring-lab-hog]']).toEqual({ window: 300, baseline: 0, unit: 'ms/s' });
    expect(causes[0]!.summary).toMatch(/^the CPU of uring-lab-hog rose from 0 ms\/s to 300 ms\/s/);
  });

  it('falls back to /proc/stat when the sched probe is absent', () => {
    const noSched = (f: RunFrame) => { f.kernel!.sched = null; };
    const base = quietFrames(0, 30).map((f) => { noSched(f); return f; });
    const window = windowWith((f) => { noSched(f); f.system!.othersCpuNs += 80e6; });
    const causes = classify(spikeEvidence(window, base), { ...ALL, sched: false });
    expect(causes[0]!.cause).toBe('cpu-contention');
    expect(causes[0]!.evidence.othersCpu!.window).toBeGreaterThan(600);
    expect(causes[0]!.tasks).toBeUndefined();
  });
});

describe('disambiguation', () => {
  it('a competitor that reclaims is memory-reclaim, not cpu-contention', () => {
    const causes = causesOf(windowWith((f) => {
      hog(f, 'uring-lab-mempress', 5151, 80, 30);
      f.kernel!.memory!.memcgReclaimNs = 40e6;
      f.kernel!.memory!.byTask = [{ pid: 5151, comm: 'uring-lab-mempress', reclaimNs: 40e6 }];
    }));
    expect(causes.map((c) => c.cause).slice(0, 2)).toEqual(['memory-reclaim', 'cpu-contention']);
    expect(causes[0]!.tasks![0]).toMatchObject({ comm: 'uring-lab-mempress', pid: 5151 });
    expect(causes[1]!.summary).toMatch(/explained by memory-reclaim/);
    // A hog that reclaims nothing stays cpu-contention, even while some other task reclaims.
    const light = causesOf(windowWith((f) => {
      hog(f, 'uring-lab-hog', 4242, 80, 30);
      f.kernel!.memory!.memcgReclaimNs = 1e6;
      f.kernel!.memory!.byTask = [{ pid: 77, comm: 'kcompactd0', reclaimNs: 1e6 }];
    }));
    expect(light[0]!.cause).toBe('cpu-contention');
    expect(light.find((c) => c.cause === 'memory-reclaim')!.tasks![0]).toMatchObject({ comm: 'kcompactd0' });
  });

  it('softirq time that is a large share of the competitors\' extra CPU is irq-softirq', () => {
    const causes = causesOf(windowWith((f) => { hog(f, 'uring-lab-softirq', 6161, 60, 20); f.system!.softirqNs += 40e6; }));
    expect(causes.map((c) => c.cause).slice(0, 2)).toEqual(['irq-softirq', 'cpu-contention']);
    const mostlyHog = causesOf(windowWith((f) => { hog(f, 'uring-lab-hog', 4242, 90, 30); f.system!.softirqNs += 6e6; }));
    expect(mostlyHog[0]!.cause).toBe('cpu-contention');
  });

  it('extra CPU that came with NET_RX softirqs beyond the echo traffic is irq-softirq (tick-sampled softirq time missed it)', () => {
    const causes = causesOf(windowWith((f) => { hog(f, 'uring-lab-softirq', 6161, 60, 10); f.system!.netRxSoftirqs += 30_000; }));
    expect(causes.map((c) => c.cause).slice(0, 2)).toEqual(['irq-softirq', 'cpu-contention']);
    expect(causes[0]!.evidence.netRxVsTraffic!.window).toBeGreaterThan(200_000);
    expect(causes[0]!.evidence.netRxVsTraffic!.baseline).toBeLessThan(20_000);
    expect(causes[1]!.summary).toMatch(/explained by irq-softirq: .* NET_RX softirqs\/s \([\d,]+ before\) where the echo traffic explains/);
    // As many NET_RX per request as the baseline (more traffic, not someone else's packets): no.
    const traffic = causesOf(windowWith((f) => {
      for (const h of f.histogram) h[1] *= 2;
      f.requests *= 2;
      f.system!.netRxSoftirqs *= 2;
    }));
    expect(traffic.some((c) => c.cause === 'irq-softirq')).toBe(false);
  });

  describe('a signal normalised by the run\'s own traffic needs its numerator to rise, not the traffic to fall', () => {
    /** Fewer completed requests: the frame's count and its histogram scaled by `share`. */
    const slowed = (f: RunFrame, share: number) => {
      for (const h of f.histogram) h[1] = Math.round(h[1] * share);
      f.requests = f.histogram.reduce((n, [, c]) => n + c, 0);
    };
    /** A baseline whose NET_RX (other sockets' and the echo's) is `rx(i)` a frame. */
    const busyBase = (rx: (i: number) => number) => quietFrames(0, 30).map((f, i) => { f.system!.netRxSoftirqs = rx(i); return f; });
    const causesAgainst = (base: RunFrame[], window: RunFrame[]) => classify(spikeEvidence(window, base), ALL);

    it('a run that only slowed (fewer requests, everything else at its baseline or below) has no cause', () => {
      // 50,000 NET_RX a frame (500,000/s), 10,000 requests: a window with 40 % of the requests
      // and 95 % of the NET_RX read as 475,000/s where the traffic explains 200,000.
      const base = busyBase(() => 50_000);
      const causes = causesAgainst(base, windowWith((f) => { slowed(f, 0.4); f.system!.netRxSoftirqs = 47_500; }));
      expect(causes.map((c) => c.cause), JSON.stringify(causes)).toEqual(['unknown']);
      expect(causes[0]!.summary).toMatch(/no measured signal rose/);
    });

    it('a CPU hog that slowed the run is cpu-contention, not packet work, while NET_RX fell (the report: 513,373 → 466,443/s, requests 245,961 → 141,792/s: here 45 % of them in the slow frames)', () => {
      const base = busyBase(() => 51_337);
      const causes = causesAgainst(base, windowWith((f) => { hog(f, 'uring-lab-hog', 4242, 60, 6); slowed(f, 0.45); f.system!.netRxSoftirqs = 46_644; }));
      expect(causes[0]!.cause, JSON.stringify(causes)).toBe('cpu-contention');
      expect(causes[0]!.summary).toMatch(/uring-lab-hog/);
      expect(causes[0]!.summary).not.toMatch(/explained by|packet work/);
      expect(causes.some((c) => c.cause === 'irq-softirq')).toBe(false);
    });

    it('nor while NET_RX rose within its own frame-to-frame scatter (the report: +15 % against a baseline straying 33 %)', () => {
      // The baseline's NET_RX swings 25,000–50,000 a frame (other sockets' traffic); the window's
      // is 15 % over its median with 64 % of the requests, and irq+softirq time fell.
      const base = busyBase((i) => [25_000, 37_000, 50_000][i % 3]!);
      const causes = causesAgainst(base, windowWith((f) => { hog(f, 'uring-lab-hog', 4242, 40, 1); slowed(f, 0.64); f.system!.netRxSoftirqs = 42_500; f.system!.softirqNs = 1_500_000; }));
      expect(causes[0]!.cause, JSON.stringify(causes)).toBe('cpu-contention');
      expect(causes.some((c) => c.cause === 'irq-softirq')).toBe(false);
      expect(causes[0]!.summary).not.toMatch(/packet work/);
    });

    it('a flood of packets that also slowed the run is still irq-softirq: the NET_RX count itself rose, and the summary says from what', () => {
      const base = busyBase(() => 50_000);
      const causes = causesAgainst(base, windowWith((f) => { hog(f, 'uring-lab-softirq', 6161, 40, 10); slowed(f, 0.6); f.system!.netRxSoftirqs = 90_000; }));
      expect(causes.map((c) => c.cause).slice(0, 2)).toEqual(['irq-softirq', 'cpu-contention']);
      expect(causes[0]!.summary).toMatch(/^netRxVsTraffic rose from .* \(netRxSoftirqs itself from 500000 count\/s\)/);
      expect(causes[1]!.summary).toMatch(/explained by irq-softirq: [\d,]+ NET_RX softirqs\/s \(500,000 before\) where the echo traffic explains [\d,]+: the competitors' CPU was packet work/);
    });
  });

  it('a pause in ppoll slices, in a window noise stretched, is still explained by the sleep against the worst latency', () => {
    const frames = [...windowWith(() => undefined), ...[33, 34, 35, 36, 37, 38, 39].map((seq) => slowFrame(seq, 3000))];
    const last = frames[frames.length - 1]!;
    // 60 slices of 5 ms (300 ms) of the server thread in ppoll, ending inside the window.
    for (let i = 0; i < 60; i++) last.kernel!.offCpu!.events.push({ tid: 100, comm: 'uring-srv-0', offMs: 5, endTMs: 3700 + 5 * (i + 1), stack: 'entry_SYSCALL_64;do_syscall_64;__x64_sys_ppoll;do_sys_poll;poll_schedule_timeout' });
    const ev = spikeEvidence(frames, baseline);
    expect(ev.window.serverSleepShare).toBeLessThan(0.5);
    const causes = classify(ev, ALL, 310_000);
    expect(causes[0]).toMatchObject({ cause: 'unknown' });
    expect(causes[0]!.evidence.serverSleepMs).toMatchObject({ window: 300 });
    // Against a 3 s worst latency the same 300 ms explain little: no pause label.
    expect(classify(ev, ALL, 3_000_000)[0]!.summary).toMatch(/no measured signal rose/);
  });

  it('a server asleep in nanosleep for most of the window is unknown, with the sleep as evidence', () => {
    const causes = causesOf(windowWith((f) => {
      if (f.seq !== 32) return;
      f.kernel!.offCpu!.events.push({ tid: 100, comm: 'uring-srv-0', offMs: 290, endTMs: 3300, stack: 'entry_SYSCALL_64;do_syscall_64;__x64_sys_clock_nanosleep;common_nsleep;hrtimer_nanosleep;do_nanosleep;schedule' });
    }));
    expect(causes[0]).toMatchObject({ cause: 'unknown' });
    expect(causes[0]!.confidence).toBeGreaterThan(0.9);
    expect(causes[0]!.evidence.serverSleepShare!.window).toBeGreaterThan(0.9);
    expect(causes[0]!.summary).toMatch(/slept .* 97 % of the window.*do_nanosleep;schedule/);
    // Blocked the same time but not in a sleep of its own (a futex): not the pause's label.
    const futex = causesOf(windowWith((f) => {
      if (f.seq !== 32) return;
      f.kernel!.offCpu!.events.push({ tid: 100, comm: 'uring-srv-0', offMs: 290, endTMs: 3300, stack: 'entry_SYSCALL_64;do_syscall_64;__x64_sys_futex;futex_wait;schedule' });
    }));
    expect(futex[0]!.summary).toMatch(/no measured signal rose/);
  });
});

describe('the report of a run', () => {
  it('finds the spike, labels it, lists the overlapping injection, and validates against the contract', () => {
    const window = windowWith(RAISE['cpu-contention']);
    const frames = [...quietFrames(0, 30), ...window, ...quietFrames(33, 20)];
    const injections = [
      { kind: 'cpuHog' as const, atMs: 3000, durationMs: 300, applied: true, startedAtMs: 3001, endedAtMs: 3301, detail: 'pids 4242', refusal: null },
      { kind: 'serverPause' as const, atMs: 5000, durationMs: 100, applied: true, startedAtMs: 5000, endedAtMs: 5100, detail: null, refusal: null },
    ];
    const { report, profiles } = diagnoseFrames('run-test', frames, spikeParams(), injections);
    expect(SpikeReportSchema.parse(report)).toEqual(report);
    expect(report!.spikes).toHaveLength(1);
    const spike = report!.spikes[0]!;
    expect(spike.causes[0]!.cause).toBe('cpu-contention');
    expect(spike.causes[0]!.tasks![0]!.comm).toBe('uring-lab-hog');
    expect(spike.injected).toEqual([{ kind: 'cpuHog', atMs: 3000, durationMs: 300 }]);
    expect(spike.profile[0]).toEqual(['uring-srv-0;server_loop;io_uring_enter_[k]', 60]);
    expect(report).toMatchObject({ labelled: 1, byCause: { 'cpu-contention': 1 }, sources: ALL });
    expect(profiles!.phases[0]).toMatchObject({ phase: 0, samples: 53 * 20 });
  });

  it('is null for a run with no measured frame, and leaves an old run\'s missing sources named', () => {
    expect(diagnoseFrames('run-test', quietFrames(0, 10, { measuring: false }), spikeParams()).report).toBeNull();
    const old = [...quietFrames(0, 30), slowFrame(30, 3000), ...quietFrames(31, 5)].map((f) => ({ ...f, kernel: undefined, system: undefined }));
    const { report, profiles } = diagnoseFrames('run-old', old, spikeParams());
    expect(report!.sources).toEqual({ system: false, sched: false, memory: false, offCpu: false, profile: false, probes: false });
    expect(report!.spikes[0]!.causes[0]).toMatchObject({ cause: 'unknown', confidence: 0.3 });
    expect(profiles).toBeNull();
  });
});
