/**
 * Fuzz: generated malformed input against one live browser host (real LabService, real
 * engine). Raw HTTP over bare sockets, raw WebSocket frames on upgraded sockets, and
 * LabApi-level messages. Every connection must get an answer or a refusal on its own (an HTTP
 * status line with the security headers, a WebSocket close frame with the right code, or an
 * `{id, ok:false, error}` answer), the host must keep serving after every batch, and at the
 * end the same host must still carry out a real measured run.
 *
 * The inputs come from a seeded PRNG; the seed is printed, and URING_LAB_FUZZ_SEED=<seed>
 * replays the same inputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LabService } from '../../electron/host/labService';
import { MAX_MESSAGE_BYTES, startWebHost, WebHost } from '../../electron/web';
import { ERROR_TEXT_LIMITS, RunSummarySchema, WsResponseSchema } from '../../electron/contract';
import { EngineSupervisor, forkEngine } from '../../electron/host/engine/supervisor';
import {
  closePayload, connectLab, encodeFrame, labClient, mulberry32, rawExchange, responseHeads,
  splitUpgradeReply, upgradeRequest, waitFor, type LabClient, type WsAnswer,
} from './wsClient';

const ENGINE = path.join(__dirname, '../../dist/electron/engine/main.js');
const RENDERER = path.join(__dirname, '../../dist/renderer');

const SEED = process.env.URING_LAB_FUZZ_SEED !== undefined ? Number(process.env.URING_LAB_FUZZ_SEED) >>> 0 : randomBytes(4).readUInt32LE(0);
let random = mulberry32(SEED);
/** Each batch draws from its own stream, so one batch replays alike whether or not the others run. */
const reseed = (batch: number) => { random = mulberry32((SEED + Math.imul(batch, 0x9e3779b9)) >>> 0); };
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)];
const chance = (p: number) => random() < p;
const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

/** Every status this host may answer with; anything else is a finding. */
const STATUSES = new Set([101, 200, 304, 400, 403, 404, 405, 408, 413, 414, 417, 426, 431, 503]);
const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'referrer-policy', 'cache-control'];
/** Text of files outside the renderer directory that must never come back. */
const OUTSIDE = ['"devDependencies"', 'root:x:0:0', 'PRIVATE KEY'];

let lab: LabService;
let web: WebHost;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => { uncaught.push(err); };
const counts: Record<string, number> = {};
const count = (category: string, n = 1) => { counts[category] = (counts[category] ?? 0) + n; };

beforeAll(async () => {
  console.log(`webFuzz seed ${SEED} (replay with URING_LAB_FUZZ_SEED=${SEED})`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  lab = new LabService({ supervisor: new EngineSupervisor(() => forkEngine(ENGINE)) });
  web = await startWebHost(lab, { port: 0, rendererDir: RENDERER });
});
afterAll(async () => {
  await web?.close();
  await lab?.close();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`webFuzz seed ${SEED}: ${total} inputs ${JSON.stringify(counts)}`);
});

async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await task(items[next++]);
  }));
}

/** The host still answers HTTP and the LabApi, and nothing escaped as an uncaught error. */
async function expectServing(after: string): Promise<void> {
  const page = await fetch(`http://127.0.0.1:${web.port}/`);
  expect(page.status, `${after}: GET / (seed ${SEED})`).toBe(200);
  await page.arrayBuffer();
  const ws = await connectLab(web.port, { token: web.token });
  const status = await labClient(ws).call('getStatus');
  expect(status, `${after}: getStatus (seed ${SEED})`).toMatchObject({ ok: true, result: { running: false } });
  ws.close();
  expect(uncaught.map(String), `${after}: uncaught errors (seed ${SEED})`).toEqual([]);
  expect(({} as Record<string, unknown>).polluted, `${after}: Object.prototype polluted (seed ${SEED})`).toBeUndefined();
}

// ---- raw HTTP ---------------------------------------------------------------------------------

interface HttpCase { category: string; name: string; chunks: Buffer[]; end?: boolean; gapMs?: number }

const latin1 = (text: string) => Buffer.from(text, 'latin1');

function goodHost(): string { return `127.0.0.1:${web.port}`; }

function fuzzTarget(): string {
  const token = web.token;
  return pick<() => string>([
    () => '/',
    () => '/%',
    () => '/%zz',
    () => `/${'%'.repeat(1 + int(5))}${pick(['', 'z', '2', 'g0'])}`,
    () => `/${pick(['..', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '..%2f', '..%5c', '..\\', '%252e%252e'])}/`.repeat(1 + int(6)) + pick(['package.json', 'etc/passwd', 'index.html', '']),
    () => `/assets/${pick(['..', '%2e%2e'])}%2f${pick(['..', '%2e%2e'])}%2fpackage.json`,
    () => `/index.html${pick(['%00', '\0', '%00.js', '%c0%ae', '%ff', '%e2%80%ae'])}`,
    () => `/${'a'.repeat(int(4000))}`,
    () => `/${Array.from({ length: 1 + int(30) }, () => pick(['a', '.', '..', '%2f', '/', '%', '~', 'é', '%00', '?', '#', ';'])).join('')}`,
    () => '*',
    () => `http://127.0.0.1:${web.port}/`,
    () => '//evil.example/x',
    () => `/api?token=${token}&token=${pick(['bad', token, ''])}`,
    () => `/api?token=${pick(['', 'bad', token.toUpperCase(), `${token}%00`, token.slice(1)])}`,
    () => `/api?token=${token}&client=${pick(['', 'x'.repeat(100), '%zz', '../..', 'ok-id'])}`,
    () => `/api${pick(['/', '%3f', '?', '?token', '?%'])}`,
    () => latin1(junk(1 + int(40)).toString('latin1')).toString('latin1').replace(/[\r\n ]/g, '_'),
  ])();
}

