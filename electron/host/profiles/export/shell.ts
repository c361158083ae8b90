/**
 * `--format shell`: a bash script that takes the profile to another machine. It checks the
 * kernel release against the newest kernel a knob in effect needs (the rows' `kernel`) and the
 * privileges the profile asks for, sets the sysctls the profile implies (the same settings as
 * the tuned export), asking before each change, and runs `uring-lab run` headless with one
 * `--set` per knob that differs from the defaults. `--dry-run` (or DRY_RUN=1) prints every
 * command that would change something instead of running it. `bash -n` accepts it and its dry
 * run is checked in test/unit/exportFormats.test.ts.
 */
import type { Profile } from '../../../contract';
import { parseSetValue } from '../setSyntax';
import { changedKnobs, commentText, impliedSettings, kernelNeeds, knobValue, valueText } from './common';

/** A word for bash, single-quoted (a quote inside becomes '\''). */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=,@+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `path=value` as `--set` reads it back (setSyntax.ts): JSON, except text that reads as itself. */
export function setArgument(path: string, value: unknown): string {
  const literal = typeof value === 'string' && parseSetValue(value) === value && value.trim() === value ? value : JSON.stringify(value);
  return `${path}=${literal}`;
}

export function shellScript(profile: Profile): string {
  // description is words for people: no --set for it (it changes nothing in a run).
  const sets = changedKnobs(profile).filter(({ entry }) => entry.path !== 'description');
  const settings = impliedSettings(profile);
  const sysctls = settings.filter((s) => s.section === 'sysctl');
  const bootloader = settings.filter((s) => s.section === 'bootloader');
  const cpu = settings.filter((s) => s.section === 'cpu');
  const kernel = kernelNeeds(profile);
  const poolKiB = Math.ceil((profile.server.bufferRing.count * profile.server.bufferRing.size * profile.server.rings) / 1024);
  const q = shellQuote;
  const lines = [
    '#!/usr/bin/env bash',
    `# uring-lab profile "${commentText(profile.name, 120)}": checks this machine, sets the sysctls the profile`,
    '# implies (asking before each change), then runs it headless with `uring-lab run`.',
    '# Made by `uring-lab export --format shell`.',
    '#   bash THIS_FILE            check, ask, run',
    '#   bash THIS_FILE --dry-run  (or DRY_RUN=1) print the commands that would change something, run nothing',
    '#   bash THIS_FILE -- --json  arguments after -- go to `uring-lab run` (--json, --duration S)',
    '#   URING_LAB=/path/to/uring-lab picks the binary (default: uring-lab on PATH)',
    'set -euo pipefail',
    '',
    'DRY_RUN="${DRY_RUN:-0}"',
    'while [ $# -gt 0 ]; do',
    '\tcase "$1" in',
    '\t--dry-run) DRY_RUN=1; shift ;;',
    '\t--) shift; break ;;',
    "\t-h | --help) sed -n '2,8p' \"$0\"; exit 0 ;;",
    '\t*) echo "unknown argument: $1 (use --dry-run, --help, or -- ARGS for uring-lab run)" >&2; exit 2 ;;',
    '\tesac',
    'done',
    'URING_LAB="${URING_LAB:-uring-lab}"',
    '',
    '# A command that changes something: printed in a dry run, run otherwise.',
    'run() {',
    '\tif [ "$DRY_RUN" = 1 ]; then',
    "\t\tprintf '+'; printf ' %q' \"$@\"; printf '\\n'",
    '\telse',
    '\t\t"$@"',
    '\tfi',
    '}',
    'warn() { echo "warning: $*" >&2; }',
    '# What the script says goes to stderr: stdout is the run\'s own (`-- --json` pipes to jq).',
    'say() { echo "$*" >&2; }',
    '',
    '# Sets a sysctl after asking; `at_least` only ever raises it (a reservation or a cap others use too).',
    'set_sysctl() {',
    '\tlocal key="$1" want="$2" how="$3" why="$4" now',
    '\tif ! now="$(sysctl -n "$key" 2>/dev/null)"; then',
    '\t\twarn "$key: this kernel has no such setting (skipped; $why)"',
    '\t\treturn 0',
    '\tfi',
    '\tif [ "$now" = "$want" ] || { [ "$how" = at_least ] && [ "$now" -ge "$want" ] 2>/dev/null; }; then',
    '\t\tsay "ok: $key = $now"',
    '\t\treturn 0',
    '\tfi',
    '\tif [ "$DRY_RUN" = 1 ]; then',
    '\t\trun sysctl -w "$key=$want"',
    '\t\treturn 0',
    '\tfi',
    '\tif [ "$(id -u)" != 0 ]; then',
    '\t\twarn "$key is $now, the profile wants $want ($why): changing it needs root (sudo bash $0)"',
    '\t\treturn 0',
    '\tfi',
    '\tlocal answer=""',
    '\tread -r -p "Set $key from $now to $want ($why)? [y/N] " answer || true',
    '\tcase "$answer" in',
    '\ty | Y | yes) run sysctl -w "$key=$want" ;;',
    '\t*) say "left $key at $now" ;;',
    '\tesac',
    '}',
    '',
    '# ---- checks ----',
  ];
  if (kernel.length) {
    // A knob the kernel lacks is refused and reported by the run (the rest still runs): warned, not fatal.
    lines.push(
      '# The kernel each knob in effect needs; uring-lab reports a knob this kernel lacks as refused.',
      'release="$(uname -r)"',
      'major="${release%%.*}"; rest="${release#*.}"; minor="${rest%%[!0-9]*}"',
      'needs_kernel() {',
      '\tif [ "$major" -lt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -lt "$2" ]; }; then',
      '\t\twarn "$3 needs Linux $1.$2; this kernel is $release: the run will report it refused"',
      '\telse',
      '\t\tsay "ok: $3 (Linux $1.$2; this kernel is $release)"',
      '\tfi',
      '}',
      ...kernel.map((k) => `needs_kernel ${k.major} ${k.minor} ${q(`${k.path} (${commentText(k.label, 60)})`)}`),
    );
  }
  if (profile.topology === 'veth') {
    lines.push(
      '# topology veth: the lab makes a network namespace and a veth pair.',
      'if [ "$(id -u)" != 0 ]; then warn "topology veth needs root or CAP_NET_ADMIN (uring-lab refuses the run otherwise)"; fi',
      'command -v ip >/dev/null || warn "topology veth needs iproute2 (ip)"',
    );
  }
  if (profile.server.registeredBuffers && profile.server.engine === 'io_uring') {
    lines.push(
      `# server.registeredBuffers: the buffer pools (${poolKiB} KiB) are pinned, within RLIMIT_MEMLOCK unless root.`,
      'memlock="$(ulimit -l)"',
      `if [ "$(id -u)" != 0 ] && [ "$memlock" != unlimited ] && [ "$memlock" -lt ${poolKiB} ]; then warn "ulimit -l is $memlock KiB; server.registeredBuffers pins ${poolKiB} KiB (raise it: ulimit -l ${poolKiB})"; fi`,
    );
  }
  lines.push(
    'if ! command -v "$URING_LAB" >/dev/null; then',
    '\tif [ "$DRY_RUN" = 1 ]; then warn "$URING_LAB is not on PATH (install uring-lab, or set URING_LAB=)"; else',
    '\t\techo "$URING_LAB is not on PATH: install uring-lab, or set URING_LAB=/path/to/uring-lab" >&2; exit 1',
    '\tfi',
    'fi',
    '',
    '# ---- sysctls (the same settings as `uring-lab export --format tuned`) ----',
  );
  if (sysctls.length) lines.push('command -v sysctl >/dev/null || { echo "sysctl (procps) is needed to read and set the profile\'s sysctls" >&2; exit 1; }');
  for (const s of sysctls) {
    const from = s.from.map((p) => `${p} = ${valueText(knobValue(profile, p))}`).join(', ');
    lines.push(`# ${commentText(from)}`);
    lines.push(`set_sysctl ${q(s.key)} ${q(s.value)} ${s.atLeast ? 'at_least' : 'exactly'} ${q(commentText(s.why))}`);
  }
  for (const s of bootloader) {
    lines.push(`# ${commentText(s.from.join(', '))}: ${commentText(s.why)}`);
    lines.push(`grep -qw -- ${q(s.value.split(' ')[0])} /proc/cmdline || say ${q(`hint: add "${s.value}" to the kernel command line and reboot (${commentText(s.why)}); this script does not change boot settings`)}`);
  }
  for (const s of cpu) {
    lines.push(`# ${commentText(s.from.join(', '))}: ${commentText(s.why)}`);
    lines.push(`say ${q(`hint: tuned's [cpu] ${s.key}=${s.value} (${commentText(s.why)}; uring-lab export --format tuned); this script does not change CPU power settings`)}`);
  }
  lines.push('', '# ---- the run: uring-lab run with every knob that differs from the defaults ----');
  const args = ['"$URING_LAB" run', ...sets.map(({ entry, value }) => `--set ${q(setArgument(entry.path, value))}`), '"$@"'];
  lines.push(`run ${args.join(' \\\n\t')}`);
  return `${lines.join('\n')}\n`;
}
