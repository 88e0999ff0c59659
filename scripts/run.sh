#!/usr/bin/env bash
# Builds zagent (release) and runs it in the foreground. With no arguments it runs with
# the built-in defaults: passive checks on 127.0.0.1:10050 for Server=127.0.0.1,::1.
# Any arguments are passed to `zagent run` (e.g. -c /etc/zabbix/zabbix_agentd.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked
# Started as root, zagent switches to User= (default zabbix), as zabbix_agentd does; the
# Debian zabbix packages create that account, create it here when they are not installed.
if [[ $(id -u) -eq 0 ]] && ! id zabbix >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin zabbix
fi
exec target/release/zagent run "$@"
