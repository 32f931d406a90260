#!/usr/bin/env bash
# capsim's own run time (no older tool predicts execve): medians of a few typical invocations.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin capsim
capsim=$PWD/target/release/capsim
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp /bin/true "$work/ping"
# A file capability when we may set one; the other cases describe the file with options.
python3 -c 'import os,sys; os.setxattr(sys.argv[1], "security.capability", bytes.fromhex("0100000200200000000000000000000000000000"))' \
  "$work/ping" 2>/dev/null || true
unit=$work/web.service
printf '[Service]\nUser=nobody\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nExecStart=%s\n' "$work/ping" >"$unit"

json=$(mktemp)
hyperfine -N --style none --warmup 20 --export-json "$json" \
  "$capsim $work/ping" \
  "$capsim --json --explain $work/ping" \
  "$capsim --docker --user 1000 --file-caps cap_net_raw+ep" \
  "$capsim --systemd $unit" >/dev/null 2>&1
python3 - "$json" <<'PY'
import json, sys
print(f"{'command':<60} {'median':>10}")
for r in json.load(open(sys.argv[1]))["results"]:
    cmd = r["command"].split("/capsim", 1)[-1]
    print(f"{'capsim' + cmd[:54]:<60} {r['median'] * 1000:>8.2f} ms")
PY
rm -f "$json"
