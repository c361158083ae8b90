/**
 * LabApi over WebSocket, for the browser host (`uring-lab serve`).
 *
 * Requests go out as {id, method, params}; the host answers {id, ok:true, result} or
 * {id, ok:false, error:{code,kind,message,field?,fix?}} (rejected as a LabError) and pushes
 * {event: LabEvent} to every client. In development and tests every incoming message is
 * validated against the contract's WsResponseSchema and each result against its method's
 * result schema (LAB_METHODS[method].result), so a host that drifted from the contract fails
 * loudly. Production builds check the envelope (WsResponseEnvelopeSchema: an event's frame or
 * summary only for the fields that route it; the full walk of a long run's summary was a long
 * task at every stop) and results not at all: the host serving this page is of its build. The
 * methods themselves are generated from the method table (labMethods.ts): this file only knows
 * `call(method, params)`.
 *
 * A closed socket is reopened with exponential backoff; requests made while it is down wait
 * for the next connection (up to their timeout), and requests in flight when it drops are
 * rejected, because the host may or may not have run them. After a connection that never
 * opened the adapter asks the host whether the token is the problem (wsUrl.ts): if it is,
 * retrying cannot help (state `refused`); anything else means keep retrying.
 */
import { LAB_METHODS, LabError, MAX_REQUEST_BYTES, WsResponseEnvelopeSchema, WsResponseSchema, type LabEvent, type WsResponse, type LabMethod } from '../../../electron/contract';
import type { ConnectionState, LabConnection } from './connection';
import { labMethodsOver, type LabMethods } from './labMethods';
import { BAD_TOKEN, fetchTokenCheck, tokenCheckUrl, type TokenCheck } from './wsUrl';

/** The contract's request limit: past it the host closes the socket, so a request is refused here first. */
export { MAX_REQUEST_BYTES };

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/** Why `payload` cannot be sent (it is past MAX_REQUEST_BYTES), naming its largest parameter; null when it fits. */
export function oversizedRequest(method: string, params: unknown, payload: string): LabError | null {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most requests need no encoding to know they fit.
  if (payload.length * 3 <= MAX_REQUEST_BYTES) return null;
  const bytes = utf8Bytes(payload);
  if (bytes <= MAX_REQUEST_BYTES) return null;
  let field = 'params';
  if (params && typeof params === 'object' && !Array.isArray(params)) {
    let largest = -1;
    for (const [key, value] of Object.entries(params)) {
      const size = JSON.stringify(value ?? null).length;
      if (size > largest) [field, largest] = [key, size];
    }
  }
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  return new LabError({
    code: 'BAD_REQUEST',
    kind: 'input',
    field,
    message: `${method} ${field}: ${kib(bytes)} is more than the host takes in one request (${kib(MAX_REQUEST_BYTES)}); nothing was sent`,
    fix: `shorten ${field} below ${kib(MAX_REQUEST_BYTES)} (a profile is a few KB: leave out what is not one)`,
  });
}

/** The slice of the DOM WebSocket this adapter uses (lets tests pass a fake). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export interface WsLabApiOptions {
  url: string;
  createSocket?: SocketFactory;
  checkToken?: TokenCheck;
  /** Per-request timeout, ms (startRun waits for the engine to apply every knob). */
  requestTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Check every result against its method's result schema, and every event's frame or summary
   *  in full (default: in development and tests; otherwise events are checked as
   *  LabEventEnvelopeSchema says, and results not at all). */
  validateResults?: boolean;
}

const OPEN = 1;
const PROTOCOL_FIX = 'the UI and the host are from different versions; restart `uring-lab serve` and reload';

interface Pending {
  method: LabMethod;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Serialized request; null once sent. */
  payload: string | null;
}

