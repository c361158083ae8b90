/**
 * topology "veth": the echo server in a network namespace of its own, joined to the load (in
 * the host's namespace) by a veth pair. The host sets it up with iproute2 before the engine
 * starts and removes it when the run ends, however it ends; the engine's server workers join
 * the namespace (setns on their own thread) before listening on the namespace's address.
 *
 * Names carry the owning host process's pid, so runs of several lab processes at once never
 * share a namespace, a link or an address, and what a crashed host left behind is found and
 * removed by the next veth run — only when its owner pid is dead:
 *  - namespace `uringlab-<pid>` (/run/netns/uringlab-<pid>);
 *  - links `uringl<pid>h` (host end) and `uringl<pid>s` (server end), within the 15 characters
 *    of an interface name for any pid up to 4194304.
 * Addresses: one /30 of 10.213.0.0/16 (RFC 1918), chosen from the pid and skipped past any
 * block this machine already routes or has an address in: .1 is the host (load) end, .2 the
 * server's end.
 *
 * Every command is execFile with an argument array: no shell.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { LabError } from '../../contract';

export const NETNS_PREFIX = 'uringlab-';
export const LINK_PREFIX = 'uringl';
/** The range the /30s come from (documented in the README, "veth topology"). */
const RANGE_BASE = (10 << 24) | (213 << 16);
const RANGE_BLOCKS = 1 << 14; // /16 in /30s

export interface VethTopology {
  kind: 'veth';
  netns: string;
  /** The namespace file the engine's server workers join. */
  netnsPath: string;
  hostLink: string;
  serverLink: string;
  /** The server's end (in the namespace): it listens here and the load connects here. */
  serverAddress: string;
  /** The load's end (the host's namespace). */
  loadAddress: string;
  /** GRO on at both ends (ethtool -K … gro on), which gives veth's receive path a NAPI
   *  context — the one thing server.napiBusyPollUs can poll. False: ethtool missing or refused. */
  gro: boolean;
}

/** CAP_NET_ADMIN (bit 12) in this process's effective set: what ip netns / ip link need. */
export function hasNetAdmin(status: string = readFileSync('/proc/self/status', 'utf8')): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
}

function ethtoolPath(): string | null {
  for (const p of ['/usr/sbin/ethtool', '/sbin/ethtool', '/usr/bin/ethtool']) if (existsSync(p)) return p;
  return null;
}

/**
 * veth receives through NAPI only with GRO (or XDP) on; without it packets go through the
 * per-CPU backlog and NAPI busy poll has nothing to poll. Best effort: false if it did not take.
 */
function enableGro(netns: string, hostLink: string, serverLink: string): boolean {
  const ethtool = ethtoolPath();
  const ipCmd = ipPath();
  if (!ethtool || !ipCmd) return false;
  try {
    const opts = { stdio: 'ignore' as const, timeout: 10_000 };
    execFileSync(ethtool, ['-K', hostLink, 'gro', 'on'], opts);
    execFileSync(ipCmd, ['netns', 'exec', netns, ethtool, '-K', serverLink, 'gro', 'on'], opts);
    return true;
  } catch {
    return false;
  }
}

function ipPath(): string | null {
  for (const p of ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']) if (existsSync(p)) return p;
  return null;
}

/**
 * Why topology "veth" cannot run here (null: it can). `netAdmin` is injectable so the refusal
 * path is tested without dropping privileges.
 */
export function vethRefusal(netAdmin: boolean = hasNetAdmin(), ip: string | null = ipPath()): LabError | null {
  if (!netAdmin) {
    return new LabError({
      code: 'TOPOLOGY_NEEDS_NET_ADMIN', kind: 'input', field: 'topology',
      message: 'topology "veth": setting up a network namespace and a veth pair needs root or CAP_NET_ADMIN, which this process does not have',
      fix: 'run as root (or grant CAP_NET_ADMIN), or set topology to loopback',
    });
  }
  if (!ip) {
    return new LabError({
      code: 'TOPOLOGY_NEEDS_IPROUTE2', kind: 'input', field: 'topology',
      message: 'topology "veth": the ip command (iproute2) was not found',
      fix: 'install iproute2 (apt-get install iproute2), or set topology to loopback',
    });
  }
  return null;
}

function ip(args: string[]): string {
  try {
    return execFileSync(ipPath() ?? 'ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new LabError({
      code: 'TOPOLOGY_SETUP', kind: 'kernel', field: 'topology',
      message: `topology "veth": ip ${args.join(' ')} failed: ${(e.stderr || e.message).trim().split('\n')[0]}`,
      fix: 'see that iproute2 works here (ip netns list); set topology to loopback to run without it',
    });
  }
}

