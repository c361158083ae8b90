/**
 * The Electron shell, where its binary exists: the window loads the renderer with the preload's
 * LabApi and no Node in the page. Electron downloads its binary lazily, which a machine
 * without outside network cannot do; there this file says so and skips.
 */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { _electron as electron } from 'playwright-core';
// @ts-expect-error plain ESM helper shared with scripts/start.mjs, no type declarations
import { findElectronBinary } from '../../scripts/electronBinary.mjs';

const ROOT = path.join(__dirname, '../..');

const binary = findElectronBinary() as string | null;
const skipReason = !binary
  ? 'Electron binary not installed (it is downloaded lazily by `npx install-electron`, which needs outside network)'
  : !process.env.DISPLAY
    ? 'no X display for an Electron window (run under xvfb-run)'
    : null;
if (skipReason) console.log(`electron.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('Electron shell', () => {
  it('exposes exactly the LabApi to a sandboxed page and answers through it', async () => {
    const app = await electron.launch({ executablePath: binary!, args: [ROOT, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])] });
    try {
      const page = await app.firstWindow();
      await page.waitForLoadState('domcontentloaded');
      const surface = await page.evaluate(() => ({
        api: Object.keys((window as unknown as { uringLab: object }).uringLab).sort(),
        nodeRequire: typeof (window as unknown as { require?: unknown }).require,
        nodeProcess: typeof (window as unknown as { process?: unknown }).process,
      }));
      expect(surface.api).toEqual(['doctor', 'getFrames', 'getStatus', 'onEvent', 'setKnob', 'startRun', 'stopRun', 'takeControl']);
      expect(surface.nodeRequire).toBe('undefined');
      expect(surface.nodeProcess).toBe('undefined');
      const status = await page.evaluate(() => (window as unknown as { uringLab: { getStatus(): Promise<{ running: boolean }> } }).uringLab.getStatus());
      expect(status.running).toBe(false);
      const refused = await page.evaluate(() => (window as unknown as { uringLab: { setKnob(p: unknown): Promise<unknown> } }).uringLab.setKnob({ path: 'server.sqpoll.enabled', value: 'on' }).catch((e: { code: string; field: string }) => e));
      expect(refused).toMatchObject({ code: 'INVALID_VALUE', field: 'server.sqpoll.enabled' });
    } finally {
      await app.close();
    }
  });
});
