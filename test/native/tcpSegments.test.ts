/**
 * TCP segments per request (frames' server.segmentsOut / segmentsIn): the kernel's own per-socket
 * counts, read through sock_diag, for the server's connections only. What they must show is
 * TCP's, not ours: on loopback (MSS 65,483) an echo up to that size leaves as one segment and a
 * 64 KiB echo as two, whichever engine sends it, and whatever ran before on the port is not
 * counted. Checked against `ss`, an independent reader of the same counters.
 */
import { execFileSync, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type * as Native from '../../native';
import { config, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly);

/* Opens and closes loopback connections to a listener of its own for argv[1] seconds, 200 at a time. */
const CHURN = `
import socket, sys, time
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1024); port = l.getsockname()[1]
end, held = time.time() + float(sys.argv[1]), []
while time.time() < end:
    c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept(); held.append((c, a))
    if len(held) >= 200:
        for c, a in held: c.close(); a.close()
        held = []
`;

/* Opens argv[2] connections to port argv[1], one after another, each closed at once (the
 * server reads EOF and closes too): a burst of closes on the server's own port. From 64
 * loopback addresses in turn, so the client's TIME_WAITs (a minute each) never use up one
 * address's ports, however often it runs. */
const CLOSE_BURST = `
import socket, sys
for i in range(int(sys.argv[2])):
    socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.1.%d' % (1 + i % 64), 0)).close()
`;

/** `clients` connections at once, each `rounds` echoes of one message (`bytes` + its index B,
 *  one segment each way), checked, then closed. */
async function echoThenClose(port: number, clients: number, rounds: number, bytes: number): Promise<void> {
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const sock = await connectTo(port);
    for (let i = 0; i < rounds; i++) {
      const msg = Buffer.alloc(bytes + c, i);
      sock.write(msg);
      expect((await readExactly(sock, msg.length)).equals(msg)).toBe(true);
    }
    await new Promise<void>((done) => sock.end(done));
  }));
}

interface Totals { requests: number; out: number; in: number; dataOut: number; dataIn: number; reads: number }

/** Adds a snapshot's segment read, if it made one (once a second, and the final one). */
function addRead(t: Totals, snap: Native.EngineSnapshot | null): void {
  const s = snap!.server!;
  if (s.segmentsOut === null) {
    // Between two reads every count is null together.
    expect([s.segmentsIn, s.dataSegmentsOut, s.dataSegmentsIn, s.segmentsRequests]).toEqual([null, null, null, null]);
    return;
  }
  t.reads++;
  t.requests += s.segmentsRequests!;
  t.out += s.segmentsOut;
  t.in += s.segmentsIn!;
  t.dataOut += s.dataSegmentsOut!;
  t.dataIn += s.dataSegmentsIn!;
}

/** Frames every 100 ms for `ms`, then the final snapshot: every read summed. */
async function measureToEnd(ms: number): Promise<Totals> {
  const t: Totals = { requests: 0, out: 0, in: 0, dataOut: 0, dataIn: 0, reads: 0 };
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    await sleep(100);
    addRead(t, native.snapshot());
  }
  addRead(t, native.stop());
  return t;
}