function fuzzHeaders(): string[] {
  const lines: string[] = [];
  const host = pick<() => string | null>([
    () => goodHost(), () => goodHost(), () => goodHost(), () => null, () => '', () => `localhost:${web.port}`,
    () => `127.0.0.1:${web.port + 1}`, () => 'evil.example', () => `${goodHost()}.evil.example`, () => `[::1]:${web.port}`,
    () => `127.0.0.1:${web.port}\0`, () => ` ${goodHost()}`,
  ])();
  if (host !== null) lines.push(`Host: ${host}`);
  if (chance(0.15)) lines.push(`Host: ${pick([goodHost(), 'evil.example'])}`);
  if (chance(0.3)) {
    lines.push(`Origin: ${pick([`http://${goodHost()}`, 'null', 'http://evil.example', `https://${goodHost()}`, `http://localhost:${web.port}`, '', '\x7f'])}`);
  }
  const extra = int(4);
  for (let i = 0; i < extra; i++) {
    lines.push(pick<() => string>([
      () => `X-Fuzz: ${junk(int(60)).toString('latin1').replace(/[\r\n]/g, '')}`,
      () => `X-Long: ${'a'.repeat(8_000 + int(30_000))}`,
      () => `Content-Length: ${pick(['0', '5', '-1', 'abc', '99999999999999999999', '1, 2', ''])}`,
      () => `Transfer-Encoding: ${pick(['chunked', 'gzip', 'chunked, identity', 'xchunked'])}`,
      () => `Expect: ${pick(['100-continue', 'teapot', ''])}`,
      () => `Connection: ${pick(['close', 'keep-alive', 'Upgrade', 'garbage'])}`,
      () => `Upgrade: ${pick(['websocket', 'h2c', 'WebSocket', ''])}`,
      () => 'Sec-WebSocket-Version: 13',
      () => `Sec-WebSocket-Key: ${pick(['dGhlIHNhbXBsZSBub25jZQ==', 'short', ''])}`,
      () => ` folded-continuation-line`,
      () => `Bad Header: x`,
      () => `: empty-name`,
      () => `X-Nul: a\0b`,
      () => `X-Bare-CR: a\rb`,
      () => `If-None-Match: ${pick(['*', 'W/"0-0"', junk(10).toString('hex')])}`,
    ])());
  }
  return lines;
}

function requestText(): string {
  const method = pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'CONNECT', 'FOO', 'get', 'G ET', '', 'GET\0']);
  const version = pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'HTTP/', '', 'http/1.1']);
  return `${method} ${fuzzTarget()} ${version}\r\n${fuzzHeaders().map((l) => `${l}\r\n`).join('')}\r\n`;
}

