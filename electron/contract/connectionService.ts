/**
 * How evenly the load's connections were served: the echoes each connection completed in the
 * measured window (the engine counts them from the same completions as `requests`), reduced to
 * the numbers a tuner reads — the fewest and the most, the mean, Jain's fairness index and the
 * connections that got nothing. A server that lets one peer starve the others (a pool pinned by
 * slow readers, a connection that never gets its buffers back) shows here even when the
 * throughput and the percentiles of everyone else look healthy.
 */
import { z } from 'zod';

export const ConnectionServiceSchema = z.object({
  /** Load connections counted (load.connections; with several phases, those of each phase). */
  connections: z.number().int().min(0),
  /** Echoes of the connection served least, and which one that was (0-based, in connection
   *  order: thread 0's connections first; the first such connection on a tie). */
  min: z.number().int().min(0),
  minConnection: z.number().int().min(0),
  /** Echoes of the connection served most. */
  max: z.number().int().min(0),
  mean: z.number().min(0),
  /** Jain's fairness index, (Σx)² / (n·Σx²): 1 when every connection got the same, 1/n when
   *  one got everything (held at 1 against floating-point rounding); null when no connection
   *  completed an echo. */
  jain: z.number().min(0).max(1).nullable(),
  /** Connections that completed no echo in the window (stalled, starved or lost). */
  unserved: z.number().int().min(0),
});
export type ConnectionService = z.infer<typeof ConnectionServiceSchema>;

/** The summary of per-connection echo counts; null when there are no connections. */
export function connectionService(counts: ArrayLike<number>): ConnectionService | null {
  const n = counts.length;
  if (n === 0) return null;
  let sum = 0, squares = 0, min = Infinity, max = 0, minConnection = 0, unserved = 0;
  for (let i = 0; i < n; i++) {
    const x = counts[i] ?? 0;
    sum += x;
    squares += x * x;
    if (x < min) { min = x; minConnection = i; }
    if (x > max) max = x;
    if (x === 0) unserved++;
  }
  return { connections: n, min, minConnection, max, mean: sum / n, jain: jainIndex(n, sum, squares), unserved };
}

/** Jain's index of n counts from their sum and sum of squares, held at 1 against rounding; null
 *  when every count is 0. */
function jainIndex(n: number, sum: number, squares: number): number | null {
  return squares > 0 ? Math.min(1, (sum * sum) / (n * squares)) : null;
}

/** Below this mean (echoes per connection in the window) an uneven count is the window's
 *  sampling, not the server: with 20 a connection, even a Poisson count varies by ~22 %. */
export const UNEVEN_SERVICE_MIN_MEAN = 20;
/** Jain's index below this is uneven service worth a warning (0.9: the counts' coefficient of
 *  variation is above 1/3; a fair server here measures 0.99 and more). */
export const UNEVEN_SERVICE_JAIN = 0.9;

/** The summary's warning when the connections were served unevenly, else null. */
export function unevenServiceWarning(s: ConnectionService | null | undefined): string | null {
  if (!s || s.mean < UNEVEN_SERVICE_MIN_MEAN || s.jain === null) return null;
  if (s.jain >= UNEVEN_SERVICE_JAIN && s.unserved === 0) return null;
  const none = s.unserved > 0 ? `; ${s.unserved} of them completed none` : '';
  return `the ${s.connections} connections were served unevenly: connection ${s.minConnection} completed ${s.min} echoes, the busiest ${s.max}, the mean ${Math.round(s.mean)} (Jain's fairness index ${s.jain.toFixed(3)}, 1 = even)${none}`;
}

/** One line for the CLI and the UI: "50 connections: fewest 6,522 echoes (connection 36), most
 *  7,257, mean 6,890; Jain's index 0.997". `int` writes a count (whole by default). */
export function connectionServiceWords(s: ConnectionService, int = (n: number) => Math.round(n).toLocaleString('en-US')): string {
  const jain = s.jain === null ? 'no echoes' : `Jain's index ${s.jain >= 0.9995 && s.jain < 1 ? '0.999+' : s.jain.toFixed(3)}`;
  const none = s.unserved > 0 ? `, ${int(s.unserved)} with none` : '';
  return `${int(s.connections)} connection${s.connections === 1 ? '' : 's'}: fewest ${int(s.min)} echoes (connection ${s.minConnection}), most ${int(s.max)}, mean ${int(s.mean)}; ${jain}${none}`;
}

/** The engine's tally of a server's connections (NativeSnapshot.serverConnectionEchoes), in bytes. */
export interface ConnectionByteTally {
  connections: number; silent: number; unserved: number;
  minBytes: number; minConnection: number; maxBytes: number;
  sumBytes: number; squaresBytes: number;
}

/** `uring-lab server`'s per-connection service: as ConnectionService, over every connection the
 *  server had, counted by the server itself (so it holds for any client), in echoes of
 *  load.messageBytes: bytes echoed / load.messageBytes, a part message as a fraction, so that
 *  min <= mean <= max whatever the client's message size (min and max rounded down while the
 *  mean was not put a mean of 1.5 above a max of 1 for 1,500 B echoed per connection);
 *  connections in accept order over all workers. */
export type ServerConnectionService = ConnectionService & {
  /** Connections closed without sending a byte (a port check): not in the other numbers. */
  silent: number;
};

/** The server's tally in echoes of `messageBytes`; null when no connection came at all. */
export function serverConnectionService(t: ConnectionByteTally | null | undefined, messageBytes: number): ServerConnectionService | null {
  if (!t || t.connections + t.silent === 0) return null;
  const n = t.connections;
  return {
    connections: n,
    min: t.minBytes / messageBytes,
    minConnection: t.minConnection,
    max: t.maxBytes / messageBytes,
    mean: n > 0 ? t.sumBytes / n / messageBytes : 0,
    // The same in bytes as in echoes: the unit cancels out.
    jain: jainIndex(n, t.sumBytes, t.squaresBytes),
    unserved: t.unserved,
    silent: t.silent,
  };
}

/** One line for `uring-lab server`'s summary. */
export function serverConnectionServiceWords(s: ServerConnectionService): string {
  const silent = `${s.silent.toLocaleString('en-US')} connected and sent nothing`;
  if (s.connections === 0) return `no connection sent data (${silent})`;
  return `${connectionServiceWords(s, echoCount)}${s.silent > 0 ? `; ${silent}` : ''}`;
}

/** The server's echoes are bytes / message size: a part message shows as a fraction below 10
 *  (0.001, 2.5), where rounding would print "fewest 0" for a connection that got bytes back. */
function echoCount(n: number): string {
  return Number.isInteger(n) || n >= 10 ? Math.round(n).toLocaleString('en-US') : String(Number(n.toPrecision(3)));
}
