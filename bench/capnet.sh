#!/usr/bin/env bash
# capnet against netcap, side by side, with about 100 and about 2,000 open sockets (held by
# capkit-test-sockets, which the script starts and stops). Run as root: netcap and the holders need it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
command -v netcap >/dev/null || { echo "netcap is not installed (apt-get install libcap-ng-utils)" >&2; exit 2; }
cargo build --release -q --bin capnet --bin capkit-test-sockets
capnet=$PWD/target/release/capnet
holder=$PWD/target/release/capkit-test-sockets
ulimit -n 8192

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts holders until about $1 sockets are open: each holds 50 TCP listeners and 50 UDP sockets.
hold_sockets() {
  local want=$1 have=0
  while ((have < want)); do
    local args=()
    for _ in $(seq 25); do args+=(--tcp 127.0.0.1:0 --udp 127.0.0.1:0); done
    exec {fd}< <("$holder" "${args[@]}" --exit-after 600)
    read -r ready pid _ <&"$fd"
    pids+=("$pid")
    have=$((have + 50))
  done
}

bench_header
hold_sockets 100
bench_compare "~100 sockets: netcap vs capnet" "netcap" "$capnet" -N
bench_compare "~100 sockets: netcap vs capnet -a" "netcap" "$capnet -a" -N
hold_sockets 1900
bench_compare "~2000 sockets: netcap vs capnet" "netcap" "$capnet" -N
bench_compare "~2000 sockets: netcap vs capnet -a" "netcap" "$capnet -a" -N
