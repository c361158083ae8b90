/**
 * The browser host: serves the built renderer on 127.0.0.1 and carries the LabApi over a
 * WebSocket at /api. A random token in the page URL guards the socket, and Host and Origin
 * must name exactly the origin this server listens on, so neither another web page open in
 * the same browser nor a DNS-rebound name can drive the lab.
 *
 * Everything that arrives here is untrusted bytes. Every request line, header, frame and
 * message ends in an answer or a refusal on its own connection (an HTTP status, a WebSocket
 * close code, or `{id, ok:false, error}`); nothing a client sends can throw out of an event
 * handler and take the process, or another client's run, down with it.
 */
import { promises as fs, createReadStream, existsSync, realpathSync, type Stats } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import path from 'node:path';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { LabError, LabSession, LabSessions, oneLineText, WsResponse } from './contract';
import { answerLabMessage } from './host/labDispatch';

export const RENDERER_DIR = path.join(__dirname, '..', 'renderer');

/** Largest WebSocket message accepted. The largest real one, a startRun with a full
 *  profile, is under 4 KiB; a profile description at its 10,000-character limit still fits. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Messages of one connection waiting for their turn before its socket stops being read. */
const PAUSE_AT_QUEUED = 8;
/** Pausing stops further reads, but what was already read is parsed to the end; a burst that
 *  leaves more than this many messages waiting closes the connection with 1008. */
const MAX_QUEUED = 1024;
/** Bytes queued to a client that does not read; past this it is dropped (it can resync with getFrames). */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
/** WebSocket connections at once: one per tab is the norm, so this only bounds a flood. */
const MAX_CLIENTS = 64;
/** A request target longer than this is refused (414): every real one is under 200 bytes. */
const MAX_TARGET_LENGTH = 2048;
/** How long a refused socket may linger to read the rest of what its client sent. */
const REFUSAL_LINGER_MS = 2_000;

/** The `client` query parameter: the page keeps one per tab so a reconnect resumes its run. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A token given by the caller (a token file holds 32–128 hex characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
};

export interface WebHost {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export interface WebHostOptions {
  port?: number;
  host?: string;
  /** The access token (e.g. from `loadOrCreateToken`), so a restarted host keeps its URL. */
  token?: string;
  rendererDir?: string;
}

/** The one origin this server is: what Host and Origin must say, byte for byte. */
interface ServedOrigin {
  /** Accepted Host header values (lower case). */
  hosts: Set<string>;
  /** The Origin a browser sends for a page loaded from this server. */
  origin: string;
}

function servedOrigin(host: string, port: number): ServedOrigin {
  const name = (host.includes(':') ? `[${host}]` : host).toLowerCase();
  // A browser leaves the default port out of both headers.
  const authority = port === 80 ? name : `${name}:${port}`;
  return { hosts: new Set([authority, `${name}:${port}`]), origin: `http://${authority}` };
}

