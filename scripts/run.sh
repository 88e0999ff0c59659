#!/usr/bin/env bash
# Builds zagent (release) and runs it in the foreground. With no arguments it runs with
# the built-in defaults: passive checks on 127.0.0.1:10050 for Server=127.0.0.1,::1.
# Any arguments are passed to `zagent run` (e.g. -c /etc/zabbix/zabbix_agentd.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked
exec target/release/zagent run "$@"
