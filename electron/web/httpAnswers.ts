/**
 * How the browser host answers and refuses over HTTP. Every response carries the same
 * security headers, whatever its status; a refusal is a short plain-text answer that never
 * cuts into a pipelined response still being sent, and a refused socket lingers a moment to
 * read what its client is still sending, so our answer is not turned into a connection reset.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';

/** How long a refused socket may linger to read the rest of what its client sent. */
const REFUSAL_LINGER_MS = 2_000;

/** Headers every response carries, whatever its status (the token is in the page URL). */
export function securityHeaders(origin: string): Record<string, string> {
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

export function noStore(): Record<string, string> {
  return { 'Cache-Control': 'no-store' };
}

/** An error handler that drops the error: the connection ends either way. */
export function ignore(): void {}

/** What to answer a request the HTTP parser refused, by its error code. */
export function clientErrorStatus(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return [431, 'the request line or headers are too large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW': return [413, 'chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT': return [408, 'the request did not arrive in time'];
    default: return [400, 'the request is not valid HTTP/1.1'];
  }
}

/** The answers of one server: its headers (known once listening) and its sockets' state. */
export class HttpAnswers {
  /** Responses not yet finished per socket, so a refusal never cuts into one (pipelining). */
  private readonly inFlight = new WeakMap<Duplex, { open: number; whenIdle: (() => void) | null }>();
  private readonly refused = new WeakSet<Duplex>();
  private readonly lingering = new Set<Duplex>();

  constructor(private readonly headers: () => Record<string, string>) {}

  /** Counts a response as open on its socket until it closes; a refusal waiting for it then goes out. */
  track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const busy = this.inFlight.get(socket) ?? { open: 0, whenIdle: null };
    this.inFlight.set(socket, busy);
    busy.open++;
    res.once('close', () => {
      if (--busy.open === 0 && busy.whenIdle) { const next = busy.whenIdle; busy.whenIdle = null; next(); }
    });
  }

  /** Answers `status` on a response, with the security headers, and closes the connection. */
  respond = (res: http.ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void => {
    if (res.headersSent) { res.destroy(); return; }
    const body = plainBody(status, message);
    res.writeHead(status, { ...this.headers(), ...noStore(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  /**
   * Answers `status` on a socket that has no ServerResponse (a refused upgrade, a request the
   * parser could not read), then closes it. The socket keeps reading for a moment, so what
   * the client is still sending does not turn our answer into a connection reset.
   */
  refuseSocket = (socket: Duplex, status: number, message: string, extra: Record<string, string> = {}): void => {
    socket.on('error', ignore);
    if (this.refused.has(socket)) return;
    this.refused.add(socket);
    const busy = this.inFlight.get(socket);
    if (busy && busy.open > 0) {
      // Pipelined requests before this one are still being answered: ours goes after them.
      busy.whenIdle = () => this.writeRefusal(socket, status, message, extra);
      return;
    }
    this.writeRefusal(socket, status, message, extra);
  };

  /** Closes the sockets still lingering after a refusal (the server is closing). */
  destroyLingering(): void {
    for (const socket of this.lingering) socket.destroy();
  }

  private writeRefusal(socket: Duplex, status: number, message: string, extra: Record<string, string>): void {
    if (!socket.writable) { socket.destroy(); return; }
    const body = plainBody(status, message);
    const fields = { ...this.headers(), ...noStore(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...extra };
    const head = Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    this.lingering.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    socket.once('close', () => { clearTimeout(timer); this.lingering.delete(socket); });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n${head}\r\n\r\n${body}`);
    socket.resume();
  }
}

function plainBody(status: number, message: string): string {
  return `${status} ${http.STATUS_CODES[status] ?? ''}: ${message}\n`;
}
