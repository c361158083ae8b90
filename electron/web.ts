/**
 * The browser host: serves the built renderer on 127.0.0.1 and carries the LabApi over a
 * WebSocket at /api. A random token in the page URL guards the socket, and the Origin must be
 * this host, so another web page open in the same browser cannot drive the lab.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import { LabApi, LabEvent, WsRequestSchema, WsResponse } from './contract';
import { dispatchLabCall, toLabErrorData } from './host/labDispatch';
import { LabError } from './contract';

export const RENDERER_DIR = path.join(__dirname, '..', 'renderer');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.ico': 'image/x-icon', '.woff2': 'font/woff2',
};

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface WebHost {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export interface WebHostOptions {
  port?: number;
  host?: string;
  token?: string;
  rendererDir?: string;
}

export async function startWebHost(api: LabApi, options: WebHostOptions = {}): Promise<WebHost> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(16).toString('hex');
  const rendererDir = options.rendererDir ?? RENDERER_DIR;
  if (!existsSync(path.join(rendererDir, 'index.html'))) {
    throw new LabError({ code: 'RENDERER_NOT_BUILT', message: `no built UI in ${rendererDir}`, fix: 'run `npm run build:renderer` (or `npm run build`)' });
  }

  const server = http.createServer((req, res) => serveStatic(rendererDir, req, res));
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? host}`);
    const originOk = sameOrigin(req.headers.origin, req.headers.host);
    if (url.pathname !== '/api' || !tokenMatches(url.searchParams.get('token'), token) || !originOk) {
      socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const unsubscribe = api.onEvent((event: LabEvent) => {
    const text = JSON.stringify({ event } satisfies WsResponse);
    for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(text);
  });

  wss.on('connection', (ws) => {
    ws.on('message', async (data) => {
      let message: unknown;
      try {
        message = JSON.parse(data.toString());
      } catch {
        ws.send(JSON.stringify({ id: -1, ok: false, error: { code: 'BAD_REQUEST', message: 'message is not JSON', fix: 'send {id, method, params} as JSON' } }));
        return;
      }
      const request = WsRequestSchema.safeParse(message);
      if (!request.success) {
        const id = typeof (message as { id?: unknown })?.id === 'number' ? (message as { id: number }).id : -1;
        const issue = request.error.issues[0];
        const field = issue.path.map(String).join('.') || 'message';
        ws.send(JSON.stringify({ id, ok: false, error: { code: 'BAD_REQUEST', field, message: `${field}: ${issue.message}`, fix: 'send {id: number, method: one of the LabApi methods, params}' } }));
        return;
      }
      const { id, method, params } = request.data;
      const result = await dispatchLabCall(api, method, params).catch((err) => ({ ok: false as const, error: toLabErrorData(err) }));
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ id, ...result }));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new LabError({ code: 'EADDRINUSE', field: 'port', message: `port ${options.port} on ${host} is in use`, fix: 'pick another with --port, or --port 0 for any free port' })
        : err);
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/?token=${token}`,
    port,
    token,
    close: async () => {
      unsubscribe();
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Browsers always send Origin on WebSocket upgrades; non-browser clients may omit it. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false; // e.g. "null" from a file:// page
  }
}

function tokenMatches(given: string | null, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function serveStatic(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  let pathname = decodeURIComponent(url.pathname);
  if (pathname === '/') pathname = '/index.html';
  const file = path.normalize(path.join(root, pathname));
  if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  });
  if (req.method === 'HEAD') { res.end(); return; }
  createReadStream(file).pipe(res);
}
