/**
 * Connections that have not sent a request yet (or sit idle between keep-alive requests),
 * oldest first. The host keeps at most `limit` of them: past it, the oldest is closed to make
 * room. Without this, any local process (no token needed) could fill the host's 512
 * connections with sockets that send nothing, each closed only by the 10 s header deadline,
 * and the user's own browser could not connect (1 of 60 attempts got through in 30 s). A
 * browser sends its request within milliseconds of connecting, so it is never the oldest
 * silent one; a WebSocket, once upgraded, is no longer counted at all.
 */
import type { Socket } from 'node:net';

export class SilentSockets {
  /** Insertion-ordered: the first is the one silent the longest. */
  private readonly silent = new Set<Socket>();
  /** Sockets closed to make room, for the host's own accounting (and tests). */
  evicted = 0;

  constructor(private readonly limit: number) {}

  /** A new connection: silent until its first request. */
  connected = (socket: Socket): void => {
    this.silent.add(socket);
    socket.once('close', () => this.silent.delete(socket));
    while (this.silent.size > this.limit) {
      const oldest = this.silent.values().next().value as Socket;
      this.silent.delete(oldest);
      this.evicted++;
      oldest.destroy();
    }
  };

  /** It sent a request (or its WebSocket upgrade): not silent while that is served. */
  spoke(socket: Socket): void {
    this.silent.delete(socket);
  }

  /** Its response went out on a keep-alive connection: silent again until the next request. */
  idle(socket: Socket): void {
    if (!socket.destroyed) this.silent.add(socket);
  }
}
