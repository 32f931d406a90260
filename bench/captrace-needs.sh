#!/usr/bin/env bash
# The needed set captrace gives for the 21 programs of issue 20, for one or more captrace binaries side by
# side (an older build against today's, say), and with --minimize for the last one. Not a speed bench: it
# checks what users paste into production. Each program runs as nobody (captrace's --user: every
# capability ambient, so its checks succeed and show what it uses) unless marked root.
#
#   bench/captrace-needs.sh [CAPTRACE...]     default: target/release/captrace
#
# Prints one line per program: its name, then the needed set under each binary, then under --minimize.
# Run as root. The programs touch only files under a temporary directory, a dummy link in a network
# namespace of their own, loopback, and a user (capkit-needs) that is removed again.
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "run as root: tracing needs it" >&2; exit 2; }
binaries=("$@")
((${#binaries[@]})) || binaries=(target/release/captrace)
py=/usr/bin/python3
work=$(mktemp -d)
chmod 1777 "$work"
traffic=
cleanup() {
  [[ -n $traffic ]] && kill "$traffic" "$root_pid" 2>/dev/null
  userdel capkit-needs >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# Fixtures: a root file, a file nobody owns, a script that binds port 444, loopback traffic for tcpdump.
: >"$work/rootfile"
: >"$work/nobodys"
chown nobody "$work/nobodys"
printf '#!%s\nimport socket\ns = socket.socket()\ns.bind(("127.0.0.1", 444))\n' "$py" >"$work/bind444"
chmod 755 "$work/bind444"
bash -c 'for _ in $(seq 1 3000); do echo x >/dev/udp/127.0.0.1/9; sleep 0.1; done' 2>/dev/null &
traffic=$!
sleep 300 &
root_pid=$!
hard=$(ulimit -Hn)
root_path=/root/.local/bin:/root/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# name | who | command (shell words, run with root's login PATH, which nobody cannot search all of)
programs=(
  "date -s|nobody|date -s @$(date +%s)"
  "unshare -u hostname|nobody|unshare -u hostname capkit-needs"
  "ip link add (unshare -n)|nobody|unshare -n ip link add capkit0 type veth peer name capkit1"
  "sh -c dmesg|nobody|sh -c 'dmesg >/dev/null'"
  "cat /etc/shadow|nobody|cat /etc/shadow"
  "chmod a root file|nobody|chmod 600 $work/rootfile"
  "renice -n -5|nobody|sh -c 'renice -n -5 -p \$\$ >/dev/null'"
  "prlimit --nofile|nobody|prlimit --nofile=1024:$((hard + 1)) true"
  "mknod|nobody|sh -c 'mknod $work/null c 1 3 && rm $work/null'"
  "chroot|nobody|chroot / true"
  "kill -0 1|nobody|kill -0 1"
  "tcpdump -i lo -c 1|nobody|timeout 10 tcpdump -i lo -c 1 -n udp port 9"
  "python3 -m http.server 443|nobody|timeout 2 $py -m http.server 443 --bind 127.0.0.1"
  "setcap|nobody|setcap cap_net_raw+p $work/nobodys"
  "nft list ruleset|nobody|nft list ruleset"
  "iptables -L|nobody|iptables -L -n"
  "install -o nobody|root|install -o nobody /etc/hostname $work/installed"
  "useradd|root|sh -c 'userdel capkit-needs 2>/dev/null; useradd -M capkit-needs && userdel capkit-needs'"
  "readlink /proc/PID/exe (root's)|nobody|readlink /proc/$root_pid/exe"
  "unshare -Urn ip link add|nobody|unshare -Urn ip link add capkit0 type veth peer name capkit1"
  "#! script binding port 444|nobody|$work/bind444"
)

# The needed set of one run: the summary record's, whatever else the run printed.
needed() {
  "$py" -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{") and "\"summary\"" in line:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("record") == "summary":
            # With --minimize, what it kept; else the needed set of the trace.
            kept = (record.get("minimize") or {}).get("kept") or record["needed"]
            names = lambda s: ",".join(c.replace("cap_", "") for c in s["caps"])
            denied = names(record.get("denied") or {"caps": []})
            print((names(kept) or "none") + (" (denied " + denied + ")" if denied else ""))
            sys.exit(0)
print("(no report)")'
}

run() {
  local bin=$1 who=$2 cmd=$3
  shift 3
  local user=()
  [[ $who == nobody ]] && user=(--user nobody)
  userdel capkit-needs >/dev/null 2>&1
  rm -f "$work/null" "$work/installed"
  local words
  eval "words=($cmd)"
  env PATH="$root_path" "$bin" --json "${user[@]}" "$@" -- "${words[@]}" 2>&1 </dev/null | needed
}

printf '%-30s' program
for bin in "${binaries[@]}"; do printf ' | %-34s' "$bin"; done
printf ' | %s\n' "--minimize (${binaries[-1]})"
for entry in "${programs[@]}"; do
  IFS='|' read -r name who cmd <<<"$entry"
  printf '%-30s' "$name"
  for bin in "${binaries[@]}"; do
    printf ' | %-34s' "$(run "$bin" "$who" "$cmd")"
  done
  printf ' | %s\n' "$(run "${binaries[-1]}" "$who" "$cmd" --minimize)"
done
