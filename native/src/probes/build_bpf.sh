#!/usr/bin/env bash
# Builds the probes' kernel side for node-gyp (binding.gyp's probes_bpf target):
#   vmlinux.h from the running kernel's BTF → NAME.bpf.o (clang -target bpf, CO-RE) →
#   NAME.skel.h (bpftool gen skeleton), all in OUT_DIR, for each NAME given.
# Usage: build_bpf.sh OUT_DIR NAME...
# vmlinux.h is generated, never checked in: the programs are CO-RE, so any BTF-enabled kernel
# will do at build time and libbpf relocates them for the kernel they load on.
set -euo pipefail

out=$1
shift
# Debian installs bpftool in /usr/sbin, which a normal user's PATH lacks.
PATH=$PATH:/usr/sbin:/sbin
src=$(cd "$(dirname "$0")" && pwd)
btf=${URING_LAB_BTF:-/sys/kernel/btf/vmlinux}

fail() {
	echo "probes build: $*" >&2
	exit 1
}

[ -r "$btf" ] || fail "no kernel BTF at $btf: build on a kernel with CONFIG_DEBUG_INFO_BTF=y, or set URING_LAB_BTF to a vmlinux (or .btf) file that has BTF"
command -v bpftool >/dev/null || fail "bpftool not found: apt-get install bpftool (scripts/setup.sh installs it)"
command -v clang >/dev/null || fail "clang not found: apt-get install clang llvm (scripts/setup.sh installs them)"
command -v llvm-strip >/dev/null || fail "llvm-strip not found: apt-get install llvm (scripts/setup.sh installs it)"
[ -r /usr/include/bpf/bpf_helpers.h ] || fail "libbpf headers not found: apt-get install libbpf-dev (scripts/setup.sh installs it)"

mkdir -p "$out"
bpftool btf dump file "$btf" format c >"$out/vmlinux.h.tmp" || fail "bpftool could not dump the BTF of $btf"
# Keep the old file (and its mtime) when nothing changed, so make does not rebuild the addon.
if cmp -s "$out/vmlinux.h.tmp" "$out/vmlinux.h"; then
	rm "$out/vmlinux.h.tmp"
else
	mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi

for name in "$@"; do
	clang -O2 -g -Wall -target bpf -D__TARGET_ARCH_x86 -I"$out" -I"$src" \
		-c "$src/$name.bpf.c" -o "$out/$name.bpf.o"
	# Drop DWARF, keep .BTF (CO-RE needs it).
	llvm-strip -g "$out/$name.bpf.o"
	bpftool gen skeleton "$out/$name.bpf.o" name "${name}_bpf" >"$out/$name.skel.h.tmp"
	if cmp -s "$out/$name.skel.h.tmp" "$out/$name.skel.h"; then
		rm "$out/$name.skel.h.tmp"
		touch "$out/$name.skel.h"
	else
		mv "$out/$name.skel.h.tmp" "$out/$name.skel.h"
	fi
done
