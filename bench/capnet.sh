#!/usr/bin/env bash
# capnet against netcap and `ss -tuwxpn`, side by side and interleaved (each tool once per round, in a new
# order each round, so that load from elsewhere on the machine falls on all three alike), in these cases:
#   quiet               the machine as it is
#   N namespaces        N network namespaces (50, then 200), each with a root process holding two TCP
#                       listeners and two UDP sockets on 127.0.0.1: a host running containers
#   ~2,000 UDP          1,500 UDP sockets held by one process, 500 by another in a second namespace
#   1,000 TCP + 1,000 UDP  one process holding 1,000 TCP listeners and 1,000 UDP sockets
#   ~20,000             about 20,000 UDP sockets, 2,000 of them in a second namespace
# The holders are capkit-test-sockets processes started as root (full capabilities, so capnet lists them),
# on loopback only, stopped after each case and by the exit trap (and by themselves after --exit-after).
# Prints the medians, netcap/capnet (the median of the per-round ratios; above 1: capnet faster) and
# capnet/ss. ss lists sockets and their owners but knows nothing of capabilities; netcap and ss read only
# the namespace they run in, capnet every namespace: after each case, capnet --json is checked to list
# every socket of every holder. Run as root: netcap, and the holders, need it.
# Targets (reported, not asserted): capnet >= 1.5x netcap on the quiet machine and with 50 namespaces,
# under 50 ms with 200, >= 2x at 2,000 TCP and UDP sockets and >= 3x at 20,000.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
for tool in netcap ss python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
cargo build --release -q --bin capnet
cargo build --release -q -p capkit-testbins --bin capkit-test-sockets
target=${CARGO_TARGET_DIR:-$PWD/target}
capnet=${CAPNET:-$target/release/capnet}
holder=$target/release/capkit-test-sockets
runs=${BENCH_RUNS:-15}
# Each holder exits by itself after this long, whatever happens to this script.
lifetime=900

pids=()
release() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  done
  pids=()
  expected=0
}
trap release EXIT

# hold SOCKETS ACTIONS...: one holder running ACTIONS, with full capabilities (root's), which holds
# SOCKETS sockets that capnet must list.
expected=0
hold() {
  local sockets=$1 fd ready pid
  shift
  exec {fd}< <("$holder" "$@" --exit-after "$lifetime")
  read -r ready pid _ <&"$fd" || true
  exec {fd}<&-
  [[ $ready == ready ]] || { echo "capkit-test-sockets failed" >&2; exit 2; }
  pids+=("$pid")
  expected=$((expected + sockets))
}

# namespaces N: N more holders, each in a network namespace of its own with 2 TCP listeners and 2 UDP
# sockets.
namespaces() {
  local i
  for ((i = 0; i < $1; i++)); do
    hold 4 --unshare-net --tcp 127.0.0.1:0 --tcp 127.0.0.1:0 --udp 127.0.0.1:0 --udp 127.0.0.1:0
  done
}

# tcp_listeners N: the actions for N TCP listeners on 127.0.0.1.
tcp_listeners() {
  local i
  for ((i = 0; i < $1; i++)); do printf -- '--tcp 127.0.0.1:0 '; done
}

# check: capnet --json lists every socket every holder holds, whatever its namespace.
check() {
  local found
  found=$("$capnet" --json 2>/dev/null | python3 -c '
import json, sys
holders = set(int(p) for p in sys.argv[1:])
print(sum(1 for line in sys.stdin if (r := json.loads(line))["pid"] in holders and r["inode"] is not None))
' "${pids[@]}")
  if [[ $found == "$expected" ]]; then
    printf '  capnet --json: all %s sockets of the holders\n' "$expected" >&2
  else
    printf '  capnet --json: %s of the holders'"'"' %s sockets: SOME MISSING\n' "$found" "$expected" >&2
  fi
}

# compare CASE: netcap, ss and capnet, interleaved; one table row.
compare() {
  local row
  row=$(bench_interleaved "$1" "$runs" netcap "ss -tuwxpn" "$capnet")
  python3 - "$row" <<'PY'
import sys
name, netcap, ss, capnet, _, _, paired = sys.argv[1].split("\t")
netcap, ss, capnet, paired = float(netcap), float(ss), float(capnet), float(paired)
ms = lambda s: f"{s * 1000:.1f} ms"
print(f"{name:<24} {ms(netcap):>10} {ms(ss):>11} {ms(capnet):>10} {paired:>13.2f}x {capnet / ss:>9.2f}x")
PY
}

printf '%-24s %10s %11s %10s %14s %10s\n' "case" "netcap" "ss -tuwxpn" "capnet" "netcap/capnet" "capnet/ss"
compare "quiet"
namespaces 50
compare "50 namespaces"
check
namespaces 150
compare "200 namespaces"
check
release
hold 1500 --many 1500
hold 500 --unshare-net --many 500
compare "~2,000 UDP"
check
release
# shellcheck disable=SC2046 # one action per word
hold 2000 $(tcp_listeners 1000) --many 1000
compare "1,000 TCP + 1,000 UDP"
check
release
for _ in 1 2 3 4 5 6 7 8 9; do hold 2000 --many 2000; done
hold 2000 --unshare-net --many 2000
compare "~20,000 UDP"
check
