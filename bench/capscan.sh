#!/usr/bin/env bash
# capscan against getcap -r and filecap, side by side in one run: /usr and a generated tree of 1,000,000
# files with a few hundred capability files, warm and cold (after drop_caches); syscalls per entry with
# strace; peak RSS on the big tree. Prints medians and ratios.
#
#   bench/capscan.sh [--keep] [--runs N] [--big-runs N] [--tree DIR] [--usr-only] [--before BIN]
#
# The big tree is made once under /var/tmp (reused when present) and removed at the end unless --keep.
# Cold runs need root (echo 3 > /proc/sys/vm/drop_caches); they are skipped otherwise. --usr-only runs
# the /usr warm row alone. --before BIN adds a column for another capscan build (an earlier commit),
# run in turn with the others, so a change to the walk is measured against the same load.
set -euo pipefail

keep=0
runs=7
big_runs=3
tree=/var/tmp/capscan-bench-1m
usr_only=0
before=
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=1 ;;
        --runs) runs=$2; shift ;;
        --big-runs) big_runs=$2; shift ;;
        --tree) tree=$2; shift ;;
        --usr-only) usr_only=1 ;;
        --before) before=$2; shift ;;
        *) echo "usage: $0 [--keep] [--runs N] [--big-runs N] [--tree DIR] [--usr-only] [--before BIN]" >&2; exit 2 ;;
    esac
    shift
done

here=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --bin capscan
capscan="$here/target/release/capscan"
for tool in getcap filecap; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y libcap2-bin libcap-ng-utils)" >&2; exit 2; }
done

make_tree() {
    [ -f "$tree/.complete" ] && return
    echo "making $tree (1,000,000 files; once) ..." >&2
    rm -rf "$tree"
    python3 - "$tree" <<'PY'
import os, struct, sys
root = sys.argv[1]
# v2, effective, cap_net_raw: what `setcap cap_net_raw=ep` writes.
value = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)
n = 0
for a in range(100):
    for b in range(10):
        d = os.path.join(root, "d%02d" % a, "s%d" % b)
        os.makedirs(d)
        for c in range(1000):
            p = os.path.join(d, "f%03d" % c)
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o755))
            if n % 3000 == 1234:
                os.setxattr(p, "security.capability", value)
            n += 1
open(os.path.join(root, ".complete"), "w").close()
PY
}

cleanup() {
    if [ "$keep" = 0 ] && [ -d "$tree" ]; then rm -rf "$tree"; fi
}
trap cleanup EXIT

# Times one run of a command in microseconds (output discarded); cold=1 drops the caches first.
time_once() {
    local cold=$1; shift
    [ "$cold" = 1 ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1e6}'; }

can_drop=0
[ -w /proc/sys/vm/drop_caches ] && can_drop=1

# One table row. The three tools take turns within each run, so a change in the machine's load hits
# them alike.
row() {
    local label=$1 dir=$2 cold=$3 n=$4
    [ "$cold" = 1 ] && [ "$can_drop" = 0 ] && return
    [ "$cold" = 0 ] && { getcap -r "$dir" >/dev/null 2>&1 || true; }
    local gt=() ft=() ct=() bt=()
    for _ in $(seq "$n"); do
        gt+=("$(time_once "$cold" getcap -r "$dir")")
        ft+=("$(time_once "$cold" filecap "$dir")")
        ct+=("$(time_once "$cold" "$capscan" "$dir")")
        [ -n "$before" ] && bt+=("$(time_once "$cold" "$before" "$dir")")
    done
    local g f c
    g=$(printf '%s\n' "${gt[@]}" | median)
    f=$(printf '%s\n' "${ft[@]}" | median)
    c=$(printf '%s\n' "${ct[@]}" | median)
    printf '| %-14s | %9s | %8s | %8s | %8.2fx | %9.2fx |' "$label" "$g" "$f" "$c" \
        "$(echo "$g / $c" | bc -l)" "$(echo "$f / $c" | bc -l)"
    if [ -n "$before" ]; then
        local b
        b=$(printf '%s\n' "${bt[@]}" | median)
        printf ' %8s | %8.2fx |' "$b" "$(echo "$g / $b" | bc -l)"
    fi
    echo
}

[ "$usr_only" = 1 ] || make_tree
echo "capscan bench: $(nproc) cores, $(uname -r), median wall seconds of $runs runs (/usr), $big_runs (1M tree)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every tool)"
echo
if [ -n "$before" ]; then
    echo "| tree           | getcap -r |  filecap |  capscan | vs getcap | vs filecap |   before | vs getcap |"
    echo "|----------------|----------:|---------:|---------:|----------:|-----------:|---------:|----------:|"
else
    echo "| tree           | getcap -r |  filecap |  capscan | vs getcap | vs filecap |"
    echo "|----------------|----------:|---------:|---------:|----------:|-----------:|"
fi
row "/usr warm" /usr 0 "$runs"
if [ "$usr_only" = 1 ]; then exit 0; fi
row "/usr cold" /usr 1 "$runs"
row "1M files warm" "$tree" 0 "$big_runs"
row "1M files cold" "$tree" 1 "$big_runs"

echo
entries=$(find /usr | wc -l)
# strace -c leaves out syscalls it has no name for (getxattrat on strace 6.1), so count the trace lines.
trace=$(mktemp)
strace -f -qq -o "$trace" "$capscan" /usr >/dev/null 2>&1 || true
calls=$(grep -v -e 'resumed>' -e '^[0-9]* *+++' -e '^[0-9]* *---' "$trace" | wc -l)
gtrace=$(mktemp)
strace -f -qq -o "$gtrace" getcap -r /usr >/dev/null 2>&1 || true
gcalls=$(grep -v -e 'resumed>' -e '^[0-9]* *+++' -e '^[0-9]* *---' "$gtrace" | wc -l)
rm -f "$trace" "$gtrace"
printf 'syscalls on /usr (%d entries): capscan %d (%.2f per entry), getcap -r %d (%.2f per entry)\n' \
    "$entries" "$calls" "$(echo "$calls / $entries" | bc -l)" "$gcalls" "$(echo "$gcalls / $entries" | bc -l)"

rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
if [ -x /usr/bin/time ]; then
    printf 'peak RSS on the 1M tree: capscan %s KiB, getcap -r %s KiB, filecap %s KiB\n' \
        "$(rss "$capscan" "$tree")" "$(rss getcap -r "$tree")" "$(rss filecap "$tree")"
else
    echo "peak RSS: /usr/bin/time missing (apt-get install -y time)"
fi
hits=$("$capscan" --getcap "$tree" | wc -l)
echo "hits on the 1M tree: $hits; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
