// The bench scripts' command-line walk: each option with a reader for its value and a number
// check that names the option, so every script refuses a bad flag the same way (one line, exit 2
// through the script's own `fail`).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Calls `onOption(name, value, num)` for each argument: `value()` takes the next argument (or
 * fails: "--x needs a value"), `num(raw, integer, min)` checks it is a (whole) number ≥ min.
 */
export function forEachOption(argv, fail, onOption) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
    const num = (raw, integer, min) => {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) fail(`${a} "${raw}" is not a ${integer ? 'whole ' : ''}number ≥ ${min}`);
      return n;
    };
    onOption(a, value, num);
  }
}

// ---- what a bench hands the lab, checked before its first sample ---------------------------
// A bench that finds a bad knob only when its first run exits 2 has spent minutes by then (a
// rejected --set failed every round of a bench:engine grid, and bench:probes retried it every
// 20 s), and an --out that cannot be written lost a 25-minute grid's samples at the very end.
// Both are checked up front, by the lab's own code (the CLI's profile builders, --out's checks),
// so a bench refuses exactly what the CLI would, in the CLI's words.

const require = createRequire(import.meta.url);
const dist = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'dist', 'electron');

/** The lab's one-line form of an error thrown by its own code. */
const labLine = (err) => (typeof err?.oneLine === 'function' ? err.oneLine() : String(err?.message ?? err));

/**
 * Checks a `uring-lab run|server` command line as the CLI will (its --set knobs, each once, and
 * --duration; `server`'s own limits on load.* and duration.*), before anything runs.
 * @param args  node's arguments: the CLI's entry, the verb, then its flags
 * @param what  words naming the command (e.g. "io_uring best at 50 × 4096 B"), for the error line
 */
export function checkLabArgs(args, fail, what) {
  const verb = args[1];
  const sets = [];
  let duration;
  let profile;
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '--set') sets.push(args[++i]);
    else if (args[i] === '--duration') duration = args[++i];
    else if (args[i] === '--profile') profile = args[++i];
  }
  // verbProfiles, not cli.js: importing the CLI would install its early signal handlers here,
  // and a Ctrl-C would then end the bench before its own handler stopped the servers it started.
  const verbs = require(path.join(dist, 'host', 'verbProfiles.js'));
  try {
    if (verb === 'server') verbs.buildServerProfile({ set: sets, profile });
    else verbs.buildRunProfile({ set: sets, duration: verb === 'run' ? duration : undefined, profile });
  } catch (err) {
    fail(`${what}: the lab would refuse it: ${labLine(err)}`);
  }
}

/**
 * `--out FILE`, checked as the lab's verbs check theirs (a regular file in a folder that exists
 * and can be written; not the lab's own data): returns what writeOut takes.
 */
export function checkOut(raw, fail, flag = '--out') {
  const { checkOutFile } = require(path.join(dist, 'host', 'outFile.js'));
  try {
    return { target: raw, path: checkOutFile(raw), flag };
  } catch (err) {
    // The verbs' fix offers stdout instead; a bench prints its table either way.
    const fix = String(err.fix ?? '').includes('leave --out out') ? 'give a regular file in a folder you can write to' : err.fix;
    return fail(`${String(err.message).replace(/^--out /, `${flag} `)}${fix ? `; ${fix}` : ''}`);
  }
}

/**
 * Writes the bench's JSON whole or not at all. If the file cannot be written now (the folder
 * went away during the bench), the samples go to a file in the temporary folder instead and the
 * line says where: a bench's results are never lost at its end. Returns the path written.
 */
let spares = 0;

export function writeOut(out, text, name) {
  const { writeOutFile } = require(path.join(dist, 'host', 'outFile.js'));
  try {
    writeOutFile(out.target, out.path, text);
    return out.path;
  } catch (err) {
    const spare = path.join(os.tmpdir(), `uring-lab-${name.replace(/[^\w.-]/g, '-')}-${process.pid}-${++spares}.json`);
    writeFileSync(spare, text);
    console.error(`${name}: ${String(err.message).replace(/^--out /, `${out.flag ?? '--out'} `)}; the results are in ${spare} instead`);
    process.exitCode = 1;
    return spare;
  }
}