function validRequest(target = '/'): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${goodHost()}\r\n\r\n`;
}

function httpCases(n: number): HttpCase[] {
  const token = web.token;
  const cases: HttpCase[] = [
    // The issue's examples, literally.
    { category: 'http-literal', name: 'curl --path-as-is /%', chunks: [latin1(validRequest('/%'))] },
    { category: 'http-literal', name: '/%zz', chunks: [latin1(validRequest('/%zz'))] },
    { category: 'http-literal', name: '%2e%2e traversal', chunks: [latin1(validRequest('/%2e%2e/%2e%2e/package.json'))] },
    { category: 'http-literal', name: '..%2f traversal', chunks: [latin1(validRequest('/..%2f..%2fpackage.json'))] },
    { category: 'http-literal', name: 'NUL byte', chunks: [latin1(validRequest('/index.html%00'))] },
    { category: 'http-literal', name: 'raw NUL byte', chunks: [latin1(validRequest('/index.html\0'))] },
    { category: 'http-literal', name: 'duplicate token', chunks: [latin1(validRequest(`/api?token=${token}&token=bad`))] },
    { category: 'http-literal', name: 'duplicate token upgrade', chunks: [upgradeRequest(web.port, token, [], { target: `/api?token=${token}&token=bad` })] },
    { category: 'http-literal', name: 'overlong header', chunks: [latin1(`GET / HTTP/1.1\r\nHost: ${goodHost()}\r\nX-Long: ${'a'.repeat(40_000)}\r\n\r\n`)] },
    { category: 'http-literal', name: 'overlong path', chunks: [latin1(validRequest(`/${'a'.repeat(20_000)}`))] },
    { category: 'http-literal', name: 'HTTP/2 preface', chunks: [latin1('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')] },
    { category: 'http-literal', name: 'CONNECT', chunks: [latin1(`CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: ${goodHost()}\r\n\r\n`)] },
    { category: 'http-literal', name: 'smuggling CL+TE', chunks: [latin1(`POST / HTTP/1.1\r\nHost: ${goodHost()}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)] },
    { category: 'http-literal', name: 'bad origin upgrade', chunks: [upgradeRequest(web.port, token, ['Origin: http://evil.example'])] },
    { category: 'http-literal', name: 'rebound host upgrade', chunks: [upgradeRequest(web.port, token, [], { host: `rebound.example:${web.port}` })] },
    { category: 'http-literal', name: 'POST upgrade', chunks: [latin1(upgradeRequest(web.port, token).toString('latin1').replace(/^GET/, 'POST'))] },
    { category: 'http-literal', name: 'one LF', chunks: [latin1('\n')] },
    { category: 'http-literal', name: 'blank lines', chunks: [latin1('\r\n\r\n\n\r')] },
    { category: 'http-literal', name: 'blank lines, then a request', chunks: [latin1(`\r\n\r\nGET / HTTP/1.1\r\nHost: ${goodHost()}\r\n\r\n`)] },
    { category: 'http-literal', name: 'many headers', chunks: [latin1(`GET / HTTP/1.1\r\nHost: ${goodHost()}\r\n${'X-A: b\r\n'.repeat(3000)}\r\n`)] },
  ];
  for (let i = 0; i < n; i++) {
    const kind = pick(['request', 'request', 'request', 'garbage', 'truncated', 'pipelined', 'split', 'upgrade']);
    switch (kind) {
      case 'request':
        cases.push({ category: 'http-request', name: `request ${i}`, chunks: [latin1(requestText())] });
        break;
      case 'garbage': {
        const bytes = chance(0.5) ? junk(1 + int(2000)) : Buffer.concat([latin1('GET / HTTP/1.1\r\n'), junk(1 + int(500))]);
        cases.push({ category: 'http-garbage', name: `garbage ${i}`, chunks: [bytes] });
        break;
      }
      case 'truncated': {
        const whole = latin1(chance(0.5) ? requestText() : validRequest());
        cases.push({ category: 'http-truncated', name: `truncated ${i}`, chunks: [whole.subarray(0, 1 + int(Math.max(1, whole.length - 4)))] });
        break;
      }
      case 'pipelined': {
        const parts = Array.from({ length: 2 + int(4) }, () => (chance(0.5) ? validRequest(pick(['/', '/index.html', '/nope', '/%'])) : requestText()));
        cases.push({ category: 'http-pipelined', name: `pipelined ${i}`, chunks: [latin1(parts.join(''))] });
        break;
      }
      case 'split': {
        const whole = latin1(chance(0.5) ? requestText() : validRequest());
        const chunks: Buffer[] = [];
        for (let at = 0; at < whole.length;) {
          const size = 1 + int(20);
          chunks.push(whole.subarray(at, at + size));
          at += size;
        }
        cases.push({ category: 'http-split', name: `split ${i}`, chunks: chunks.slice(0, 40).concat(chunks.length > 40 ? [Buffer.concat(chunks.slice(40))] : []), gapMs: 1 });
        break;
      }
      case 'upgrade': {
        const extra = fuzzHeaders().filter((l) => !/^host:/i.test(l));
        const request = upgradeRequest(web.port, chance(0.5) ? token : 'bad', extra, { target: chance(0.5) ? undefined : fuzzTarget() }).toString('latin1');
        const mutated = chance(0.3) ? request.replace('Sec-WebSocket-Version: 13', `Sec-WebSocket-Version: ${pick(['8', '7', '', 'x', '13, 8'])}`) : request;
        // A handshake that happens to succeed gets a 101, then our FIN closes it.
        cases.push({ category: 'http-upgrade', name: `upgrade ${i}`, chunks: [latin1(mutated)] });
        break;
      }
    }
  }
  return cases;
}

async function runHttpCase(c: HttpCase): Promise<void> {
  const reply = await rawExchange(web.port, c.chunks, { end: c.end ?? true, gapMs: c.gapMs, timeoutMs: 12_000 });
  const what = `${c.name} (seed ${SEED}): ${JSON.stringify(Buffer.concat(c.chunks).toString('latin1').slice(0, 200))}`;
  const heads = responseHeads(reply.data);
  if (/^[\r\n]*$/.test(Buffer.concat(c.chunks).toString('latin1'))) {
    // Only CR and LF: the empty lines RFC 9112 section 2.2 lets a server skip before a request line.
    // No request ever began, so the right answer to our FIN is a clean close with nothing sent.
    expect(reply.error, `${what}: error on blank lines`).toBeNull();
    expect(reply.closed, `${what}: connection kept open after blank lines and FIN`).toBe(true);
    expect(reply.data.toString('latin1'), `${what}: answered blank lines`).toBe('');
    count(c.category);
    return;
  }
  expect(heads.length, `${what}: no HTTP status line came back (closed=${reply.closed}, error=${reply.error}, got ${JSON.stringify(reply.data.toString('latin1').slice(0, 100))})`).toBeGreaterThan(0);
  for (const head of heads) {
    expect(STATUSES.has(head.status), `${what}: status ${head.status}`).toBe(true);
    for (const name of SECURITY_HEADERS) expect(head.headers.has(name), `${what}: ${head.status} without ${name}`).toBe(true);
  }
  const text = reply.data.toString('latin1');
  for (const secret of OUTSIDE) expect(text.includes(secret), `${what}: served ${secret}`).toBe(false);
  count(c.category);
}

