#!/bin/sh
# Builds captrace's BPF object from its C source, byte for byte the same on every machine with Debian 12's
# clang 14: the object is committed next to its source (so a fresh machine builds capkit with nothing but
# cargo), and CI runs `build.sh --check` to fail when the committed object differs from what the source
# builds.
#
# Needs: clang, llvm-strip (package clang), the libbpf headers (package libbpf-dev).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/captrace.bpf.o"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$here"
# -g keeps the BTF that CO-RE relocations and tp_btf need; the DWARF is stripped afterwards. The prefix map
# keeps the build directory out of the object.
clang -O2 -g -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 \
    -fdebug-prefix-map="$here"=. -fdebug-compilation-dir=. \
    -c captrace.bpf.c -o "$tmp/full.o"
llvm-strip --strip-debug "$tmp/full.o" -o "$tmp/captrace.bpf.o"

if [ "${1-}" = "--check" ]; then
    if cmp -s "$tmp/captrace.bpf.o" "$out"; then
        echo "build.sh: $out matches its source"
    else
        echo "build.sh: $out differs from what captrace.bpf.c builds: run crates/capbpf/bpf/build.sh and commit" >&2
        exit 1
    fi
else
    cp "$tmp/captrace.bpf.o" "$out"
fi
