#!/usr/bin/env bash
# bench/capls.sh: capls against `pscap -a`, side by side in one run, with about 100 and about 5,000
# processes on the machine. Idle `sleep` processes are spawned to reach each count and killed afterwards
# (also on Ctrl-C). Prints the median of each command and the ratio pscap / command, as bench/lib.sh does:
# above 1 means faster than pscap.
#
# Usage: bench/capls.sh [COUNT...]      (default: 100 5000)
# Needs pscap (apt-get install libcap-ng-utils). Times with an interleaved loop (bash EPOCHREALTIME);
# BENCH_HYPERFINE=1 uses hyperfine instead.

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

# Runs the commands (one per argument, words split on spaces) in turns, $runs rounds, so that a burst of
# load on a shared machine falls on all of them alike, and prints each one's median wall time in ms.
# With BENCH_HYPERFINE=1, hyperfine times each command on its own instead (one after the other).
medians_ms() {
    local runs=$1
    shift
    if [ "${BENCH_HYPERFINE:-0}" = 1 ] && command -v hyperfine >/dev/null; then
        local out
        out=$(mktemp)
        hyperfine --shell=none --style none --warmup 5 --runs "$runs" --export-json "$out" -- "$@" >/dev/null
        jq -r '.results[].median * 1000' "$out"
        rm -f "$out"
        return
    fi
    local -a samples
    local i c start end
    for ((i = 0; i < runs + 3; i++)); do
        for ((c = 1; c <= $#; c++)); do
            start=${EPOCHREALTIME/./}
            # shellcheck disable=SC2086
            ${!c} >/dev/null 2>&1
            end=${EPOCHREALTIME/./}
            # The first three rounds warm the caches and are not counted.
            [ "$i" -lt 3 ] || samples[c]+="$((end - start)) "
        done
    done
    for ((c = 1; c <= $#; c++)); do
        tr ' ' '\n' <<<"${samples[c]}" | grep . | sort -n |
            awk '{a[NR] = $1} END {printf "%.3f\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000}'
    done
}

printf '%-10s %-22s %12s %10s\n' processes command median_ms ratio
for count in "${counts[@]}"; do
    spawn_idle "$count"
    actual=$(process_count)
    runs=100
    [ "$actual" -lt 1000 ] || runs=15
    commands=("pscap -a" "$capls" "$capls -a" "$capls -a --json")
    mapfile -t times < <(medians_ms "$runs" "${commands[@]}")
    for i in "${!commands[@]}"; do
        ratio=$(awk -v a="${times[i]}" -v b="${times[0]}" 'BEGIN {printf "%.2fx", b / a}')
        printf '%-10s %-22s %12.2f %10s\n' "$actual" "${commands[i]#target/release/}" "${times[i]}" "$ratio"
    done
    cleanup
done