// ---- raw WebSocket frames -----------------------------------------------------------------------

/** A close frame with one of these codes, a text answer, a pong, the TCP connection let go, or any of those. */
type FrameExpectation = { close: number[] } | 'text' | 'pong' | 'closed' | 'any';
interface FrameCase { category: string; name: string; frames: Buffer[]; expect: FrameExpectation; end?: boolean }

const NON_CONTROL = [0x1, 0x2];
const CONTROL = [0x8, 0x9, 0xa];
const RESERVED_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];
const BAD_CLOSE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const INVALID_UTF8 = [
  Buffer.from([0xc3, 0x28]), Buffer.from([0xa0, 0xa1]), Buffer.from([0xe2, 0x28, 0xa1]), Buffer.from([0xf0, 0x28, 0x8c, 0xbc]),
  Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0xa1, 0xa1, 0xa1, 0xa1]), Buffer.from([0xff]), Buffer.from([0xc0, 0xaf]),
];
const request = (id: number) => Buffer.from(JSON.stringify({ id, method: 'getStatus', params: { bogus: true } }));

function frameCases(n: number): FrameCase[] {
  const cases: FrameCase[] = [
    // The issue's examples, literally.
    { category: 'ws-literal', name: 'message over maxPayload', frames: [encodeFrame({ opcode: 1, payload: Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x61) })], expect: { close: [1009] } },
    { category: 'ws-literal', name: 'invalid UTF-8 text', frames: [encodeFrame({ opcode: 1, payload: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]) })], expect: { close: [1007] } },
    { category: 'ws-literal', name: 'unmasked client frame', frames: [encodeFrame({ opcode: 1, payload: request(1), mask: false })], expect: { close: [1002] } },
    { category: 'ws-literal', name: 'RSV1 set', frames: [encodeFrame({ opcode: 1, payload: request(1), rsv: 0b100 })], expect: { close: [1002] } },
    { category: 'ws-literal', name: 'reserved opcode', frames: [encodeFrame({ opcode: 0x3 })], expect: { close: [1002] } },
    { category: 'ws-literal', name: 'close code 999', frames: [encodeFrame({ opcode: 8, payload: closePayload(999) })], expect: { close: [1002] } },
    { category: 'ws-literal', name: '64-bit length 2^63', frames: [encodeFrame({ opcode: 2, claimedLength: 1n << 63n })], expect: { close: [1009] } },
  ];
  for (let i = 0; i < n; i++) {
    const kind = pick(['unmasked', 'rsv', 'reserved', 'control-fragment', 'control-long', 'close-code', 'close-short', 'close-utf8', 'utf8', 'utf8-fragmented',
      'oversize', 'continuation', 'interleaved', 'truncated', 'text', 'binary', 'ping', 'fragmented-ok', 'soup']);
    const push = (category: string, frames: Buffer[], expectation: FrameExpectation, end = false) =>
      cases.push({ category: `ws-${category}`, name: `${kind} ${i}`, frames, expect: expectation, end });
    switch (kind) {
      case 'unmasked':
        push('unmasked', [encodeFrame({ opcode: pick([...NON_CONTROL, ...CONTROL]), payload: junk(int(100)), mask: false })], { close: [1002] });
        break;
      case 'rsv':
        push('rsv', [encodeFrame({ opcode: pick([...NON_CONTROL, 0x9]), payload: request(i), rsv: 1 + int(7) })], { close: [1002] });
        break;
      case 'reserved':
        push('reserved-opcode', [encodeFrame({ opcode: pick(RESERVED_OPCODES), payload: junk(int(50)), fin: chance(0.7) })], { close: [1002] });
        break;
      case 'control-fragment':
        push('control-fragmented', [encodeFrame({ opcode: pick(CONTROL), payload: junk(int(20)), fin: false })], { close: [1002] });
        break;
      case 'control-long':
        push('control-oversize', [encodeFrame({ opcode: pick([0x9, 0xa]), payload: junk(126 + int(200)) })], { close: [1002] });
        break;
      case 'close-code':
        push('close-bad-code', [encodeFrame({ opcode: 8, payload: closePayload(pick(BAD_CLOSE_CODES), chance(0.5) ? 'bye' : '') })], { close: [1002] });
        break;
      case 'close-short':
        push('close-bad-code', [encodeFrame({ opcode: 8, payload: junk(1) })], { close: [1002] });
        break;
      case 'close-utf8':
        push('close-bad-utf8', [encodeFrame({ opcode: 8, payload: closePayload(1000, pick(INVALID_UTF8)) })], { close: [1007] });
        break;
      case 'utf8':
        push('invalid-utf8', [encodeFrame({ opcode: 1, payload: Buffer.concat([Buffer.from('{"id":'), pick(INVALID_UTF8), Buffer.from('}')]) })], { close: [1007] });
        break;
      case 'utf8-fragmented': {
        const bad = Buffer.concat([Buffer.from('["'), pick(INVALID_UTF8), Buffer.from('"]')]);
        const cut = 1 + int(bad.length - 1);
        push('invalid-utf8', [encodeFrame({ opcode: 1, payload: bad.subarray(0, cut), fin: false }), encodeFrame({ opcode: 0, payload: bad.subarray(cut) })], { close: [1007] });
        break;
      }
      case 'oversize': {
        const claimed = pick([BigInt(MAX_MESSAGE_BYTES + 1 + int(1000)), BigInt(2 ** 32 + int(1000)), (1n << 53n) + BigInt(int(1000)), (1n << 63n) | BigInt(int(1000))]);
        push('oversize', [encodeFrame({ opcode: pick(NON_CONTROL), claimedLength: claimed, payload: junk(int(100)) })], { close: [1009] });
        break;
      }
      case 'continuation':
        push('continuation-without-start', [encodeFrame({ opcode: 0, payload: request(i) })], { close: [1002] });
        break;
      case 'interleaved':
        push('interleaved-fragments', [encodeFrame({ opcode: 1, payload: Buffer.from('{"id"'), fin: false }), encodeFrame({ opcode: pick(NON_CONTROL), payload: request(i) })], { close: [1002] });
        break;
      case 'truncated': {
        const whole = encodeFrame({ opcode: pick([...NON_CONTROL, 0x9]), payload: chance(0.5) ? request(i) : junk(1 + int(300)) });
        // Cut short, then FIN: the host must let go of the connection (there is nothing to answer).
        push('truncated', [whole.subarray(0, 1 + int(whole.length - 1))], 'closed', true);
        break;
      }
      case 'text':
        push('text-garbage', [encodeFrame({ opcode: 1, payload: Buffer.from(junk(1 + int(200)).toString('base64')) })], 'text');
        break;
      case 'binary':
        push('binary', [encodeFrame({ opcode: 2, payload: chance(0.5) ? request(i) : junk(int(300)) })], 'text');
        break;
      case 'ping':
        push('ping', [encodeFrame({ opcode: 9, payload: junk(int(125)) })], 'pong');
        break;
      case 'fragmented-ok': {
        const whole = request(i);
        const frames: Buffer[] = [];
        let at = 0;
        for (let part = 0; at < whole.length; part++) {
          const size = 1 + int(10);
          const last = at + size >= whole.length;
          frames.push(encodeFrame({ opcode: part === 0 ? 1 : 0, payload: whole.subarray(at, at + size), fin: last }));
          if (chance(0.2)) frames.push(encodeFrame({ opcode: 9, payload: junk(int(10)) })); // control frames may interleave
          at += size;
        }
        push('fragmented', frames, 'text');
        break;
      }
      case 'soup':
        push('byte-soup', [junk(1 + int(300))], 'any', true);
        break;
    }
  }
  return cases;
}

