/**
 * `uring-lab load`'s target: the `--target HOST:PORT` text parsed, HOST resolved to an IPv4
 * address here in the host (the engine connects to addresses, never names), and one probe
 * connection that tells "nothing listens there" or "no answer" apart in a line, before the
 * engine's load threads make their (blocking) connects.
 *
 * The probe is one TCP connection opened and closed at once: an echo server sees it as a
 * client that connected and left without sending. It exists because a blocking connect to a
 * host that drops SYNs waits for the kernel's SYN retries (about two minutes), far beyond any
 * start-up time limit; the probe bounds that wait and names the cause.
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4, Socket } from 'node:net';
import { LabError, oneLineText } from '../contract';
import type { LoadTarget } from './labService';

/** How long the probe connection may take before the target counts as not answering. */
export const TARGET_PROBE_TIMEOUT_MS = 5000;

export interface ParsedTarget { host: string; port: number }

function targetUsage(text: string, why: string): LabError {
  return new LabError({
    code: 'USAGE', kind: 'input', field: 'target',
    message: `--target "${oneLineText(text, 80)}" ${why}`,
    fix: 'give HOST:PORT of a TCP echo server, e.g. --target 10.0.0.2:7421 or --target echo.example:7421 (IPv4; a name must resolve to an IPv4 address)',
  });
}

/** HOST:PORT; HOST an IPv4 address or a host name (IPv6 is refused: the engine's load is IPv4). */
export function parseTarget(text: string | undefined): ParsedTarget {
  if (text === undefined || text === '') throw targetUsage(text ?? '', 'is missing: uring-lab load needs the echo server to load');
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (!m) throw targetUsage(text, 'is not HOST:PORT');
  const [, host, portText] = m;
  const port = Number(portText);
  if (port < 1 || port > 65535) throw targetUsage(text, `has port ${port}, not one from 1 to 65535`);
  if (host.startsWith('[') || isIP(host) === 6) throw targetUsage(text, 'is an IPv6 address; the load generator connects over IPv4 only');
  // A host name as DNS allows it (letters, digits, hyphens, dots; at most 253 characters).
  if (!isIPv4(host) && !(host.length <= 253 && /^(?!-)[A-Za-z0-9-]{1,63}(?:\.(?!-)[A-Za-z0-9-]{1,63})*\.?$/.test(host))) {
    throw targetUsage(text, 'does not name a host (an IPv4 address or a host name)');
  }
  return { host, port };
}

/** The target with its IPv4 address (a name is resolved once, here, for the whole run). */
export async function resolveTarget(target: ParsedTarget): Promise<LoadTarget> {
  if (isIPv4(target.host)) return { host: target.host, address: target.host, port: target.port };
  try {
    const { address } = await lookup(target.host, { family: 4 });
    return { host: target.host, address, port: target.port };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'ENOTFOUND';
    throw new LabError({
      code: 'USAGE', kind: 'input', field: 'target',
      message: `--target ${oneLineText(target.host, 80)}:${target.port}: the name does not resolve to an IPv4 address (${code})`,
      fix: 'check the name, or give the server\'s IPv4 address',
    });
  }
}

/** Words for a connection to `at` that failed with `code`, naming --target and the fix. `at` is
 *  HOST:PORT, or "HOST:PORT (ADDRESS)" for a name: the fix's port is read from HOST:PORT. */
export function targetConnectError(at: string, code: string, detail?: string): LabError {
  const port = /:(\d+)(?: \(|$)/.exec(at)?.[1] ?? 'PORT';
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused: nothing listens there',
    ETIMEDOUT: `no answer within ${TARGET_PROBE_TIMEOUT_MS / 1000} s (a host that drops the connection, or a firewall)`,
    EHOSTUNREACH: 'the host is unreachable',
    ENETUNREACH: 'the network is unreachable',
    ECONNRESET: 'the connection was reset at once',
  };
  return new LabError({
    code, kind: 'engine', field: 'target',
    message: `--target ${at}: ${why[code] ?? `could not connect${detail ? `: ${detail}` : ''}`} (${code})`,
    fix: `is a server listening there? start one on that host (uring-lab server --port ${port} --bind ADDR, or any TCP echo server), or fix --target`,
  });
}

/** One connection to the target, closed at once; throws targetConnectError when it fails. */
export function probeTarget(target: LoadTarget, timeoutMs = TARGET_PROBE_TIMEOUT_MS): Promise<void> {
  const at = target.host === target.address ? `${target.address}:${target.port}` : `${target.host}:${target.port} (${target.address})`;
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const timer = setTimeout(() => { socket.destroy(); reject(targetConnectError(at, 'ETIMEDOUT')); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(); });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(targetConnectError(at, err.code ?? 'ECONNREFUSED', err.message));
    });
    socket.connect({ host: target.address, port: target.port, family: 4 });
  });
}
