/**
 * The browser host: the LabApi over WebSocket, guarded by a token, with errors as data.
 * Runs a real LabService with the real engine process behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LabService } from '../../electron/host/labService';
import { startWebHost, WebHost } from '../../electron/web';
import { LabEvent, RunSummarySchema, WsResponseSchema, WsResponse } from '../../electron/contract';
import { EngineSupervisor, forkEngine } from '../../electron/host/engineSupervisor';
import path from 'node:path';

const ENGINE = path.join(__dirname, '../../dist/electron/engine/main.js');
const RENDERER = path.join(__dirname, '../../dist/renderer');

let lab: LabService;
let web: WebHost;

beforeAll(async () => {
  lab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(ENGINE)) });
  web = await startWebHost(lab, { port: 0, rendererDir: RENDERER });
});
afterAll(async () => {
  await web?.close();
  await lab?.close();
});

function connect(token = web.token): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/api?token=${token}`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function client(ws: WebSocket) {
  let nextId = 1;
  const pending = new Map<number, (r: WsResponse) => void>();
  const events: LabEvent[] = [];
  ws.on('message', (data) => {
    const msg = WsResponseSchema.parse(JSON.parse(data.toString()));
    if ('event' in msg) events.push(msg.event);
    else pending.get(msg.id)?.(msg);
  });
  return {
    events,
    call(method: string, params?: unknown): Promise<WsResponse> {
      const id = nextId++;
      return new Promise((resolve) => { pending.set(id, resolve); ws.send(JSON.stringify({ id, method, params })); });
    },
    raw(text: string): Promise<WsResponse> {
      return new Promise((resolve) => { pending.set(-1, resolve); ws.send(text); });
    },
  };
}

describe('web host', () => {
  it('serves the built UI with a CSP', async () => {
    const res = await fetch(`http://127.0.0.1:${web.port}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toContain('<div id="app">');
    expect((await fetch(`http://127.0.0.1:${web.port}/../../package.json`)).status).toBe(404);
  });

  it('refuses a socket without the right token', async () => {
    await expect(connect('wrong')).rejects.toThrow(/403/);
  });

  it('answers bad messages with error data naming the field', async () => {
    const ws = await connect();
    const c = client(ws);
    const unknown = await c.call('formatDisk');
    expect(unknown).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', field: 'method' } });
    const notJson = await c.raw('{nope');
    expect(notJson).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const badKnob = await c.call('setKnob', { path: 'server.sqpoll.enabled', value: 'on' });
    expect(badKnob).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE', field: 'server.sqpoll.enabled' } });
    const status = await c.call('getStatus');
    expect(status).toMatchObject({ ok: true, result: { running: false } });
    // the refused change left the profile as it was
    expect((status as { result: { profile: { server: { sqpoll: { enabled: boolean } } } } }).result.profile.server.sqpoll.enabled).toBe(false);
    ws.close();
  });

  it('runs an experiment: frames stream, a live knob change opens a phase, stop returns the summary', async () => {
    const ws = await connect();
    const c = client(ws);
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
    expect(c.events.some((e) => e.type === 'ended')).toBe(true);
    ws.close();
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
