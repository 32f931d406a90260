#!/usr/bin/env bash
# capnet against netcap and `ss -tuwxpn`, side by side in one hyperfine run each, with about 2,000 and about
# 20,000 open sockets held by processes with capabilities (capkit-test-sockets, started and stopped here),
# some of them in a second network namespace. Prints the medians, netcap/capnet (above 1: capnet faster)
# and capnet/ss (below 1.5: within the target). ss lists sockets and their owners but knows nothing of
# capabilities; netcap and ss read only the namespace they run in, capnet every namespace.
# Run as root: netcap, and the holders, need it. Targets (reported, not asserted): capnet >= 2x netcap at
# 2,000 sockets and >= 3x at 20,000, and within 1.5x of ss.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in netcap ss hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
cargo build --release -q --bin capnet
cargo build --release -q -p capkit-testbins --bin capkit-test-sockets
capnet=$PWD/target/release/capnet
holder=$PWD/target/release/capkit-test-sockets
runs=${BENCH_RUNS:-10}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# hold N [ACTIONS...]: one holder with N UDP sockets on 127.0.0.1, full capabilities (root's).
hold() {
  local n=$1 fd ready pid
  shift
  exec {fd}< <("$holder" "$@" --many "$n" --exit-after 1800)
  read -r ready pid _ <&"$fd" || true
  [[ $ready == ready ]] || { echo "capkit-test-sockets failed" >&2; exit 2; }
  pids+=("$pid")
}

# sockets: how many sockets each tool lists, as a check that they look at the same thing.
counts() {
  local netcap_n ss_n capnet_n
  netcap_n=$(netcap 2>/dev/null | wc -l)
  ss_n=$(ss -tuwxpn 2>/dev/null | wc -l)
  capnet_n=$("$capnet" --json 2>/dev/null | wc -l)
  printf '  lines: netcap %s, ss %s, capnet --json %s (every namespace)\n' "$netcap_n" "$ss_n" "$capnet_n"
}

# compare CASE: netcap, ss and capnet in one hyperfine run; one table row.
compare() {
  local name=$1 json
  json=$(mktemp)
  hyperfine --style none --warmup 2 --min-runs "$runs" -N --export-json "$json" \
    netcap "ss -tuwxpn" "$capnet" >/dev/null 2>&1
  python3 - "$name" "$json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
netcap, ss, capnet = (r["median"] for r in json.load(open(path))["results"])
ms = lambda s: f"{s * 1000:.1f} ms"
print(f"{name:<22} {ms(netcap):>11} {ms(ss):>11} {ms(capnet):>11} {netcap / capnet:>13.2f}x {capnet / ss:>10.2f}x")
PY
  rm -f "$json"
}

printf '%-22s %11s %11s %11s %14s %11s\n' "case" "netcap" "ss -tuwxpn" "capnet" "netcap/capnet" "capnet/ss"
hold 1500
hold 500 --unshare-net
compare "~2,000 sockets"
counts >&2
for _ in 1 2 3 4 5 6 7 8; do hold 2000; done
hold 2000 --unshare-net
compare "~20,000 sockets"
counts >&2