async function runFrameCase(c: FrameCase): Promise<void> {
  const what = `${c.name} [${c.category}] (seed ${SEED})`;
  const frames = (data: Buffer) => splitUpgradeReply(data).frames;
  const reply = await rawExchange(web.port, [upgradeRequest(web.port, web.token), ...c.frames], {
    end: c.end ?? false,
    timeoutMs: 8_000,
    until: (data) => {
      const got = frames(data);
      if (got.some((f) => f.opcode === 8)) return true;
      return (c.expect === 'text' && got.some((f) => f.opcode === 1)) || (c.expect === 'pong' && got.some((f) => f.opcode === 0xa));
    },
  });
  const { head, frames: got } = splitUpgradeReply(reply.data);
  expect(head?.status, `${what}: handshake`).toBe(101);
  for (const name of SECURITY_HEADERS) expect(head!.headers.has(name), `${what}: 101 without ${name}`).toBe(true);
  const close = got.find((f) => f.opcode === 8);
  const answers = got.filter((f) => f.opcode === 1 || f.opcode === 0xa);
  if (c.expect === 'text' || c.expect === 'pong') {
    expect(answers.some((f) => f.opcode === (c.expect === 'text' ? 1 : 0xa)), `${what}: no ${c.expect} (closed=${reply.closed})`).toBe(true);
    for (const text of answers.filter((f) => f.opcode === 1)) {
      const message = WsResponseSchema.parse(JSON.parse(text.payload.toString('utf8')));
      expect(message, what).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
  } else if (c.expect === 'closed') {
    expect(reply.closed || close !== undefined, `${what}: the host held on to the connection`).toBe(true);
  } else if (c.expect === 'any') {
    expect(reply.closed || close !== undefined || answers.length > 0, `${what}: nothing came back`).toBe(true);
  } else {
    expect(close, `${what}: no close frame (closed=${reply.closed})`).toBeDefined();
    expect(c.expect.close, `${what}: close code`).toContain(close!.payload.readUInt16BE(0));
  }
  count(c.category);
}

// ---- LabApi messages ----------------------------------------------------------------------------

/** `id`: the id the answer must carry (-1 when the message has no usable one; NaN: not checked). */
interface MessageCase { category: string; name: string; data: string | Buffer; id: number }

/** The answer to one message, or a failure naming it when the connection closes or 10 s pass. */
async function answerOf(c: LabClient, data: string | Buffer, what: string): Promise<WsAnswer> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.raw(data),
      c.closed.then((closed) => { throw new Error(`${what}: connection closed ${closed.code} ${closed.reason}`); }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within 10 s`)), 10_000); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const METHODS = ['getStatus', 'startRun', 'stopRun', 'setKnob', 'takeControl', 'getFrames', 'doctor'] as const;
const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype'];

function randomJson(depth: number): unknown {
  const kind = int(depth > 3 ? 6 : 8);
  switch (kind) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: return pick([0, -1, 1.5, 1e308, -0, 2 ** 53, 123456789]);
    case 3: return pick(['', 'x', '\u0000\u001b[2J', 'é', '\ud800', 'a'.repeat(int(500)), '__proto__']);
    case 4: return [];
    case 5: return {};
    case 6: return Array.from({ length: int(5) }, () => randomJson(depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = int(5); i > 0; i--) {
        Object.defineProperty(object, chance(0.3) ? pick(POLLUTING_KEYS) : pick(['id', 'method', 'params', 'path', 'value', 'profile', 'x', 'kind']), {
          value: randomJson(depth + 1), enumerable: true, configurable: true, writable: true,
        });
      }
      return object;
    }
  }
}

/** Params that every method must refuse (none of them may start a run or change a profile). */
function badParams(method: (typeof METHODS)[number]): unknown {
  const anyBad = () => pick<unknown>([5, 'x', true, [], [1], { bogus: 1 }, { __proto__: null, x: 1 }]);
  switch (method) {
    case 'startRun': return pick<() => unknown>([
      () => ({ untilStopped: pick(['yes', 1, null]) }),
      () => ({ profile: pick([5, 'x', [], null, true]) }),
      () => ({ profile: { kind: pick(['', 'wrong', null]), schemaVersion: 1 } }),
      () => ({ profile: { kind: 'uring-lab/profile', schemaVersion: pick([0, 2, '1', null]) } }),
      () => ({ profile: { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: pick([-1, 0, 1e9, 'many', 1.5]) } } }),
      () => ({ profile: { kind: 'uring-lab/profile', schemaVersion: 1, sqpol: { enabled: true } } }),
      () => ({ profile: { kind: 'uring-lab/profile', schemaVersion: 1, duration: { warmupS: 0, measureS: pick([0, -5, 1e9]) } } }),
      () => JSON.parse(`{"profile":{"kind":"uring-lab/profile","schemaVersion":1,"__proto__":{"polluted":true}}}`),
      () => JSON.parse(`{"profile":{"kind":"uring-lab/profile","schemaVersion":1,"constructor":{"prototype":{"polluted":true}}}}`),
      () => ({ extra: 1 }),
      () => anyBad(),
    ])();
    case 'setKnob': return pick<() => unknown>([
      () => ({ path: pick(['', 5, null, 'x'.repeat(201)]), value: 1 }),
      () => ({ path: pick(['__proto__.polluted', 'constructor.prototype.polluted', 'server.__proto__.polluted', 'prototype']), value: true }),
      () => ({ path: pick(['server.sqpoll.enabled', 'load.connections', 'server.ringEntries']), value: pick(['on', -1, 1e12, null, [], {}, 1.5]) }),
      () => ({ path: pick(['nope', 'server.nope', 'load.connections.x', 'kind']), value: 1 }),
      () => ({ value: 1 }),
      () => ({ path: 'load.connections', value: 2, extra: true }),
      () => anyBad(),
    ])();
    case 'getFrames': return pick<() => unknown>([
      () => ({ runId: pick([5, null, 'x'.repeat(101)]), fromSeq: 0 }),
      () => ({ runId: 'run', fromSeq: pick([-1, 1.5, '0', null]) }),
      () => ({ runId: 'run' }),
      () => ({ runId: 'run', fromSeq: 0, extra: 1 }),
      () => anyBad(),
    ])();
    default: return pick<unknown>([5, 'x', true, [], [1], { bogus: 1 }, null, JSON.parse('{"__proto__":{"polluted":true}}')]);
  }
}

function messageCases(n: number): MessageCase[] {
  let nextId = 1;
  const cases: MessageCase[] = [
    // The issue's examples, literally.
    { category: 'msg-literal', name: '60,000 [', data: '['.repeat(60_000), id: -1 },
    { category: 'msg-literal', name: '60,000 [ with an id', data: `{"id":77,"method":"getStatus","params":${'['.repeat(60_000)}`, id: -1 },
    { category: 'msg-literal', name: 'nested params', data: `{"id":78,"method":"setKnob","params":{"path":"x","value":${'['.repeat(1000)}${']'.repeat(1000)}}}`, id: 78 },
    { category: 'msg-literal', name: 'huge array', data: `[${'0,'.repeat(20_000)}0]`, id: -1 },
    { category: 'msg-literal', name: 'huge params array', data: `{"id":79,"method":"setKnob","params":{"path":"x","value":[${'0,'.repeat(15_000)}0]}}`, id: 79 },
    { category: 'msg-literal', name: 'not JSON', data: '{nope', id: -1 },
    { category: 'msg-literal', name: 'string id', data: '{"id":"1","method":"getStatus"}', id: -1 },
    { category: 'msg-literal', name: 'unknown method', data: '{"id":80,"method":"formatDisk"}', id: 80 },
    { category: 'msg-literal', name: '__proto__ pollution', data: '{"id":81,"method":"getStatus","__proto__":{"polluted":true}}', id: 81 },
    { category: 'msg-literal', name: 'constructor pollution', data: '{"id":82,"method":"getStatus","constructor":{"prototype":{"polluted":true}}}', id: 82 },
  ];
  for (let i = 0; i < n; i++) {
    const id = nextId++;
    const kind = pick(['not-json', 'deep', 'huge-array', 'id', 'method', 'params', 'params', 'params', 'pollution', 'random', 'envelope']);
    const push = (category: string, data: string | Buffer, expectedId: number) => cases.push({ category: `msg-${category}`, name: `${kind} ${i}`, data, id: expectedId });
    switch (kind) {
      case 'not-json':
        push('not-json', pick<() => string>([
          () => { const whole = JSON.stringify({ id, method: 'getStatus' }); return whole.slice(0, 1 + int(whole.length - 2)); },
          () => pick(['', ' ', 'NaN', 'undefined', "{'id':1}", '\ufeff{}', '{"id":1,}', '[1,]', '01', '{"a":1}{"b":2}', '"\\x41"', '"\\ud800"x']),
          () => junk(1 + int(100)).toString('base64'),
          () => `{"id":${id},"method":"getStatus"${'}'.repeat(2 + int(3))}`,
        ])(), -1);
        break;
      case 'deep': {
        const depth = 33 + int(30_000);
        // Unterminated (not JSON), or nested params that parse: each under the 64 KiB message limit.
        if (chance(0.5)) push('deep-nesting', chance(0.5) ? '['.repeat(depth) : '{"a":'.repeat(Math.min(depth, 12_000)), -1);
        else push('deep-nesting', `{"id":${id},"method":"getStatus","params":${'['.repeat(depth)}${']'.repeat(depth)}}`, id);
        break;
      }
      case 'huge-array': {
        const length = 10_001 + int(10_000);
        push('huge-array', `{"id":${id},"method":"getFrames","params":{"runId":"r","fromSeq":[${'1,'.repeat(length - 1)}1]}}`, id);
        break;
      }
      case 'id': {
        const bad = pick(['"1"', '1.5', 'true', 'null', '[]', '{}', '1152921504606846976', '-1152921504606846976', '1e400', '""', '{"id":1}']);
        push('wrong-id', chance(0.8) ? `{"id":${bad},"method":"${pick(METHODS)}"}` : `{"method":"${pick(METHODS)}"}`, -1);
        break;
      }
      case 'method': {
        const method = pick<unknown>(['formatDisk', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'onEvent', 'dispose', 'session', 'close',
          'interruptRun', 'GETSTATUS', 'getStatus ', 5, null, [], {}, 'x'.repeat(int(20_000)), '\u001b]0;pwned\u0007']);
        push('unknown-method', JSON.stringify({ id, method }), id);
        break;
      }
      case 'params': {
        const method = pick(METHODS);
        push(`bad-params-${method}`, JSON.stringify({ id, method, params: badParams(method) }), id);
        break;
      }
      case 'pollution': {
        const key = pick(POLLUTING_KEYS);
        const where = pick(['root', 'params', 'profile']);
        const poison = `{"${key}":{"polluted":true,"prototype":{"polluted":true}}}`;
        const text = where === 'root'
          ? `{"id":${id},"method":"${pick(METHODS)}","${key}":${poison}}`
          : where === 'params'
            ? `{"id":${id},"method":"${pick(METHODS)}","params":${poison}}`
            : `{"id":${id},"method":"startRun","params":{"profile":{"kind":"uring-lab/profile","schemaVersion":1,"${key}":${poison}}}}`;
        push('pollution', text, id);
        break;
      }
      case 'random': {
        const value = randomJson(0);
        push('random-json', JSON.stringify(value) ?? 'null', Number.NaN);
        break;
      }
      case 'envelope': {
        const extra = pick<Record<string, unknown>>([{ extra: 1 }, { result: 1 }, { ok: true }, { event: {} }, { params: undefined, jsonrpc: '2.0' }]);
        push('envelope', JSON.stringify({ id, method: pick(METHODS), ...extra }), id);
        break;
      }
    }
  }
  return cases;
}

describe('web host fuzz', () => {
  it('answers or refuses every malformed HTTP request, and goes on serving', async () => {
    reseed(1);
    const cases = httpCases(1500);
    await pool(cases, 16, runHttpCase);
    await expectServing('the HTTP batch');
  });

  it('answers or closes (with the right code) every malformed WebSocket frame, and goes on serving', async () => {
    reseed(2);
    const cases = frameCases(1000);
    await pool(cases, 16, runFrameCase);
    await expectServing('the frame batch');
  });

  it('answers every malformed LabApi message with bounded error data, and goes on serving', async () => {
    reseed(3);
    const cases = messageCases(1200);
    const lanes = 8;
    await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
      let ws = await connectLab(web.port, { token: web.token, client: `fuzz-lane-${lane}` });
      let c = labClient(ws);
      for (let i = lane; i < cases.length; i += lanes) {
        const test = cases[i];
        const what = `${test.name} [${test.category}] (seed ${SEED}): ${JSON.stringify(String(test.data).slice(0, 160))}`;
        const answer = await answerOf(c, test.data, what);
        const parsed = WsResponseSchema.parse(answer);
        expect('ok' in parsed && parsed.ok, `${what}: accepted`).toBe(false);
        const error = (parsed as { error: { code: string; message: string; fix?: string; field?: string } }).error;
        if (!Number.isNaN(test.id)) expect((parsed as { id: number }).id, `${what}: id`).toBe(test.id);
        expect(error.message.length, `${what}: message length`).toBeLessThanOrEqual(ERROR_TEXT_LIMITS.message);
        expect((error.fix ?? '').length, `${what}: fix length`).toBeLessThanOrEqual(ERROR_TEXT_LIMITS.fix);
        expect((error.field ?? '').length, `${what}: field length`).toBeLessThanOrEqual(ERROR_TEXT_LIMITS.field);
        // eslint-disable-next-line no-control-regex
        expect(/[\u0000-\u001f\u007f]/.test(error.message + (error.fix ?? '') + (error.field ?? '')), `${what}: control characters`).toBe(false);
        count(test.category);
        if (c.messages.some((m) => 'event' in m)) throw new Error(`${what}: an event arrived, so something started a run`);
        if (i % 97 === 0) {
          // Now and then a fresh connection, so reconnects are part of the mix.
          ws.close();
          ws = await connectLab(web.port, { token: web.token, client: `fuzz-lane-${lane}` });
          c = labClient(ws);
        }
      }
      ws.close();
    }));

    // Over the limit: the message is refused with 1009 on its own connection.
    for (const size of [MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES * 2, 1024 * 1024]) {
      const ws = await connectLab(web.port, { token: web.token });
      const c = labClient(ws);
      ws.send(`[${'0,'.repeat(size / 2)}0]`);
      expect((await c.closed).code, `${size}-byte message (seed ${SEED})`).toBe(1009);
      count('msg-oversize');
    }

    // A flood on one connection: answered in order one at a time, or cut off with 1008.
    const floodWs = await connectLab(web.port, { token: web.token });
    const flood = labClient(floodWs);
    const floodSize = 3000;
    for (let i = 0; i < floodSize; i++) floodWs.send(JSON.stringify({ id: i, method: 'getStatus', params: { x: i } }));
    const floodStart = Date.now();
    const outcome = await Promise.race([
      flood.closed.then((closed) => `closed ${closed.code}`),
      waitFor(() => flood.messages.length === floodSize, 30_000, 'the flood answers').then(() => 'answered'),
    ]);
    console.log(`webFuzz: a flood of ${floodSize} messages on one connection was ${outcome} after ${flood.messages.length} answers, ${Date.now() - floodStart} ms`);
    if (outcome === 'answered') {
      expect(flood.messages.map((m) => (m as { id: number }).id)).toEqual(Array.from({ length: floodSize }, (_, i) => i));
    } else {
      expect(outcome).toBe('closed 1008');
    }
    floodWs.close();
    count('msg-flood');

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await expectServing('the message batch');
  });

  it('still runs a real measured run afterwards, from a fresh client', async () => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(total, `inputs tried (seed ${SEED})`).toBeGreaterThanOrEqual(1000);
    const ws = await connectLab(web.port, { token: web.token, client: 'after-the-fuzz' });
    const c = labClient(ws);
    const started = await c.call('startRun', { profile: { kind: 'uring-lab/profile', schemaVersion: 1, load: { connections: 4 }, duration: { warmupS: 0, measureS: 1 } } });
    expect(started, `startRun (seed ${SEED})`).toMatchObject({ ok: true });
    await waitFor(() => c.events.some((e) => e.type === 'ended' || e.type === 'failed' || e.type === 'interrupted'), 20_000, 'the run to end');
    const ended = c.events.find((e) => e.type === 'ended');
    expect(ended, JSON.stringify(c.events.filter((e) => e.type !== 'frame')).slice(0, 500)).toBeDefined();
    const summary = RunSummarySchema.parse((ended as { summary: unknown }).summary);
    expect(summary.requests).toBeGreaterThan(0);
    expect(summary.status).toBe('completed');
    ws.close();
    expect(uncaught.map(String)).toEqual([]);
  });
});
