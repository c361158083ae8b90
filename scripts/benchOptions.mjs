// The bench scripts' command-line walk: each option with a reader for its value and a number
// check that names the option, so every script refuses a bad flag the same way (one line, exit 2
// through the script's own `fail`).

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
