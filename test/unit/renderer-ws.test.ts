import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LAB_METHOD_NAMES, LabError, ProfileSchema } from '../../electron/contract';
import { tabClientId } from '../../renderer/src/api/clientId';
import { WsLabApi, type SocketLike } from '../../renderer/src/api/wsLabApi';
import { buildWsUrl, tokenCheckUrl, type TokenVerdict } from '../../renderer/src/api/wsUrl';

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
const status = { running: false, state: 'idle', runId: null, profile, phases: [], phase: null, controller: false, lastSeq: -1, lastSummary: null };

function makeApi(verdict: TokenVerdict = 'unreachable', validateResults?: boolean) {
  FakeSocket.all = [];
  const checks: string[] = [];
  const api = new WsLabApi({
    url: 'ws://h/api?token=t&client=c1',
    createSocket: (url) => new FakeSocket(url),
    checkToken: async (url) => {
      checks.push(url);
      return verdict;
    },
    requestTimeoutMs: 1000,
    backoffInitialMs: 100,
    backoffMaxMs: 400,
    validateResults,
  });
  return { api, checks, sock: () => FakeSocket.all[FakeSocket.all.length - 1]! };
}

describe('buildWsUrl', () => {
  it('uses the page host, /api and the page token', () => {
    expect(buildWsUrl({ protocol: 'http:', host: '127.0.0.1:7070', search: '?token=a%2Bb' })).toEqual({
      url: 'ws://127.0.0.1:7070/api?token=a%2Bb',
      token: 'a+b',
    });
    expect(buildWsUrl({ protocol: 'https:', host: 'x', search: '' })).toEqual({ url: 'wss://x/api', token: null });
  });

  it("adds this tab's client id, and the token check asks the same path over HTTP", () => {
    const { url } = buildWsUrl({ protocol: 'http:', host: '127.0.0.1:7070', search: '?token=abc' }, '0f'.repeat(16));
    expect(url).toBe(`ws://127.0.0.1:7070/api?token=abc&client=${'0f'.repeat(16)}`);
    expect(tokenCheckUrl(url)).toBe(`http://127.0.0.1:7070/api?token=abc&client=${'0f'.repeat(16)}`);
    expect(tokenCheckUrl('wss://x/api?token=a')).toBe('https://x/api?token=a');
  });

  it('keeps one client id per tab in sessionStorage', () => {
    const kept = new Map<string, string>();
    const storage = { getItem: (k: string) => kept.get(k) ?? null, setItem: (k: string, v: string) => void kept.set(k, v) };
    const id = tabClientId(storage);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(tabClientId(storage)).toBe(id);
    expect(tabClientId(null)).not.toBe(id);
    const broken = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('denied'); } };
    expect(tabClientId(broken)).toMatch(/^[0-9a-f]{32}$/);
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
    sock().receive({ id: 1, ok: false, error: { code: 'UNKNOWN_KNOB', kind: 'input', message: 'no such knob', field: 'path', fix: 'use server.sqpoll.enabled' } });
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
    sock().receive({ event: { type: 'control', runId: 'r', controller: false } });
    sock().receive({ event: { type: 'failed', runId: 'r', error: { code: 'ENGINE', message: 'boom' } } }); // no summary: malformed
    sock().receive({ event: { type: 'frame', frame: { runId: 'r' } } });
    sock().receive({ event: { type: 'nope' } });
    sock().onmessage?.({ data: 'not json' });
    expect(seen).toEqual(['control']);
    expect(warn).toHaveBeenCalledTimes(4);
    off();
    sock().receive({ event: { type: 'control', runId: 'r', controller: false } });
    expect(seen).toEqual(['control']);
    warn.mockRestore();
  });


  it("outside development checks events' frames and summaries only for what routes them, keeping every field", () => {
    const { api, sock } = makeApi('unreachable', false);
    const seen: unknown[] = [];
    api.onEvent((e) => seen.push(e));
    sock().open();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    // Fields the full schema would refuse or strip pass as sent: the payload is not walked.
    const frame = { runId: 'r', seq: 3, phase: 0, tMs: 300, measuring: true, client: 'as sent', extra: [1, 2] };
    const summary = { runId: 'r', status: 'completed', spikes: [{ any: 'thing' }] };
    sock().receive({ event: { type: 'frame', frame } });
    sock().receive({ event: { type: 'ended', runId: 'r', summary } });
    expect(seen).toEqual([{ type: 'frame', frame }, { type: 'ended', runId: 'r', summary }]);
    // The envelope is still checked: each of these is dropped with a warning.
    const malformed = [
      { event: { type: 'frame', frame: { runId: 'r' } } }, // no seq, phase, tMs, measuring
      { event: { type: 'frame', frame: { ...frame, seq: 'x' } } },
      { event: { type: 'ended', runId: 'r' } }, // no summary
      { event: { type: 'ended', runId: 'r', summary: { status: 'completed' } } }, // summary without runId
      { event: { type: 'failed', runId: 'r', summary, error: { message: 'no code' } } },
      { event: { type: 'interrupted', runId: 'r', summary: { ...summary, status: 'gone' } } },
      { event: { type: 'nope' } },
    ];
    for (const m of malformed) sock().receive(m);
    expect(seen).toHaveLength(2);
    expect(warn).toHaveBeenCalledTimes(malformed.length);
    warn.mockRestore();

    // In development and tests the same shallow frame is refused by the full schema.
    const full = makeApi();
    const fullSeen: unknown[] = [];
    full.api.onEvent((e) => fullSeen.push(e));
    full.sock().open();
    const warn2 = vi.spyOn(console, 'warn').mockImplementation(() => {});
    full.sock().receive({ event: { type: 'frame', frame } });
    full.sock().receive({ event: { type: 'ended', runId: 'r', summary } });
    expect(fullSeen).toEqual([]);
    expect(warn2).toHaveBeenCalledTimes(2);
    warn2.mockRestore();
  });
  it('has one method per row of the method table, each a call by name', () => {
    const { api, sock } = makeApi();
    sock().open();
    for (const method of LAB_METHOD_NAMES) expect(typeof api[method]).toBe('function');
    void api.getFrames({ runId: 'r', fromSeq: 0 });
    expect(sock().sent).toEqual([{ id: 1, method: 'getFrames', params: { runId: 'r', fromSeq: 0 } }]);
  });

  it("checks each result against its method's result schema in development and tests", async () => {
    const checked = makeApi();
    checked.sock().open();
    const p = checked.api.getStatus();
    checked.sock().receive({ id: 1, ok: true, result: { ...status, lastSeq: 'many' } });
    await expect(p).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/getStatus: lastSeq/) });

    const unchecked = makeApi('unreachable', false);
    unchecked.sock().open();
    const q = unchecked.api.getStatus();
    unchecked.sock().receive({ id: 1, ok: true, result: { ...status, lastSeq: 'many' } });
    await expect(q).resolves.toMatchObject({ lastSeq: 'many' });
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
    expect(FakeSocket.all.map((x) => x.url)).toEqual(Array(3).fill('ws://h/api?token=t&client=c1'));

    // after a successful open the backoff starts over
    sock().drop();
    expect(api.connection.current()).toMatchObject({ kind: 'closed', retryInMs: 100 });
    api.close();
    vi.advanceTimersByTime(1000);
    expect(FakeSocket.all).toHaveLength(3);
  });

  it('sends takeControl and getFrames', async () => {
    const { api, sock } = makeApi();
    sock().open();
    const control = api.takeControl();
    const frames = api.getFrames({ runId: 'r1', fromSeq: 42 });
    expect(sock().sent).toEqual([{ id: 1, method: 'takeControl' }, { id: 2, method: 'getFrames', params: { runId: 'r1', fromSeq: 42 } }]);
    sock().receive({ id: 1, ok: true, result: { ...status, controller: true } });
    sock().receive({ id: 2, ok: true, result: { runId: 'r1', frames: [], lost: 3 } });
    await expect(control).resolves.toMatchObject({ controller: true });
    await expect(frames).resolves.toEqual({ runId: 'r1', frames: [], lost: 3 });
  });

  it('asks over HTTP after a connection that never opened, and stops for good on a refused token', async () => {
    const { api, sock, checks } = makeApi('rejected');
    const waiting = api.getStatus();
    const refusedDone = expect(waiting).rejects.toMatchObject({ code: 'BAD_TOKEN' });
    sock().drop(); // the upgrade was answered 403: the browser only sees a failed connection
    expect(checks).toEqual(['http://h/api?token=t&client=c1']);
    await vi.advanceTimersByTimeAsync(0);
    expect(api.connection.current()).toMatchObject({ kind: 'refused', reason: 'bad-token', message: expect.stringMatching(/not valid for this host/) });
    await refusedDone;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.all).toHaveLength(1); // no more attempts
    await expect(api.doctor()).rejects.toMatchObject({ code: 'BAD_TOKEN' });
    // the user fixed the host: "Try again" connects once more
    api.retryNow();
    expect(FakeSocket.all).toHaveLength(2);
    sock().open();
    expect(api.connection.current()).toEqual({ kind: 'open' });
  });

  it('keeps retrying while the host is down or the token is accepted, and does not ask after a drop of an open connection', async () => {
    for (const verdict of ['unreachable', 'accepted'] as const) {
      const { api, sock, checks } = makeApi(verdict);
      sock().open();
      sock().drop(); // an open connection dropped: the host went away, the token was fine
      expect(checks).toEqual([]);
      await vi.advanceTimersByTimeAsync(100);
      sock().drop(); // the restart is not up yet
      expect(checks).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(200);
      expect(FakeSocket.all).toHaveLength(3);
      expect(api.connection.current()).toMatchObject({ kind: 'connecting', attempt: 3 });
      sock().open();
      expect(api.connection.current()).toEqual({ kind: 'open' });
      api.close();
    }
  });

  it('drops a retry already under way when the token check comes back refused', async () => {
    FakeSocket.all = [];
    let answer: (v: TokenVerdict) => void = () => {};
    const api = new WsLabApi({
      url: 'ws://h/api?token=t',
      createSocket: (url) => new FakeSocket(url),
      checkToken: () => new Promise((r) => (answer = r)),
      backoffInitialMs: 10,
    });
    FakeSocket.all[0]!.drop();
    await vi.advanceTimersByTimeAsync(10); // the retry starts before the check answers
    expect(FakeSocket.all).toHaveLength(2);
    answer('rejected');
    await vi.advanceTimersByTimeAsync(0);
    expect(api.connection.current()).toMatchObject({ kind: 'refused' });
    expect(FakeSocket.all[1]!.readyState).toBe(3);
    FakeSocket.all[1]!.open(); // too late: ignored
    expect(api.connection.current()).toMatchObject({ kind: 'refused' });
  });
});
