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

# bench_interleaved CASE RUNS COMMAND... : each command once per round, in a new order each round (so that
# load from elsewhere falls on all of them alike), RUNS rounds after two warm-up rounds; prints one line of
# `CASE<TAB>median seconds of each command...<TAB>median of the per-round ratios first/each`. Output goes
# to /dev/null; commands are split on spaces, not run through a shell.
bench_interleaved() {
  local name=$1 runs=$2
  shift 2
  python3 - "$name" "$runs" "$@" <<'PY'
import os, random, statistics, sys, time
name, runs, commands = sys.argv[1], int(sys.argv[2]), [c.split() for c in sys.argv[3:]]
devnull = os.open(os.devnull, os.O_WRONLY)
def once(argv):
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
    os.waitpid(pid, 0)
    return time.perf_counter() - start
times = [[] for _ in commands]
for round in range(runs + 2):
    order = list(range(len(commands)))
    random.shuffle(order)
    took = {i: once(commands[i]) for i in order}
    if round >= 2:
        for i in order:
            times[i].append(took[i])
medians = [statistics.median(t) for t in times]
paired = [statistics.median(a / b for a, b in zip(times[0], t)) for t in times]
print("\t".join([name] + [f"{m:.6f}" for m in medians] + [f"{p:.4f}" for p in paired]))
PY
}
