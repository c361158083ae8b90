/**
 * `uring-lab server` from real processes: the CLI's engine serves a client that shares no
 * code with the lab (plain Node sockets), byte-exact; the listening line names the port and
 * the engine process whose threads serve; SIGTERM/SIGINT or --duration end it with its
 * server-side summary and exit 0; bad input and a port in use are one line and exit 2.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { connectTo, readExactly } from '../native/socketClient';
import type { ServerSummary } from '../../electron/host/serverOnly';
import { hasThread, threadsOf } from '../procThreads';
import { CLI, enginePidOf, expectOneErrorLine, startCli, type Finished } from './cliProcess';




function runCli(args: string[]): Promise<Finished> {
  return startCli(args).done;
}


function summaryOf(r: Finished): ServerSummary {
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stdout).toHaveLength(2);
  return JSON.parse(lines[1]) as ServerSummary;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Echoes `perConnection` random bytes over each of `connections` sockets; checks them byte for byte. */
async function echoThrough(port: number, connections: number, perConnection: number, chunk = 16 * 1024): Promise<void> {
  await Promise.all(Array.from({ length: connections }, async () => {
    const sock = await connectTo(port);
    try {
      for (let sent = 0; sent < perConnection; sent += chunk) {
        const data = randomBytes(Math.min(chunk, perConnection - sent));
        const echoed = readExactly(sock, data.length, { exact: false });
        sock.write(data);
        expect((await echoed).equals(data)).toBe(true);
      }
    } finally {
      sock.destroy();
    }
  }));
}

const MiB = 1024 * 1024;

