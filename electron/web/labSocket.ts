/**
 * The LabApi endpoint of the browser host: a WebSocket at /api, one LabSession per client.
 * A client's messages are answered one at a time, in order; while some wait their turn its
 * socket is not read (a flood waits in the client's own buffers), and a client that does not
 * read what it is sent is dropped rather than held in memory. Every message ends in an answer
 * or a close code on its own connection, never in an exception out of an event handler.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { LabSession, LabSessions, MAX_REQUEST_BYTES, oneLineText, WsResponse } from '../contract';
import { answerLabMessage } from '../host/labDispatch';
import { Admission, requestTarget } from './admission';
import { HttpAnswers, ignore, noStore } from './httpAnswers';

/** Largest WebSocket message accepted: the contract's request limit (the browser client checks it too). */
export const MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES;
/** Messages of one connection waiting for their turn before its socket stops being read. */
const PAUSE_AT_QUEUED = 8;
/** Pausing stops further reads, but what was already read is parsed to the end; a burst that
 *  leaves more than this many messages waiting closes the connection with 1008. */
const MAX_QUEUED = 1024;
/** Bytes queued to a client that does not read; past this it is dropped (it can resync with getFrames). */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;
/** WebSocket connections at once: one per tab is the norm, so this only bounds a flood. */
const MAX_CLIENTS = 64;
/** How long a closing host waits for its clients to answer the close frame. */
const CLOSE_GRACE_MS = 1000;

export class LabSocketEndpoint {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly lab: LabSessions,
    private readonly admission: Admission,
    private readonly answers: HttpAnswers,
    headers: () => Record<string, string>,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      maxFragments: 1024,
      perMessageDeflate: false,
      // No subprotocol is spoken: none is ever selected.
      handleProtocols: () => false,
      // A close handshake the client never finishes costs at most this long.
      closeTimeout: 5_000,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    const refuse = answers.refuseSocket;
    this.wss.on('wsClientError', (err: Error, socket: Duplex) => {
      if (/method/i.test(err.message)) return refuse(socket, 405, 'a WebSocket opens with GET', { Allow: 'GET' });
      if (/Version/.test(err.message)) return refuse(socket, 426, 'this host speaks WebSocket version 13', { 'Sec-WebSocket-Version': '13' });
      refuse(socket, 400, oneLineText(err.message, 120));
    });
    this.wss.on('headers', (lines: string[]) => {
      for (const [k, v] of Object.entries({ ...headers(), ...noStore() })) lines.push(`${k}: ${v}`);
    });
    this.wss.on('error', ignore);
  }

  /** The server's 'upgrade' handler: /api with this host's origin and token, or a refusal. */
  upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refuse = this.answers.refuseSocket;
    // Node took its own error handler off this socket: without ours a reset would be fatal.
    socket.on('error', ignore);
    const target = requestTarget(req.url ?? '');
    if (!target) return refuse(socket, 400, 'the request target must be a path starting with /');
    if (target.pathname !== '/api') return refuse(socket, 404, 'WebSockets are served at /api only');
    const verdict = this.admission.admitApi(req, target.query);
    if (Array.isArray(verdict)) return refuse(socket, ...verdict);
    if (this.wss.clients.size >= MAX_CLIENTS) return refuse(socket, 503, 'too many connections', { 'Retry-After': '5' });
    // ws checks the handshake itself (method, key, version); its refusals come back through
    // 'wsClientError', so they carry our headers too.
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, verdict.clientId));
  };

  /**
   * Stops accepting and closes every client with 1001 "going away" (the host is closing); what
   * was queued to a client (a run's terminal event) goes out before the close frame. A client
   * that does not answer the close within CLOSE_GRACE_MS is dropped.
   */
  async close(): Promise<void> {
    const clients = [...this.wss.clients];
    const gone = Promise.all(clients.map((client) => new Promise<void>((resolve) => {
      if (client.readyState === WebSocket.CLOSED) return resolve();
      client.once('close', () => resolve());
      client.close(1001, 'the lab host is shutting down');
    })));
    await Promise.race([gone, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  /** One client: its session's events go out; its messages are answered one at a time, in order. */
  private serve(ws: WebSocket, clientId: string): void {
    let session: LabSession;
    try {
      session = this.lab.session(clientId);
    } catch {
      ws.close(1011, 'the lab could not open a session');
      return;
    }
    // A client is dropped for not reading (MAX_UNSENT_BYTES still unsent when the next message
    // comes), never for the size of one answer: measured after the send, one getFrames answer of
    // a long run (or a run's JSON export) was enough, and the tab that asked was cut off each time.
    const send = (text: string): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > MAX_UNSENT_BYTES) {
        ws.terminate();
        return;
      }
      ws.send(text);
    };
    const unsubscribe = session.onEvent((event) => {
      let text: string;
      try { text = JSON.stringify({ event } satisfies WsResponse); } catch { return; }
      send(text);
    });
    const queue: Array<{ data: RawData; isBinary: boolean }> = [];
    let answering = false;
    let paused = false;
    let closed = false;
    const dispose = (): void => {
      unsubscribe();
      try { session.dispose(); } catch { /* the session is gone either way */ }
    };
    // What the host received it carries out, in order, even once the connection has closed:
    // only the answers have nowhere to go. A tab closed right after Stop (a knob change, then
    // stopRun, then the close) left its run going, up to the 15-minute bound, when the close
    // dropped the queue.
    const answerQueued = async (): Promise<void> => {
      answering = true;
      while (queue.length > 0) {
        const { data, isBinary } = queue.shift()!;
        send(await answerLabMessage(session, isBinary ? null : rawText(data)));
        if (paused && queue.length === 0 && !closed) { paused = false; ws.resume(); }
      }
      answering = false;
      if (closed) dispose();
    };
    // A protocol error (bad frame, oversize message, invalid UTF-8, bad close code) has
    // already been answered by ws with a close frame (1002/1007/1009); the socket is going.
    ws.on('error', ignore);
    ws.on('close', () => {
      closed = true;
      if (!answering) dispose();
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
      // Answers go one at a time, so a Stop pressed while the run sets up would wait for the
      // start's answer (the whole set-up: ~20 s at 4,096 × 1 MiB): its start is called off now.
      if (!isBinary && answering && isStopRun(data)) session.stopComing?.();
      // Stop reading this socket while it has work waiting: a flood waits in the client's own buffers.
      if (queue.length >= PAUSE_AT_QUEUED && !paused) { paused = true; ws.pause(); }
      if (!answering) void answerQueued();
    });
  }
}

/** Whether a request is a stopRun call (anything unreadable is not: its answer says why, in turn). */
function isStopRun(data: RawData): boolean {
  try {
    return (JSON.parse(rawText(data)) as { method?: unknown } | null)?.method === 'stopRun';
  } catch {
    return false;
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
