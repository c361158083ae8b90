/**
 * `uring-lab runs`: the run history from a terminal.
 *   runs list [--limit N] [--json]            saved runs, newest first (the newest N)
 *   runs show ID [--json]                     one run (--json: its meta and every frame)
 *   runs export ID --format json|csv|md [--out FILE]
 *   runs delete ID | runs pin ID | runs unpin ID
 * Bad input (an unknown subcommand, flag or id) is one line naming it and the fix, exit 2.
 * It reads the history directly (no engine is started): the same store the LabApi serves.
 */
import { checkOutFile, writeOutFile } from '../outFile';
import { checkFlagTokens, decimalFlag, flagParseError } from '../cliFlags';
import { parseArgs } from 'node:util';
import { LabError, latencyText, oneLineText, RunExportFormatSchema, type GetRunResult } from '../../contract';
import { exportRun, runMarkdown } from './runExport';
import { RunStore, runStoreOptionsFromEnv, type StoredRunRow } from './runStore';

export const RUNS_USAGE = `  uring-lab runs list [--limit N] [--json]
  uring-lab runs show ID [--json]
  uring-lab runs export ID --format json|csv|md [--out FILE]
  uring-lab runs delete ID | runs pin ID | runs unpin ID`;

const SUBCOMMANDS = ['list', 'show', 'export', 'delete', 'pin', 'unpin'] as const;

function usage(message: string, fix: string, field?: string): LabError {
  return new LabError({ code: 'USAGE', kind: 'input', message, fix, field });
}

function parse(sub: string, args: string[], options: Record<string, { type: 'string' | 'boolean' }>, ids: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
    checkFlagTokens(`runs ${sub}`, options, parsed.tokens);
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw flagParseError(`runs ${sub}`, args, err, `uring-lab runs ${sub} takes: ${usageOf(sub)}`, 'runs');
  }
  if (parsed.positionals.length !== ids) {
    throw usage(ids === 0 ? `runs ${sub}: unexpected argument ${JSON.stringify(oneLineText(parsed.positionals[0], 60))}` : `runs ${sub}: ${parsed.positionals.length === 0 ? 'which run? the ID is missing' : `one run ID, got ${parsed.positionals.length}`}`,
      `uring-lab runs ${sub} takes: ${usageOf(sub)} (uring-lab runs list shows the ids)`, 'ID');
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, id: parsed.positionals[0] };
}

/**
 * A verb that read a run whole says on stderr when its frames file had damaged lines, and
 * exits 1 (what it printed covers only the frames that could be read); otherwise 0.
 */
export function reportDamage(store: RunStore, run: GetRunResult): number {
  return reportDamageLine(store.damagedFramesLine(run));
}

/** The same, for a line already at hand (an export's result carries it). */
function reportDamageLine(line: string | null): number {
  if (!line) return 0;
  process.stderr.write(`uring-lab: ${line}\n`);
  return 1;
}

function usageOf(sub: string): string {
  return RUNS_USAGE.split('\n').find((l) => l.includes(`runs ${sub}`))?.trim().replace(/^uring-lab /, '') ?? sub;
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

function formatSize(bytes: number): string {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function formatRows(rows: StoredRunRow[], total: number, dir: string): string {
  if (total === 0) return `no saved runs in ${dir}\n`;
  const lines = rows.map((r) => {
    const h = r.headline;
    const numbers = h ? `${fmtInt(h.throughputRps).padStart(10)} req/s  p50 ${latencyText(h.requests, h.p50Us).padStart(6)} µs  p99 ${latencyText(h.requests, h.p99Us).padStart(6)} µs  ${h.errors} errors` : '(no numbers yet)';
    return oneLineText(`${r.pinned ? '*' : ' '} ${r.runId}  ${r.startedAt.slice(0, 19).replace('T', ' ')}  ${r.status.padEnd(11)} ${r.workload.padEnd(7)} ${numbers}  ${r.frames ?? '-'} frames  ${formatSize(r.bytesOnDisk)}  ${r.name}`, 400);
  });
  const shown = rows.length < total ? `the newest ${rows.length} of ${total}` : `${total}`;
  return `${lines.join('\n')}\n${shown} saved runs in ${dir} (* pinned)\n`;
}

/** Runs `uring-lab runs ...`; returns the exit code (bad input throws an `input` LabError: exit 2). */
export async function runsCommand(args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) throw usage('runs: no subcommand given', `use one of: ${SUBCOMMANDS.join(', ')} (uring-lab runs --help)`, 'command');
    out(`${RUNS_USAGE}\n`);
    return 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw usage(`runs: unknown subcommand ${JSON.stringify(oneLineText(sub, 40))}`, `use one of: ${SUBCOMMANDS.join(', ')}`, 'command');
  }
  const store = new RunStore(runStoreOptionsFromEnv());
  switch (sub) {
    case 'list': {
      const { values } = parse(sub, rest, { json: { type: 'boolean' }, limit: { type: 'string' } }, 0);
      const limit = values.limit === undefined ? Infinity : decimalFlag(String(values.limit));
      if (values.limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) {
        throw usage(`runs list: --limit ${JSON.stringify(oneLineText(String(values.limit), 40))} is not a whole number of runs of at least 1`, 'give e.g. --limit 20 (the newest 20), or leave it out for every run', 'limit');
      }
      const { rows, unreadable } = store.rows();
      const shown = rows.slice(0, limit);
      // total stays every saved run: a limited list says how many it left out.
      if (values.json) out(`${JSON.stringify({ runs: shown.map(({ frames: _f, ...row }) => row), total: rows.length, unreadable })}\n`);
      else out(formatRows(shown, rows.length, store.dir) + (unreadable ? `${unreadable} folders in ${store.dir} are not readable runs (left as they are)\n` : ''));
      return 0;
    }
    case 'show': {
      const { values, id } = parse(sub, rest, { json: { type: 'boolean' } }, 1);
      const run = store.getAll(id);
      out(values.json ? `${JSON.stringify(run)}\n` : `${runMarkdown(run)}\n${run.frames.length} frames in ${store.dir}/${id}\n`);
      return reportDamage(store, run);
    }
    case 'export': {
      const { values, id } = parse(sub, rest, { format: { type: 'string' }, out: { type: 'string' } }, 1);
      const format = RunExportFormatSchema.safeParse(values.format);
      if (!format.success) {
        throw usage(`runs export: --format ${values.format === undefined ? 'is missing' : `${JSON.stringify(oneLineText(String(values.format), 40))} is not a format`}`, 'give --format json, csv or md', 'format');
      }
      const outPath = typeof values.out === 'string' ? checkOutFile(values.out) : null;
      const run = store.getAll(id);
      const file = exportRun(run, format.data, store.damagedFramesLine(run));
      if (outPath !== null) writeOutFile(values.out as string, outPath, file.text);
      else out(file.text);
      return reportDamageLine(file.damaged);
    }
    case 'delete': {
      const { id } = parse(sub, rest, {}, 1);
      store.delete(id);
      out(`deleted run ${id}\n`);
      return 0;
    }
    default: {
      const { id } = parse(sub, rest, {}, 1);
      store.pin(id, sub === 'pin');
      out(`${sub === 'pin' ? 'pinned' : 'unpinned'} run ${id}${sub === 'pin' ? ' (retention keeps it)' : ''}\n`);
      return 0;
    }
  }
}
