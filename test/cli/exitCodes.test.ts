/**
 * The CLI's exit codes from real processes, each from a real cause: 0 clean, 1 failed or
 * completed with errors (engine SIGSTOPped, connections reset, another run sharing the
 * machine), 2 bad input (incl. a memory budget refusal), 130 SIGINT/SIGTERM — and with
 * --json the summary is still printed and parseable, with its status and failure.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { hasThread } from '../procThreads';
import { enginePidOf, expectOneErrorLine, interruptedMidRun, runningRunOf, runSummaryOf, sleep, startCli } from './cliProcess';



const start = (args: string[], options: { detached?: boolean } = {}) => startCli(args, options);




describe('uring-lab run exit codes', () => {
  it('SIGINT stops the run cleanly: exit 130, partial summary with status interrupted', async () => {
    await interruptedMidRun(start(['run', '--duration', '30', '--set', 'duration.warmupS=0', '--set', 'load.connections=8', '--json']));
  });

  it('Ctrl-C at a terminal (SIGINT to the whole process group) still ends in an orderly interruption', async () => {
    // The CLI leads its own group here, as a shell's foreground job does; the terminal's SIGINT
    // reaches every process in it. The engine has a group of its own (forkEngine), so only the
    // CLI gets it and stops the engine in order; `uring-lab server`'s test shows the crash an
    // engine in the CLI's group would have been.
    const { child, done } = start(['run', '--duration', '30', '--set', 'duration.warmupS=0', '--set', 'load.connections=8', '--json'], { detached: true });
    const engine = await enginePidOf(child.pid!);
    await runningRunOf(child.pid!); // past the start (the probes attach during it): the fault hits a run
    await sleep(1500);
    process.kill(-child.pid!, 'SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    const s = runSummaryOf(r);
    expect(s.status).toBe('interrupted');
    expect(s.failure?.code).not.toBe('ENGINE_CRASHED');
    expect(s.requests).toBeGreaterThan(0);
    expectOneErrorLine(r.stderr, /interrupted by SIGINT/);
    await sleep(500);
    expect(() => process.kill(engine, 0)).toThrow(); // and it ended with its host
  });

  it('SIGTERM is an interruption too: exit 130', async () => {
    const { child, done } = start(['run', '--duration', '30', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--json']);
    await enginePidOf(child.pid!);
    await runningRunOf(child.pid!); // past the start (the probes attach during it): the fault hits a run
    await sleep(1000);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(130);
    expect(runSummaryOf(r).status).toBe('interrupted');
  });

  it('SIGHUP (the terminal hung up) is an interruption too: exit 130, the summary, and the run saved as interrupted, not left running', async () => {
    const { child, done } = start(['run', '--duration', '30', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--json']);
    await enginePidOf(child.pid!);
    await runningRunOf(child.pid!);
    await sleep(1000);
    // Before: Node's default action, exit 129 with no summary, and the run "running" on disk.
    child.kill('SIGHUP');
    const r = await done;
    expect(r.code).toBe(130);
    const s = runSummaryOf(r);
    expect(s.status).toBe('interrupted');
    expect(s.failure?.message).toMatch(/SIGHUP/);
    const shown = startCli(['runs', 'show', s.runId, '--json']);
    const saved = JSON.parse((await shown.done).stdout).meta;
    expect(saved.status).toBe('interrupted');
    expect(saved.recovered).toBeNull();
  });

  // 4,096 connections × 1 MiB: 8 GiB of load buffers to touch and 4,096 connects before the
  // first frame (~20 s here). The signal waited all of that, then stopped the run it had made.
  it('SIGINT or SIGTERM while a large run sets up calls the start off: exit 130, interrupted, nothing ran', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const { child, done } = start(['run', '--duration', '2', '--set', 'load.connections=4096', '--set', 'load.messageBytes=1048576', '--json']);
      const engine = await enginePidOf(child.pid!);
      // The load thread exists: the engine is in its set-up (touching buffers, connecting).
      await expect.poll(() => hasThread(engine, 'uring-load'), { timeout: 20_000, interval: 20 }).toBe(true);
      child.kill(signal);
      const r = await done;
      expect(r.code, `${signal}: ${r.stderr}`).toBe(130);
      const s = runSummaryOf(r);
      // No run was made (its id comes with the engine's start), so none was saved.
      expect(s).toMatchObject({ status: 'interrupted', runId: '', requests: 0, frames: 0 });
      expect(s.failure).toEqual({ code: 'INTERRUPTED', message: `interrupted by ${signal} while it set up: nothing ran, nothing was measured` });
      expectOneErrorLine(r.stderr, new RegExp(`^uring-lab: run interrupted by ${signal} while it set up: nothing ran, nothing was measured$`));
      // The engine process ended with its host, its load thread and buffers with it.
      expect(() => process.kill(engine, 0)).toThrow();
    }
  }, 90_000);

  it('SIGTERM to the engine process (kill PID) interrupts the run in order: exit 130, its counts kept, not a crash', async () => {
    const { child, done } = start(['run', '--duration', '30', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--json']);
    const engine = await enginePidOf(child.pid!);
    await runningRunOf(child.pid!);
    await sleep(1000);
    process.kill(engine, 'SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    const s = runSummaryOf(r);
    expect(s.status).toBe('interrupted');
    expect(s.failure).toMatchObject({ code: 'INTERRUPTED', message: `interrupted by SIGTERM to the engine process (pid ${engine})` });
    expect(s.requests).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
    expectOneErrorLine(r.stderr, /interrupted by SIGTERM to the engine process/);
    expect(() => process.kill(engine, 0)).toThrow();
  });

  it('an engine stopped with SIGSTOP is found hung: exit 1, status failed, ENGINE_UNRESPONSIVE, summary printed (finding 4)', async () => {
    const { child, done } = start(['run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=8', '--json']);
    const engine = await enginePidOf(child.pid!);
    await runningRunOf(child.pid!); // past the start (the probes attach during it): the fault hits a run
    await sleep(2000);
    process.kill(engine, 'SIGSTOP');
    const started = Date.now();
    const r = await done;
    // The watchdog (5 s of silence), not the run's 20 s window, ended it.
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(r.code).toBe(1);
    const s = runSummaryOf(r);
    expect(s.status).toBe('failed');
    expect(s.failure?.code).toBe('ENGINE_UNRESPONSIVE');
    expect(s.requests).toBeGreaterThan(0);
    expectOneErrorLine(r.stderr, /ENGINE|stopped answering/);
    // The stopped engine was killed, not left behind.
    expect(() => process.kill(engine, 0)).toThrow();
  });

  it('a second signal right after the summary is printed: exit 130 (not killed by it), and the run is saved with its summary', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const started = start(['run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--json']);
      await runningRunOf(started.child.pid!);
      await sleep(500);
      started.child.kill(signal);
      // The summary line is out; the run's save is still on its way: signal again now.
      const line = await started.firstLine;
      started.child.kill(signal);
      const r = await started.done;
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code).toBe(130);
      const printed = JSON.parse(line) as { runId: string; status: string; requests: number };
      expect(printed.status).toBe('interrupted');
      // Saved as printed (before the fix: left `running`, later recovered without a summary).
      const shown = await start(['runs', 'show', printed.runId, '--json']).done;
      expect(shown.code, shown.stderr).toBe(0);
      const saved = JSON.parse(shown.stdout) as { meta: { status: string; summary: { requests: number } | null } };
      expect(saved.meta.status).toBe('interrupted');
      expect(saved.meta.summary?.requests).toBe(printed.requests);
    }
  });

  // A completed run's summary is out while its save and the prune of old runs finish: a first
  // signal there was ignored silently, and a second exited 130 "without waiting for the run to
  // stop" although the run had completed and was saved.
  it('signals after a completed run\'s summary is printed keep its exit code (0), saying it had ended; the run is saved completed', async () => {
    const started = start(['run', '--duration', '0.5', '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--set', 'probes.enabled=false', '--json']);
    const line = await started.firstLine;
    // Two different signals: the same one twice within 50 ms is taken as one delivered twice.
    started.child.kill('SIGINT');
    started.child.kill('SIGTERM');
    const r = await started.done;
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(line) as { runId: string; status: string };
    expect(printed.status).toBe('completed');
    expect(r.stderr).not.toMatch(/without waiting for the run to stop|interrupted/);
    for (const l of r.stderr.trim().split('\n').filter(Boolean)) expect(l).toMatch(new RegExp(`^uring-lab: SIG(INT|TERM)(: run ${printed.runId} had already ended \\(completed\\)| again: run ${printed.runId} had already ended| after the command had finished; exiting now with its exit code 0)`));
    const shown = await start(['runs', 'show', printed.runId, '--json']).done;
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { meta: { status: string } }).meta.status).toBe('completed');
  });

  // A verb that never takes the signals over was ended by the early handler, whose line said
  // "before the command got going" although doctor was at work (its report out already).
  it('SIGINT to doctor while it works (its report out, the engine closing): exit 130, one line naming doctor, not "before the command got going"', async () => {
    const started = start(['doctor', '--json']);
    await started.firstLine;
    started.child.kill('SIGINT');
    const r = await started.done;
    expect(r.signal, r.stderr).toBeNull();
    // Ended by the signal while closing (130), or already done (0): never a line about a command that had not started.
    expect(r.stderr).not.toMatch(/before the command got going/);
    if (r.code === 130) expectOneErrorLine(r.stderr, /^uring-lab: SIGINT: doctor stopped before it finished; nothing was left running$/);
    else expect(r.code, r.stderr).toBe(0);
  });

  it('an engine killed during its start: exit 1, one line, and --json still prints the failed summary (nothing measured, no run)', async () => {
    const { child, done } = start(['run', '--duration', '5', '--set', 'load.connections=8', '--json']);
    // At once: the engine is forked, still loading its probes and starting its server.
    process.kill(await enginePidOf(child.pid!), 'SIGKILL');
    const r = await done;
    expect(r.code, r.stderr).toBe(1);
    const s = runSummaryOf(r);
    expect(s).toMatchObject({ status: 'failed', runId: '', requests: 0, frames: 0, phases: [], probes: [] });
    expect(s.failure?.message).toBeTruthy();
    expect(s.applied.load.connections).toBe(8);
    expectOneErrorLine(r.stderr, /engine/i);
  });

  it('load connections reset mid-run: exit 1, status failed, errors counted (finding 5)', async () => {
    const { child, done } = start(['run', '--duration', '20', '--set', 'duration.warmupS=0', '--set', 'load.connections=6', '--json']);
    const engine = await enginePidOf(child.pid!);
    await runningRunOf(child.pid!); // past the start (the probes attach during it): the fault hits a run
    await sleep(1500);
    // Find the engine's listening port and destroy every established socket on it.
    const listening = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' }).split('\n').find((l) => l.includes(`pid=${engine},`));
    const port = /127\.0\.0\.1:(\d+)/.exec(listening ?? '')?.[1];
    expect(port, 'engine listening port').toBeTruthy();
    execFileSync('ss', ['-K', '-tn', 'state', 'established', `( sport = :${port} )`]);
    const r = await done;
    expect(r.code).toBe(1);
    const s = runSummaryOf(r);
    expect(s.status).toBe('failed');
    expect(s.failure?.code).toBe('LOAD_CONNECTIONS_LOST');
    expect(s.errors).toBeGreaterThanOrEqual(6);
    expectOneErrorLine(r.stderr, /load connections/);
  });

  it('two runs at once: each says it shared the machine, exit 1 (finding 5)', async () => {
    // b starts once a is running, and a lasts well past b's start: on a loaded VM b's engine start
    // (fork, addon, first frame) took longer than a fixed 300 ms head start left a to see it.
    const args = (seconds: number) => ['run', '--duration', String(seconds), '--set', 'duration.warmupS=0', '--set', 'load.connections=4', '--json'];
    const a = start(args(5));
    await runningRunOf(a.child.pid!);
    const b = start(args(2));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    for (const [r, other] of [[ra, b.child.pid], [rb, a.child.pid]] as const) {
      expect(r.code).toBe(1);
      const s = runSummaryOf(r);
      expect(s.status).toBe('completed');
      expect(s.contention.otherRuns.map((o) => o.pid)).toContain(other);
      expect(s.warnings.join(' ')).toMatch(/another uring-lab run/);
      expectOneErrorLine(r.stderr, /shared this machine with another uring-lab run/);
    }
  });

  it('a profile beyond the memory budget is refused before anything starts: exit 2 naming the knobs and bytes (finding 7)', async () => {
    const { done } = start(['run', '--duration', '1', '--set', 'server.bufferRing.count=32768', '--set', 'server.bufferRing.size=1048576', '--json']);
    const r = await done;
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expectOneErrorLine(r.stderr, /server\.bufferRing\.(count|size)/);
    expect(r.stderr).toMatch(/32768 × 1\.0 MiB = 32\.0 GiB/);
    expect(r.stderr).toMatch(/available/);
    expect(r.stderr).not.toMatch(/ulimit -l/);
  });

  it('a clean run exits 0 with status completed and nothing on stderr', async () => {
    const { done } = start(['run', '--duration', '1', '--set', 'duration.warmupS=0.2', '--set', 'load.connections=4', '--json']);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = runSummaryOf(r);
    expect(s.status).toBe('completed');
    expect(s.failure).toBeNull();
    expect(s.inFlightAtEnd.requests).toBeGreaterThanOrEqual(0);
    expect(typeof s.loadSaturated).toBe('boolean');
    expect(s.latencyCorrectedUs.p99).toBeGreaterThan(0);
  });
});
