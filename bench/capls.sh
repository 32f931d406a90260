#!/usr/bin/env bash
# bench/capls.sh: capls against `pscap -a`, side by side in one run, with about 100 and about 5,000
# processes on the machine. Idle `sleep` processes are spawned to reach each count and killed afterwards
# (also on Ctrl-C). Prints the median of each command and capls's ratio to pscap.
#
# Usage: bench/capls.sh [COUNT...]      (default: 100 5000)
# Needs pscap (apt-get install libcap-ng-utils); uses hyperfine when installed, else a timed loop.

set -euo pipefail
cd "$(dirname "$0")/.."

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 5000)

command -v pscap >/dev/null || { echo "bench/capls.sh: pscap is not installed (libcap-ng-utils)" >&2; exit 2; }
cargo build --quiet --release --bin capls
capls=target/release/capls

spawner=""
cleanup() {
    if [ -n "$spawner" ]; then
        # The spawner leads its own process group: kill it and every sleep it started.
        kill -TERM -- "-$spawner" 2>/dev/null || true
        wait "$spawner" 2>/dev/null || true
        spawner=""
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

process_count() { ls /proc | grep -c '^[0-9]'; }

# Brings the number of processes up to $1 with idle sleeps in their own process group.
spawn_idle() {
    local want=$1 have need
    have=$(process_count)
    need=$((want - have))
    [ "$need" -gt 0 ] || return 0
    setsid bash -c "for ((i = 0; i < $need; i++)); do sleep 3600 & done; wait" &
    spawner=$!
    local deadline=$((SECONDS + 120))
    while [ "$(process_count)" -lt "$want" ] && [ $SECONDS -lt $deadline ]; do
        sleep 0.2
    done
}

# Median wall time in milliseconds of a command, with hyperfine or a loop of `date +%s%N`.
median_ms() {
    local runs=$1
    shift
    if command -v hyperfine >/dev/null; then
        local out
        out=$(mktemp)
        hyperfine --shell=none --style none --warmup 5 --runs "$runs" --export-json "$out" -- "$*" >/dev/null
        jq -r '.results[0].median * 1000' "$out"
        rm -f "$out"
    else
        local times=() start end
        for ((i = 0; i < runs; i++)); do
            start=$(date +%s%N)
            "$@" >/dev/null 2>&1
            end=$(date +%s%N)
            times+=($(((end - start) / 1000)))
        done
        printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {printf "%.3f\n", a[int((NR + 1) / 2)] / 1000}'
    fi
}

printf '%-10s %-22s %12s %12s\n' processes command median_ms vs_pscap
for count in "${counts[@]}"; do
    spawn_idle "$count"
    actual=$(process_count)
    runs=100
    [ "$actual" -lt 1000 ] || runs=20
    base=$(median_ms "$runs" pscap -a)
    printf '%-10s %-22s %12.2f %12s\n' "$actual" "pscap -a" "$base" "1.00"
    for args in "" "-a" "-a --json"; do
        # shellcheck disable=SC2086
        t=$(median_ms "$runs" "$capls" $args)
        ratio=$(awk -v a="$t" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
        printf '%-10s %-22s %12.2f %12s\n' "$actual" "capls $args" "$t" "$ratio"
    done
    cleanup
done
