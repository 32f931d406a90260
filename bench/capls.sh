#!/usr/bin/env bash
# bench/capls.sh: `capls -a` (and `capls`, and `capls -a -k` with kernel threads) against `pscap -a`, side by
# side, at several numbers of processes.
# For each count, idle `sleep` processes are spawned to reach it and killed afterwards (also on Ctrl-C).
# When the machine already runs more processes than a count asks for, that count is measured in a new PID
# namespace with its own /proc, where the tools see exactly the processes spawned for it (and no kernel
# threads: the scale of a container); the table says which. `host` measures the machine as it is, where on
# a small machine kernel threads are most of /proc.
#
# Timing is hyperfine's (--shell=none). A shared machine's load comes in bursts, so each count is timed in
# several rounds, the commands one after the other within a round, and the median is taken over every run
# of every round. The ratio is pscap's median over the command's: above 1 means faster than pscap.
#
# Usage: bench/capls.sh [COUNT|host...]      (default: 50 host 500 5000; as root)
#        BENCH_ROUNDS=20 BENCH_RUNS=30  (rounds per count; runs per command and round below 1,000 processes,
#                                        a tenth of that above)
# Needs pscap (apt-get install libcap-ng-utils), hyperfine, jq and perl.

set -euo pipefail
cd "$(dirname "$0")/.."

for tool in pscap hyperfine jq perl unshare; do
    command -v "$tool" >/dev/null || { echo "bench/capls.sh: $tool is not installed" >&2; exit 2; }
done

capls=$PWD/target/release/capls
rounds=${BENCH_ROUNDS:-20}
runs=${BENCH_RUNS:-30}

process_count() { find /proc -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l; }

spawner=""
cleanup() {
    if [ -n "$spawner" ]; then
        # The spawner leads its own process group: kill it and every sleep it started.
        kill -TERM -- "-$spawner" 2>/dev/null || true
        wait "$spawner" 2>/dev/null || true
        spawner=""
    fi
}

# Brings the number of processes up to $1 with idle processes in their own process group (at most 2
# minutes). Perl forks them without an exec each, which is fast enough for thousands on a busy machine.
spawn_idle() {
    local want=$1 need
    need=$((want - $(process_count)))
    [ "$need" -gt 0 ] || return 0
    setsid perl -e 'for (1 .. $ARGV[0]) { my $pid = fork // die "fork: $!"; if (!$pid) { sleep 3600; exit } }
        1 while wait != -1' "$need" </dev/null &
    spawner=$!
    local deadline=$((SECONDS + 120))
    while [ "$(process_count)" -lt "$want" ] && [ $SECONDS -lt $deadline ]; do
        sleep 0.2
    done
}

# Times the commands at the current number of processes and prints one table row per command:
# processes, where, command, median ms, ratio to the first command.
measure() {
    local where=$1 count n warmup=3 out
    count=$(process_count)
    n=$runs
    [ "$count" -lt 1000 ] || { n=$(((runs + 9) / 10)); warmup=1; }
    local -a commands=("pscap -a" "$capls -a" "$capls" "$capls -a -k")
    out=$(mktemp -d)
    for ((r = 0; r < rounds; r++)); do
        hyperfine --shell=none --style none --warmup "$warmup" --runs "$n" \
            --export-json "$out/$r.json" -- "${commands[@]}" >/dev/null 2>"$out/stderr" ||
            { cat "$out/stderr" >&2; exit 2; }
    done
    rm -f "$out/stderr"
    local -a medians
    for i in "${!commands[@]}"; do
        medians[i]=$(jq -s --argjson i "$i" '
            [.[].results[$i].times[]] | sort
            | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end
            | . * 1000' "$out"/*.json)
    done
    rm -rf "$out"
    for i in "${!commands[@]}"; do
        printf '%-10s %-9s %-14s %10.3f %8s\n' "$count" "$where" "${commands[i]#"$PWD"/target/release/}" \
            "${medians[i]}" "$(awk -v a="${medians[i]}" -v b="${medians[0]}" 'BEGIN {printf "%.2fx", b / a}')"
    done
}

# Inside the PID namespace: spawn up to the count, measure, and leave (the namespace's processes go with it).
if [ "${BENCH_INNER:-}" = 1 ]; then
    trap cleanup EXIT
    spawn_idle "$1"
    measure pidns
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "bench/capls.sh: run as root (unshare, and pscap reads every process)" >&2; exit 2; }
cargo build --quiet --release --bin capls
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(50 host 500 5000)
printf '%-10s %-9s %-14s %10s %8s\n' processes where command median_ms ratio
for count in "${counts[@]}"; do
    if [ "$count" = host ]; then
        measure host
    elif [ "$(process_count)" -gt "$count" ]; then
        BENCH_INNER=1 unshare --pid --fork --mount-proc bash "$0" "$count"
    else
        spawn_idle "$count"
        measure host
        cleanup
    fi
done