/** Headers every response carries, whatever its status (the token is in the page URL). */
function securityHeaders(origin: string): Record<string, string> {
  const csp = [
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    `connect-src 'self' ${origin.replace(/^http/, 'ws')}`, "object-src 'none'", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'",
  ].join('; ');
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

export async function startWebHost(lab: LabSessions, options: WebHostOptions = {}): Promise<WebHost> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('hex');
  if (!TOKEN_SHAPE.test(token)) {
    throw new LabError({ code: 'BAD_TOKEN', field: 'token', message: 'the access token must be 16–256 characters of A–Z, a–z, 0–9, _ or -', fix: 'use a token file made by `uring-lab serve --token-file PATH`, or leave the token out for a fresh one' });
  }
  const rendererDir = options.rendererDir ?? RENDERER_DIR;
  if (!existsSync(path.join(rendererDir, 'index.html'))) {
    throw new LabError({ code: 'RENDERER_NOT_BUILT', message: `no built UI in ${rendererDir}`, fix: 'run `npm run build:renderer` (or `npm run build`)' });
  }
  const root = realpathSync(rendererDir);
  const tokenDigest = sha256(token);

  // Filled in once listening: the origin is the port the kernel gave us, never a request's word.
  let served: ServedOrigin = servedOrigin(host, options.port ?? 0);
  let headers: Record<string, string> = securityHeaders(served.origin);

  const server = http.createServer({
    // Host is checked below, so a request without one is refused with our headers too.
    requireHostHeader: false,
    maxHeaderSize: 16 * 1024,
    headersTimeout: 10_000,
    requestTimeout: 15_000,
    connectionsCheckingInterval: 2_000,
  });
  server.keepAliveTimeout = 5_000;
  // A client that half-closes after its request (printf … | nc) still gets the answer: the
  // socket ends after the last response instead of when the client's FIN arrives.
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.maxConnections = 512;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    maxFragments: 1024,
    perMessageDeflate: false,
    // No subprotocol is spoken: none is ever selected.
    handleProtocols: () => false,
    // A close handshake the client never finishes costs at most this long.
    closeTimeout: 5_000,
  } as ConstructorParameters<typeof WebSocketServer>[0]);

  /** Responses not yet finished per socket, so a refusal never cuts into one (pipelining). */
  const inFlight = new WeakMap<Duplex, { open: number; whenIdle: (() => void) | null }>();
  const refused = new WeakSet<Duplex>();
  const lingering = new Set<Duplex>();

  /**
   * Answers `status` on a socket that has no ServerResponse (a refused upgrade, a request the
   * parser could not read), then closes it. The socket keeps reading for a moment, so what
   * the client is still sending does not turn our answer into a connection reset.
   */
  const refuseSocket = (socket: Duplex, status: number, message: string, extra: Record<string, string> = {}): void => {
    socket.on('error', ignore);
    if (refused.has(socket)) return;
    refused.add(socket);
    const busy = inFlight.get(socket);
    if (busy && busy.open > 0) {
      // Pipelined requests before this one are still being answered: ours goes after them.
      busy.whenIdle = () => writeRefusal();
      return;
    }
    writeRefusal();
    function writeRefusal(): void {
      if (!socket.writable) { socket.destroy(); return; }
      const body = `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
      const fields = { ...headers, ...noStore(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra };
      const head = Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\r\n');
      lingering.add(socket);
      const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
      socket.once('close', () => { clearTimeout(timer); lingering.delete(socket); });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n${head}\r\n\r\n${body}`);
      socket.resume();
    }
  };

  const respond = (res: http.ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void => {
    if (res.headersSent) { res.destroy(); return; }
    const body = `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
    res.writeHead(status, { ...headers, ...noStore(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  /**
   * Host, Origin and token of a request for /api (upgrade or plain GET). Returns the refusal
   * as [status, why], or the client id the connection is for.
   */
  const admit = (req: http.IncomingMessage, query: URLSearchParams): [number, string] | { clientId: string } => {
    const hostRefusal = checkHost(req, served);
    if (hostRefusal) return hostRefusal;
    const origin = singleHeader(req, 'origin');
    if (origin === null) return [403, 'more than one Origin header'];
    // Browsers always send Origin on a WebSocket upgrade; other clients (CLI, tests) may omit it,
    // and then the token alone admits them.
    if (origin !== undefined && origin !== served.origin) return [403, 'the page is not from this host (Origin)'];
    const tokens = query.getAll('token');
    if (tokens.length !== 1) return [403, tokens.length === 0 ? 'no token in the URL' : 'more than one token in the URL'];
    if (!timingSafeEqual(sha256(tokens[0]), tokenDigest)) return [403, 'the token is not this host\'s'];
    const clients = query.getAll('client');
    return { clientId: clients.length === 1 && CLIENT_ID.test(clients[0]) ? clients[0] : randomBytes(16).toString('hex') };
  };

  const handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.on('error', ignore);
    res.on('error', ignore);
    const socket = req.socket;
    const busy = inFlight.get(socket) ?? { open: 0, whenIdle: null };
    inFlight.set(socket, busy);
    busy.open++;
    res.once('close', () => {
      if (--busy.open === 0 && busy.whenIdle) { const next = busy.whenIdle; busy.whenIdle = null; next(); }
    });
    serveRequest(req, res).catch(() => respond(res, 500, 'the host could not answer this request'));
  };

  const serveRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const rawTarget = req.url ?? '';
    if (rawTarget.length > MAX_TARGET_LENGTH) return respond(res, 414, 'the request target is too long');
    const hostRefusal = checkHost(req, served);
    if (hostRefusal) return respond(res, ...hostRefusal);
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, 'only GET and HEAD are served', { Allow: 'GET, HEAD' });
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') {
      return respond(res, 413, 'a GET carries no body');
    }
    const target = requestTarget(rawTarget);
    if (!target) return respond(res, 400, 'the request target must be a path starting with /');
    if (target.pathname === '/api') {
      const verdict = admit(req, target.query);
      if (Array.isArray(verdict)) return respond(res, ...verdict);
      return respond(res, 426, 'the LabApi is spoken over a WebSocket here', { Upgrade: 'websocket' });
    }
    const file = staticFile(target.pathname);
    if (typeof file === 'number') return respond(res, file, file === 400 ? 'the path is malformed' : 'not found');
    await sendFile(root, file, req, res, headers, respond);
  };

  server.on('request', handleRequest);
  // Expect: headers are answered by us (with our headers) rather than by Node's defaults.
  server.on('checkContinue', handleRequest);
  server.on('checkExpectation', (req, res) => { req.on('error', ignore); respond(res, 417, 'no expectation is supported'); });
  server.on('connect', (_req, socket) => refuseSocket(socket, 405, 'CONNECT is not served', { Allow: 'GET, HEAD' }));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) { socket.destroy(); return; }
    const [status, message] = clientErrorStatus(err.code);
    refuseSocket(socket, status, message);
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node took its own error handler off this socket: without ours a reset would be fatal.
    socket.on('error', ignore);
    const target = requestTarget(req.url ?? '');
    if (!target) return refuseSocket(socket, 400, 'the request target must be a path starting with /');
    if (target.pathname !== '/api') return refuseSocket(socket, 404, 'WebSockets are served at /api only');
    const verdict = admit(req, target.query);
    if (Array.isArray(verdict)) return refuseSocket(socket, ...verdict);
    if (wss.clients.size >= MAX_CLIENTS) return refuseSocket(socket, 503, 'too many connections', { 'Retry-After': '5' });
    // ws checks the handshake itself (method, key, version); its refusals come back through
    // 'wsClientError' below, so they carry our headers too.
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, verdict.clientId));
  });
  wss.on('wsClientError', (err: Error, socket: Duplex) => {
    if (/method/i.test(err.message)) return refuseSocket(socket, 405, 'a WebSocket opens with GET', { Allow: 'GET' });
    if (/Version/.test(err.message)) return refuseSocket(socket, 426, 'this host speaks WebSocket version 13', { 'Sec-WebSocket-Version': '13' });
    refuseSocket(socket, 400, oneLineText(err.message, 120));
  });
  wss.on('headers', (lines: string[]) => {
    for (const [k, v] of Object.entries({ ...headers, ...noStore() })) lines.push(`${k}: ${v}`);
  });
  wss.on('error', ignore);

  /** One client: its session's events go out; its messages are answered one at a time, in order. */
  const serveSocket = (ws: WebSocket, clientId: string): void => {
    let session: LabSession;
    try {
      session = lab.session(clientId);
    } catch {
      ws.close(1011, 'the lab could not open a session');
      return;
    }
    const send = (text: string): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(text);
      if (ws.bufferedAmount > MAX_UNSENT_BYTES) ws.terminate();
    };
    const unsubscribe = session.onEvent((event) => {
      let text: string;
      try { text = JSON.stringify({ event } satisfies WsResponse); } catch { return; }
      send(text);
    });
    const queue: Array<{ data: RawData; isBinary: boolean }> = [];
    let answering = false;
    let paused = false;
    const answerQueued = async (): Promise<void> => {
      answering = true;
      while (queue.length > 0 && ws.readyState === WebSocket.OPEN) {
        const { data, isBinary } = queue.shift()!;
        send(await answerLabMessage(session, isBinary ? null : rawText(data)));
        if (paused && queue.length === 0) { paused = false; ws.resume(); }
      }
      answering = false;
    };
    // A protocol error (bad frame, oversize message, invalid UTF-8, bad close code) has
    // already been answered by ws with a close frame (1002/1007/1009); the socket is going.
    ws.on('error', ignore);
    ws.on('close', () => {
      queue.length = 0;
      unsubscribe();
      try { session.dispose(); } catch { /* the session is gone either way */ }
    });
    ws.on('message', (data, isBinary) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (queue.length >= MAX_QUEUED) {
        queue.length = 0;
        ws.close(1008, 'too many requests at once');
        // Read on, so the client's close frame (and whatever it still sends) is seen.
        ws.resume();
        return;
      }
      queue.push({ data, isBinary });
      // Stop reading this socket while it has work waiting: a flood waits in the client's own buffers.
      if (queue.length >= PAUSE_AT_QUEUED && !paused) { paused = true; ws.pause(); }
      if (!answering) void answerQueued();
    });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new LabError({ code: 'EADDRINUSE', field: 'port', message: `port ${options.port} on ${host} is in use`, fix: 'pick another with --port, or --port 0 for any free port' })
        : err);
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  // Failures to accept (EMFILE …) must not be fatal once serving.
  server.on('error', (err) => console.error(`uring-lab serve: ${oneLineText(String(err), 200)}`));
  const port = (server.address() as AddressInfo).port;
  served = servedOrigin(host, port);
  headers = securityHeaders(served.origin);

  return {
    url: `${served.origin}/?token=${token}`,
    port,
    token,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      for (const socket of lingering) socket.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function ignore(): void {}

function sha256(text: string): Buffer {
  // Digests are compared, not the strings: equal length, so the comparison is constant-time
  // whatever length the guess has.
  return createHash('sha256').update(text, 'utf8').digest();
}

function noStore(): Record<string, string> {
  return { 'Cache-Control': 'no-store' };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/** The value of a header sent once, undefined when absent, null when repeated. */
function singleHeader(req: http.IncomingMessage, name: string): string | undefined | null {
  let value: string | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i].toLowerCase() !== name) continue;
    if (value !== undefined) return null;
    value = req.rawHeaders[i + 1];
  }
  return value;
}

/** Refusal for a Host header that is missing, repeated, or not this server (DNS rebinding). */
function checkHost(req: http.IncomingMessage, served: ServedOrigin): [number, string] | null {
  const value = singleHeader(req, 'host');
  if (value === undefined) return [400, 'a Host header is required'];
  if (value === null) return [400, 'more than one Host header'];
  if (!served.hosts.has(value.toLowerCase())) return [403, 'this host does not serve that name (Host)'];
  return null;
}

/** Splits an origin-form request target; null for anything else (`*`, absolute URLs, //x). */
function requestTarget(raw: string): { pathname: string; query: URLSearchParams } | null {
  if (!raw.startsWith('/') || raw.startsWith('//')) return null;
  const q = raw.indexOf('?');
  const pathname = q === -1 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  return { pathname, query };
}

/**
 * The renderer file a path names, as segments under the renderer directory, or the status to
 * refuse it with: 400 for a path that cannot be decoded or tries to leave (`..`, NUL,
 * backslash, encoded or not), 404 for dotfiles and empty segments.
 */
function staticFile(pathname: string): string[] | 400 | 404 {
  if (pathname === '/') return ['index.html'];
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return 400;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return 400;
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '..' || s === '.')) return 400;
  if (segments.some((s) => s === '' || s.startsWith('.'))) return 404;
  return segments;
}

async function sendFile(
  root: string, segments: string[], req: http.IncomingMessage, res: http.ServerResponse,
  headers: Record<string, string>, respond: (res: http.ServerResponse, status: number, message: string) => void,
): Promise<void> {
  let file: string;
  let stat: Stats;
  try {
    // realpath: a symlink inside the renderer directory cannot lead out of it either.
    file = await fs.realpath(path.join(root, ...segments));
    stat = await fs.stat(file);
  } catch {
    return respond(res, 404, 'not found');
  }
  if (!file.startsWith(root + path.sep) || !stat.isFile()) return respond(res, 404, 'not found');
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const isHtml = path.extname(file) === '.html';
  const fields: http.OutgoingHttpHeaders = {
    ...headers,
    // The page's URL carries the token: keep it out of the disk cache. Assets revalidate.
    'Cache-Control': isHtml ? 'no-store' : 'no-cache',
    ETag: etag,
  };
  const match = req.headers['if-none-match'];
  if (!isHtml && match !== undefined && match.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    res.writeHead(304, fields).end();
    return;
  }
  res.writeHead(200, {
    ...fields,
    'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': stat.size,
  });
  if (req.method === 'HEAD') { res.end(); return; }
  // pipeline, not pipe: a client that goes away mid-file also closes the file.
  pipeline(createReadStream(file), res, ignore);
}

/** What to answer a request the HTTP parser refused, by its error code. */
function clientErrorStatus(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return [431, 'the request line or headers are too large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return [413, 'chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT': return [408, 'the request did not arrive in time'];
    default: return [400, 'the request is not valid HTTP/1.1'];
  }
}

