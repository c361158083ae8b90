/**
 * Clients for the browser host's tests, from polite to hostile: a LabApi client over the `ws`
 * library, a raw HTTP exchange over a bare TCP socket (any bytes, any framing), and a
 * WebSocket frame encoder/decoder for writing frames no conforming client would send.
 */
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { LabEvent, WsResponse } from '../../electron/contract';
import { LabService } from '../../electron/host/labService';
import { EngineSupervisor, forkEngine } from '../../electron/host/engine/supervisor';
import { startWebHost, type WebHost } from '../../electron/web';

// ---- the host under test ------------------------------------------------------------------

const ENGINE = path.join(__dirname, '../../dist/electron/engine/main.js');
const RENDERER = path.join(__dirname, '../../dist/renderer');

/** A LabService with a real engine (forked from dist/) behind the browser host on a free port. */
export async function startLabWebHost(): Promise<{ lab: LabService; web: WebHost }> {
  const lab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(ENGINE)) });
  const web = await startWebHost(lab, { port: 0, rendererDir: RENDERER });
  return { lab, web };
}

// ---- LabApi over ws ---------------------------------------------------------------------

export interface LabSocketOptions {
  token: string;
  client?: string;
  origin?: string;
  /** Extra query text appended verbatim (e.g. `&token=other`). */
  query?: string;
}

export function connectLab(port: number, options: LabSocketOptions): Promise<WebSocket> {
  const client = options.client === undefined ? '' : `&client=${encodeURIComponent(options.client)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api?token=${options.token}${client}${options.query ?? ''}`,
      options.origin === undefined ? {} : { origin: options.origin });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A response to a call (not an event). */
export type WsAnswer = Exclude<WsResponse, { event: unknown }>;

export interface LabClient {
  events: LabEvent[];
  /** Every message the host sent, parsed (responses and events). */
  messages: WsResponse[];
  call(method: string, params?: unknown): Promise<WsAnswer>;
  /** Sends `data` as is and resolves with the next response that is not an event. */
  raw(data: string | Buffer): Promise<WsAnswer>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Responses are matched by id; `raw` sends one message at a time and takes the next answer. */
export function labClient(ws: WebSocket): LabClient {
  let nextId = 1;
  const pending = new Map<number, (r: WsAnswer) => void>();
  const rawWaiters: Array<(r: WsAnswer) => void> = [];
  const events: LabEvent[] = [];
  const messages: WsResponse[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as WsResponse;
    messages.push(msg);
    if ('event' in msg) { events.push(msg.event); return; }
    const byId = pending.get(msg.id);
    if (byId) { pending.delete(msg.id); byId(msg); return; }
    rawWaiters.shift()?.(msg);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  return {
    events,
    messages,
    closed,
    call(method, params) {
      const id = 1_000_000 + nextId++;
      return new Promise((resolve) => { pending.set(id, resolve); ws.send(JSON.stringify({ id, method, params })); });
    },
    raw(data) {
      return new Promise((resolve) => { rawWaiters.push(resolve); ws.send(data); });
    },
  };
}

export async function waitFor(predicate: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- raw HTTP -----------------------------------------------------------------------------

export interface RawExchange {
  /** Everything the server sent before it closed (or before the timeout). */
  data: Buffer;
  /** The server closed the connection (FIN or reset) within the time allowed. */
  closed: boolean;
  /** A socket error seen on our side (ECONNRESET, EPIPE), if any. */
  error: string | null;
}

/**
 * Writes `chunks` to a fresh connection (with `gapMs` between them), half-closes when `end`
 * is set, and collects what comes back until the server closes or `timeoutMs` passes.
 */
export function rawExchange(port: number, chunks: Buffer[], options: { end?: boolean; gapMs?: number; timeoutMs?: number; until?: (data: Buffer) => boolean } = {}): Promise<RawExchange> {
  const { end = true, gapMs = 0, timeoutMs = 3_000 } = options;
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let error: string | null = null;
    let done = false;
    const socket = net.connect(port, '127.0.0.1');
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(received), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d) => {
      received.push(d);
      if (options.until?.(Buffer.concat(received))) finish(true);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; });
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (end && !socket.destroyed) socket.end();
    });
  });
}

