#!/usr/bin/env bash
# Builds the Debian package target/debian/zagent_<version>_amd64.deb with cargo-deb
# (installed with `cargo install --locked cargo-deb` when missing): a release build, the
# files `zagent generate` writes from the binary's own definitions (man pages,
# completions, the packaged zagent.conf) into target/pkg, then `cargo deb --no-build`.
# Extra arguments go to cargo-deb (e.g. --deb-version 0.1.0-2 -o DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb" >&2
  cargo install --locked cargo-deb
fi
cargo build --release --locked
gen=target/pkg
rm -rf "$gen"
mkdir -p "$gen"
target/release/zagent generate man "$gen/man" >/dev/null
target/release/zagent generate completions "$gen/completions" >/dev/null
target/release/zagent generate conf "$gen/zagent.conf" >/dev/null
# The Zabbix templates: every templates/*.yaml, whatever is there at build time.
mkdir -p "$gen/templates"
shopt -s nullglob
for t in templates/*.yaml; do cp "$t" "$gen/templates/"; done
cat >"$gen/templates/README" <<'TXT'
Zabbix templates for hosts monitored by zagent (Zabbix 6.0 YAML export format).
Import a file in the Zabbix frontend (Configuration > Templates > Import) and link the
template to the host; the keys are answered by zagent's built-in items.
TXT
# --strip: the release profile keeps line tables for backtraces, the package does not.
cargo deb --no-build --strip "$@"
