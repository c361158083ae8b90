/**
 * LabApi params are validated once, from the method table, for every caller, with errors
 * phrased for a person: the field, what it must be, what was given, a call that works.
 */
import { describe, expect, it, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LAB_METHOD_NAMES } from '../../electron/contract';
import { EngineSupervisor } from '../../electron/host/engine/supervisor';
import { LabService } from '../../electron/host/labService';
import { FakeEngineHost } from './fakeEngine';

const lab = new LabService({ supervisor: new EngineSupervisor(new FakeEngineHost().spawn), activeRunsDir: mkdtempSync(path.join(os.tmpdir(), 'uring-lab-runs-')) });
afterAll(() => lab.close());
const client = lab.session('params-test');

async function refusal(call: () => Promise<unknown>) {
  try { await call(); } catch (e) { return e as { code: string; kind: string; field?: string; message: string; fix?: string }; }
  throw new Error('expected a refusal');
}

describe('LabApi params', () => {
  it.each([
    ['setKnob without value', () => client.setKnob({ path: 'x' } as never), 'params.value', /setKnob: params\.value must be given \(it is required\) \(got undefined\)/, /setKnob takes e\.g\. \{"path":"server\.sqpoll\.enabled","value":true\}/],
    // A pattern's own words, not zod's "in the regex format".
    ['getRun with an id that is not one', () => client.getRun({ runId: '../etc', fromSeq: 0, limit: 10 } as never), 'params.runId', /getRun: params\.runId must be a run id \(letters, digits/, /getRun takes e\.g\./],
    ['setKnob null', () => client.setKnob(null as never), 'params', /setKnob: params must be an object .*\(got null\)/, /setKnob takes e\.g\./],
    ['setKnob with an extra key', () => client.setKnob({ path: 'a', value: 1, extra: 2 } as never), 'params', /unknown key "extra" in params/, /setKnob takes e\.g\./],
    ['getFrames with a negative seq', () => client.getFrames({ runId: 'r', fromSeq: -1 }), 'params.fromSeq', /getFrames: params\.fromSeq must be at least 0 \(got -1\)/, /getFrames takes e\.g\./],
    ['stopRun with params', () => (client.stopRun as (p: unknown) => Promise<unknown>)({ now: true }), 'params', /stopRun: unknown key "now"/, /stopRun takes no params/],
    ['startRun with a string', () => client.startRun('go' as never), 'params', /startRun: params must be .* \(got "go"\)/, /startRun takes e\.g\./],
  ])('%s', async (_name, call, field, message, fix) => {
    const e = await refusal(call);
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.kind).toBe('input');
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/Invalid input|nonoptional|regex/);
    expect(e.fix).toMatch(fix);
  });

  it('every method of the table exists on a session', () => {
    for (const name of LAB_METHOD_NAMES) expect(typeof client[name]).toBe('function');
  });
});
