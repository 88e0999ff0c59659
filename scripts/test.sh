#!/usr/bin/env bash
# The whole test suite: installs the real Zabbix peers, starts the lab (a real Zabbix
# 6.0 server on PostgreSQL, 127.0.0.1:10051), runs every test, then the fuzzing smoke
# (every parser's cargo-fuzz target, FUZZ_SECONDS each; ZAGENT_FUZZ=0 skips it), then
# builds the Debian package and tests it installed on this machine (tests/package/run.sh;
# it purges the package at the end; ZAGENT_PACKAGE=0 skips it). Needs root: it installs
# packages, starts daemons and creates network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
tests/interop/zabbix-lab up
tests/interop/zabbix-lab web up
# --no-fail-fast: one failing test binary does not hide the others' results.
cargo test --workspace --locked --no-fail-fast "$@"
if [ "${ZAGENT_FUZZ:-1}" != 0 ]; then
    scripts/fuzz.sh --smoke
fi
if [ "${ZAGENT_PACKAGE:-1}" != 0 ]; then
    tests/package/run.sh
fi
