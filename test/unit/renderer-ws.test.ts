import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LabError, ProfileSchema } from '../../electron/contract';
import { WsLabApi, buildWsUrl, type SocketLike } from '../../renderer/src/lab/wsLabApi';

class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onerror: SocketLike['onerror'] = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  // test helpers
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  lastId(): number {
    return (this.sent[this.sent.length - 1] as { id: number }).id;
  }
}

const profile = ProfileSchema.parse({ kind: 'uring-lab/profile', schemaVersion: 1 });
const status = { running: false, runId: null, profile, phase: null, lastSummary: null };

function makeApi() {
  FakeSocket.all = [];
  const api = new WsLabApi({
    url: 'ws://h/api?token=t',
    createSocket: (url) => new FakeSocket(url),
    requestTimeoutMs: 1000,
    backoffInitialMs: 100,
    backoffMaxMs: 400,
  });
  return { api, sock: () => FakeSocket.all[FakeSocket.all.length - 1]! };
}

describe('buildWsUrl', () => {
  it('uses the page host, /api and the page token', () => {
    expect(buildWsUrl({ protocol: 'http:', host: '127.0.0.1:7070', search: '?token=a%2Bb' })).toEqual({
      url: 'ws://127.0.0.1:7070/api?token=a%2Bb',
      token: 'a+b',
    });
    expect(buildWsUrl({ protocol: 'https:', host: 'x', search: '' })).toEqual({ url: 'wss://x/api', token: null });
  });
});

describe('WsLabApi', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('queues requests until open, then resolves by id', async () => {
    const { api, sock } = makeApi();
    expect(api.connection.current()).toEqual({ kind: 'connecting', attempt: 1 });
    const p = api.getStatus();
    expect(sock().sent).toEqual([]);
    sock().open();
    expect(api.connection.current()).toEqual({ kind: 'open' });
    expect(sock().sent).toEqual([{ id: 1, method: 'getStatus' }]);
    sock().receive({ id: 1, ok: true, result: status });
    await expect(p).resolves.toEqual(status);
  });

  it('sends params and rejects host errors as LabError with code, field and fix', async () => {
    const { api, sock } = makeApi();
    sock().open();
    const p = api.setKnob({ path: 'server.sqpol.enabled', value: true });
    expect(sock().sent[0]).toEqual({ id: 1, method: 'setKnob', params: { path: 'server.sqpol.enabled', value: true } });
    sock().receive({ id: 1, ok: false, error: { code: 'UNKNOWN_KNOB', message: 'no such knob', field: 'path', fix: 'use server.sqpoll.enabled' } });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect(err).toMatchObject({ code: 'UNKNOWN_KNOB', message: 'no such knob', field: 'path', fix: 'use server.sqpoll.enabled' });
  });

  it('dispatches validated events and ignores malformed ones', () => {
    const { api, sock } = makeApi();
    const seen: string[] = [];
    const off = api.onEvent((e) => seen.push(e.type));
    sock().open();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    sock().receive({ event: { type: 'failed', runId: 'r', error: { code: 'ENGINE', message: 'boom' } } });
    sock().receive({ event: { type: 'frame', frame: { runId: 'r' } } });
    sock().receive({ event: { type: 'nope' } });
    sock().onmessage?.({ data: 'not json' });
    expect(seen).toEqual(['failed']);
    expect(warn).toHaveBeenCalledTimes(3);
    off();
    sock().receive({ event: { type: 'failed', runId: 'r', error: { code: 'ENGINE', message: 'boom' } } });
    expect(seen).toEqual(['failed']);
    warn.mockRestore();
  });

  it('rejects a malformed answer with a PROTOCOL error', async () => {
    const { api, sock } = makeApi();
    sock().open();
    const p = api.stopRun();
    sock().receive({ id: 1, ok: 'yes' });
    await expect(p).rejects.toMatchObject({ code: 'PROTOCOL' });
  });

  it('times out unanswered requests', async () => {
    const { api, sock } = makeApi();
    sock().open();
    const p = api.doctor();
    const done = expect(p).rejects.toMatchObject({ code: 'TIMEOUT' });
    vi.advanceTimersByTime(1001);
    await done;
  });

  it('reconnects with backoff, failing in-flight requests and resending queued ones', async () => {
    const { api, sock } = makeApi();
    const states: string[] = [];
    api.connection.onChange((s) => states.push(s.kind === 'closed' ? `closed:${s.retryInMs}` : s.kind));
    sock().open();
    const inFlight = api.stopRun();
    const inFlightDone = expect(inFlight).rejects.toMatchObject({ code: 'DISCONNECTED' });
    sock().drop();
    await inFlightDone;
    expect(api.connection.current()).toMatchObject({ kind: 'closed', retryInMs: 100 });

    const queued = api.getStatus();
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all).toHaveLength(2);
    sock().drop(); // second attempt fails too: backoff doubles
    expect(api.connection.current()).toMatchObject({ kind: 'closed', retryInMs: 200 });
    vi.advanceTimersByTime(200);
    expect(FakeSocket.all).toHaveLength(3);
    sock().open();
    expect(sock().sent).toEqual([{ id: 2, method: 'getStatus' }]);
    sock().receive({ id: 2, ok: true, result: status });
    await expect(queued).resolves.toEqual(status);
    expect(states).toEqual(['open', 'closed:100', 'connecting', 'closed:200', 'connecting', 'open']);

    // after a successful open the backoff starts over
    sock().drop();
    expect(api.connection.current()).toMatchObject({ kind: 'closed', retryInMs: 100 });
    api.close();
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(3);
  });
});