describe('TCP segments per request', () => {
  for (const engine of ['io_uring', 'epoll'] as const) {
    it(`${engine}: an echo up to the loopback MSS is one segment each way, a 64 KiB echo two`, async () => {
      for (const [messageBytes, segments] of [[4096, 1], [65536, 2]] as const) {
        native.start(config({ engine, load: { connections: 16, messageBytes } }));
        const t = await measureToEnd(1300);
        // One read a second past the first, and the final one.
        expect(t.reads).toBe(2);
        expect(t.requests).toBeGreaterThan(200);
        const per = (n: number) => n / t.requests;
        const words = `${messageBytes} B per request: ${per(t.dataOut).toFixed(3)} data segments out of ${per(t.out).toFixed(3)}, ${per(t.dataIn).toFixed(3)} in of ${per(t.in).toFixed(3)}`;
        // The data: exactly what the MSS makes of the message, each way (the echoes in flight
        // when the load stopped were sent, not completed: 16 of thousands).
        for (const data of [per(t.dataOut), per(t.dataIn)]) {
          expect(data, words).toBeGreaterThanOrEqual(segments * 0.98);
          expect(data, words).toBeLessThanOrEqual(segments * 1.02);
        }
        // The rest are pure ACKs: at 64 KiB TCP acknowledges every second full-sized segment at
        // once (one per request each way); at 4 KiB the ACK rides on the echo or the next message.
        for (const [all, data] of [[per(t.out), per(t.dataOut)], [per(t.in), per(t.dataIn)]]) {
          expect(all, words).toBeGreaterThanOrEqual(data);
          expect(all - data, words).toBeLessThan(segments === 1 ? 0.5 : 1.5);
        }
      }
    });
  }

  it('counts only the server\'s sockets, and agrees with ss on one connection\'s counters', async () => {
    // No load threads: one plain client, so every segment is known: its own and the server's.
    const started = Date.now();
    const r = native.start(config({ load: { connections: 0 } }));
    // A snapshot before the first read carries no counts (null), not zeros.
    expect(native.snapshot()!.server!.segmentsOut).toBeNull();
    const sock = await connectTo(r.port);
    const msg = Buffer.alloc(1000, 7);
    for (let i = 0; i < 20; i++) {
      sock.write(msg);
      expect((await readExactly(sock, msg.length)).equals(msg)).toBe(true);
    }
    // The first read comes a second after the start; this snapshot makes it.
    await sleep(Math.max(50, 1050 - (Date.now() - started)));
    const s = native.snapshot() as Native.EngineSnapshot;
    // ss reads the same kernel counters for the server's end of the connection.
    const line = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${r.port} )`], { encoding: 'utf8' });
    const ssOut = Number(/segs_out:(\d+)/.exec(line)?.[1]);
    const ssIn = Number(/segs_in:(\d+)/.exec(line)?.[1]);
    sock.destroy();
    // The server sent its SYN-ACK and 20 echoes (ACKs ride on them); ss was read after the
    // snapshot, so it can only be as far or further.
    expect(s.server!.segmentsOut).toBeGreaterThanOrEqual(21);
    expect(s.server!.segmentsOut).toBeLessThanOrEqual(ssOut);
    expect(s.server!.segmentsIn).toBeGreaterThanOrEqual(21); // the handshake's ACK and 20 messages
    expect(s.server!.segmentsIn).toBeLessThanOrEqual(ssIn);
    expect(ssOut - s.server!.segmentsOut!).toBeLessThanOrEqual(2);
  });

  it('connections that close between two frames are counted to their last segment (the kernel\'s word on each closed socket)', async () => {
    const r = native.start(config({ load: { connections: 0 } }));
    const sum: Totals = { requests: 0, out: 0, in: 0, dataOut: 0, dataIn: 0, reads: 0 };
    const add = (s: Native.EngineSnapshot | null) => addRead(sum, s);
    add(native.snapshot());
    // 12 clients, each 15 echoes of its own and gone, all inside one frame: no dump ever sees
    // most of them, so every segment they had must come from the kernel's word on their end.
    const rounds = 15, clients = 12;
    await echoThenClose(r.port, clients, rounds, 700);
    await sleep(50);
    add(native.snapshot());
    add(native.stop());
    expect(sum.reads).toBeGreaterThanOrEqual(1); // the final snapshot reads
    // One message, one echo: one data segment each, written only after the last echo came back.
    expect(sum.dataOut).toBe(clients * rounds);
    expect(sum.dataIn).toBe(clients * rounds);
    // Without data: the SYN-ACK and the FIN out, the handshake's ACK and the FIN in, the ACKs
    // of the FINs, and in quick-ACK mode (a connection's start) a pure ACK per message at most.
    for (const bare of [sum.out - sum.dataOut, sum.in - sum.dataIn]) {
      expect(bare).toBeGreaterThanOrEqual(2 * clients);
      expect(bare).toBeLessThanOrEqual((rounds + 3) * clients);
    }
  });

  it('other programs\' connections coming and going meanwhile do not crowd out the word on ours (the group tells of every TCP socket; only our port\'s are kept)', async () => {
    const r = native.start(config({ load: { connections: 0 } }));
    const sum: Totals = { requests: 0, out: 0, in: 0, dataOut: 0, dataIn: 0, reads: 0 };
    addRead(sum, native.snapshot());
    // Short connections on another port from a client that makes them faster than Node does
    // (~10k a second here, each two words on sockets that are not ours), from before ours
    // close to after: the group's buffer is full of their words when the words on ours come.
    // Unfiltered, those were lost and our connections' 40 echoes counted few or no segments.
    const churn = spawn('python3', ['-c', CHURN, '2.5'], { stdio: 'ignore' });
    const churned = new Promise<number | null>((done) => churn.on('close', done));
    try {
      await sleep(1000);
      const rounds = 10, clients = 4;
      await echoThenClose(r.port, clients, rounds, 600);
      expect(await churned).toBe(0);
      await sleep(50);
      addRead(sum, native.snapshot());
      addRead(sum, native.stop());
      expect(sum.dataOut).toBe(clients * rounds);
      expect(sum.dataIn).toBe(clients * rounds);
    } finally {
      churn.kill();
    }
  });

  it('a burst of closes on our own port that overruns the kernel\'s words makes that span uncounted (null, segmentsLost), not short, and the next span counts again', async () => {
    const r = native.start(config({ load: { connections: 0 } }));
    // No snapshot meanwhile, so nothing reads the words on them: 40,000 closes are ~12 MiB of
    // words against the 8 MiB the socket holds (20,000 overran it in 1 of 3 tries).
    execFileSync('python3', ['-c', CLOSE_BURST, String(r.port), '40000'], { timeout: 60_000 });
    await sleep(300);
    const lost = native.snapshot()!.server!;
    expect(lost.segmentsLost).toBe(true);
    expect([lost.segmentsOut, lost.segmentsIn, lost.dataSegmentsOut, lost.dataSegmentsIn, lost.segmentsRequests]).toEqual([null, null, null, null, null]);
    // The span after it starts clean: 3 clients' 5 echoes each are counted whole.
    await echoThenClose(r.port, 3, 5, 700);
    await sleep(50);
    const next = native.stop()!.server!;
    expect(next.segmentsLost).toBe(false);
    expect(next.dataSegmentsOut).toBe(15);
    expect(next.dataSegmentsIn).toBe(15);
  }, 90_000);

  it('a new server on the same port counts none of the segments its predecessor\'s connections sent', async () => {
    const first = native.start(config({ load: { connections: 8, messageBytes: 512 } }));
    await sleep(300);
    native.stop();
    // Same port: the last server's sockets may still be closing there.
    native.start(config({ port: first.port, load: { connections: 0 } }));
    await sleep(1050);
    const s = native.snapshot()!;
    expect(s.server!.segmentsOut).toBe(0);
    expect(s.server!.segmentsIn).toBe(0);
  });
});
