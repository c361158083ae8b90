/**
 * Who may talk to the browser host: Host and Origin must name exactly the origin this server
 * listens on (so neither another web page open in the same browser nor a DNS-rebound name can
 * drive the lab), and the LabApi socket needs the token from the page URL.
 */
import type http from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LabError } from '../contract';

/** A refusal: the HTTP status and why, in words for the response body. */
export type Refusal = [status: number, why: string];

/** The one origin this server is: what Host and Origin must say, byte for byte. */
export interface ServedOrigin {
  /** Accepted Host header values (lower case). */
  hosts: Set<string>;
  /** The Origin a browser sends for a page loaded from this server. */
  origin: string;
}

/** The `client` query parameter: the page keeps one per tab so a reconnect resumes its run. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A token given by the caller (a token file holds 32–128 hex characters). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;

export function servedOrigin(host: string, port: number): ServedOrigin {
  const name = (host.includes(':') ? `[${host}]` : host).toLowerCase();
  // A browser leaves the default port out of both headers.
  const authority = port === 80 ? name : `${name}:${port}`;
  return { hosts: new Set([authority, `${name}:${port}`]), origin: `http://${authority}` };
}

/** Throws BAD_TOKEN unless `token` could be put in a URL as it stands and is long enough to guard it. */
export function assertTokenShape(token: string): void {
  if (!TOKEN_SHAPE.test(token)) {
    throw new LabError({ code: 'BAD_TOKEN', field: 'token', message: 'the access token must be 16–256 characters of A–Z, a–z, 0–9, _ or -', fix: 'use a token file made by `uring-lab serve --token-file PATH`, or leave the token out for a fresh one' });
  }
}

/** Checks requests against the served origin (known once listening) and the token. */
export class Admission {
  private readonly tokenDigest: Buffer;

  constructor(token: string, private readonly served: () => ServedOrigin) {
    this.tokenDigest = sha256(token);
  }

  /** Refusal for a Host header that is missing, repeated, or not this server (DNS rebinding). */
  checkHost(req: http.IncomingMessage): Refusal | null {
    const value = singleHeader(req, 'host');
    if (value === undefined) return [400, 'a Host header is required'];
    if (value === null) return [400, 'more than one Host header'];
    if (!this.served().hosts.has(value.toLowerCase())) return [403, 'this host does not serve that name (Host)'];
    return null;
  }

  /**
   * Host, Origin and token of a request for /api (upgrade or plain GET). Returns the refusal,
   * or the client id the connection is for.
   */
  admitApi(req: http.IncomingMessage, query: URLSearchParams): Refusal | { clientId: string } {
    const hostRefusal = this.checkHost(req);
    if (hostRefusal) return hostRefusal;
    const origin = singleHeader(req, 'origin');
    if (origin === null) return [403, 'more than one Origin header'];
    // Browsers always send Origin on a WebSocket upgrade; other clients (CLI, tests) may omit it,
    // and then the token alone admits them.
    if (origin !== undefined && origin !== this.served().origin) return [403, 'the page is not from this host (Origin)'];
    const tokens = query.getAll('token');
    if (tokens.length !== 1) return [403, tokens.length === 0 ? 'no token in the URL' : 'more than one token in the URL'];
    if (!timingSafeEqual(sha256(tokens[0]), this.tokenDigest)) return [403, 'the token is not this host\'s'];
    const clients = query.getAll('client');
    return { clientId: clients.length === 1 && CLIENT_ID.test(clients[0]) ? clients[0] : randomBytes(16).toString('hex') };
  }
}

/** Splits an origin-form request target; null for anything else (`*`, absolute URLs, //x). */
export function requestTarget(raw: string): { pathname: string; query: URLSearchParams } | null {
  if (!raw.startsWith('/') || raw.startsWith('//')) return null;
  const q = raw.indexOf('?');
  const pathname = q === -1 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  return { pathname, query };
}

function sha256(text: string): Buffer {
  // Digests are compared, not the strings: equal length, so the comparison is constant-time
  // whatever length the guess has.
  return createHash('sha256').update(text, 'utf8').digest();
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
