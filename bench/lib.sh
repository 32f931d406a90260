# Shared by the bench scripts: run the old tool and capkit side by side with hyperfine and print one table
# row of medians and their ratio. Source it; needs hyperfine and python3.

bench_header() {
  printf '%-34s %14s %14s %8s\n' "case" "old median" "capkit median" "ratio"
}

# bench_compare CASE OLD_COMMAND CAPKIT_COMMAND [hyperfine options...]
# The ratio is old / capkit: above 1 means capkit is faster.
bench_compare() {
  local name=$1 old=$2 new=$3
  shift 3
  local json
  json=$(mktemp)
  hyperfine --style none --warmup 3 --export-json "$json" "$@" "$old" "$new" >/dev/null 2>&1
  python3 - "$name" "$json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
old, new = (r["median"] for r in json.load(open(path))["results"])
def fmt(s):
    return f"{s * 1000:.2f} ms" if s < 10 else f"{s:.2f} s"
print(f"{name:<34} {fmt(old):>14} {fmt(new):>14} {old / new:>7.2f}x")
PY
  rm -f "$json"
}
