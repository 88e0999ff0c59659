#!/usr/bin/env bash
# The whole test suite: installs the real Zabbix peers, starts the lab (a real Zabbix
# 6.0 server on PostgreSQL, 127.0.0.1:10051), runs every test, then builds the Debian
# package and tests it installed on this machine (tests/package/run.sh; it purges the
# package at the end). Needs root: it installs packages, starts daemons and creates
# network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
tests/interop/zabbix-lab up
cargo test --workspace --locked "$@"
tests/package/run.sh
