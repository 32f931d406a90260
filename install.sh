#!/bin/sh
# Installs capkit: the six tools, their man pages and their shell completions, under PREFIX (default
# /usr/local; DESTDIR is honoured for packaging). Arguments are passed on to `cargo install`.
#
#   sudo ./install.sh                    # /usr/local/bin, /usr/local/share/man/man1, completions
#   PREFIX=$HOME/.local ./install.sh     # a user's own install
set -eu
cd "$(dirname "$0")"
prefix=${PREFIX:-/usr/local}
root=${DESTDIR:-}$prefix
tools="capls capscan capnet capsim capdecode captrace"

cargo install --locked --path . --root "$root" --no-track "$@"
for t in $tools; do
  install -Dm644 "man/$t.1" "$root/share/man/man1/$t.1"
  install -Dm644 "completions/$t.bash" "$root/share/bash-completion/completions/$t"
  install -Dm644 "completions/_$t" "$root/share/zsh/site-functions/_$t"
  install -Dm644 "completions/$t.fish" "$root/share/fish/vendor_completions.d/$t.fish"
done
echo "installed $tools under $root"
