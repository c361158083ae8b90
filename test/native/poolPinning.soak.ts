// Soak, not part of `npm test` (`npm run soak:pool-pinning`, URING_LAB_SOAK_MINUTES, default 5):
// the pool-pinning scenario of recvPath.test.ts over and over, with the ways in that vary its
// timing. Peers that never read pin a 16 x 2 KiB pool, then three reading clients pipeline
// 64 KiB, 1 MiB and 1 B and must get every byte back. A lost wake-up in the re-arm of starved
// connections showed in about 1 of 110 runs (a reading client's echo stopped short and never
// resumed), too rarely for one run in the suite to catch; this repeats it for as long as it is
// given.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { config, native, sleep, stopQuietly } from './engineHarness';
import { connectTo, readExactly } from './socketClient';

afterEach(stopQuietly); // a failed run leaves its server running

const minutes = Number(process.env.URING_LAB_SOAK_MINUTES || 5);
const variants: Record<string, Parameters<typeof config>[0]> = {
  plain: {},
  zc: { sendZeroCopy: true },
  zcRegistered: { sendZeroCopy: true, registeredBuffers: true },
};
const names = Object.keys(variants);
const SIZES = [65536, 1 << 20, 1];
const ECHO_TIMEOUT_MS = 8000;

it(`the pool-pinning scenario, repeated for ${minutes} min: every reading client gets its echo`, async () => {
  expect(minutes, 'URING_LAB_SOAK_MINUTES must be a positive number of minutes').toBeGreaterThan(0);
  const end = Date.now() + minutes * 60_000;
  const runs: Record<string, number> = {};
  let run = 0;
  while (Date.now() < end) {
    run++;
    const name = names[run % names.length];
    const hogCount = 8 + (run % 5); // 8-12 peers that never read: 8 pin all of it with SEND_ZC off
    const { port } = native.start(config({ ...variants[name], bufferRing: { size: 2048, count: 16, incremental: false }, load: { connections: 0 } }));
    const payloads = Array.from({ length: hogCount }, () => randomBytes(8 << 20));
    const hogs: Socket[] = await Promise.all(payloads.map(() => connectTo(port)));
    const readers: Socket[] = [];
    try {
      const hogEchoes = hogs.map((h, i) => {
        const back = readExactly(h, payloads[i].length, { exact: true, timeoutMs: 60_000 });
        h.pause();
        h.write(payloads[i]);
        return back;
      });
      // Awaited below; a run that fails first destroys these sockets, which is no second failure.
      for (const p of hogEchoes) p.catch(() => undefined);
      // Until the pool is pinned and spilled; how long after that the readers come varies.
      let spilled = 0;
      for (let t = 0; t < 100 && spilled === 0; t++) {
        spilled += native.snapshot()!.server!.spilledBytes;
        await sleep(20 + (run % 4) * 10);
      }
      expect(spilled, `run ${run} (${name}): the peers never pinned the pool`).toBeGreaterThan(0);
      readers.push(...(await Promise.all([0, 1, 2].map(() => connectTo(port)))));
      await Promise.all(readers.map(async (s, k) => {
        const messages = SIZES.map((n) => randomBytes(n));
        const all = Buffer.concat(messages);
        const echoed = readExactly(s, all.length, { exact: true, timeoutMs: ECHO_TIMEOUT_MS }).catch((e: Error) => {
          throw new Error(`run ${run} (${name}, ${hogCount} peers that never read), reader ${k}: ${e.message}`);
        });
        for (const m of messages) s.write(m);
        expect((await echoed).equals(all), `run ${run} (${name}), reader ${k}: bytes differ`).toBe(true);
      }));
      for (const h of hogs) h.resume();
      const back = await Promise.all(hogEchoes);
      back.forEach((b, i) => expect(b.equals(payloads[i]), `run ${run} (${name}), peer ${i}`).toBe(true));
    } finally {
      for (const s of [...readers, ...hogs]) s.destroy();
    }
    expect(native.stop()!.serverErrors, `run ${run} (${name})`).toBe(0);
    runs[name] = (runs[name] ?? 0) + 1;
  }
  console.log(`pool-pinning soak: ${run} runs in ${minutes} min, every echo intact (${names.map((n) => `${n} ${runs[n] ?? 0}`).join(', ')})`);
}, (minutes + 2) * 60_000);
