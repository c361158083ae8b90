/**
 * Where the WebSocket LabApi connects (the host that served this page, with the page's token
 * and this tab's client id), and the plain-HTTP question "is this token good?" asked after a
 * connection that never opened: a browser learns nothing about why a WebSocket upgrade failed.
 */
import type { ConnectionState } from './connection';

/** What the host said about the page's token: `rejected` (HTTP 403), `accepted`, or no answer. */
export type TokenVerdict = 'rejected' | 'accepted' | 'unreachable';
export type TokenCheck = (httpUrl: string) => Promise<TokenVerdict>;

export const BAD_TOKEN: Extract<ConnectionState, { kind: 'refused' }> = {
  kind: 'refused',
  reason: 'bad-token',
  message: "This link's token is not valid for this host",
  fix: 'open the URL `uring-lab serve` printed (a host started without --token-file makes a new token each time it starts)',
};

export const NO_TOKEN: Extract<ConnectionState, { kind: 'refused' }> = {
  kind: 'refused',
  reason: 'no-token',
  message: 'This page was opened without its access token',
  fix: 'open the exact URL printed by `uring-lab serve` (it ends in ?token=…)',
};

/** ws(s)://<host>/api?token=<token from the page's ?token=>&client=<this tab's id>. */
export function buildWsUrl(
  loc: { protocol: string; host: string; search: string },
  clientId?: string,
): { url: string; token: string | null } {
  const token = new URLSearchParams(loc.search).get('token');
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const query = new URLSearchParams();
  if (token) query.set('token', token);
  if (clientId) query.set('client', clientId);
  const qs = query.toString();
  return { url: `${scheme}://${loc.host}/api${qs ? `?${qs}` : ''}`, token };
}

/** The HTTP twin of a ws(s):// URL, for the token check. */
export function tokenCheckUrl(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):/, 'http$1:');
}

/** Asks the host whether the token is good, over plain HTTP: 403 means it is not. */
export const fetchTokenCheck: TokenCheck = async (httpUrl) => {
  try {
    const res = await fetch(httpUrl, { cache: 'no-store', credentials: 'omit' });
    return res.status === 403 ? 'rejected' : 'accepted';
  } catch {
    return 'unreachable';
  }
};
