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
 *
 * This file assembles the host and routes plain HTTP requests; its parts are in web/:
 *   admission.ts    Host, Origin and token checks (the served origin)
 *   httpAnswers.ts  security headers, plain-text answers and socket refusals
 *   staticFiles.ts  the renderer's files: path to file, caching, ETag
 *   labSocket.ts    the /api WebSocket endpoint and its per-connection queue
 */
import { existsSync, realpathSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LabError, LabSessions, oneLineText } from './contract';
import { Admission, assertTokenShape, requestTarget, servedOrigin, type ServedOrigin } from './web/admission';
import { clientErrorStatus, HttpAnswers, ignore, securityHeaders } from './web/httpAnswers';
import { LabSocketEndpoint } from './web/labSocket';
import { SilentSockets } from './web/silentSockets';
import { sendFile, staticFile } from './web/staticFiles';

export { MAX_MESSAGE_BYTES } from './web/labSocket';

export const RENDERER_DIR = path.join(__dirname, '..', 'renderer');

/** A request target longer than this is refused (414): every real one is under 200 bytes. */
const MAX_TARGET_LENGTH = 2048;
/** Connections the host takes at once (each holds a file descriptor and a parser). */
const MAX_CONNECTIONS = 512;
/** Of those, connections that have sent nothing yet (web/silentSockets.ts): half, so the rest stay for clients that speak. */
const MAX_SILENT_CONNECTIONS = 256;

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

export async function startWebHost(lab: LabSessions, options: WebHostOptions = {}): Promise<WebHost> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('hex');
  assertTokenShape(token);
  const rendererDir = options.rendererDir ?? RENDERER_DIR;
  if (!existsSync(path.join(rendererDir, 'index.html'))) {
    throw new LabError({ code: 'RENDERER_NOT_BUILT', message: `no built UI in ${rendererDir}`, fix: 'run `npm run build:renderer` (or `npm run build`)' });
  }
  const root = realpathSync(rendererDir);

  // Filled in once listening: the origin is the port the kernel gave us, never a request's word.
  let served: ServedOrigin = servedOrigin(host, options.port ?? 0);
  let headers: Record<string, string> = securityHeaders(served.origin);
  const admission = new Admission(token, () => served);
  const answers = new HttpAnswers(() => headers);
  const { respond, refuseSocket } = answers;

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
  server.maxConnections = MAX_CONNECTIONS;
  const silent = new SilentSockets(MAX_SILENT_CONNECTIONS);
  server.on('connection', silent.connected);
  const api = new LabSocketEndpoint(lab, admission, answers, () => headers);

  const handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.on('error', ignore);
    res.on('error', ignore);
    silent.spoke(req.socket);
    res.once('finish', () => silent.idle(req.socket));
    answers.track(req, res);
    serveRequest(req, res).catch(() => respond(res, 500, 'the host could not answer this request'));
  };

  const serveRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const rawTarget = req.url ?? '';
    if (rawTarget.length > MAX_TARGET_LENGTH) return respond(res, 414, 'the request target is too long');
    const hostRefusal = admission.checkHost(req);
    if (hostRefusal) return respond(res, ...hostRefusal);
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, 'only GET and HEAD are served', { Allow: 'GET, HEAD' });
    if (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') {
      return respond(res, 413, 'a GET carries no body');
    }
    const target = requestTarget(rawTarget);
    if (!target) return respond(res, 400, 'the request target must be a path starting with /');
    if (target.pathname === '/api') {
      const verdict = admission.admitApi(req, target.query);
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
  server.on('checkExpectation', (req, res) => { req.on('error', ignore); silent.spoke(req.socket); respond(res, 417, 'no expectation is supported'); });
  server.on('connect', (req, socket) => { silent.spoke(req.socket); refuseSocket(socket, 405, 'CONNECT is not served', { Allow: 'GET, HEAD' }); });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) { socket.destroy(); return; }
    const [status, message] = clientErrorStatus(err.code);
    refuseSocket(socket, status, message);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    silent.spoke(req.socket);
    api.upgrade(req, socket, head);
  });

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
      await api.close();
      answers.destroyLingering();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