describe('uring-lab server', () => {
  for (const engine of ['io_uring', 'epoll'] as const) {
    it(`${engine}: serves an external plain-socket client byte-exact; SIGTERM ends it with its summary, exit 0`, async () => {
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', `server.engine=${engine}`, '--set', 'load.messageBytes=4096']);
      const listening = JSON.parse(await cli.firstLine) as { event: string; port: number; pid: number };
      // Exactly these keys: scripts parse this line.
      expect(Object.keys(listening)).toEqual(['event', 'port', 'pid']);
      expect(listening.event).toBe('listening');
      expect(listening.port).toBeGreaterThan(0);
      // The pid is the engine process (the CLI's child), not the CLI.
      expect(listening.pid).not.toBe(cli.child.pid);
      expect(parentOf(listening.pid)).toBe(cli.child.pid);

      // The listening pid's threads include the server's: the engine names it uring-srv-0.
      const serverThread = () => threadsOf(listening.pid).find((t) => t.comm === 'uring-srv-0');
      const before = serverThread();
      expect(before, threadsOf(listening.pid).map((t) => t.comm).join(',')).toBeDefined();
      const connections = 4;
      await echoThrough(listening.port, connections, MiB / connections);
      // A second round on fresh connections: the server keeps accepting.
      await echoThrough(listening.port, 2, 64 * 1024);
      // And that thread is the one that did the echoing: it ran meanwhile.
      const after = serverThread();
      expect(after!.tid).toBe(before!.tid);
      expect(after!.cpuNs).toBeGreaterThan(before!.cpuNs);

      // One connection left open across a few snapshots: the summary sees it open at the stop.
      const idle = await connectTo(listening.port);
      await new Promise((r) => setTimeout(r, 800));
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      idle.destroy();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      const s = summaryOf(r);
      expect(s.event).toBe('summary');
      expect(s.status).toBe('completed');
      expect(s.endedBy).toBe('SIGTERM');
      expect(s.failure).toBeNull();
      expect(s.port).toBe(listening.port);
      expect(s.pid).toBe(listening.pid);
      expect(s.connectionsServed).toBe(connections + 2 + 1);
      expect(s.workers).toEqual([{ tid: before!.tid, accepted: connections + 2 + 1 }]);
      expect(s.openConnectionsAtStop).toBe(1);
      const sent = MiB + 2 * 64 * 1024;
      expect(s.bytesEchoed).toBeGreaterThanOrEqual(sent);
      expect(s.messageBytes).toBe(4096);
      expect(s.bytesEchoed).toBe(sent); // nothing but our bytes, each echoed once
      expect(s.requests).toBe(Math.floor(s.bytesEchoed / 4096));
      expect(s.counters.recvs).toBeGreaterThan(0);
      expect(s.counters.sends).toBeGreaterThan(0);
      expect(s.counters.enters).toBeGreaterThan(0);
      // The kernel's segment counts for these connections, to the last (they closed before
      // SIGTERM): every echoed byte left in data segments of at most the loopback MSS.
      const seg = s.tcpSegments!;
      expect(seg, 'sock_diag read').not.toBeNull();
      expect(seg.dataOut).toBeGreaterThanOrEqual(Math.ceil(sent / 65_483));
      expect(seg.dataIn).toBeGreaterThanOrEqual(Math.ceil(sent / 65_483));
      // Pure ACKs beside them: at least each connection's SYN-ACK and FIN (the open one's FIN is after the stop).
      expect(seg.out - seg.dataOut).toBeGreaterThanOrEqual(connections + 2 + 1 + connections + 2);
      expect(seg.perRequest!.dataOut).toBeCloseTo(seg.dataOut / s.requests, 9);
      expect(s.requestsNote).toMatch(/byte stream/);
      expect(s.serverCpuNs).toBeGreaterThan(0);
      expect(s.serverCpuNsPerReq).toBeCloseTo(s.serverCpuNs / s.requests, 6);
      expect(s.engineProcessCpuNs).toBeGreaterThanOrEqual(s.serverCpuNs);
      expect(s.peakOpenConnections).toBeGreaterThanOrEqual(1);
      expect(s.serverErrors).toBe(0);
      expect(s.applied.server.engine).toBe(engine);
      expect(Array.isArray(s.rejected)).toBe(true);
      expect(s.servedS).toBeGreaterThan(0);
      expect(s.servedS).toBeLessThan(30);
      // The engine process went with it.
      expect(() => process.kill(listening.pid, 0)).toThrow();
    });
  }

  // The server's own count of each connection's echoes, for clients that are not ours: one
  // connection after another so that accept order is known, a port check that sends nothing,
  // and one still open at the stop (counted when the teardown closes it). Two rings: the
  // workers' tallies are merged, and accept order runs over both.
  for (const set of [['server.engine=io_uring'], ['server.engine=epoll'], ['server.rings=2'], ['server.directDescriptors=true']]) {
    it(`perConnection: each connection's echoes as the server counted them, the fewest by accept order (${set.join(' ')})`, async () => {
      const messageBytes = 1000;
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', `load.messageBytes=${messageBytes}`, ...set.flatMap((kv) => ['--set', kv])]);
      const { port } = JSON.parse(await cli.firstLine) as { port: number };
      const echoes = async (sock: Awaited<ReturnType<typeof connectTo>>, n: number) => {
        for (let i = 0; i < n; i++) {
          const data = randomBytes(messageBytes);
          const echoed = readExactly(sock, data.length);
          sock.write(data);
          expect((await echoed).equals(data)).toBe(true);
        }
      };
      const closeAfter = async (n: number) => {
        const sock = await connectTo(port);
        await echoes(sock, n);
        await new Promise<void>((resolve) => { sock.once('close', () => resolve()); sock.end(); });
      };
      await closeAfter(20); // connection 0
      await closeAfter(10); // 1: the fewest, first accepted of the two
      const check = await connectTo(port); // 2: sends nothing
      await new Promise<void>((resolve) => { check.once('close', () => resolve()); check.end(); });
      const open = await connectTo(port); // 3: ties with 1, still open at the stop
      await echoes(open, 10);
      await closeAfter(30); // 4: the most
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      open.destroy();
      expect(r.code, r.stderr).toBe(0);
      const s = summaryOf(r);
      expect(s.connectionsServed).toBe(5);
      expect(s.requests).toBe(70);
      const squares = 20 ** 2 + 10 ** 2 + 10 ** 2 + 30 ** 2;
      expect(s.perConnection).toEqual({
        connections: 4, min: 10, minConnection: 1, max: 30, mean: 17.5,
        jain: expect.closeTo(70 ** 2 / (4 * squares), 12), unserved: 0, silent: 1,
      });
    });
  }

  it('perConnection in the text summary, and null-free words when nothing but port checks came', async () => {
    const cli = startCli(['server', '--port', '0', '--duration', '30', '--set', 'load.messageBytes=512']);
    const port = Number(/:(\d+)/.exec(await cli.firstLine)![1]);
    await echoThrough(port, 3, 512 * 40, 512);
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^  per conn\. {4}3 connections: fewest 40 echoes \(connection \d\), most 40, mean 40; Jain's index 1\.000$/m);

    const quiet = startCli(['server', '--json', '--port', '0', '--duration', '30']);
    const { port: quietPort } = JSON.parse(await quiet.firstLine) as { port: number };
    for (let i = 0; i < 2; i++) {
      const sock = await connectTo(quietPort);
      await new Promise<void>((resolve) => { sock.once('close', () => resolve()); sock.end(); });
    }
    quiet.child.kill('SIGTERM');
    const q = summaryOf(await quiet.done);
    expect(q.perConnection).toEqual({ connections: 0, min: 0, minConnection: 0, max: 0, mean: 0, jain: null, unserved: 0, silent: 2 });
  });

  // 32,768 × 64 KiB buffers: a 2 GiB pool to touch before it listens (~7 s here). A signal in
  // that time waited all of it, then the server listened and stopped at once.
  it('SIGINT while a large buffer pool is set up: called off, one line, exit 0, it never listened', async () => {
    const { child, done } = startCli(['server', '--port', '0', '--json', '--set', 'server.bufferRing.size=65536', '--set', 'server.bufferRing.count=32768']);
    const engine = await enginePidOf(child.pid!);
    // The serving thread exists: it is touching its pool.
    await expect.poll(() => hasThread(engine, 'uring-srv'), { timeout: 20_000, interval: 20 }).toBe(true);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(''); // no listening line, no summary: nothing was served
    expectOneErrorLine(r.stderr, /^uring-lab: server stopped by SIGINT while it set up: it never listened, nothing was served$/);
    expect(() => process.kill(engine, 0)).toThrow();
  }, 60_000);

  it('server.rings=2: two serving threads on one port, connections summed over them and listed per worker', async () => {
    const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', 'server.rings=2']);
    const listening = JSON.parse(await cli.firstLine) as { port: number; pid: number };
    const names = threadsOf(listening.pid).map((t) => t.comm);
    expect(names).toContain('uring-srv-0');
    expect(names).toContain('uring-srv-1');
    await echoThrough(listening.port, 16, 1024);
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.applied.server.rings).toBe(2);
    expect(s.connectionsServed).toBe(16);
    expect(s.workers).toHaveLength(2);
    expect(s.workers[0].accepted + s.workers[1].accepted).toBe(16);
    expect(s.bytesEchoed).toBe(16 * 1024);
  });

  for (const set of [['server.engine=io_uring'], ['server.engine=epoll'], ['server.rings=2']]) {
    it(`peakOpenConnections counts a burst shorter than a frame (${set.join(' ')})`, async () => {
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', ...set.flatMap((s) => ['--set', s])]);
      const listening = JSON.parse(await cli.firstLine) as { port: number };
      // 300 connections open together for ~50 ms, all closed well within one 250 ms snapshot.
      const burst = await Promise.all(Array.from({ length: 300 }, () => connectTo(listening.port)));
      await new Promise((r) => setTimeout(r, 50));
      for (const s of burst) s.destroy();
      await new Promise((r) => setTimeout(r, 400));
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      expect(r.code, r.stderr).toBe(0);
      const s = summaryOf(r);
      expect(s.connectionsServed).toBe(300);
      expect(s.openConnectionsAtStop).toBe(0);
      // Sampled per snapshot this read 0–2 (the burst fell between samples).
      expect(s.peakOpenConnections).toBe(300);
    });
  }

  it('direct descriptors: 1,100 outside clients at once all echoed (a table sized for the load alone reset those beyond 1,024)', async () => {
    const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', 'server.directDescriptors=true']);
    const listening = JSON.parse(await cli.firstLine) as { port: number };
    const socks = await Promise.all(Array.from({ length: 1100 }, () => connectTo(listening.port)));
    try {
      const echoes = await Promise.all(socks.map(async (s, i) => {
        const data = Buffer.from(`ping ${i}`);
        const back = readExactly(s, data.length, { timeoutMs: 10_000 });
        s.write(data);
        return (await back).equals(data);
      }));
      expect(echoes.filter(Boolean)).toHaveLength(1100);
    } finally {
      for (const s of socks) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.applied.server.directDescriptors).toBe(true);
    expect(s.serverErrors).toBe(0);
    expect(s.connectionsServed).toBe(1100);
    expect(s.peakOpenConnections).toBe(1100);
  });

  // A direct accept with no free slot takes the client off the backlog and then fails ENFILE:
  // with RLIMIT_NOFILE 128 (a 128-slot table), clients 129-200 got EOF and were lost. Accepts
  // now go one at a time near a full table and wait while it is full, as plain fds (EMFILE) do.
  it('direct descriptors with a full file table: clients beyond it wait in the backlog and are served as slots free; none is dropped', async () => {
    const child = spawn('prlimit', ['--nofile=128:128', process.execPath, CLI, 'server', '--json', '--port', '0', '--duration', '30', '--set', 'server.directDescriptors=true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        stdout += d;
        const m = /"port":(\d+)/.exec(stdout);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`exited before listening: ${stderr}`)));
    });
    const socks = await Promise.all(Array.from({ length: 200 }, () => connectTo(port)));
    try {
      let eof = 0;
      for (const s of socks) s.once('end', () => { eof++; });
      const answered = await Promise.all(socks.map(async (s, i) => {
        const data = Buffer.from(`ping ${i}`);
        const back = readExactly(s, data.length, { timeoutMs: 1500 }).then((b) => b.equals(data), () => false);
        s.write(data);
        return back;
      }));
      const first = answered.filter(Boolean).length;
      expect(first).toBeGreaterThan(100);
      expect(first).toBeLessThan(200); // the table (128 slots, less the server's own fds) held the rest back
      // Those served leave; the ones that waited are served now, every one.
      socks.forEach((s, i) => { if (answered[i]) s.destroy(); });
      const late = await Promise.all(socks.map((s, i) => answered[i] ? true : readExactly(s, Buffer.byteLength(`ping ${i}`), { timeoutMs: 10_000 }).then((b) => b.equals(Buffer.from(`ping ${i}`)))));
      expect(late.filter(Boolean)).toHaveLength(200);
      expect(eof).toBe(0);
    } finally {
      for (const s of socks) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    expect(await done, stderr).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').pop()!) as ServerSummary;
    expect(summary.applied.server.directDescriptors).toBe(true);
    expect(summary.connectionsServed).toBe(200);
    expect(summary.serverErrorsByOp.accept).toBe(0);
  }, 60_000);

  it('buffers.peakInUse is the most held at once, not a sample: a pool run dry (ENOBUFS) peaked at (near) its size', async () => {
    // Armed multishot recvs take every buffer a burst needs at once; on readiness (the default)
    // a trip takes a recv per listed connection, here at most 8 buffers (5 at peak, measured).
    const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', 'server.bufferRing.count=16', '--set', 'server.bufferRing.size=2048', '--set', 'server.bufferRing.incremental=false', '--set', 'server.recvOnReady=false']);
    const listening = JSON.parse(await cli.firstLine) as { port: number };
    // Eight clients pipelining 256 KiB each through a 32 KiB pool: it runs dry.
    await Promise.all(Array.from({ length: 8 }, async () => {
      const s = await connectTo(listening.port);
      const data = randomBytes(256 * 1024);
      const back = readExactly(s, data.length, { timeoutMs: 20_000 });
      s.write(data);
      expect((await back).equals(data)).toBe(true);
      s.destroy();
    }));
    await new Promise((r) => setTimeout(r, 300));
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.buffers.total).toBe(16);
    expect(s.enobufs).toBeGreaterThan(0);
    // Sampled every 250 ms this read 0 (a tester saw 0 with 2,083 ENOBUFS); it is taken after
    // each reaping loop, so buffers handed back in the loop that ran dry may be missed.
    expect(s.buffers.peakInUse, `peak ${s.buffers.peakInUse}`).toBeGreaterThanOrEqual(12);
    expect(s.buffers.peakInUse).toBeLessThanOrEqual(16);
  });

  it('openConnectionsAtStop is read as the stop comes: all closed 50 ms before SIGTERM reads 0 (the last 250 ms snapshot said 300)', async () => {
    const cli = startCli(['server', '--json', '--port', '0', '--duration', '30']);
    const listening = JSON.parse(await cli.firstLine) as { port: number };
    const socks = await Promise.all(Array.from({ length: 300 }, () => connectTo(listening.port)));
    await new Promise((r) => setTimeout(r, 600)); // seen open by two snapshots
    await Promise.all(socks.map((s) => new Promise((r) => { s.once('close', r); s.destroy(); })));
    await new Promise((r) => setTimeout(r, 50));
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.peakOpenConnections).toBe(300);
    expect(s.openConnectionsAtStop).toBe(0);
  });

  it('a second signal exits at once (130, no summary) while the first waits for a stuck engine', async () => {
    const cli = startCli(['server', '--json', '--port', '0', '--duration', '30']);
    const listening = JSON.parse(await cli.firstLine) as { pid: number };
    // A stopped engine cannot answer the stop the first signal asks for.
    process.kill(listening.pid, 'SIGSTOP');
    try {
      cli.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(r.code).toBe(130);
      expect(r.stdout.trim().split('\n')).toHaveLength(1); // the listening line only
      expectOneErrorLine(r.stderr, /SIGTERM again, exiting without waiting/);
    } finally {
      // Its host is gone: resumed, the engine sees its IPC channel closed and exits.
      process.kill(listening.pid, 'SIGCONT');
    }
    for (let i = 0; i < 100; i++) {
      try { process.kill(listening.pid, 0); } catch { return; }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`engine ${listening.pid} outlived its host by 10 s`);
  });

  it('kill PID with the pid the listening line printed (SIGTERM, SIGINT, SIGHUP): the same orderly end, summary with every byte, exit 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '30', '--set', 'load.messageBytes=4096']);
      const listening = JSON.parse(await cli.firstLine) as { port: number; pid: number };
      await echoThrough(listening.port, 2, 64 * 1024);
      const idle = await connectTo(listening.port);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(listening.pid, signal);
      const r = await cli.done;
      idle.destroy();
      expect(r.code, `${signal}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      const s = summaryOf(r);
      expect(s.status).toBe('completed');
      expect(s.failure).toBeNull();
      expect(s.endedBy).toBe(`${signal} to the engine process (pid ${listening.pid})`);
      // The final counts were taken before the engine went: every byte, the connection left open.
      expect(s.bytesEchoed).toBe(2 * 64 * 1024);
      expect(s.connectionsServed).toBe(3);
      expect(s.openConnectionsAtStop).toBe(1);
      // And the engine process is gone: the CLI ended it after the summary.
      expect(() => process.kill(listening.pid, 0)).toThrow();
    }
  });

  it('an engine failure is exit 1 with the summary still printed: engine killed, or hung (SIGSTOP, found by the watchdog)', async () => {
    for (const [signal, code] of [['SIGKILL', 'ENGINE_CRASHED'], ['SIGSTOP', 'ENGINE_UNRESPONSIVE']] as const) {
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '30']);
      const listening = JSON.parse(await cli.firstLine) as { port: number; pid: number };
      await echoThrough(listening.port, 1, 8192);
      await new Promise((r) => setTimeout(r, 600)); // a snapshot has counted it
      process.kill(listening.pid, signal);
      const r = await cli.done;
      // Either way the engine process is gone (a hung one was killed by the watchdog).
      expect(() => process.kill(listening.pid, 0)).toThrow();
      expect(r.code, `${signal}: ${r.stderr}`).toBe(1);
      const s = summaryOf(r);
      expect(s.status).toBe('failed');
      expect(s.failure?.code).toBe(code);
      expect(s.bytesEchoed).toBe(8192);
      expectOneErrorLine(r.stderr, new RegExp(`server on port ${listening.port} failed: engine process`));
    }
  });

  it('Ctrl-C (SIGINT to the whole process group) ends it the same way: summary, exit 0 (plain output: a human line with port and pid)', async () => {
    // The CLI leads its own group, as a shell's foreground job does, and the terminal's SIGINT
    // goes to the group: the engine, in a group of its own, must not die of it (that would be
    // ENGINE_CRASHED and exit 1) but be stopped in order by the CLI.
    const cli = startCli(['server', '--port', '0', '--duration', '30'], { detached: true });
    const line = await cli.firstLine;
    const m = /listening on 127\.0\.0\.1:(\d+) \(pid (\d+)\)/.exec(line);
    expect(m, line).not.toBeNull();
    await echoThrough(Number(m![1]), 1, 4096);
    process.kill(-cli.child.pid!, 'SIGINT');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/completed, ended by SIGINT/);
    expect(r.stdout).toMatch(/connections {2}1 served/);
    // No SEND_ZC asked for, none counted: no SEND_ZC line.
    expect(r.stdout).not.toMatch(/SEND_ZC/);
  });

  it('server.sendZeroCopy=true: the summary counts the SEND_ZCs the kernel copied and says why (loopback), the JSON has the counts', async () => {
    for (const json of [false, true]) {
      const cli = startCli(['server', ...(json ? ['--json'] : []), '--port', '0', '--duration', '30', '--set', 'server.sendZeroCopy=true', '--set', 'load.messageBytes=4096']);
      const first = await cli.firstLine;
      const port = json ? (JSON.parse(first) as { port: number }).port : Number(/listening on 127\.0\.0\.1:(\d+)/.exec(first)![1]);
      await echoThrough(port, 2, 256 * 1024, 4096);
      cli.child.kill('SIGTERM');
      const r = await cli.done;
      expect(r.code, r.stderr).toBe(0);
      if (json) {
        const s = summaryOf(r);
        expect(s.applied.server.sendZeroCopy).toBe(true);
        expect(s.counters.zeroCopySends).toBe(0);
        expect(s.counters.copiedSends).toBeGreaterThan(0);
        expect(s.counters.copiedSends + s.counters.zeroCopyFallbacks).toBe(s.counters.sends);
      } else {
        const line = r.stdout.split('\n').find((l) => l.startsWith('  SEND_ZC '));
        expect(line, r.stdout).toMatch(/^ {2}SEND_ZC {6}0 zero-copy, [\d,]+ copied by the kernel \(the kernel copies every SEND_ZC whose data is delivered on this machine, over loopback or a veth pair: here it only added notifications; it pays off toward a NIC\)/);
      }
    }
  });

  it('NAPI busy poll on 127.0.0.1: applied, and the summary warns it has nothing to poll on lo (JSON and text); none without it', async () => {
    const napi = await runCli(['server', '--json', '--port', '0', '--duration', '0.3', '--set', 'server.napiBusyPollUs=50']);
    expect(napi.code, napi.stderr).toBe(0);
    const s = summaryOf(napi);
    if (s.applied.server.napiBusyPollUs > 0) {
      expect(s.warnings).toEqual([expect.stringMatching(/^NAPI busy poll was registered but has no effect on lo/)]);
      const text = await runCli(['server', '--port', '0', '--duration', '0.3', '--set', 'server.napiBusyPollUs=50']);
      expect(text.stdout).toMatch(/^ {2}warning {6}NAPI busy poll was registered but has no effect on lo/m);
    } else {
      // A kernel before 6.9: refused with its reason, so nothing to warn about.
      expect(s.rejected.map((r) => r.knob)).toContain('server.napiBusyPollUs');
      expect(s.warnings).toEqual([]);
    }
    expect(summaryOf(await runCli(['server', '--json', '--port', '0', '--duration', '0.3'])).warnings).toEqual([]);
  });

  it('--duration 1 ends by itself: exit 0, the summary says so', async () => {
    const t0 = Date.now();
    const r = await runCli(['server', '--json', '--port', '0', '--duration', '1']);
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s.status).toBe('completed');
    expect(s.endedBy).toMatch(/duration \(1 s\)/);
    expect(s.servedS).toBeGreaterThanOrEqual(0.95);
    expect(s.servedS).toBeLessThan(3);
    expect(s.connectionsServed).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('--profile FILE: its server knobs apply and its load.messageBytes counts requests; its run window is not used', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-server-'));
    const file = path.join(dir, 'p.json');
    writeFileSync(file, JSON.stringify({
      kind: 'uring-lab/profile', schemaVersion: 1, name: 'server-test', server: { engine: 'epoll' },
      load: { connections: 500, messageBytes: 512 }, duration: { warmupS: 0, measureS: 600 },
    }));
    try {
      const cli = startCli(['server', '--json', '--port', '0', '--duration', '0.5', '--profile', file]);
      const listening = JSON.parse(await cli.firstLine) as { port: number };
      await echoThrough(listening.port, 1, 2048, 512);
      const r = await cli.done;
      expect(r.code, r.stderr).toBe(0);
      const s = summaryOf(r);
      expect(s.profileName).toBe('server-test');
      expect(s.applied.server.engine).toBe('epoll');
      expect(s.messageBytes).toBe(512);
      expect(s.bytesEchoed).toBe(2048);
      expect(s.requests).toBe(4);
      // No load of its own despite load.connections 500: only our one connection came in.
      expect(s.connectionsServed).toBe(1);
      expect(s.servedS).toBeLessThan(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad input is one line naming the field and exit 2, nothing started', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--port', '70000'], /--port "70000" is not a TCP port/],
      [['--port', '-1'], /port/],
      [['--port', ''], /server: --port is empty/],
      [['--duration', 'x'], /--duration "x"/],
      [['--duration', '100000'], /--duration "100000" .* between 0\.1 and 86400/],
      [['--set', 'load.connections=8'], /load\.connections: uring-lab server runs no load/],
      [['--set', 'duration.measureS=3'], /use --duration/],
      [['--set', 'server.sqpol.enabled=true'], /unknown profile key "server\.sqpol"/],
      [['--set', 'server.ringEntries=1000'], /server\.ringEntries/],
      [['--profile', '/nonexistent/profile.json'], /profile/],
      [['--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(['server', '--json', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
      expectOneErrorLine(r.stderr, pattern);
    }
  });

  it('a port in use is bad input: one line naming --port, EADDRINUSE and the fix, exit 2', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await runCli(['server', '--json', '--port', String(port), '--duration', '5']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expectOneErrorLine(r.stderr, new RegExp(`--port ${port}: 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\); .*--port 0`));
    } finally {
      holder.close();
    }
  });
});
