#!/usr/bin/env bash
# Sets up a fresh Debian machine for uring-lab: system packages, npm packages, and a full
# build (native addon, main side, UI). The single truth of how to set up: .ci/run and the
# README's quick start both call it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: liburing (io_uring), libbpf + clang/llvm/bpftool (eBPF probes), libelf/zlib (libbpf's
# link deps). Tests: Debian's Chromium, driven by playwright-core (its own browser download
# cannot run here). fio: the baseline of npm run bench:storage. iproute2: topology "veth" (ip, ss);
# ethtool: GRO on the veth pair (its NAPI path, what NAPI busy poll polls). libcap2-bin: setcap
# on the eBPF probe helper (its unprivileged-engine tests). bsdutils: `script`, a terminal for the
# CLI's progress-line tests.
PACKAGES=(build-essential python3 pkg-config liburing-dev libbpf-dev libelf-dev zlib1g-dev clang llvm bpftool chromium fio iproute2 ethtool libcap2-bin bsdutils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
