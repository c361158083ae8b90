/**
 * An independent echo client for the native tests: plain Node sockets, no lab code, so what
 * the engine echoes is checked by something that shares nothing with it.
 */
import { connect, type Socket } from 'node:net';

export function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Reads exactly n bytes (fails on close, error or timeout). Bytes beyond n go back to the
 * socket for the next read, or fail the read with `exact` (nothing more may have arrived).
 * `slow` pauses that many ms after each chunk, a reader that lags behind the server.
 */
export function readExactly(sock: Socket, n: number, { timeoutMs = 10_000, slow = 0, exact = false } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => done(new Error(`timed out with ${got}/${n} bytes`)), timeoutMs);
    const onData = (b: Buffer) => {
      chunks.push(b);
      got += b.length;
      if (got >= n) return done();
      if (slow) {
        sock.pause();
        setTimeout(() => sock.resume(), slow);
      }
    };
    const onEnd = () => done(new Error(`connection closed with ${got}/${n} bytes`));
    function done(err?: Error) {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', done);
      if (err) return reject(err);
      if (exact && got !== n) return reject(new Error(`got ${got} bytes, expected ${n}`));
      const all = Buffer.concat(chunks);
      if (all.length > n) sock.unshift(all.subarray(n));
      resolve(all.subarray(0, n));
    }
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('error', done);
  });
}
