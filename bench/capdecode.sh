#!/usr/bin/env bash
# capdecode against `capsh --decode`, side by side: one mask per process, 10,000 masks as arguments (both
# through xargs), and 200,000 masks, which capdecode reads from standard input.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
cargo build --release -q --bin capdecode
capdecode=$PWD/target/release/capdecode
capsh=$(command -v capsh) || { echo "capsh is not installed (apt-get install libcap2-bin)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import random, sys
random.seed(1)
masks = [f"{random.getrandbits(64) & random.getrandbits(64):016x}" for _ in range(200000)]
open(f"{sys.argv[1]}/masks", "w").write("\n".join(masks[:10000]) + "\n")
open(f"{sys.argv[1]}/capsh-args", "w").write("\n".join("--decode=" + m for m in masks[:10000]) + "\n")
open(f"{sys.argv[1]}/masks-200k", "w").write("\n".join(masks) + "\n")
open(f"{sys.argv[1]}/capsh-args-200k", "w").write("\n".join("--decode=" + m for m in masks) + "\n")
PY

bench_header
bench_compare "one mask" "$capsh --decode=3fffffffff" "$capdecode 3fffffffff" -N
# Both through xargs, so each pays the same for getting 10,000 arguments.
bench_compare "10,000 masks as arguments" \
  "xargs -a $work/capsh-args $capsh" "xargs -a $work/masks $capdecode --as mask"
bench_compare "10,000 masks, --json" \
  "xargs -a $work/capsh-args $capsh" "xargs -a $work/masks $capdecode --as mask --json"
# capsh takes masks only as arguments; capdecode also reads them from a pipe, one process for all.
bench_compare "200,000 masks, capdecode on stdin" \
  "xargs -a $work/capsh-args-200k $capsh" "sh -c '$capdecode --as mask < $work/masks-200k'"
# The same, each line recognised by its form (no --as): what a pasted list costs.
bench_compare "200,000 masks, recognised by form" \
  "xargs -a $work/capsh-args-200k $capsh" "sh -c '$capdecode < $work/masks-200k'"
