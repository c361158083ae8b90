/**
 * Every path into the profile parser is bounded and every refusal is one honest line
 * (issue "Trust", findings 6–8). Table-driven, by class: each row is a member of the class;
 * the shared checks are the class's promise, the row's pattern its particular words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ERROR_TEXT_LIMITS, KNOBS, knobEntries, LabError, PROFILE_KIND } from '../../electron/contract';
import {
  defaultProfile, describeSchema, firstInvalidUtf8, issueExpectation, loadProfileFile, MAX_PROFILE_BYTES,
  parseProfile, parseSetAssignment, scanJson, valueAt, withKnob,
} from '../../electron/host/profiles';

/** zod's own wording must never reach a person. */
const ZOD_TEXT = /Invalid input|Invalid option|Too (big|small)|expected (int|number|boolean|string|object|array)|received|Unrecognized key/;

const K = { kind: PROFILE_KIND, schemaVersion: 1 } as const;
const viaSet = (assignment: string) => {
  const { path: p, value } = parseSetAssignment(assignment);
  return withKnob(defaultProfile(), p, value);
};
const nest = (depth: number, leaf: unknown = 1, asObject = false): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  return v;
};

/** Runs `fn`, which must refuse with a LabError that keeps every promise of the class. */
function refusal(fn: () => unknown, maxMs = 2000): LabError {
  const t0 = performance.now();
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  const ms = performance.now() - t0;
  expect(thrown, 'expected a refusal').toBeInstanceOf(LabError);
  const e = thrown as LabError;
  const line = `uring-lab: ${e.oneLine()}`;
  expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  expect(e.message.length).toBeLessThanOrEqual(ERROR_TEXT_LIMITS.message);
  expect((e.fix ?? '').length).toBeLessThanOrEqual(ERROR_TEXT_LIMITS.fix);
  expect(e.fix, 'every refusal says what to do').toBeTruthy();
  expect(e.field, 'every refusal names its field').toBeTruthy();
  expect(e.kind, `${e.code} is an input error (exits 2)`).toBe('input');
  expect(line).not.toMatch(ZOD_TEXT);
  expect(ms).toBeLessThan(maxMs);
  return e;
}

interface Row {
  name: string;
  run: () => unknown;
  code?: string;
  field?: string;
  /** The message starts with this source. */
  source?: string;
  message: RegExp;
  fix?: RegExp;
}

function table(rows: Row[]) {
  it.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const e = refusal(row.run);
    if (row.code) expect(e.code).toBe(row.code);
    if (row.field) expect(e.field).toBe(row.field);
    if (row.source) expect(e.message.startsWith(`${row.source}: `) || e.message.startsWith(`${row.source} `)).toBe(true);
    expect(e.message).toMatch(row.message);
    if (row.fix) expect(e.fix).toMatch(row.fix);
  });
}

let dir: string;
beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'uring-lab-input-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });
const file = (name: string, content: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

// ---------------------------------------------------------------------------------------
describe('class 1: deep nesting and huge values are refused before anything recurses', () => {
  const deep60k = `server.ringEntries=${'['.repeat(60_000)}${']'.repeat(60_000)}`;
  table([
    { name: '--set server.ringEntries=[[[…60,000 deep…]]] (the finding)', run: () => viaSet(deep60k), code: 'SET_SYNTAX', field: 'server.ringEntries', source: '--set', message: /120019 characters; a --set is at most 4096/ },
    { name: '--set 2,000-deep array within 4 KiB', run: () => viaSet(`server.ringEntries=${'['.repeat(2000)}${']'.repeat(2000)}`), code: 'INVALID_VALUE', field: 'server.ringEntries', source: '--set', message: /nested more than 32 levels deep/ },
    { name: '--set 500-deep object within 4 KiB', run: () => viaSet(`load.connections=${'{"a":'.repeat(500)}1${'}'.repeat(500)}`), code: 'INVALID_VALUE', field: 'load.connections', message: /nested more than 32 levels deep/ },
    { name: '--set a 5,000-character string', run: () => viaSet(`name=${'x'.repeat(5000)}`), code: 'SET_SYNTAX', field: 'name', message: /5005 characters; a --set is at most 4096/ },
    { name: '--set a 5,000-character key with no =', run: () => viaSet('k'.repeat(5000)), code: 'SET_SYNTAX', field: '--set', message: /at most 4096/ },
    { name: 'setKnob 60,000-deep array (UI / WebSocket)', run: () => withKnob(defaultProfile(), 'server.ringEntries', nest(60_000), 'setKnob'), code: 'INVALID_VALUE', field: 'server.ringEntries', source: 'setKnob', message: /nested more than 32/ },
    { name: 'setKnob 60,000-deep object', run: () => withKnob(defaultProfile(), 'name', nest(60_000, 1, true), 'setKnob'), field: 'name', message: /nested more than 32/ },
    { name: 'setKnob 20,000-element array', run: () => withKnob(defaultProfile(), 'server.sqpoll.enabled', new Array(20_000).fill(true), 'setKnob'), field: 'server.sqpoll.enabled', message: /more than 10000 values/ },
    { name: 'setKnob a cyclic object', run: () => { const a: Record<string, unknown> = {}; a.self = a; return withKnob(defaultProfile(), 'name', a, 'setKnob'); }, field: 'name', message: /nested more than 32|more than 10000/ },
    { name: 'startRun.profile 60,000-deep array', run: () => parseProfile(nest(60_000), 'startRun.profile'), code: 'PROFILE_INVALID', field: '(profile)', source: 'startRun.profile', message: /nested more than 32 levels deep/ },
    { name: 'startRun.profile 60,000-deep value under server.sqpoll', run: () => parseProfile({ ...K, server: { sqpoll: { enabled: nest(60_000) } } }, 'startRun.profile'), code: 'PROFILE_INVALID', message: /nested more than 32/ },
    { name: 'startRun.profile 20,000 unknown keys (a 10k-value flood)', run: () => parseProfile({ ...K, ...Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])) }, 'startRun.profile'), code: 'PROFILE_INVALID', message: /more than 10000 values/ },
    { name: 'startRun.profile a cyclic object', run: () => { const p: Record<string, unknown> = { ...K }; p.server = p; return parseProfile(p, 'startRun.profile'); }, code: 'PROFILE_INVALID', message: /nested more than 32|more than 10000/ },
    { name: 'key path of 201 characters', run: () => withKnob(defaultProfile(), `server.${'x'.repeat(194)}`, 1), code: 'UNKNOWN_KEY', message: /key path of 201 characters .*at most 200/ },
    { name: 'key path of 100,000 characters via --set (bounded by the 4 KiB rule first)', run: () => viaSet(`${'a.'.repeat(50_000)}b=1`), code: 'SET_SYNTAX', message: /at most 4096/ },
    { name: 'key path of 9 segments', run: () => viaSet('a.b.c.d.e.f.g.h.i=1'), code: 'UNKNOWN_KEY', message: /9 dotted parts; a profile key path has at most 8/ },
    { name: 'key path with an empty segment', run: () => viaSet('server..ringEntries=8'), code: 'UNKNOWN_KEY', message: /is not a profile key path/ },
    { name: 'key path that goes below a value', run: () => viaSet('server.ringEntries.x=8'), code: 'UNKNOWN_KEY', field: 'server.ringEntries.x', message: /"server\.ringEntries" is a value, it has no keys/ },
  ]);

  it('a 60,000-deep profile file is refused by the scanner before JSON.parse (one line, position given)', () => {
    const head = `{"kind":"${PROFILE_KIND}","schemaVersion":1,"server":`;
    const p = file('deep.json', `${head}${'['.repeat(60_000)}${']'.repeat(60_000)}}`);
    const e = refusal(() => loadProfileFile(p));
    expect(e.code).toBe('PROFILE_INVALID');
    // the root object is level 1, so the 32nd bracket is the 33rd level
    expect(e.message).toMatch(new RegExp(`nested more than 32 levels deep at line 1, column ${head.length + 32}$`));
  });
});

