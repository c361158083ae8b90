'use strict';
// The io_uring echo server as issue 7 measured it ("today": 12.2k–13.2k ns/request at 4 KiB x 50
// connections), run from its own native addon so bench:engine can measure it beside the current
// server on the same boot instead of against numbers from another machine. bench-engine.mjs
// builds that addon from the repository's history (the commit before the coalesced send path)
// and starts this file pinned to the server's CPU.
//
//   node foundation_server.cjs ADDON_DIR [--duration S]
//
// ADDON_DIR is that commit's native/ folder (its index.js loads build/Release/uring_lab.node).
// The config is that commit's default profile (ring 4096 entries, DEFER_TASKRUN, 4096 x 2 KiB
// provided buffers, no SQPOLL, no registered ring fd) with no load threads: the server alone on
// 127.0.0.1, port chosen by the kernel. Prints the same line `uring-lab server --json` prints
// when it listens, {"event":"listening","port":P,"pid":N}; stops on SIGTERM/SIGINT or after
// --duration (default 600 s, so a bench that dies cannot leave it running).
const path = require('node:path');

const [dir, ...rest] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node foundation_server.cjs ADDON_DIR [--duration S]\n');
  process.exit(2);
}
const at = rest.indexOf('--duration');
const durationS = at >= 0 ? Number(rest[at + 1]) : 600;
if (!(durationS > 0)) {
  process.stderr.write(`foundation_server: --duration ${rest[at + 1]} is not a positive number of seconds\n`);
  process.exit(2);
}

const engine = require(path.resolve(dir));
const config = {
  protocol: 1,
  port: 0,
  maxDurationMs: Math.ceil(durationS * 1000),
  server: {
    engine: 'io_uring', rings: 1, ringEntries: 4096,
    sqpoll: { enabled: false, cpu: null, idleMs: 1000 },
    taskrun: 'defer', registeredRingFd: false,
    bufferRing: { size: 2048, count: 4096 },
  },
  load: { connections: 0, messageBytes: 128, threads: 1 },
};
let started;
try {
  started = engine.start(config);
} catch (err) {
  process.stderr.write(`foundation_server: start failed: ${err && err.message}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ event: 'listening', port: started.port, pid: process.pid, refused: started.refused.map((r) => r.setting) })}\n`);

let stopping = false;
function end() {
  if (stopping) return;
  stopping = true;
  try { engine.stop(); } catch (err) { process.stderr.write(`foundation_server: stop failed: ${err && err.message}\n`); }
  process.exit(0);
}
process.on('SIGTERM', end);
process.on('SIGINT', end);
setTimeout(end, durationS * 1000).unref();
// The engine's threads do the serving; this keeps the event loop (and the process) alive.
setInterval(() => undefined, 1 << 30);