export interface HttpResponseHead {
  status: number;
  headers: Map<string, string>;
}

/** The status line and headers of every response in `data` (pipelined ones included). */
export function responseHeads(data: Buffer): HttpResponseHead[] {
  const text = data.toString('latin1');
  const heads: HttpResponseHead[] = [];
  let at = 0;
  while (at < text.length) {
    const start = text.indexOf('HTTP/1.1 ', at);
    if (start === -1) break;
    const endOfHead = text.indexOf('\r\n\r\n', start);
    if (endOfHead === -1) break;
    const lines = text.slice(start, endOfHead).split('\r\n');
    const status = Number(lines[0].slice(9, 12));
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    heads.push({ status, headers });
    const length = Number(headers.get('content-length') ?? 0);
    at = endOfHead + 4 + (status === 304 || status === 101 || !Number.isFinite(length) ? 0 : length);
  }
  return heads;
}

// ---- raw WebSocket frames -------------------------------------------------------------------

export interface FrameSpec {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  /** RSV1..3 as bits 0b100, 0b010, 0b001. */
  rsv?: number;
  /** Client frames must be masked; false writes a frame no client may send. */
  mask?: boolean;
  /** Claimed payload length when it should differ from the real one (64-bit lengths). */
  claimedLength?: bigint;
}

/** One frame's bytes, exactly as specified (including what RFC 6455 forbids). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const mask = spec.mask ?? true;
  const length = spec.claimedLength ?? BigInt(payload.length);
  const first = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f);
  let header: Buffer;
  if (spec.claimedLength === undefined && length < 126n) {
    header = Buffer.from([first, (mask ? 0x80 : 0) | Number(length)]);
  } else if (spec.claimedLength === undefined && length < 65536n) {
    header = Buffer.alloc(4);
    header[0] = first; header[1] = (mask ? 0x80 : 0) | 126; header.writeUInt16BE(Number(length), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first; header[1] = (mask ? 0x80 : 0) | 127; header.writeBigUInt64BE(length, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([header, key, masked]);
}

export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code & 0xffff);
  return Buffer.concat([head, Buffer.isBuffer(reason) ? reason : Buffer.from(reason)]);
}

export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Complete frames the server sent (server frames are unmasked); a partial tail is ignored. */
export function decodeFrames(data: Buffer): ServerFrame[] {
  const frames: ServerFrame[] = [];
  let at = 0;
  while (at + 2 <= data.length) {
    const opcode = data[at] & 0x0f;
    let length = data[at + 1] & 0x7f;
    let offset = at + 2;
    if (length === 126) { if (offset + 2 > data.length) break; length = data.readUInt16BE(offset); offset += 2; }
    else if (length === 127) { if (offset + 8 > data.length) break; length = Number(data.readBigUInt64BE(offset)); offset += 8; }
    if (offset + length > data.length) break;
    frames.push({ opcode, payload: data.subarray(offset, offset + length) });
    at = offset + length;
  }
  return frames;
}

/** An opening handshake for /api, as raw bytes; `extra` header lines go in as given. */
export function upgradeRequest(port: number, token: string, extra: string[] = [], options: { target?: string; host?: string } = {}): Buffer {
  const lines = [
    `GET ${options.target ?? `/api?token=${token}`} HTTP/1.1`,
    `Host: ${options.host ?? `127.0.0.1:${port}`}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** What came back after a handshake and some frames: the HTTP head, then server frames. */
export function splitUpgradeReply(data: Buffer): { head: HttpResponseHead | null; frames: ServerFrame[] } {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return { head: null, frames: [] };
  const [head] = responseHeads(data.subarray(0, end + 4));
  return { head: head ?? null, frames: head?.status === 101 ? decodeFrames(data.subarray(end + 4)) : [] };
}

/** A 32-bit seeded PRNG (mulberry32, the A/B bootstrap's): the same seed replays the same inputs. */
export { seededRandom as mulberry32 } from '../../electron/host/ab/statistics';
