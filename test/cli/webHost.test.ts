/**
 * The browser host: the LabApi over WebSocket, guarded by a token and the exact origin, with
 * errors as data, security headers on every response, one session per client. Runs the real
 * LabService with the real engine process behind it; the token file is tested on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import type { LabService } from '../../electron/host/labService';
import { startWebHost, WebHost } from '../../electron/web';
import { loadOrCreateToken } from '../../electron/host/tokenFile';
import { LabEvent, LabSession, LabSessions, RunSummarySchema, WsResponseEnvelopeSchema, WsResponseSchema } from '../../electron/contract';
import {
  closePayload, connectLab, decodeFrames, encodeFrame, labClient, rawExchange, responseHeads, splitUpgradeReply,
  startLabWebHost, upgradeRequest, waitFor,
} from './wsClient';

const RENDERER = path.join(__dirname, '../../dist/renderer');
const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'referrer-policy', 'cache-control'];

let lab: LabService;
let web: WebHost;

beforeAll(async () => {
  ({ lab, web } = await startLabWebHost());
});
afterAll(async () => {
  await web?.close();
  await lab?.close();
});

const connect = (token = web.token, extra: { client?: string; origin?: string; query?: string } = {}) => connectLab(web.port, { token, ...extra });

/** A raw request to the host; `lines` are the request line and headers (Host added unless given). */
async function request(lines: string[], host = `127.0.0.1:${web.port}`) {
  const head = lines.some((l) => /^host:/i.test(l)) || host === '' ? lines : [lines[0], `Host: ${host}`, ...lines.slice(1)];
  const reply = await rawExchange(web.port, [Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1')]);
  const [first] = responseHeads(reply.data);
  return { status: first?.status ?? 0, headers: first?.headers ?? new Map<string, string>(), body: reply.data.toString('latin1') };
}

function expectSecurityHeaders(headers: Map<string, string> | Headers, what: string) {
  for (const name of SECURITY_HEADERS) expect(headers.get(name), `${what}: ${name}`).toBeTruthy();
  expect(headers.get('referrer-policy'), what).toBe('no-referrer');
  expect(headers.get('x-content-type-options'), what).toBe('nosniff');
  expect(headers.get('content-security-policy'), what).toContain("frame-ancestors 'none'");
}

describe('web host: HTTP', () => {
  it('serves the built UI with its security headers; the page is not cached, assets revalidate (304)', async () => {
    const res = await fetch(`http://127.0.0.1:${web.port}/?token=${web.token}`);
    expect(res.status).toBe(200);
    expectSecurityHeaders(res.headers, 'GET /');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<div id="app">');
    const asset = /src="\.?(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const first = await fetch(`http://127.0.0.1:${web.port}${asset}`);
    expect(first.status).toBe(200);
    expectSecurityHeaders(first.headers, asset);
    const etag = first.headers.get('etag')!;
    const again = await request([`GET ${asset} HTTP/1.1`, `If-None-Match: ${etag}`]);
    expect(again.status).toBe(304);
    expectSecurityHeaders(again.headers, '304');
  });

  it('answers every refusal with the same headers', async () => {
    const port = web.port;
    const cases: Array<[string[], number, string?]> = [
      [['GET /nope.js HTTP/1.1'], 404],
      [['POST / HTTP/1.1', 'Content-Length: 0'], 405],
      [['DELETE /index.html HTTP/1.1'], 405],
      [['CONNECT 127.0.0.1:22 HTTP/1.1'], 405],
      [['GET / HTTP/1.1', 'Content-Length: 5'], 413],
      [['GET /% HTTP/1.1'], 400],
      [['GET /%zz HTTP/1.1'], 400],
      [['GET * HTTP/1.1'], 400],
      [[`GET http://127.0.0.1:${port}/ HTTP/1.1`], 400],
      [['GET / HTTP/1.1', `X-Long: ${'a'.repeat(20_000)}`], 431],
      [[`GET /${'a'.repeat(3000)} HTTP/1.1`], 414],
      [['GET / HTTP/1.1', 'Expect: teapot'], 417],
      [['BREW / HTTP/1.1'], 400],
      [['GET / HTTP/1.0'], 400, ''],
      [['GET / HTTP/1.1', 'Host: evil.example:80'], 403],
      [['GET / HTTP/1.1', `Host: localhost:${port}`], 403],
      [['GET / HTTP/1.1', `Host: 127.0.0.1:${port}`, `Host: 127.0.0.1:${port}`], 400],
      [[`GET /api?token=${web.token} HTTP/1.1`], 426],
      [['GET /api?token=wrong HTTP/1.1'], 403],
      [['GET /api HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], 403],
      [[`GET /api?token=${web.token} HTTP/1.1`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13'], 400],
      [[`GET /api?token=${web.token} HTTP/1.1`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 7', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], 426],
      [[`GET /elsewhere HTTP/1.1`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], 404],
    ];
    for (const [lines, status, host] of cases) {
      const res = await request(lines, host);
      expect(res.status, lines[0]).toBe(status);
      expectSecurityHeaders(res.headers, `${status} for ${lines[0]}`);
    }
  });

  it('never serves a file outside the renderer directory, encoded or not', async () => {
    const secret = readFileSync(path.join(__dirname, '../../package.json'), 'utf8').slice(0, 40);
    const attempts = [
      '/../../package.json', '/..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json', '/%2E%2E%2F%2E%2E%2Fpackage.json',
      '/assets/../../../package.json', '/assets/%2e%2e/%2e%2e/%2e%2e/package.json', '/index.html%00.js', '/%00',
      '/..\\..\\package.json', '/%5c..%5c..%5cpackage.json', '/.%2e/.%2e/package.json', '/assets/..%252f..%252fpackage.json',
      `/${'../'.repeat(20)}etc/passwd`, '//etc/passwd', '/./index.html',
    ];
    for (const target of attempts) {
      const res = await request([`GET ${target} HTTP/1.1`]);
      expect([400, 404], target).toContain(res.status);
      expect(res.body, target).not.toContain(secret);
      expectSecurityHeaders(res.headers, target);
    }
  });

  it('survives the issue\'s crash: curl --path-as-is /% is a 400 and the host goes on', async () => {
    const { stdout: out } = await promisify(execFile)('curl', ['-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${web.port}/%`]);
    expect(out).toBe('400');
    expect((await fetch(`http://127.0.0.1:${web.port}/`)).status).toBe(200);
  });
});

describe('web host: who may connect', () => {
  it('admits the exact served origin, or no Origin with the token; refuses every other origin', async () => {
    const served = `http://127.0.0.1:${web.port}`;
    (await connect(web.token, { origin: served })).close();
    (await connect()).close();
    for (const origin of [
      `http://localhost:${web.port}`, `https://127.0.0.1:${web.port}`, `http://127.0.0.1:${web.port + 1}`, 'http://127.0.0.1',
      `http://127.0.0.1:${web.port}.evil.example`, `http://evil.example`, 'null', `${served}/`, `HTTP://127.0.0.1:${web.port}`, 'garbage',
    ]) {
      await expect(connect(web.token, { origin }), origin).rejects.toThrow(/403/);
    }
  });

  it('refuses a DNS-rebound name even when its Origin matches its Host', async () => {
    const rebound = `rebound.example:${web.port}`;
    const reply = await rawExchange(web.port, [upgradeRequest(web.port, web.token, [`Origin: http://${rebound}`], { host: rebound })]);
    const { head } = splitUpgradeReply(reply.data);
    expect(head?.status).toBe(403);
    expectSecurityHeaders(head!.headers, 'rebound upgrade');
  });

  it('refuses a missing, wrong or repeated token', async () => {
    await expect(connect('wrong')).rejects.toThrow(/403/);
    await expect(connect('')).rejects.toThrow(/403/);
    await expect(connect(web.token, { query: '&token=bad' })).rejects.toThrow(/403/);
    await expect(connect('bad', { query: `&token=${web.token}` })).rejects.toThrow(/403/);
    await expect(connect(web.token, { query: `&token=${web.token}` })).rejects.toThrow(/403/);
    await expect(connect(web.token.slice(0, -1))).rejects.toThrow(/403/);
    await expect(connect(`${web.token}0`)).rejects.toThrow(/403/);
  });
});

describe('web host: sockets that never speak', () => {
  // Any local process, no token needed, held all 512 connections with sockets that sent
  // nothing; each lived until the 10 s header deadline, and the user's browser got "socket
  // hang up" (1 of 60 attempts over 30 s connected).
  it('600 silent connections: the oldest make room, and a client with the token connects and is answered', async () => {
    const sockets: net.Socket[] = [];
    let closed = 0;
    try {
      for (let i = 0; i < 600; i++) {
        const socket = net.connect(web.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.on('close', () => { closed++; });
        sockets.push(socket);
      }
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
        if (s.destroyed) resolve(); else { s.once('connect', () => resolve()); s.once('close', () => resolve()); }
      })));
      await waitFor(() => closed >= 600 - 256, 5000);
      const started = Date.now();
      const ws = await connect();
      const client = labClient(ws);
      const status = await client.call('getStatus');
      expect('result' in status ? status.result : status).toHaveProperty('state');
      expect(Date.now() - started).toBeLessThan(3000);
      // The host has not refused anything that spoke: the UI still loads.
      expect((await fetch(`http://127.0.0.1:${web.port}/?token=${web.token}`)).status).toBe(200);
      ws.close();
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 30_000);
});

describe('web host: messages', () => {
  it('answers bad messages with error data naming the field', async () => {
    const ws = await connect();
    const c = labClient(ws);
    const unknown = await c.call('formatDisk');
    expect(unknown).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', field: 'method' } });
    const notJson = await c.raw('{nope');
    expect(notJson).toMatchObject({ id: -1, ok: false, error: { code: 'BAD_REQUEST' } });
    const binary = await c.raw(Buffer.from('{"id":1,"method":"getStatus"}'));
    expect(binary).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const deep = await c.raw('['.repeat(60_000));
    expect(deep).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const deepParams = await c.raw(`{"id":7,"method":"setKnob","params":{"path":"x","value":${'['.repeat(40)}${']'.repeat(40)}}}`);
    expect(deepParams).toMatchObject({ id: 7, ok: false, error: { code: 'BAD_REQUEST', field: 'message' } });
    const longKey = await c.raw(JSON.stringify({ id: 8, method: 'getStatus', [`\u001b[31m${'k'.repeat(5000)}`]: 1 }));
    expect(longKey).toMatchObject({ id: 8, ok: false, error: { code: 'BAD_REQUEST' } });
    const error = (longKey as { error: { message: string } }).error;
    expect(error.message.length).toBeLessThanOrEqual(400);
    expect(error.message).not.toMatch(/\u001b/);
    const badKnob = await c.call('setKnob', { path: 'server.sqpoll.enabled', value: 'on' });
    expect(badKnob).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE', field: 'server.sqpoll.enabled' } });
    const badFrames = await c.call('getFrames', { runId: 'x', fromSeq: -1 });
    expect(badFrames).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', field: 'params.fromSeq' } });
    const status = await c.call('getStatus');
    expect(status).toMatchObject({ ok: true, result: { running: false } });
    // the refused change left the profile as it was
    expect((status as { result: { profile: { server: { sqpoll: { enabled: boolean } } } } }).result.profile.server.sqpoll.enabled).toBe(false);
    for (const message of c.messages) WsResponseSchema.parse(message);
    ws.close();
  });

  it('closes a connection that breaks the protocol (1009, 1002, 1007) and goes on serving', async () => {
    const big = await connect();
    const closed = labClient(big).closed;
    big.send('x'.repeat(70 * 1024));
    expect((await closed).code).toBe(1009);
    for (const [frame, code] of [
      [encodeFrame({ opcode: 1, payload: Buffer.from('{}'), mask: false }), 1002],
      [encodeFrame({ opcode: 1, payload: Buffer.from('{}'), rsv: 0b100 }), 1002],
      [encodeFrame({ opcode: 3 }), 1002],
      [encodeFrame({ opcode: 8, payload: closePayload(999) }), 1002],
      [encodeFrame({ opcode: 1, payload: Buffer.from([0xc3, 0x28]) }), 1007],
    ] as const) {
      const reply = await rawExchange(web.port, [upgradeRequest(web.port, web.token), frame], { end: false, until: (d) => decodeFrames(d.subarray(d.indexOf('\r\n\r\n') + 4)).some((f) => f.opcode === 8) });
      const { head, frames } = splitUpgradeReply(reply.data);
      expect(head?.status).toBe(101);
      expectSecurityHeaders(head!.headers, '101');
      const close = frames.find((f) => f.opcode === 8);
      expect(close?.payload.readUInt16BE(0)).toBe(code);
    }
    const ws = await connect();
    expect(await labClient(ws).call('getStatus')).toMatchObject({ ok: true });
    ws.close();
  });
});

describe('web host: sessions', () => {
  /** Sessions that record what the host asked of them (no engine). */
  function recordingSessions() {
    const opened: string[] = [];
    const disposed: string[] = [];
    const emitters = new Map<string, (event: LabEvent) => void>();
    const sessions: LabSessions = {
      session(clientId: string): LabSession {
        opened.push(clientId);
        const status = async () => ({ clientId }) as never;
        return {
          clientId,
          getStatus: status, startRun: status, stopRun: status, setKnob: status, takeControl: status, getFrames: status, doctor: status,
          onEvent(listener) { emitters.set(clientId, listener); return () => emitters.delete(clientId); },
          dispose() { disposed.push(clientId); },
        } as Partial<LabSession> as LabSession; // only the calls these tests make
      },
    };
    return { sessions, opened, disposed, emitters };
  }

  it('gives each connection the session of its `client` id (a fresh id when it is missing or malformed) and disposes it on close', async () => {
    const rec = recordingSessions();
    const host = await startWebHost(rec.sessions, { port: 0, rendererDir: RENDERER });
    try {
      const named = await connectLab(host.port, { token: host.token, client: 'tab-1_A' });
      const answer = await labClient(named).call('getStatus');
      expect(answer).toMatchObject({ ok: true, result: { clientId: 'tab-1_A' } });
      const fresh = await Promise.all(['', 'a'.repeat(65), 'bad id', 'tab/1', '../x'].map((client) => connectLab(host.port, { token: host.token, client })));
      const twice = await connectLab(host.port, { token: host.token, client: 'one', query: '&client=two' });
      expect(rec.opened[0]).toBe('tab-1_A');
      for (const id of rec.opened.slice(1)) expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(new Set(rec.opened).size).toBe(7);
      // events reach only the session's own socket
      const c = labClient(named);
      rec.emitters.get('tab-1_A')!({ type: 'control', runId: 'r', controller: true });
      await waitFor(() => c.events.length === 1, 2000, 'the event');
      for (const ws of [named, ...fresh, twice]) ws.close();
      await waitFor(() => rec.disposed.length === 7, 2000, 'every session disposed');
      expect(rec.emitters.size).toBe(0);
    } finally {
      await host.close();
    }
  });

  it('one answer larger than a socket may hold unsent (a long run\'s frames, an export) reaches the client; a client that reads nothing is dropped', async () => {
    const big = 'x'.repeat(12 * 1024 * 1024);
    const emitters = new Map<string, (event: LabEvent) => void>();
    const sessions: LabSessions = {
      session(clientId: string): LabSession {
        return {
          clientId,
          getFrames: async () => ({ runId: big, frames: [], lost: 0, more: false }) as never,
          onEvent(listener) { emitters.set(clientId, listener); return () => emitters.delete(clientId); },
          dispose() { disposed.add(clientId); },
        } as Partial<LabSession> as LabSession;
      },
    };
    const disposed = new Set<string>();
    const host = await startWebHost(sessions, { port: 0, rendererDir: RENDERER });
    try {
      const ws = await connectLab(host.port, { token: host.token });
      const answer = await labClient(ws).call('getFrames', { runId: 'r', fromSeq: 0 });
      // Before: the host closed the socket as soon as it had queued this answer (1006, no answer).
      expect(answer).toMatchObject({ ok: true });
      expect((answer as { result: { runId: string } }).result.runId.length).toBe(big.length);
      ws.close();
      // A client that reads nothing: its socket paused, the host's events pile up until it drops it.
      const stalled = await connectLab(host.port, { token: host.token, client: 'stalled' });
      await waitFor(() => emitters.has('stalled'), 2000, 'the session subscribed');
      const emit = emitters.get('stalled')!;
      (stalled as unknown as { _socket: { pause(): void } })._socket.pause();
      const event = { type: 'control', runId: 'x'.repeat(1024 * 1024), controller: true } as LabEvent;
      // The host's side: the session is disposed when it drops the socket (the paused client sees nothing).
      for (let i = 0; i < 64 && !disposed.has('stalled'); i++) {
        emit(event);
        await new Promise((r) => setTimeout(r, 10));
      }
      await waitFor(() => disposed.has('stalled'), 5000, 'the host dropping a client that read nothing');
      stalled.terminate();
    } finally {
      await host.close();
    }
  }, 30_000);

  it('answers one message at a time per connection, in order', async () => {
    let active = 0;
    let maxActive = 0;
    const slow: LabSessions = {
      session(clientId) {
        const call = async () => {
          maxActive = Math.max(maxActive, ++active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
          return { clientId } as never;
        };
        return { clientId, getStatus: call, startRun: call, stopRun: call, setKnob: call, takeControl: call, getFrames: call, doctor: call, onEvent: () => () => {}, dispose() {} } as Partial<LabSession> as LabSession;
      },
    };
    const host = await startWebHost(slow, { port: 0, rendererDir: RENDERER });
    try {
      const ws = await connectLab(host.port, { token: host.token });
      const c = labClient(ws);
      const answers = await Promise.all(Array.from({ length: 200 }, () => c.call('getStatus')));
      expect(answers.every((a) => a.ok)).toBe(true);
      expect(c.messages.map((m) => (m as { id: number }).id)).toEqual([...c.messages.map((m) => (m as { id: number }).id)].sort((a, b) => a - b));
      expect(maxActive).toBe(1);
      ws.close();
    } finally {
      await host.close();
    }
  });

  it('what it received it carries out after the connection closes, in order, then disposes the session (a tab closed right after Stop)', async () => {
    const calls: string[] = [];
    const sessions: LabSessions = {
      session(clientId) {
        const call = (name: string, ms: number) => async () => {
          calls.push(`${name} begins`);
          await new Promise((r) => setTimeout(r, ms));
          calls.push(`${name} ends`);
          return { clientId } as never;
        };
        return {
          clientId, getStatus: call('getStatus', 1), startRun: call('startRun', 1), stopRun: call('stopRun', 20), setKnob: call('setKnob', 200),
          takeControl: call('takeControl', 1), getFrames: call('getFrames', 1), doctor: call('doctor', 1),
          onEvent: () => () => { calls.push('unsubscribed'); }, dispose() { calls.push('disposed'); },
        } as Partial<LabSession> as LabSession;
      },
    };
    const host = await startWebHost(sessions, { port: 0, rendererDir: RENDERER });
    try {
      const ws = await connectLab(host.port, { token: host.token });
      // A knob change on its way (it takes 200 ms), then Stop, then the tab goes.
      ws.send(JSON.stringify({ id: 1, method: 'setKnob', params: { path: 'load.messageBytes', value: 256 } }));
      ws.send(JSON.stringify({ id: 2, method: 'stopRun' }));
      await waitFor(() => calls.includes('setKnob begins'), 2000, 'the knob change');
      ws.close(1001, 'tab closed');
      await waitFor(() => calls.includes('disposed'), 5000, 'the session disposed');
      expect(calls).toEqual(['setKnob begins', 'setKnob ends', 'stopRun begins', 'stopRun ends', 'unsubscribed', 'disposed']);
    } finally {
      await host.close();
    }
  });

  it('two clients: the starter controls the run, the observer sees its frames but cannot stop or change it; a reconnect with the same id resumes control; takeControl moves it', async () => {
    const controller = labClient(await connect(web.token, { client: 'controller-tab' }));
    const observerWs = await connect(web.token, { client: 'observer-tab' });
    const observer = labClient(observerWs);
    const profile = { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 30 } };
    expect(await controller.call('startRun', { profile, untilStopped: true })).toMatchObject({ ok: true });
    await waitFor(() => observer.events.filter((e) => e.type === 'frame').length >= 3, 15_000, 'frames at the observer');
    expect(await observer.call('stopRun')).toMatchObject({ ok: false, error: { code: 'NOT_CONTROLLER' } });
    expect(await observer.call('setKnob', { path: 'load.connections', value: 2 })).toMatchObject({ ok: false, error: { code: 'NOT_CONTROLLER' } });
    expect(await observer.call('getStatus')).toMatchObject({ ok: true, result: { running: true, controller: false } });

    const again = labClient(await connect(web.token, { client: 'controller-tab' }));
    const resumed = await again.call('getStatus');
    expect(resumed).toMatchObject({ ok: true, result: { running: true, controller: true } });
    const runId = (resumed as { result: { runId: string } }).result.runId;
    const frames = await again.call('getFrames', { runId, fromSeq: 0 });
    expect(frames).toMatchObject({ ok: true, result: { runId } });
    expect((frames as { result: { frames: unknown[] } }).result.frames.length).toBeGreaterThan(0);

    expect(await observer.call('takeControl')).toMatchObject({ ok: true, result: { controller: true } });
    await waitFor(() => again.events.some((e) => e.type === 'control' && e.controller === false), 5_000, 'the control event');
    await waitFor(() => observer.events.some((e) => e.type === 'control' && e.controller === true), 5_000, "the new controller's control event");
    // The observer-turned-controller's id is the credential to resume its run: nobody is told it.
    expect(JSON.stringify(again.events)).not.toContain('observer-tab');
    expect(await again.call('stopRun')).toMatchObject({ ok: false, error: { code: 'NOT_CONTROLLER' } });
    const stopped = await observer.call('stopRun');
    expect(stopped).toMatchObject({ ok: true });
    const summary = RunSummarySchema.parse((stopped as { result: unknown }).result);
    expect(summary.requests).toBeGreaterThan(0);
    await waitFor(() => controller.events.some((e) => e.type === 'ended'), 10_000, 'the first controller to see the end');
    for (const message of observer.messages) WsResponseSchema.parse(message);
    observerWs.close();
  });

  it('runs an experiment: frames stream, a live knob change opens a phase, stop returns the summary', async () => {
    const ws = await connect();
    const c = labClient(ws);
    const profile = { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 8 }, duration: { warmupS: 0, measureS: 30 } };
    const started = await c.call('startRun', { profile, untilStopped: true });
    expect(started.ok).toBe(true);
    await waitFor(() => c.events.filter((e) => e.type === 'frame').length >= 5);
    const toggled = await c.call('setKnob', { path: 'server.sqpoll.enabled', value: true });
    expect(toggled.ok).toBe(true);
    await waitFor(() => c.events.some((e) => e.type === 'frame' && e.frame.phase === 1));
    const stopped = await c.call('stopRun');
    expect(stopped.ok).toBe(true);
    const summary = RunSummarySchema.parse((stopped as { result: unknown }).result);
    expect(summary.requests).toBeGreaterThan(0);
    expect(summary.errors).toBe(0);
    expect(summary.phases).toHaveLength(2);
    const phase1 = summary.phases[1];
    const sqpollRefused = phase1.rejected.some((r) => r.knob === 'server.sqpoll.enabled');
    expect(phase1.applied.server.sqpoll.enabled).toBe(!sqpollRefused);
    const frames = c.events.filter((e): e is Extract<LabEvent, { type: 'frame' }> => e.type === 'frame');
    expect(frames.every((e, i) => i === 0 || e.frame.seq > frames[i - 1].frame.seq)).toBe(true);
    expect(frames.some((e) => e.frame.requests > 0 && e.frame.histogram.length > 0)).toBe(true);
    await waitFor(() => c.events.some((e) => e.type === 'ended'), 5_000, 'the ended event');
    for (const message of c.messages) {
      WsResponseSchema.parse(message);
      // A production page's shallower check accepts every real message and keeps it whole.
      expect(WsResponseEnvelopeSchema.parse(message)).toEqual(message);
    }
    ws.close();
  });
});

describe('token file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'uring-lab-token-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 0600 file with a fresh 32-byte hex token, and reads the same token back', () => {
    const file = path.join(dir, 'nested', 'token');
    const token = loadOrCreateToken(file);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o077).toBe(0);
    expect(loadOrCreateToken(file)).toBe(token);
    expect(loadOrCreateToken(path.join(dir, 'other'))).not.toBe(token);
  });

  it('keeps a token the user wrote (32–128 hex characters)', () => {
    const file = path.join(dir, 'mine');
    writeFileSync(file, `${'ab'.repeat(20)}\n`, { mode: 0o600 });
    expect(loadOrCreateToken(file)).toBe('ab'.repeat(20));
  });

  it('refuses a file other users can read or write, naming chmod 600', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660]) {
      const file = path.join(dir, `open-${mode.toString(8)}`);
      writeFileSync(file, 'ab'.repeat(20));
      chmodSync(file, mode);
      expect(() => loadOrCreateToken(file)).toThrow(expect.objectContaining({ code: 'TOKEN_FILE', fix: `chmod 600 ${file}` }));
    }
  });

  it('never advises chmod or rm for a file that is not a token file (e.g. /etc/passwd given by mistake)', () => {
    const file = path.join(dir, 'passwd-like');
    writeFileSync(file, 'root:x:0:0:root:/root:/bin/bash\n', { mode: 0o644 });
    let error: { code?: string; fix?: string; message?: string } = {};
    try { loadOrCreateToken(file); } catch (e) { error = e as typeof error; }
    expect(error.code).toBe('TOKEN_FILE');
    expect(error.message).toMatch(/does not hold a token/);
    expect(error.fix).not.toMatch(/chmod|rm /);
    expect(error.fix).toMatch(/path of its own/);
  });

  it('refuses a file that belongs to another user', (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('token file: the other-owner case needs root to chown a file to another uid; not run as uid', process.getuid?.());
      ctx.skip();
    }
    const file = path.join(dir, 'theirs');
    writeFileSync(file, 'ab'.repeat(20), { mode: 0o600 });
    chownSync(file, 65534, 65534);
    expect(() => loadOrCreateToken(file)).toThrow(/belongs to uid 65534/);
  });

  it('a file the kernel will not read (EIO) is one TOKEN_FILE error naming the errno, not an internal error', () => {
    // /proc/self/mem is a regular file of this user's, mode 0600, size 0: it passes every check
    // before the read, and its read fails with EIO.
    expect(() => loadOrCreateToken('/proc/self/mem')).toThrow(expect.objectContaining({
      code: 'TOKEN_FILE', message: 'token file /proc/self/mem cannot be read (EIO)', fix: expect.stringMatching(/path of its own/),
    }));
  });

  it.skipIf(process.getuid?.() !== 0)('a full disk while a new token is written: one TOKEN_FILE error naming ENOSPC, and no empty file left to be refused next time', () => {
    const full = path.join(dir, 'full');
    mkdirSync(full);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', full]);
    try {
      try { writeFileSync(path.join(full, 'filler'), Buffer.alloc(64 * 1024)); } catch { /* full */ }
      const file = path.join(full, 'token');
      expect(() => loadOrCreateToken(file)).toThrow(expect.objectContaining({
        code: 'TOKEN_FILE', message: expect.stringMatching(/^token file .*token could not be written \(ENOSPC\); nothing was left there$/),
      }));
      expect(existsSync(file)).toBe(false);
      // Room again: the same path now gets its token.
      rmSync(path.join(full, 'filler'));
      expect(loadOrCreateToken(file)).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      execFileSync('umount', [full]);
    }
  });

  it('refuses a symlink, a directory, a FIFO, and content that is not a token', () => {
    const target = path.join(dir, 'target');
    writeFileSync(target, 'ab'.repeat(20), { mode: 0o600 });
    const link = path.join(dir, 'link');
    symlinkSync(target, link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(() => loadOrCreateToken(link)).toThrow(/symbolic link/);
    const dangling = path.join(dir, 'dangling');
    symlinkSync(path.join(dir, 'nowhere'), dangling);
    expect(() => loadOrCreateToken(dangling)).toThrow(/symbolic link/);
    expect(() => loadOrCreateToken(dir)).toThrow(/not a regular file/);
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(() => loadOrCreateToken(fifo)).toThrow(/not a regular file/);
    for (const [name, content] of [['short', 'ab'.repeat(15)], ['long', 'a'.repeat(130)], ['nothex', 'g'.repeat(40)], ['empty', ''], ['big', 'a'.repeat(1000)]]) {
      const file = path.join(dir, name);
      writeFileSync(file, content, { mode: 0o600 });
      expect(() => loadOrCreateToken(file), name).toThrow(/does not hold a token/);
    }
  });

  it('gives a restarted host the same URL', async () => {
    const file = path.join(dir, 'serve-token');
    const sessions: LabSessions = { session: (clientId) => ({ clientId, dispose() {}, onEvent: () => () => {} }) as unknown as LabSession };
    const first = await startWebHost(sessions, { port: 0, rendererDir: RENDERER, token: loadOrCreateToken(file) });
    const port = first.port;
    const url = first.url;
    await first.close();
    const second = await startWebHost(sessions, { port, rendererDir: RENDERER, token: loadOrCreateToken(file) });
    try {
      expect(second.url).toBe(url);
    } finally {
      await second.close();
    }
  });
});