/** Up to three zod issues in one line. */
function issuesText(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

// The LabApi methods (getStatus, startRun, …) are generated in the constructor, one `call`
// per method-table row; this interface merges their types into the class.
export interface WsLabApi extends LabMethods {}
export class WsLabApi {
  readonly connection: LabConnection;
  private socket: SocketLike | null = null;
  private state: ConnectionState = { kind: 'connecting', attempt: 1 };
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private readonly eventListeners = new Set<(e: LabEvent) => void>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Consecutive connection attempts that failed (reset when one opens). */
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closedByUser = false;
  private refused = false;
  private readonly createSocket: SocketFactory;
  private readonly checkToken: TokenCheck;
  private readonly requestTimeoutMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly validateResults: boolean;

  constructor(private readonly opts: WsLabApiOptions) {
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.checkToken = opts.checkToken ?? fetchTokenCheck;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.backoffInitialMs = opts.backoffInitialMs ?? 250;
    this.backoffMaxMs = opts.backoffMaxMs ?? 5_000;
    this.validateResults = opts.validateResults ?? import.meta.env.DEV;
    Object.assign(this, labMethodsOver((method, params) => this.call(method, params)));
    this.connection = {
      current: () => this.state,
      onChange: (listener) => {
        this.stateListeners.add(listener);
        return () => this.stateListeners.delete(listener);
      },
      retry: () => this.retryNow(),
    };
    this.open();
  }

  onEvent(listener: (event: LabEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  /** Sends one LabApi request; every generated method is this. */
  call(method: LabMethod, params?: unknown): Promise<unknown> {
    const id = this.nextId++;
    const payload = JSON.stringify(params === undefined ? { id, method } : { id, method, params });
    if (this.refused) return Promise.reject(this.refusalError());
    const tooLarge = oversizedRequest(method, params, payload);
    if (tooLarge) return Promise.reject(tooLarge);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new LabError({
            code: 'TIMEOUT',
            message: `The lab host did not answer ${method} within ${Math.round(this.requestTimeoutMs / 1000)} s`,
            fix: 'check that `uring-lab serve` is still running, then retry',
          }),
        );
      }, this.requestTimeoutMs);
      const entry: Pending = { method, resolve, reject, timer, payload };
      this.pending.set(id, entry);
      if (this.socket && this.socket.readyState === OPEN) this.send(entry);
    });
  }

  /** Connects again now: after a refusal (the user restarted the host), or instead of waiting out the backoff. */
  retryNow(): void {
    if (this.closedByUser || this.socket) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.refused = false;
    this.failures = 0;
    this.open();
  }

  /** Closes the socket for good (no reconnect); pending requests are rejected. */
  close(): void {
    this.closedByUser = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.socket?.close(1000, 'client closed');
    this.socket = null;
    this.failAll(new LabError({ code: 'DISCONNECTED', message: 'Connection to the lab host was closed' }), true);
  }

  // ---- internals ---------------------------------------------------------------------

  private send(entry: Pending): void {
    if (entry.payload === null || !this.socket) return;
    try {
      this.socket.send(entry.payload);
      entry.payload = null;
    } catch {
      // Socket died between the readyState check and send: onclose will follow; keep it queued.
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    for (const l of this.stateListeners) l(state);
  }

  private refusalError(): LabError {
    return new LabError({ code: 'BAD_TOKEN', message: BAD_TOKEN.message, fix: BAD_TOKEN.fix });
  }

  private open(): void {
    if (this.closedByUser || this.refused) return;
    this.setState({ kind: 'connecting', attempt: this.failures + 1 });
    let socket: SocketLike;
    try {
      socket = this.createSocket(this.opts.url);
    } catch (err) {
      this.scheduleReconnect(err instanceof Error ? err.message : String(err), false);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.failures = 0;
      this.setState({ kind: 'open' });
      for (const entry of this.pending.values()) this.send(entry);
    };
    socket.onmessage = (ev) => {
      if (this.socket === socket) this.handleMessage(ev.data);
    };
    socket.onerror = () => {
      // The close event that follows carries what little the browser tells us.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.failAll(
        new LabError({
          code: 'DISCONNECTED',
          message: 'Connection to the lab host was lost before it answered',
          fix: 'the request may or may not have taken effect; check the run state and retry',
        }),
        false,
      );
      const reason = ev.reason || (ev.code === 1006 ? (opened ? 'connection dropped' : 'connection refused') : `closed (${ev.code})`);
      this.scheduleReconnect(reason, !opened);
    };
  }

  /** After a failed attempt: retry with backoff; if the socket never opened, ask whether the token is the problem. */
  private scheduleReconnect(reason: string, neverOpened: boolean): void {
    if (this.closedByUser || this.refused) return;
    this.failures++;
    const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (this.failures - 1));
    this.setState({ kind: 'closed', attempt: this.failures, retryInMs: delay, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
    if (neverOpened) void this.checkToken(tokenCheckUrl(this.opts.url)).then((verdict) => {
      if (verdict === 'rejected') this.refuse();
    });
  }

  /** The host refused the token: stop retrying, fail everything waiting, say why. */
  private refuse(): void {
    if (this.closedByUser || this.refused) return;
    this.refused = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // A retry may already be under way; its outcome no longer matters.
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'token refused');
    this.failAll(this.refusalError(), true);
    this.setState(BAD_TOKEN);
  }

  /** Rejects requests already sent (their outcome is unknown); queued ones too if `all`. */
  private failAll(err: LabError, all: boolean): void {
    for (const [id, entry] of this.pending) {
      if (!all && entry.payload !== null) continue;
      this.settle(id, entry, () => entry.reject(err));
    }
  }

  private settle(id: number, entry: Pending, outcome: () => void): void {
    clearTimeout(entry.timer);
    this.pending.delete(id);
    outcome();
  }

  private protocolError(method: LabMethod, detail: string): LabError {
    return new LabError({ code: 'PROTOCOL', message: `The lab host sent a malformed answer to ${method}: ${detail}`, fix: PROTOCOL_FIX });
  }

  private handleMessage(data: unknown): void {
    let raw: unknown;
    try {
      raw = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      console.warn('[uring-lab] ignoring a non-JSON message from the host');
      return;
    }
    const parsed = (this.validateResults ? WsResponseSchema : WsResponseEnvelopeSchema).safeParse(raw);
    if (!parsed.success) {
      const id = typeof raw === 'object' && raw !== null && 'id' in raw ? (raw as { id: unknown }).id : undefined;
      const entry = typeof id === 'number' ? this.pending.get(id) : undefined;
      const detail = issuesText(parsed.error.issues);
      if (entry && typeof id === 'number') this.settle(id, entry, () => entry.reject(this.protocolError(entry.method, detail)));
      else console.warn(`[uring-lab] ignoring a malformed message from the host: ${detail}`);
      return;
    }
    // The envelope check leaves a frame's or summary's other fields as sent: the host serving
    // this page is of its build (LabEventEnvelopeSchema), so they are taken as the contract's.
    const msg = parsed.data as WsResponse;
    if ('event' in msg) {
      for (const l of [...this.eventListeners]) {
        try {
          l(msg.event);
        } catch (err) {
          console.error('[uring-lab] event listener failed', err);
        }
      }
      return;
    }
    const entry = this.pending.get(msg.id);
    if (!entry) return;
    if (!msg.ok) return this.settle(msg.id, entry, () => entry.reject(new LabError(msg.error)));
    const checked = this.validateResults ? LAB_METHODS[entry.method].result.safeParse(msg.result) : null;
    if (checked && !checked.success) this.settle(msg.id, entry, () => entry.reject(this.protocolError(entry.method, issuesText(checked.error.issues))));
    else this.settle(msg.id, entry, () => entry.resolve(msg.result));
  }
}
