#!/usr/bin/env bash
# Installs what building zagent needs (and, with --test, what its test suite needs) from
# Debian's packages. Idempotent; installs only what is missing. Needs root (or sudo).
set -euo pipefail

build_pkgs=(gcc pkg-config libssl-dev libpcre2-dev)
# The real peers the tests talk to: zabbix_agentd + zabbix_sender (zabbix-agent),
# zabbix_agent2, zabbix_get + zabbix_server (zabbix-server-pgsql), PostgreSQL for the lab
# server, netstat for the seed script, ss/ip for namespaces, strace/procps for checks,
# the openssl CLI (the TLS tests compare certificate names with its printer), the lab's
# frontend API (api_jsonrpc.php served by PHP's built-in server, no web server package),
# python3 (a CLOSE_WAIT owner of another uid in the TCP-health namespace test), lintian
# (tests/package/run.sh checks the .deb with it), and nft (nftables: the template lab turns
# conntrack on in a namespace to fill its table for real).
test_pkgs=(zabbix-agent zabbix-agent2 zabbix-server-pgsql postgresql net-tools iproute2 procps openssl
           zabbix-frontend-php php-pgsql php8.2-cli php8.2-cgi python3-minimal lintian nftables)

want=("${build_pkgs[@]}")
[[ ${1:-} == --test ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
# Keep package scripts from starting a system zabbix_agentd on 10050 (or any service):
# the tests start every daemon themselves. Only if no policy is in place already.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  own_policy=1
fi
trap '[[ $own_policy == 1 ]] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