function tryIp(args: string[]): void {
  try { ip(args); } catch { /* already gone */ }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const parseV4 = (a: string) => a.split('.').reduce((n, x) => (n * 256) + Number(x), 0);

/** IPv4 prefixes this machine routes or has addresses in (every table), as [base, size]. */
function usedPrefixes(): [number, number][] {
  const out: [number, number][] = [];
  const add = (cidr: string) => {
    const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(cidr);
    if (!m) return;
    const bits = m[2] === undefined ? 32 : Number(m[2]);
    if (bits === 0) return; // the default route covers everything; it is not a clash
    const size = 2 ** (32 - bits);
    out.push([Math.floor(parseV4(m[1]) / size) * size, size]);
  };
  for (const line of ip(['-o', '-4', 'route', 'show', 'table', 'all']).split('\n')) {
    const words = line.trim().split(/\s+/);
    const dst = ['local', 'broadcast', 'unicast', 'unreachable', 'blackhole', 'prohibit', 'throw'].includes(words[0]) ? words[1] : words[0];
    if (dst && dst !== 'default') add(dst);
  }
  for (const m of ip(['-o', '-4', 'addr', 'show']).matchAll(/inet (\d+\.\d+\.\d+\.\d+\/\d+)/g)) add(m[1]);
  return out;
}

/** The first /30 of the range, from the pid's block on, that nothing here routes. */
function chooseBlock(pid: number): number {
  const used = usedPrefixes();
  for (let i = 0; i < RANGE_BLOCKS; i++) {
    const base = RANGE_BASE + ((pid + i) % RANGE_BLOCKS) * 4;
    if (!used.some(([b, size]) => base < b + size && b < base + 4)) return base;
  }
  throw new LabError({
    code: 'TOPOLOGY_SETUP', kind: 'kernel', field: 'topology',
    message: 'topology "veth": every /30 of 10.213.0.0/16 is already routed on this machine',
    fix: 'remove the routes over 10.213.0.0/16, or set topology to loopback',
  });
}

/**
 * Removes what lab processes that are gone left behind (a host killed mid-run): namespaces
 * `uringlab-<pid>` and links `uringl<pid>h`/`uringl<pid>s` whose pid is not alive. A live
 * process's namespace is never touched. Returns the names removed.
 */
export function removeVethLeftovers(): string[] {
  const removed: string[] = [];
  for (const line of ip(['netns', 'list']).split('\n')) {
    const name = line.trim().split(/\s+/)[0];
    const m = name && new RegExp(`^${NETNS_PREFIX}(\\d+)$`).exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      tryIp(['netns', 'delete', name]);
      removed.push(name);
    }
  }
  for (const line of ip(['-o', 'link', 'show']).split('\n')) {
    const m = new RegExp(`^\\d+:\\s+(${LINK_PREFIX}(\\d+)[hs])(?:@\\S+)?:`).exec(line);
    if (m && !pidAlive(Number(m[2]))) {
      tryIp(['link', 'delete', m[1]]);
      removed.push(m[1]);
    }
  }
  return removed;
}

/** Names for this host process (one veth run at a time per process). */
export function vethNames(pid: number = process.pid): { netns: string; hostLink: string; serverLink: string } {
  return { netns: `${NETNS_PREFIX}${pid}`, hostLink: `${LINK_PREFIX}${pid}h`, serverLink: `${LINK_PREFIX}${pid}s` };
}

/**
 * Sets up the namespace and the pair for a run of this process: leftovers of dead owners
 * first, then a clean set of our own (a previous run of this process that could not clean up
 * is replaced). Throws a LabError naming `topology` when it cannot; nothing is left behind then.
 */
export function setUpVeth(): VethTopology {
  const refusal = vethRefusal();
  if (refusal) throw refusal;
  removeVethLeftovers();
  const { netns, hostLink, serverLink } = vethNames();
  tearDownVeth({ netns, hostLink });
  const base = chooseBlock(process.pid);
  const loadAddress = dotted(base + 1);
  const serverAddress = dotted(base + 2);
  try {
    ip(['netns', 'add', netns]);
    ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', serverLink]);
    ip(['link', 'set', serverLink, 'netns', netns]);
    ip(['addr', 'add', `${loadAddress}/30`, 'dev', hostLink]);
    ip(['link', 'set', hostLink, 'up']);
    ip(['-n', netns, 'addr', 'add', `${serverAddress}/30`, 'dev', serverLink]);
    ip(['-n', netns, 'link', 'set', serverLink, 'up']);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    tearDownVeth({ netns, hostLink });
    throw err;
  }
  const gro = enableGro(netns, hostLink, serverLink);
  return { kind: 'veth', netns, netnsPath: `/run/netns/${netns}`, hostLink, serverLink, serverAddress, loadAddress, gro };
}

/**
 * Removes a run's namespace and pair; idempotent, never throws. Deleting the host end removes
 * both ends even while an orphaned engine thread still holds the namespace open.
 */
export function tearDownVeth(veth: Pick<VethTopology, 'netns' | 'hostLink'> | null): void {
  if (!veth) return;
  tryIp(['link', 'delete', veth.hostLink]);
  tryIp(['netns', 'delete', veth.netns]);
}