// ---------------------------------------------------------------------------------------
describe('class 2: profile files are regular, bounded, UTF-8 JSON', () => {
  let fifo: string | undefined;
  let socketPath: string;
  let server: Server;
  beforeAll(async () => {
    try { fifo = path.join(dir, 'fifo.json'); execFileSync('mkfifo', [fifo]); } catch { fifo = undefined; }
    socketPath = path.join(dir, 'sock.json');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const rows: Row[] = [
    { name: 'a directory', run: () => loadProfileFile(dir), code: 'PROFILE_UNREADABLE', field: 'profile', message: /is a directory, not a regular file/, fix: /regular \.json file/ },
    { name: '/dev/zero (endless character device)', run: () => loadProfileFile('/dev/zero'), code: 'PROFILE_UNREADABLE', source: '/dev/zero', message: /^\/dev\/zero: is a character device, not a regular file$/ },
    { name: '/dev/null', run: () => loadProfileFile('/dev/null'), code: 'PROFILE_UNREADABLE', message: /character device/ },
    { name: 'a unix socket', run: () => loadProfileFile(socketPath), code: 'PROFILE_UNREADABLE', message: /is a socket, not a regular file/ },
    { name: 'a 100 MB file', run: () => { const p = file('huge.json', ''); truncateSync(p, 100 * 1024 * 1024); return loadProfileFile(p); }, code: 'PROFILE_UNREADABLE', message: /is 104857600 bytes; a profile is at most 1 MiB/ },
    { name: '1 MiB + 1 byte', run: () => loadProfileFile(file('big.json', Buffer.alloc(MAX_PROFILE_BYTES + 1, 0x20))), code: 'PROFILE_UNREADABLE', message: /is 1048577 bytes; a profile is at most 1 MiB/ },
    { name: 'a missing file', run: () => loadProfileFile(path.join(dir, 'missing.json')), code: 'PROFILE_UNREADABLE', message: /cannot open \(ENOENT: no such file\)/ },
    { name: 'a path through a file', run: () => loadProfileFile(path.join(file('plain.json', '{}'), 'x.json')), code: 'PROFILE_UNREADABLE', message: /ENOTDIR/ },
    { name: 'a path with a NUL byte', run: () => loadProfileFile(`${dir}/a\u0000.json`), code: 'PROFILE_UNREADABLE', message: /NUL byte/ },
    { name: 'an empty file', run: () => loadProfileFile(file('empty.json', '')), code: 'PROFILE_NOT_JSON', message: /is empty/ },
    { name: 'whitespace only', run: () => loadProfileFile(file('ws.json', ' \n\t ')), code: 'PROFILE_NOT_JSON', message: /no JSON value/ },
    { name: 'invalid UTF-8 names the byte offset', run: () => loadProfileFile(file('latin1.json', Buffer.concat([Buffer.from('{"kind": "uring-lab/profile", "name": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]))), code: 'PROFILE_NOT_JSON', message: /not UTF-8 text: invalid byte sequence at byte offset 42 \(bytes e9 22 7d\)/ },
    { name: 'a lone continuation byte', run: () => loadProfileFile(file('cont.json', Buffer.from([0x7b, 0x80, 0x7d]))), code: 'PROFILE_NOT_JSON', message: /byte offset 1/ },
    { name: 'an encoded surrogate (ED A0 80)', run: () => loadProfileFile(file('surr.json', Buffer.from([0x20, 0x20, 0xed, 0xa0, 0x80]))), code: 'PROFILE_NOT_JSON', message: /byte offset 2/ },
    { name: 'UTF-16 with a byte-order mark', run: () => loadProfileFile(file('utf16.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{}', 'utf16le')]))), code: 'PROFILE_NOT_JSON', message: /UTF-16/ },
    { name: 'binary garbage (NUL bytes)', run: () => loadProfileFile(file('nul.json', Buffer.alloc(64))), code: 'PROFILE_NOT_JSON', message: /line 1, column 1: expected a value .*found "\\x00"/ },
    { name: 'an environ-like file does not echo its content', run: () => loadProfileFile(file('environ', 'PATH=/usr/bin\u0000SECRET_TOKEN=hunter2\u0000')), code: 'PROFILE_NOT_JSON', message: /^[^]*line 1, column 1: expected a value[^]*found "P"$/ },
    { name: 'a trailing comma', run: () => loadProfileFile(file('comma.json', '{\n  "kind": "uring-lab/profile",\n}')), code: 'PROFILE_NOT_JSON', message: /line 3, column 1: found "\}" where a key should be \(a trailing comma\?\)/ },
    { name: 'single quotes', run: () => loadProfileFile(file('single.json', "{'kind': 1}")), code: 'PROFILE_NOT_JSON', message: /line 1, column 2: expected a key in double quotes/ },
    { name: 'a truncated file', run: () => loadProfileFile(file('trunc.json', '{ "kind": "uring-lab/profile", ')), code: 'PROFILE_NOT_JSON', message: /unexpected end of the file \(1 unclosed bracket\)/ },
    { name: 'two objects', run: () => loadProfileFile(file('two.json', '{}\n{}')), code: 'PROFILE_NOT_JSON', message: /line 2, column 1: unexpected "\{" after the end of the JSON value/ },
    { name: 'a raw newline inside a string', run: () => loadProfileFile(file('nl.json', '{"name": "a\nb"}')), code: 'PROFILE_NOT_JSON', message: /control character \(\\x0a\) inside a string/ },
    { name: 'a duplicate key', run: () => loadProfileFile(file('dup.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,"server":{"ringEntries":8,\n"ringEntries":16}}`)), code: 'PROFILE_INVALID', field: 'server.ringEntries', message: /key "server\.ringEntries" appears twice \(again at line 2, column 1\)/ },
    { name: 'a control character in the file name is escaped', run: () => loadProfileFile(path.join(dir, 'evil\u001b[31m\nuring-lab: ok.json')), code: 'PROFILE_UNREADABLE', message: /evil\\x1b\[31m\\x0auring-lab: ok\.json: cannot open/ },
    { name: 'a 300-character path keeps its tail', run: () => loadProfileFile(path.join(dir, `${'d'.repeat(200)}`, `${'n'.repeat(90)}.json`)), code: 'PROFILE_UNREADABLE', message: /^…d{3}\/n{90}\.json: cannot open \(ENOENT/ },
    { name: 'a number beyond a double in a file is quoted as written (1e400)', run: () => loadProfileFile(file('inf.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,"server":{"ringEntries":1e400}}`)), code: 'INVALID_VALUE', field: 'server.ringEntries', message: /: server\.ringEntries must be a power of two from 8 to 32768 \(got 1e400\)$/, fix: /use e\.g\. 4096 \(the default\)/ },
    { name: 'an integer beyond 2^53 in a file is quoted as written', run: () => loadProfileFile(file('big-int.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,"load":{"connections":12345678901234567890}}`)), code: 'INVALID_VALUE', message: /load\.connections must be a whole number from 1 to 4096 \(got 12345678901234567890\)/ },
    { name: '-1e400 in an array index path', run: () => loadProfileFile(file('neg.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,"duration":{"warmupS":-1e400}}`)), message: /duration\.warmupS must be a number from 0 to 600 \(got -1e400\)/ },
  ];
  table(rows);

  it('a FIFO with no writer is refused at once, never waited on', () => {
    if (!fifo) return;
    const e = refusal(() => loadProfileFile(fifo!), 1000);
    expect(e.code).toBe('PROFILE_UNREADABLE');
    expect(e.message).toMatch(/is a FIFO \(named pipe\), not a regular file/);
    expect(e.fix).toMatch(/give a regular \.json file/);
  });

  it('a symlink to a FIFO is judged by what it opens', () => {
    if (!fifo) return;
    const link = path.join(dir, 'link-to-fifo.json');
    symlinkSync(fifo, link);
    expect(refusal(() => loadProfileFile(link), 1000).message).toMatch(/FIFO/);
  });

  it('a FIFO with a writer holding it open is refused without reading', () => {
    if (!fifo) return;
    const reader = openSync(fifo, 'r+'); // keeps a writer end open, as `cat > fifo` would
    try {
      expect(refusal(() => loadProfileFile(fifo!), 1000).message).toMatch(/FIFO/);
    } finally {
      closeSync(reader);
    }
  });

  it('/proc files that report size 0 are read only up to the bound', () => {
    // /proc/kallsyms reports 0 bytes and holds megabytes: the read must stop at 1 MiB + 1.
    if (!existsSync('/proc/kallsyms')) return;
    const e = refusal(() => loadProfileFile('/proc/kallsyms'));
    expect(e.code).toMatch(/PROFILE_UNREADABLE|PROFILE_NOT_JSON/);
    if (e.code === 'PROFILE_UNREADABLE') expect(e.message).toMatch(/more than 1 MiB \(1048576 bytes\) although it reports size 0/);
  });

  it('/proc/self/environ is refused without echoing the environment', () => {
    process.env.URING_LAB_TEST_SECRET = 'do-not-print-me';
    const e = refusal(() => loadProfileFile('/proc/self/environ'));
    expect(e.code).toMatch(/PROFILE_NOT_JSON|PROFILE_UNREADABLE/);
    expect(e.oneLine()).not.toContain('do-not-print-me');
    expect(e.oneLine()).not.toContain('PATH=');
  });

  it('a 1 MiB file of 90,000 unknown keys is refused quickly', () => {
    const keys = Array.from({ length: 90_000 }, (_, i) => `"k${i}":0`).join(',');
    const p = file('keys.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,${keys}}`);
    const e = refusal(() => loadProfileFile(p), 3000);
    expect(e.message).toMatch(/more than 10000 values/);
  });

  it('accepts a UTF-8 BOM, CRLF line ends and non-ASCII text', () => {
    const p = file('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{\r\n"kind": "${PROFILE_KIND}",\r\n"schemaVersion": 1, "name": "café ☕ 𝄞"}`)]));
    expect(loadProfileFile(p).name).toBe('café ☕ 𝄞');
  });

  it('accepts a file that is exactly 1 MiB', () => {
    const head = `{"kind":"${PROFILE_KIND}","schemaVersion":1,"description":"`;
    const tail = '"}';
    const ws = ' '.repeat(MAX_PROFILE_BYTES - head.length - tail.length - 100);
    const p = file('exact.json', `${head}${'d'.repeat(100)}${tail}${ws}`);
    expect(loadProfileFile(p).description).toBe('d'.repeat(100));
  });

  it('the scanner agrees with JSON.parse on valid and invalid JSON', () => {
    const valid = ['{}', '[]', '0', '-0.5e-3', '"\\u00e9\\n"', '{"a":[1,{"b":null}],"c":true,"d":false}', ' \t\r\n[ 1 , 2 ] ', '"\u2028"', '1E+2'];
    const invalid = ['', '{', '{"a"}', '{"a":}', '[1,]', '01', '1.', '.5', '+1', '"\\x41"', '"\\u12"', 'tru', 'nul', 'NaN', 'Infinity', '{"a":1}}', "'a'", '"a\u0001"', '[1 2]', '{"a" 1}', '-'];
    for (const t of valid) { expect(scanJson(t).ok, t).toBe(true); expect(() => JSON.parse(t)).not.toThrow(); }
    for (const t of invalid) { expect(scanJson(t).ok, t).toBe(false); expect(() => JSON.parse(t), t).toThrow(); }
  });

  it('the UTF-8 check finds the first bad sequence', () => {
    const b = (...x: number[]) => Uint8Array.from(x);
    expect(firstInvalidUtf8(b(0x61, 0xc3, 0xa9))).toBe(3); // valid: é
    expect(firstInvalidUtf8(b(0x61, 0xc0, 0x80))).toBe(1); // overlong
    expect(firstInvalidUtf8(b(0xf4, 0x90, 0x80, 0x80))).toBe(0); // above U+10FFFF
    expect(firstInvalidUtf8(b(0x61, 0x62, 0xe2, 0x82))).toBe(2); // truncated at the end
    expect(firstInvalidUtf8(b(0xf0, 0x9d, 0x84, 0x9e, 0xff))).toBe(4); // 𝄞 then 0xff
  });
});

// ---------------------------------------------------------------------------------------
describe('class 3a: unknown keys are named (at most three), with a suggestion, bounded', () => {
  const manyKeys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`zz${i}`, i]));
  table([
    { name: 'one typo gets the nearest key', run: () => parseProfile({ ...K, server: { sqpol: {} } }, 'startRun.profile'), code: 'UNKNOWN_KEY', field: 'server.sqpol', source: 'startRun.profile', message: /^startRun\.profile: unknown key "server\.sqpol" \(did you mean "server\.sqpoll"\?\)$/, fix: /keys under server: engine, rings, ringEntries/ },
    { name: '5,000 unknown keys name three and count the rest', run: () => parseProfile({ ...K, ...manyKeys(5000) }, 'startRun.profile'), field: 'zz0', message: /unknown keys "zz0", "zz1", "zz2" \(and 4997 more\)$/ },
    { name: 'each of the three gets its own suggestion', run: () => parseProfile({ ...K, server: { ringEntris: 8, taskrn: 'coop', engin: 'io_uring', sqpolll: {} } }, 'p.json'), message: /"server\.ringEntris" \(did you mean "server\.ringEntries"\?\), "server\.taskrn" \(did you mean "server\.taskrun"\?\), "server\.engin" \(did you mean "server\.engine"\?\) \(and 1 more\)/ },
    { name: 'unknown keys at two levels are counted together', run: () => parseProfile({ ...K, foo: 1, load: { conections: 8 } }, 'x'), message: /unknown keys .*"load\.conections" \(did you mean "load\.connections"\?\)/ },
    { name: 'a key put at the wrong level points to where it lives', run: () => parseProfile({ ...K, ringEntries: 1024 }, 'x'), message: /unknown key "ringEntries" \(did you mean "server\.ringEntries"\?\)/ },
    { name: 'a dotted key in a file says to nest it', run: () => parseProfile({ ...K, 'server.sqpoll.enabled': true }, 'x'), message: /unknown key "server\.sqpoll\.enabled" \(write it nested: "server": \{ "sqpoll": \{ "enabled": …\)/ },
    { name: 'an ANSI escape in a key is escaped (profile)', run: () => parseProfile({ ...K, 'a\u001b[31m': 1 }, 'x'), field: 'a\\x1b[31m', message: /unknown key "a\\x1b\[31m"/ },
    { name: 'an ANSI escape in a key is escaped (--set): unknown profile key "a\\x1b[31m"', run: () => viaSet('a\u001b[31m=1'), code: 'UNKNOWN_KEY', field: 'a\\x1b[31m', source: '--set', message: /^--set: unknown profile key "a\\x1b\[31m"$/ },
    { name: 'a newline in a key cannot forge a second line', run: () => parseProfile({ ...K, 'x\nuring-lab: all good': 1 }, 'x'), message: /unknown key "x\\x0auring-lab: all good"/ },
    { name: 'bidi controls in a key are escaped', run: () => withKnob(defaultProfile(), 'server.\u202eabc', 1), message: /unknown profile key "server\.\\u202eabc"/ },
    { name: 'a 100,000-character key is bounded', run: () => parseProfile({ ...K, ['k'.repeat(100_000)]: 1 }, 'x'), message: /unknown key "k{20,60}… \(\d+ more characters\)"$/ },
    { name: 'a __proto__ key is just an unknown key', run: () => parseProfile(JSON.parse(`{"kind":"${PROFILE_KIND}","schemaVersion":1,"__proto__":{"x":1}}`), 'x'), message: /unknown key "__proto__"/ },
    { name: '--set unknown key gets the nearest key', run: () => viaSet('load.conections=8'), code: 'UNKNOWN_KEY', message: /unknown profile key "load\.conections"/, fix: /did you mean "load\.connections"\?/ },
    { name: '--set key at the wrong level', run: () => viaSet('taskrun=coop'), code: 'UNKNOWN_KEY', message: /^--set: unknown profile key "taskrun"$/, fix: /did you mean "server\.taskrun"\?/ },
  ]);
});

describe('class 3a (continued): the 800,000-key flood', () => {
  it('800,000 unknown keys (the finding: a 9.6 MB line) are one bounded line', () => {
    const flood: Record<string, unknown> = { ...K };
    for (let i = 0; i < 800_000; i++) flood[`zz${i}`] = i;
    // Most of the time is V8 enumerating an 800k-key dictionary object (JSON.parse of it takes as long).
    const e = refusal(() => parseProfile(flood, 'startRun.profile'), 10_000);
    expect(e.code).toBe('PROFILE_INVALID');
    expect(e.message).toBe('startRun.profile: more than 10000 values');
  });
});

describe('class 3b: values are echoed bounded and escaped', () => {
  const big = 'v'.repeat(100_000);
  table([
    { name: 'a 100 KB name', run: () => parseProfile({ ...K, name: big }, 'startRun.profile'), field: 'name', message: /name must be text of 1 to 200 characters \(without control characters or unpaired surrogates\) \(got the string "v{20,60}… \(\d{5} more characters\)"\)$/ },
    { name: 'a 100 KB description', run: () => parseProfile({ ...K, description: big }, 'x'), field: 'description', message: /text of at most 10000 characters \(without control characters other than newlines and tabs, or unpaired surrogates\) \(got the string "v+… \(\d+ more characters\)"\)/ },
    { name: 'a 100 KB string for a number', run: () => withKnob(defaultProfile(), 'load.connections', big, 'setKnob'), message: /\(got the string "v+… \(\d+ more characters\)"\)/ },
    { name: 'a 9,000-element array for a boolean', run: () => withKnob(defaultProfile(), 'server.sqpoll.enabled', new Array(9000).fill(0), 'setKnob'), message: /must be a boolean \(true or false\) \(got an array \[0,0,0.*more characters\)\)/ },
    { name: 'an ANSI escape in a value', run: () => viaSet('server.taskrun=\u001b[2Jdefer'), message: /got the string "\\u001b\[2Jdefer"/ },
    { name: 'bidi controls in a value', run: () => parseProfile({ ...K, server: { taskrun: 'coop\u202e\u2066' } }, 'x'), message: /got the string "coop\\u202e\\u2066"/ },
    { name: 'a newline in a value', run: () => parseProfile({ ...K, server: { taskrun: 'coop\nuring-lab: ok' } }, 'x'), message: /got the string "coop\\nuring-lab: ok"/ },
    { name: 'a 3,000-character --set value', run: () => viaSet(`load.connections=${'9'.repeat(3000)}`), message: /got 9{20,60}… \(\d+ more characters\)\)$/ },
  ]);
});

describe('class 3c: ranges are the knob\'s real range, numbers quoted as given', () => {
  table([
    { name: '--set server.ringEntries=1e308 (the finding)', run: () => viaSet('server.ringEntries=1e308'), code: 'INVALID_VALUE', field: 'server.ringEntries', message: /^--set: server\.ringEntries must be a power of two from 8 to 32768 \(got 1e308\)$/, fix: /^e\.g\. --set server\.ringEntries=4096 \(the default\)$/ },
    { name: 'startRun.profile ringEntries: 1e308', run: () => parseProfile({ ...K, server: { ringEntries: 1e308 } }, 'startRun.profile'), message: /^startRun\.profile: server\.ringEntries must be a power of two from 8 to 32768 \(got 1e308\)$/ },
    { name: '--set server.ringEntries=1e400 (JSON.parse → Infinity)', run: () => viaSet('server.ringEntries=1e400'), message: /power of two from 8 to 32768 \(got 1e400\)$/ },
    { name: 'setKnob Infinity', run: () => withKnob(defaultProfile(), 'server.ringEntries', Infinity, 'setKnob'), message: /^setKnob: server\.ringEntries must be a power of two from 8 to 32768 \(got Infinity\)$/, fix: /^e\.g\. 4096 \(the default\)$/ },
    { name: 'setKnob NaN', run: () => withKnob(defaultProfile(), 'load.threads', NaN, 'setKnob'), message: /load\.threads must be a whole number from 1 to 64 \(got NaN\)/ },
    { name: '--set load.connections=12345678901234567890 (no silent rounding)', run: () => viaSet('load.connections=12345678901234567890'), message: /^--set: load\.connections must be a whole number from 1 to 4096 \(got 12345678901234567890\)$/ },
    { name: '--set load.connections=9007199254740993 (2^53 + 1)', run: () => viaSet('load.connections=9007199254740993'), message: /from 1 to 4096 \(got 9007199254740993\)/ },
    { name: '--set server.sqpoll.idleMs=-1e400', run: () => viaSet('server.sqpoll.idleMs=-1e400'), message: /server\.sqpoll\.idleMs must be a whole number from 0 to 60000 \(got -1e400\)/ },
    { name: '--set server.sqpoll.cpu=4096 (nullable)', run: () => viaSet('server.sqpoll.cpu=4096'), message: /server\.sqpoll\.cpu must be a whole number from 0 to 4095, or null \(got 4096\)/, fix: /--set server\.sqpoll\.cpu=null \(the default\)/ },
    { name: '--set server.bufferRing.size=1000', run: () => viaSet('server.bufferRing.size=1000'), message: /a power of two from 64 to 1048576 \(got 1000\)/ },
    { name: '--set server.bufferRing.count=0', run: () => viaSet('server.bufferRing.count=0'), message: /a power of two from 1 to 32768 \(got 0\)/ },
    { name: '--set load.threads=1.5', run: () => viaSet('load.threads=1.5'), message: /load\.threads must be a whole number from 1 to 64 \(got 1\.5\)/ },
    { name: '--set duration.measureS=0.01', run: () => viaSet('duration.measureS=0.01'), message: /duration\.measureS must be a number from 0\.1 to 3600 \(got 0\.01\)/ },
    { name: '--set load.connections=0', run: () => viaSet('load.connections=0'), message: /from 1 to 4096 \(got 0\)/ },
    { name: '--set load.messageBytes=1E+7 quoted as typed', run: () => viaSet('load.messageBytes=1E+7'), message: /from 1 to 1048576 \(got 1E\+7\)/ },
  ]);
});

describe('class 3d: types are named in words', () => {
  table([
    { name: 'schemaVersion: "1" (the finding)', run: () => parseProfile({ ...K, schemaVersion: '1' }, 'startRun.profile'), code: 'PROFILE_INVALID', field: 'schemaVersion', message: /^startRun\.profile: schemaVersion must be the number 1 \(got the string "1"\)$/, fix: /without quotes/ },
    { name: 'schemaVersion: null', run: () => parseProfile({ ...K, schemaVersion: null }, 'x'), message: /schemaVersion must be the number 1 \(got null\)/ },
    { name: 'schemaVersion missing', run: () => parseProfile({ kind: PROFILE_KIND }, 'x'), field: 'schemaVersion', message: /missing "schemaVersion"/ },
    { name: 'schemaVersion 2 is a version, not a type', run: () => parseProfile({ ...K, schemaVersion: 2 }, 'x'), code: 'PROFILE_VERSION', message: /schemaVersion 2 is not supported by this uring-lab \(it reads schemaVersion 1\)/ },
    { name: 'top-level null (the finding)', run: () => parseProfile(null, 'startRun.profile'), code: 'PROFILE_INVALID', message: /^startRun\.profile: a profile must be a JSON object \(got null\)$/ },
    { name: 'top-level array', run: () => parseProfile([K], 'x'), message: /a profile must be a JSON object \(got an array \[/ },
    { name: 'top-level string', run: () => parseProfile('uring-lab/profile', 'x'), message: /a profile must be a JSON object \(got the string "uring-lab\/profile"\)/ },
    { name: 'top-level number', run: () => parseProfile(42, 'x'), message: /a profile must be a JSON object \(got 42\)/ },
    { name: 'top-level boolean', run: () => parseProfile(true, 'x'), message: /a profile must be a JSON object \(got true\)/ },
    { name: 'top-level undefined (no profile sent)', run: () => parseProfile(undefined, 'x'), message: /a profile must be a JSON object \(got nothing\)/ },
    { name: 'a file whose JSON is null', run: () => loadProfileFile(file('null.json', 'null')), code: 'PROFILE_INVALID', message: /null\.json: a profile must be a JSON object \(got null\)$/ },
    { name: 'a wrong kind', run: () => parseProfile({ kind: 'fio/job', schemaVersion: 1 }, 'x'), code: 'PROFILE_INVALID', field: 'kind', message: /kind must be "uring-lab\/profile" \(got the string "fio\/job"\)/, fix: /not a uring-lab profile/ },
    { name: 'a boolean as a string', run: () => viaSet('server.sqpoll.enabled=yes'), message: /server\.sqpoll\.enabled must be a boolean \(true or false\) \(got the string "yes"\)/ },
    { name: 'a boolean as a number', run: () => parseProfile({ ...K, probes: { enabled: 1 } }, 'x'), message: /probes\.enabled must be a boolean \(true or false\) \(got 1\)/ },
    { name: 'a number as a string', run: () => parseProfile({ ...K, load: { connections: '50' } }, 'x'), message: /load\.connections must be a whole number from 1 to 4096 \(got the string "50"\)/ },
    { name: 'an enum typo gets a suggestion', run: () => viaSet('server.taskrun=deferr'), message: /server\.taskrun must be one of "defer", "coop", "default" \(got the string "deferr"\)/, fix: /did you mean "defer"\?.*--set server\.taskrun=defer \(the default\)/ },
    { name: 'an enum given a number', run: () => parseProfile({ ...K, server: { taskrun: 3 } }, 'x'), message: /one of "defer", "coop", "default" \(got 3\)/ },
    { name: 'a topology that does not exist', run: () => parseProfile({ ...K, topology: 'bridge' }, 'x'), message: /topology must be one of "loopback", "veth" \(got the string "bridge"\)/ },
    { name: 'a group given a number', run: () => parseProfile({ ...K, server: 5 }, 'x'), message: new RegExp(`server must be an object with the keys ${Object.keys(KNOBS.server).join(', ')} \\(got 5\\)`), fix: /leave server out for the defaults/ },
    { name: 'a group given an array', run: () => parseProfile({ ...K, duration: [1, 10] }, 'x'), message: /duration must be an object with the keys warmupS, measureS \(got an array \[1,10\]\)/ },
    { name: 'a group given null', run: () => parseProfile({ ...K, load: null }, 'x'), message: /load must be an object .* \(got null\)/ },
    { name: 'an empty --set value', run: () => viaSet('load.connections='), message: /load\.connections must be a whole number from 1 to 4096 \(got an empty string\)/ },
    { name: 'a name with an ANSI escape (it would reach terminals)', run: () => viaSet('name=a\u001b[31mred'), message: /name must be text of 1 to 200 characters \(without control characters or unpaired surrogates\) \(got the string "a\\u001b\[31mred"\)/ },
    // The exports write UTF-8, where an unpaired surrogate has no form (it became U+FFFD).
    { name: 'a name with an unpaired surrogate', run: () => withKnob(defaultProfile(), 'name', 'a\ud800b', 'setKnob'), message: /name must be text of 1 to 200 characters \(without control characters or unpaired surrogates\)/ },
    { name: 'a description with a lone low surrogate', run: () => parseProfile({ ...K, description: 'x\udc00' }, 'x'), message: /description must be text .*or unpaired surrogates\)/ },
    { name: 'an empty name', run: () => viaSet('name='), message: /name must be text of 1 to 200 characters \(without control characters or unpaired surrogates\) \(got an empty string\)/ },
    { name: 'a string knob given an object via setKnob', run: () => withKnob(defaultProfile(), 'name', { a: 1 }, 'setKnob'), message: /name must be text of 1 to 200 characters \(without control characters or unpaired surrogates\) \(got an object \{"a":1\}\)/ },
  ]);
});

describe('class 3f: CPU lists (server.numa.cpus, load.cpus) as typed, and their refusals', () => {
  it('--set takes a CPU list as taskset -c writes it, one CPU, a JSON array or null; the order is kept', () => {
    expect(viaSet('server.numa.cpus=0-2,5').server.numa.cpus).toEqual([0, 1, 2, 5]);
    // worker i goes to cpus[i mod n]: "1,0" puts worker 0 on CPU 1, so the order stays as typed
    expect(viaSet('server.numa.cpus=1,0').server.numa.cpus).toEqual([1, 0]);
    expect(viaSet('load.cpus= 1 , 0 ').load.cpus).toEqual([1, 0]);
    expect(viaSet('load.cpus=1').load.cpus).toEqual([1]);
    expect(viaSet('load.cpus=[0,1]').load.cpus).toEqual([0, 1]);
    expect(viaSet('load.cpus=null').load.cpus).toBeNull();
    // only the CPU lists: a number knob still takes a number, a text knob the text
    expect(viaSet('server.rings=2').server.rings).toBe(2);
    expect(viaSet('name=0-1').name).toBe('0-1');
  });
  const cpuFix = /e\.g\. --set (server\.numa|load)\.cpus=0-1 \(CPUs 0 and 1; `uring-lab doctor` lists this machine's\), or --set (server\.numa|load)\.cpus=null \(the default: not pinned\)/;
  table([
    { name: 'a part that is not a CPU', run: () => viaSet('load.cpus=1,x'), code: 'INVALID_VALUE', field: 'load.cpus', source: '--set', message: /load\.cpus must be a CPU list such as 0-3,8 .*\(got "1,x": "x" is not a CPU number or a range such as 0-3\)$/, fix: cpuFix },
    { name: 'a range that runs backwards', run: () => viaSet('server.numa.cpus=3-1'), field: 'server.numa.cpus', message: /\(got "3-1": the range 3-1 runs backwards \(write 1-3\)\)$/, fix: cpuFix },
    { name: 'an empty part', run: () => viaSet('server.numa.cpus=0,,1'), message: /\(got "0,,1": a part between commas is empty\)$/ },
    { name: 'an empty value', run: () => viaSet('load.cpus='), message: /\(got "": it is empty\)$/, fix: cpuFix },
    { name: 'a negative CPU', run: () => viaSet('load.cpus=-1'), message: /load\.cpus must be an array of 1 to 64 items, each a whole number from 0 to 4095, or null \(got -1\)$/ },
    { name: 'more CPUs than the knob takes, quoted as typed', run: () => viaSet('load.cpus=0-99'), message: /load\.cpus must be an array of 1 to 64 items, each a whole number from 0 to 4095, or null \(got "0-99": 100 CPUs, the highest 99\)$/, fix: cpuFix },
    { name: 'a CPU beyond 4095', run: () => viaSet('server.numa.cpus=4095-4096'), message: /\(got "4095-4096": 2 CPUs, the highest 4096\)$/ },
    { name: 'a typo that names millions of CPUs stops at 4,096', run: () => viaSet('server.numa.cpus=0-9999999'), message: /\(got "0-9999999": it names more than 4096 CPUs\)$/ },
    { name: 'an empty JSON array says how many it takes', run: () => viaSet('server.numa.cpus=[]'), message: /server\.numa\.cpus must be an array of 1 to 256 items, each a whole number from 0 to 4095, or null \(got an array \[\]\)$/, fix: cpuFix },
    { name: 'a profile file\'s empty list', run: () => parseProfile({ ...K, load: { cpus: [] } }, 'p.json'), message: /^p\.json: load\.cpus must be an array of 1 to 64 items, each a whole number from 0 to 4095, or null \(got an array \[\]\)$/, fix: /\[0,1\] \(CPUs 0 and 1\), or null \(the default: not pinned\)/ },
    { name: 'setKnob (the UI) given a list that is too long', run: () => withKnob(defaultProfile(), 'load.cpus', new Array(65).fill(0), 'setKnob'), message: /^setKnob: load\.cpus must be an array of 1 to 64 items/, fix: /^e\.g\. \[0,1\] \(CPUs 0 and 1\), or null/ },
  ]);
});

describe('class 3e: every message is one line that starts with its source, names the field, says the fix', () => {
  it('the source is the one given (file path, --set, startRun.profile, setKnob)', () => {
    const p = file('src.json', `{"kind":"${PROFILE_KIND}","schemaVersion":1,"load":{"threads":0}}`);
    expect(refusal(() => loadProfileFile(p)).message.startsWith(`${p}: load.threads must be`)).toBe(true);
    expect(refusal(() => viaSet('load.threads=0')).message.startsWith('--set: load.threads must be')).toBe(true);
    expect(refusal(() => parseProfile({ ...K, load: { threads: 0 } }, 'startRun.profile')).message.startsWith('startRun.profile: load.threads must be')).toBe(true);
    expect(refusal(() => withKnob(defaultProfile(), 'load.threads', 0, 'setKnob')).message.startsWith('setKnob: load.threads must be')).toBe(true);
  });

  it('a long or hostile source is bounded and escaped', () => {
    const e = refusal(() => parseProfile(null, `${'s'.repeat(5000)}\u001b[31m`));
    expect(e.message).toMatch(/^…s+\\x1b\[31m: a profile must be a JSON object/);
  });

  it('every knob describes its range from its schema, with its default as the example', () => {
    const knobs: Array<[string, RegExp]> = [
      ['server.ringEntries', /a power of two from 8 to 32768/],
      ['server.sqpoll.cpu', /a whole number from 0 to 4095, or null/],
      ['server.sqpoll.idleMs', /a whole number from 0 to 60000/],
      ['server.bufferRing.size', /a power of two from 64 to 1048576/],
      ['load.connections', /a whole number from 1 to 4096/],
      ['load.messageBytes', /a whole number from 1 to 1048576/],
      ['load.threads', /a whole number from 1 to 64/],
      ['duration.warmupS', /a number from 0 to 600/],
      ['duration.measureS', /a number from 0\.1 to 3600/],
    ];
    for (const [knob, words] of knobs) {
      const e = refusal(() => viaSet(`${knob}=1e400`));
      expect(e.field).toBe(knob);
      expect(e.message).toMatch(words);
      expect(e.message).toMatch(/\(got 1e400\)$/);
      expect(e.fix).toMatch(new RegExp(`^e\\.g\\. --set ${knob.replace(/\./g, '\\.')}=\\S+ \\(the default\\)$`));
    }
  });

  it('a new knob is described without code in profiles.ts (schema-derived words)', () => {
    expect(describeSchema(z.number().int().min(3).max(9).default(5))).toBe('a whole number from 3 to 9');
    expect(describeSchema(z.number().gt(0).lt(1))).toBe('a number greater than 0 and less than 1');
    expect(describeSchema(z.number().min(2))).toBe('a number at least 2');
    expect(describeSchema(z.number().int())).toBe('a whole number from -9007199254740991 to 9007199254740991');
    expect(describeSchema(z.number().int().min(1).max(1 << 16).refine((n) => (n & (n - 1)) === 0, 'pow2').nullable())).toBe('a power of two from 1 to 65536, or null');
    expect(describeSchema(z.number().int().min(0).max(100).refine((n) => n % 2 === 0, 'must be even'))).toBe('a whole number from 0 to 100 (must be even)');
    expect(describeSchema(z.number().multipleOf(512).min(512).max(4096))).toBe('a multiple of 512 from 512 to 4096');
    expect(describeSchema(z.boolean().prefault(false))).toBe('a boolean (true or false)');
    expect(describeSchema(z.enum(['a', 'b']))).toBe('one of "a", "b"');
    expect(describeSchema(z.literal(2))).toBe('the number 2');
    expect(describeSchema(z.string().max(5).optional())).toBe('text of at most 5 characters');
    expect(describeSchema(z.string().min(2))).toBe('text of at least 2 characters');
    expect(describeSchema(z.union([z.literal('auto'), z.number().int().min(0).max(7)]))).toBe('"auto", or a whole number from 0 to 7');
  });

  it('every zod issue code has words of its own (never zod\'s default text)', () => {
    const issues = [
      { code: 'invalid_type', expected: 'boolean', path: [], message: 'Invalid input: expected boolean, received string' },
      { code: 'invalid_type', expected: 'int', path: [], message: 'Invalid input: expected int, received number' },
      { code: 'too_big', origin: 'number', maximum: 9, inclusive: true, path: [], message: 'Too big: expected number to be <=9' },
      { code: 'too_big', origin: 'string', maximum: 9, inclusive: true, path: [], message: 'Too big' },
      { code: 'too_small', origin: 'number', minimum: 0, inclusive: false, path: [], message: 'Too small' },
      { code: 'invalid_value', values: ['a', 'b'], path: [], message: 'Invalid option: expected one of "a"|"b"' },
      { code: 'invalid_format', format: 'email', path: [], message: 'Invalid email address' },
      { code: 'not_multiple_of', divisor: 4, path: [], message: 'Invalid number: must be a multiple of 4' },
      { code: 'unrecognized_keys', keys: ['x'], path: [], message: 'Unrecognized key: "x"' },
      { code: 'invalid_union', errors: [], path: [], message: 'Invalid input' },
      { code: 'invalid_key', origin: 'map', issues: [], path: [], message: 'Invalid key in map' },
      { code: 'invalid_element', origin: 'set', key: 1, issues: [], path: [], message: 'Invalid element in set' },
      { code: 'custom', path: [], message: 'Invalid input' },
      { code: 'custom', path: [], message: 'must be a power of two (8 … 32768)' },
    ] as unknown as z.core.$ZodIssue[];
    const words = issues.map(issueExpectation);
    expect(words).toEqual([
      'a boolean (true or false)', 'a whole number', 'at most 9', 'at most 9 characters', 'more than 0',
      'one of "a", "b"', 'text in the email format', 'a multiple of 4', 'an object without unknown keys',
      'one of the accepted forms', 'an object with valid keys', 'a collection of valid values', 'a valid value',
      'a power of two (8 … 32768)',
    ]);
    for (const w of words) expect(w).not.toMatch(ZOD_TEXT);
  });
});

// ---------------------------------------------------------------------------------------
describe('class 4: withKnob keeps its refusals and leaves the profile untouched', () => {
  table([
    { name: 'kind is read-only', run: () => withKnob(defaultProfile(), 'kind', PROFILE_KIND), code: 'READ_ONLY', field: 'kind', message: /identifies the file format/ },
    { name: 'schemaVersion is read-only', run: () => viaSet('schemaVersion=1'), code: 'READ_ONLY', field: 'schemaVersion', message: /identifies the file format/ },
    { name: 'a group is not a leaf', run: () => viaSet('server.sqpoll=true'), code: 'NOT_A_LEAF', field: 'server.sqpoll', message: /"server\.sqpoll" is a group of keys, not a value/, fix: /server\.sqpoll\.enabled, server\.sqpoll\.cpu, server\.sqpoll\.idleMs/ },
    { name: 'the top-level group', run: () => viaSet('server={}'), code: 'NOT_A_LEAF', field: 'server', message: /group of keys/ },
    { name: 'no = sign', run: () => viaSet('server.sqpoll.enabled'), code: 'SET_SYNTAX', message: /--set "server\.sqpoll\.enabled" is not key\.path=value/ },
    { name: 'nothing before =', run: () => viaSet('=1'), code: 'SET_SYNTAX', message: /is not key\.path=value/ },
    { name: 'a prototype key is unknown', run: () => viaSet('constructor.name=x'), code: 'UNKNOWN_KEY', message: /unknown profile key "constructor"/ },
    { name: '__proto__ is unknown', run: () => viaSet('__proto__.polluted=1'), code: 'UNKNOWN_KEY', message: /unknown profile key "__proto__"/ },
  ]);

  it('applies valid values and never mutates the given profile', () => {
    const base = defaultProfile();
    const frozen = JSON.stringify(base);
    expect(viaSet('server.ringEntries=1024').server.ringEntries).toBe(1024);
    expect(viaSet('server.sqpoll.cpu=null').server.sqpoll.cpu).toBeNull();
    expect(viaSet('server.taskrun=coop').server.taskrun).toBe('coop');
    expect(viaSet('server.taskrun="coop"').server.taskrun).toBe('coop');
    expect(viaSet('duration.measureS=2.5').duration.measureS).toBe(2.5);
    expect(viaSet('name=123').name).toBe('123'); // a free-text knob takes what was typed
    expect(viaSet('name=true').name).toBe('true');
    expect(viaSet('name="quoted"').name).toBe('quoted');
    expect(viaSet('name=null').name).toBe('null');
    // A text knob that may be null takes `null` as null, as the number ones do and as its own
    // error line suggests: every such row (the class), found from the schema.
    const nullableText = knobEntries().filter((e) => e.schema.safeParse(null).success && e.schema.safeParse('x-y').success).map((e) => e.path);
    expect(nullableText.sort()).toEqual(['server.socket.congestion', 'storage.path']);
    for (const path of nullableText) {
      expect(valueAt(viaSet(`${path}=null`), path.split('.')), path).toBeNull();
      expect(valueAt(viaSet(`${path}="null"`), path.split('.')), path).toBe('null');
    }
    expect(() => withKnob(base, 'server.ringEntries', 1000)).toThrow(LabError);
    expect(JSON.stringify(base)).toBe(frozen);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('files and IPC profiles still load when valid', () => {
    const p = file('ok.json', JSON.stringify({ ...K, server: { ringEntries: 1024, sqpoll: { enabled: true, cpu: 1 } }, load: { connections: 8 } }));
    const loaded = loadProfileFile(p);
    expect(loaded.server.ringEntries).toBe(1024);
    expect(loaded.server.sqpoll.cpu).toBe(1);
    expect(parseProfile(loaded, 'startRun.profile')).toEqual(loaded);
  });
});
