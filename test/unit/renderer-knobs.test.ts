import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { formatCpuSequence, formatKnobValue, knobAt, knobEntries, LabError, parseCpuListText, type KnobEntry } from '../../electron/contract';
import { cpuListText, knobControl, knobGroups, parseKnobCpuList, parseKnobNumber, parseKnobText, sameKnobValue } from '../../renderer/src/components/knobs/knobControl';
import { parseKnobValue, useAbStore } from '../../renderer/src/stores/ab';
import { useProfilesStore } from '../../renderer/src/stores/profiles';
import { valueAtPath } from '../../renderer/src/stores/knobs';
import { attached, flush, profile, sqpollPhase } from './renderer-fixtures';

const row = (path: string): KnobEntry => {
  const entry = knobAt(path);
  if (!entry) throw new Error(`no catalogue row ${path}`);
  return entry;
};
const controlAt = (path: string) => knobControl(row(path).schema);

describe('knob panel model, read from the catalogue', () => {
  it('picks each control from the row schema', () => {
    expect(controlAt('server.sqpoll.enabled')).toEqual({ control: { kind: 'switch' }, nullable: false });
    expect(controlAt('server.taskrun')).toEqual({ control: { kind: 'select', options: ['defer', 'coop', 'default'] }, nullable: false });
    expect(controlAt('server.engine')).toEqual({ control: { kind: 'select', options: ['io_uring', 'epoll'] }, nullable: false });
    expect(controlAt('workload')).toEqual({ control: { kind: 'select', options: ['echo', 'storage'] }, nullable: false });
    // free text (a path), nullable: empty is the lab's own test file
    expect(controlAt('storage.path')).toEqual({ control: { kind: 'text', maxLength: 4000 }, nullable: true });
    // a CPU list is typed as taskset -c takes one, up to the schema's length
    expect(controlAt('load.cpus')).toEqual({ control: { kind: 'cpuList', maxItems: 64, maxCpu: 4095 }, nullable: true });
    expect(controlAt('server.numa.cpus')).toEqual({ control: { kind: 'cpuList', maxItems: 256, maxCpu: 4095 }, nullable: true });
    // every row the panel shows can be edited there: only a row with a panel of its own (the
    // chaos panel's fault schedule) has no generic control
    const fixed = knobEntries().filter((e) => knobControl(e.schema).control.kind === 'fixed');
    expect(fixed.map((e) => [e.path, Boolean(e.panel)])).toEqual([['diagnose.inject', true]]);
    expect(controlAt('server.rings')).toEqual({ control: { kind: 'number', min: 1, max: 64, integer: true }, nullable: false });
    expect(controlAt('server.ringEntries')).toEqual({ control: { kind: 'number', min: 8, max: 32_768, integer: true }, nullable: false });
    expect(controlAt('server.sqpoll.cpu')).toEqual({ control: { kind: 'number', min: 0, max: 4095, integer: true }, nullable: true });
    expect(controlAt('duration.measureS').control).toEqual({ kind: 'number', min: 0.1, max: 3600, integer: false });
  });

  it('groups every row with an effect on a run by its top-level key, in catalogue order', () => {
    const groups = knobGroups();
    expect(groups.map((g) => [g.key, g.title])).toEqual([
      ['experiment', 'Experiment'],
      ['server', 'Server'],
      ['load', 'Load'],
      ['storage', 'Storage'],
      ['probes', 'Probes'],
      ['diagnose', 'Diagnose'],
      ['duration', 'Duration'],
    ]);
    const shown = groups.flatMap((g) => g.rows.map((r) => r.path));
    expect(shown).toEqual(knobEntries().filter((e) => e.applies !== 'metadata' && !e.panel).map((e) => e.path));
    expect(shown).not.toContain('name');
    // The fault injections' schedule is the chaos panel's to edit, not a generic control.
    expect(shown).not.toContain('diagnose.inject');
    expect(shown).toContain('diagnose.profileHz');
    expect(groups.find((g) => g.key === 'server')!.rows.map((r) => r.path)).toContain('server.sqpoll.enabled');
  });

  it('checks typed numbers against the row schema, empty meaning null where the knob takes it', () => {
    expect(parseKnobNumber(row('server.ringEntries'), ' 256 ')).toEqual({ ok: true, value: 256 });
    expect(parseKnobNumber(row('server.ringEntries'), '1000')).toEqual({ ok: false, message: expect.stringMatching(/power of two/) });
    expect(parseKnobNumber(row('server.ringEntries'), '')).toEqual({ ok: false, message: expect.stringMatching(/^a value is needed: Ring entries takes a whole number/) });
    // The knob and what it takes, never the validator's own words ("Too big: expected number to be <=4096").
    expect(parseKnobNumber(row('load.connections'), '5000')).toEqual({ ok: false, message: `${row('load.connections').label} takes a whole number from 1 to 4096` });
    expect(parseKnobNumber(row('server.rings'), '1.5')).toEqual({ ok: false, message: `${row('server.rings').label} takes a whole number from 1 to 64` });
    expect(parseKnobNumber(row('server.sqpoll.cpu'), '-1')).toEqual({ ok: false, message: expect.stringMatching(/takes a whole number from 0 to 4095, or empty for none$/) });
    expect(parseKnobNumber(row('server.sqpoll.cpu'), '')).toEqual({ ok: true, value: null });
    expect(parseKnobNumber(row('server.sqpoll.cpu'), '3')).toEqual({ ok: true, value: 3 });
  });

  it('checks typed text against the row schema, empty meaning null where the knob takes it', () => {
    expect(parseKnobText(row('storage.path'), '/dev/nvme0n1')).toEqual({ ok: true, value: '/dev/nvme0n1' });
    expect(parseKnobText(row('storage.path'), '')).toEqual({ ok: true, value: null });
    expect(parseKnobText(row('storage.path'), 'x'.repeat(4001))).toMatchObject({ ok: false, message: expect.stringMatching(/4000/) });
    // a knob that does not take null: empty is checked as text (a name needs one character)
    expect(parseKnobText(row('name'), '')).toMatchObject({ ok: false });
  });

  it('takes a typed CPU list in the order typed, empty meaning any CPU, and says what it takes when refused', () => {
    expect(parseKnobCpuList(row('server.numa.cpus'), ' 0-2, 5 ')).toEqual({ ok: true, value: [0, 1, 2, 5] });
    expect(parseKnobCpuList(row('server.numa.cpus'), '1,0')).toEqual({ ok: true, value: [1, 0] });
    expect(parseKnobCpuList(row('load.cpus'), '')).toEqual({ ok: true, value: null });
    const label = row('load.cpus').label;
    expect(parseKnobCpuList(row('load.cpus'), '0-')).toEqual({ ok: false, message: `"0-" is not a CPU number or a range such as 0-3: ${label} takes CPUs such as 0-3,8 or 1,0 (at most 64), or empty for any` });
    expect(parseKnobCpuList(row('load.cpus'), '3-1')).toMatchObject({ ok: false, message: expect.stringMatching(/^the range 3-1 runs backwards \(write 1-3\): /) });
    expect(parseKnobCpuList(row('load.cpus'), '0-64')).toMatchObject({ ok: false, message: expect.stringMatching(/^65 CPUs: .*at most 64/) });
    expect(parseKnobCpuList(row('load.cpus'), '4096')).toMatchObject({ ok: false, message: expect.stringMatching(/^CPU 4096 is beyond 4095: /) });
    // shown as typed, read back as shown
    for (const cpus of [[0, 1, 2, 3, 8], [1, 0], [0, 1], [3, 3], [7]]) {
      expect(parseCpuListText(cpuListText(cpus))).toEqual({ ok: true, cpus });
    }
    expect(cpuListText([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11');
    expect(cpuListText([0, 1])).toBe('0-1');
    expect(formatCpuSequence([5, 4, 3])).toBe('5,4,3');
    expect(cpuListText(null)).toBe('');
    expect(formatKnobValue('load.cpus', [0, 1, 2])).toBe('0-2');
    expect(formatKnobValue('load.cpus', null)).toBe('any');
    // requested [1,0] and applied [1,0] are the same value, though not the same array
    expect(sameKnobValue([1, 0], [1, 0])).toBe(true);
    expect(sameKnobValue([1, 0], [0, 1])).toBe(false);
    expect(sameKnobValue(null, [0])).toBe(false);
  });

  it("reads the A/B form's change as --set reads it: JSON or the bare word, text as typed, a CPU list as taskset -c writes it", () => {
    expect(parseKnobValue('server.sqpoll.enabled', ' true ')).toBe(true);
    expect(parseKnobValue('server.engine', 'epoll')).toBe('epoll');
    expect(parseKnobValue('server.rings', '2')).toBe(2);
    // a text knob takes the text as typed, as `--set name=123` does
    expect(parseKnobValue('name', '123')).toBe('123');
    expect(parseKnobValue('name', 'null')).toBe('null');
    // ... but a text knob that may be empty takes null as null (every such row: the class)
    expect(parseKnobValue('server.socket.congestion', 'null')).toBeNull();
    expect(parseKnobValue('storage.path', ' null ')).toBeNull();
    expect(parseKnobValue('server.socket.congestion', 'bbr')).toBe('bbr');
    expect(parseKnobValue('load.cpus', '0-1')).toEqual([0, 1]);
    expect(parseKnobValue('load.cpus', '1')).toEqual([1]);
    expect(parseKnobValue('server.numa.cpus', '[1,0]')).toEqual([1, 0]);
    expect(parseKnobValue('server.numa.cpus', 'null')).toBeNull();
    expect(() => parseKnobValue('load.cpus', '3-1')).toThrow(/^load\.cpus = 3-1: the range 3-1 runs backwards \(write 1-3\)$/);
    // a path that is not a knob is the host's to refuse, with the field named
    expect(parseKnobValue('server.nope', '0-1')).toBe('0-1');
  });

  it('reads a dotted path of a profile', () => {
    const p = profile(true);
    expect(valueAtPath(p, 'server.sqpoll.enabled')).toBe(true);
    expect(valueAtPath(p, 'server.sqpoll.cpu')).toBeNull();
    expect(valueAtPath(p, 'server.nope.enabled')).toBeUndefined();
    expect(valueAtPath(null, 'server')).toBeUndefined();
  });
});

describe('knobs store, generic over paths', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('keeps a pending value per path, null included, and shows requested vs applied per path', async () => {
    const { f, run, knobs } = await attached();
    const cpu = knobs.setKnob('server.sqpoll.cpu', 1);
    const size = knobs.setKnob('server.bufferRing.size', 4096);
    expect(knobs.isPending('server.sqpoll.cpu')).toBe(true);
    expect(knobs.isPending('server.bufferRing.size')).toBe(true);
    expect(knobs.isPending('server.sqpoll.enabled')).toBe(false);
    expect(knobs.requested('server.sqpoll.cpu')).toBe(1);
    await Promise.all([cpu, size]);
    expect(f.api.setKnob).toHaveBeenCalledWith({ path: 'server.sqpoll.cpu', value: 1 });
    expect(knobs.requested('server.bufferRing.size')).toBe(4096);
    expect(knobs.pending.size).toBe(0);

    const back = knobs.setKnob('server.sqpoll.cpu', null);
    expect(knobs.isPending('server.sqpoll.cpu')).toBe(true);
    expect(knobs.requested('server.sqpoll.cpu')).toBeNull();
    await back;

    // the kernel refuses the CPU pin: applied and refused per path
    await run.start();
    const refused = { knob: 'server.sqpoll.cpu', requested: 1, errno: 22, code: 'EINVAL', reason: 'no such CPU', fix: 'pick a CPU' };
    f.emit({ type: 'phase', runId: 'r1', phase: sqpollPhase(1, true, { rejected: [refused] }) });
    expect(knobs.applied('server.sqpoll.enabled')).toBe(true);
    expect(knobs.applied('server.sqpoll.cpu')).toBeNull();
    expect(knobs.refusals('server.sqpoll.cpu')).toEqual([refused]);
    expect(knobs.refusals('server.sqpoll.enabled')).toEqual([]);
  });

  it('starts a run with the knobs the panel shows: a change on its way is answered first', async () => {
    const { f, run, knobs } = await attached();
    // The host answers the change late (a phase's engine restart, a slow link).
    let answer!: () => void;
    const realSetKnob = f.api.setKnob.getMockImplementation()!;
    f.api.setKnob.mockImplementationOnce(async (params) => {
      await new Promise<void>((r) => (answer = r));
      return realSetKnob(params);
    });
    void knobs.setKnob('server.engine', 'epoll');
    expect(knobs.requested('server.engine')).toBe('epoll');
    const started = run.start();
    await flush();
    // Not sent with the profile from before the change (the run went on io_uring).
    expect(f.api.startRun).not.toHaveBeenCalled();
    expect(run.runState).toBe('starting');
    answer();
    await started;
    expect(f.api.startRun).toHaveBeenCalledTimes(1);
    const sent = (f.api.startRun.mock.calls[0] as unknown as [{ profile: { server: { engine: string } } }])[0];
    expect(sent.profile.server.engine).toBe('epoll');
    expect(run.runState).toBe('running');
  });

  it('builds an A/B arm from the current knobs after the changes on their way', async () => {
    const { f, knobs } = await attached();
    let answer!: () => void;
    const realSetKnob = f.api.setKnob.getMockImplementation()!;
    f.api.setKnob.mockImplementationOnce(async (params) => {
      await new Promise<void>((r) => (answer = r));
      return realSetKnob(params);
    });
    const startAb = vi.fn(async () => ({ experimentId: 'ab-1' }));
    (f.api as unknown as { startAb: typeof startAb }).startAb = startAb;
    const ab = useAbStore();
    ab.a = { kind: 'current' };
    ab.b = { kind: 'change', path: 'server.sqpoll.enabled', value: 'true' };
    void knobs.setKnob('server.rings', 2);
    const started = ab.start();
    await flush();
    expect(startAb).not.toHaveBeenCalled();
    answer();
    await started;
    expect(startAb).toHaveBeenCalledTimes(1);
    const sent = (startAb.mock.calls[0] as unknown as [{ a: { server: { rings: number } }; b: { server: { rings: number; sqpoll: { enabled: boolean } } } }])[0];
    expect([sent.a.server.rings, sent.b.server.rings, sent.b.server.sqpoll.enabled]).toEqual([2, 2, true]);
  });

  it('sends a value entered while the knob\'s previous change is on its way after it, the last one winning', async () => {
    const { f, knobs } = await attached();
    const answers: Array<() => void> = [];
    const realSetKnob = f.api.setKnob.getMockImplementation()!;
    f.api.setKnob.mockImplementation(async (params) => {
      await new Promise<void>((r) => answers.push(r));
      return realSetKnob(params);
    });
    const first = knobs.setKnob('load.connections', 10);
    void knobs.setKnob('load.connections', 20);
    void knobs.setKnob('load.connections', 30);
    await flush();
    // One change of a knob at a time; the field shows the last value entered.
    expect(f.api.setKnob.mock.calls.map((c) => c[0])).toEqual([{ path: 'load.connections', value: 10 }]);
    expect(knobs.requested('load.connections')).toBe(30);
    answers.shift()!();
    await flush();
    await flush();
    // 20 was replaced before it could be sent; 30 goes now. The answer for 10 does not show 10.
    expect(f.api.setKnob.mock.calls.map((c) => c[0])).toEqual([{ path: 'load.connections', value: 10 }, { path: 'load.connections', value: 30 }]);
    expect(knobs.requested('load.connections')).toBe(30);
    expect(knobs.isPending('load.connections')).toBe(true);
    answers.shift()!();
    await first;
    await knobs.settled();
    expect(knobs.isPending('load.connections')).toBe(false);
    expect(knobs.requested('load.connections')).toBe(30);
    // Another knob is not held back by this one's lane.
    const other = knobs.setKnob('server.rings', 2);
    await flush();
    expect(f.api.setKnob).toHaveBeenLastCalledWith({ path: 'server.rings', value: 2 });
    answers.shift()!();
    await other;
    expect(knobs.requested('server.rings')).toBe(2);
  });

  it('clears the banner a knob\'s refused change put up once that knob takes a value, and only that one', async () => {
    const { f, knobs, errors } = await attached();
    const realSetKnob = f.api.setKnob.getMockImplementation()!;
    const refusal = (field: string) => new LabError({ code: 'INVALID_VALUE', kind: 'input', field, message: `${field}: refused`, fix: 'pick another' });
    f.api.setKnob.mockImplementationOnce(async () => { throw refusal('load.connections'); });
    await knobs.setKnob('load.connections', 5000);
    expect(errors.last?.field).toBe('load.connections');
    // Another knob's success leaves it up.
    await knobs.setKnob('server.rings', 2);
    expect(errors.last?.field).toBe('load.connections');
    await knobs.setKnob('load.connections', 50);
    expect(errors.last).toBeNull();
    // A later, different error is not cleared by an older knob's success.
    f.api.setKnob.mockImplementationOnce(async () => { throw refusal('server.rings'); });
    await knobs.setKnob('server.rings', 99);
    f.api.setKnob.mockImplementationOnce(async () => { throw refusal('load.connections'); });
    await knobs.setKnob('load.connections', 6000);
    errors.report(new LabError({ code: 'FAILED', message: 'the run failed' }));
    f.api.setKnob.mockImplementation(realSetKnob);
    await knobs.setKnob('load.connections', 60);
    expect(errors.last?.code).toBe('FAILED');
  });

  it('starts a run only once a profile applied or imported meanwhile is adopted', async () => {
    const { f, run, knobs } = await attached();
    let answer!: () => void;
    const applied = { ...f.status().profile, load: { ...f.status().profile.load, connections: 7 } };
    (f.api as unknown as { applyProfile: unknown }).applyProfile = vi.fn(async () => {
      await new Promise<void>((r) => (answer = r));
      return f.status({ profile: applied });
    });
    const profiles = useProfilesStore();
    void profiles.apply(applied, { kind: 'preset', name: 'seven' });
    const started = run.start();
    await flush();
    expect(f.api.startRun).not.toHaveBeenCalled();
    answer();
    await started;
    const sent = (f.api.startRun.mock.calls[0] as unknown as [{ profile: { load: { connections: number } } }])[0];
    expect(sent.profile.load.connections).toBe(7);
    expect(knobs.requested('load.connections')).toBe(7);
  });

  it('a Stop while the start waits for a knob change on its way means no run is started', async () => {
    const { f, run, knobs } = await attached();
    let answer!: () => void;
    const realSetKnob = f.api.setKnob.getMockImplementation()!;
    f.api.setKnob.mockImplementationOnce(async (params) => {
      await new Promise<void>((r) => (answer = r));
      return realSetKnob(params);
    });
    f.api.stopRun.mockImplementationOnce(async () => null as never);
    void knobs.setKnob('server.rings', 2);
    const started = run.start();
    await flush();
    await run.stop();
    answer();
    await started;
    expect(f.api.startRun).not.toHaveBeenCalled();
    expect(run.runState).toBe('idle');
  });
});
