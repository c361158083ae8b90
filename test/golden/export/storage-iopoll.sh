#!/usr/bin/env bash
# uring-lab profile "storage-iopoll": checks this machine, sets the sysctls the profile
# implies (asking before each change), then runs it headless with `uring-lab run`.
# Made by `uring-lab export --format shell`.
#   bash THIS_FILE            check, ask, run
#   bash THIS_FILE --dry-run  (or DRY_RUN=1) print the commands that would change something, run nothing
#   bash THIS_FILE -- --json  arguments after -- go to `uring-lab run` (--json, --duration S)
#   URING_LAB=/path/to/uring-lab picks the binary (default: uring-lab on PATH)
set -euo pipefail

DRY_RUN="${DRY_RUN:-0}"
while [ $# -gt 0 ]; do
	case "$1" in
	--dry-run) DRY_RUN=1; shift ;;
	--) shift; break ;;
	-h | --help) sed -n '2,8p' "$0"; exit 0 ;;
	*) echo "unknown argument: $1 (use --dry-run, --help, or -- ARGS for uring-lab run)" >&2; exit 2 ;;
	esac
done
URING_LAB="${URING_LAB:-uring-lab}"

# A command that changes something: printed in a dry run, run otherwise.
run() {
	if [ "$DRY_RUN" = 1 ]; then
		printf '+'; printf ' %q' "$@"; printf '\n'
	else
		"$@"
	fi
}
warn() { echo "warning: $*" >&2; }
# What the script says goes to stderr: stdout is the run's own (`-- --json` pipes to jq).
say() { echo "$*" >&2; }

# Sets a sysctl after asking; `at_least` only ever raises it (a reservation or a cap others use too).
set_sysctl() {
	local key="$1" want="$2" how="$3" why="$4" now
	if ! now="$(sysctl -n "$key" 2>/dev/null)"; then
		warn "$key: this kernel has no such setting (skipped; $why)"
		return 0
	fi
	if [ "$now" = "$want" ] || { [ "$how" = at_least ] && [ "$now" -ge "$want" ] 2>/dev/null; }; then
		say "ok: $key = $now"
		return 0
	fi
	if [ "$DRY_RUN" = 1 ]; then
		run sysctl -w "$key=$want"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		warn "$key is $now, the profile wants $want ($why): changing it needs root (sudo bash $0)"
		return 0
	fi
	local answer=""
	read -r -p "Set $key from $now to $want ($why)? [y/N] " answer || true
	case "$answer" in
	y | Y | yes) run sysctl -w "$key=$want" ;;
	*) say "left $key at $now" ;;
	esac
}

# ---- checks ----
# The kernel each knob in effect needs; uring-lab reports a knob this kernel lacks as refused.
release="$(uname -r)"
major="${release%%.*}"; rest="${release#*.}"; minor="${rest%%[!0-9]*}"
needs_kernel() {
	if [ "$major" -lt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -lt "$2" ]; }; then
		warn "$3 needs Linux $1.$2; this kernel is $release: the run will report it refused"
	else
		say "ok: $3 (Linux $1.$2; this kernel is $release)"
	fi
}
needs_kernel 6 1 'server.taskrun (Task run)'
needs_kernel 5 1 'server.iopoll (IOPOLL)'
if ! command -v "$URING_LAB" >/dev/null; then
	if [ "$DRY_RUN" = 1 ]; then warn "$URING_LAB is not on PATH (install uring-lab, or set URING_LAB=)"; else
		echo "$URING_LAB is not on PATH: install uring-lab, or set URING_LAB=/path/to/uring-lab" >&2; exit 1
	fi
fi

# ---- sysctls (the same settings as `uring-lab export --format tuned`) ----
command -v sysctl >/dev/null || { echo "sysctl (procps) is needed to read and set the profile's sysctls" >&2; exit 1; }
# server.engine = "io_uring"
set_sysctl kernel.io_uring_disabled 0 exactly 'io_uring for every process: the server rings and the load generator (Linux 6.6+)'

# ---- the run: uring-lab run with every knob that differs from the defaults ----
run "$URING_LAB" run \
	--set name=storage-iopoll \
	--set workload=storage \
	--set server.iopoll=true \
	--set storage.fileSizeMiB=256 \
	"$@"
