#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root): build it (scripts/package.sh),
# lintian, install, check-config on the installed conffile, the unit's ExecStartPre and
# ExecStart run exactly as written as the unit's User=, zabbix_get against it (on a free
# port set by a zagent.d drop-in, never 10050), reload, man pages, bash completion,
# systemd-analyze verify/security, upgrade N -> N+1 with a changed conffile, remove, purge.
# Leaves the machine as it found it: the package is purged on exit, even on failure.
# Prints `package: N passed, M failed` last; exit 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

pass=0
fail=0
ok() { echo "package: ok   $*"; pass=$((pass + 1)); }
ko() { echo "package: FAIL $*" >&2; fail=$((fail + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then ok "$what"; else ko "$what"; fi
}
finish() {
  echo "package: $pass passed, $fail failed"
  [[ $fail -eq 0 ]]
}

if [[ $(id -u) -ne 0 ]]; then
  echo "package: needs root (installs the package)" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' zagent 2>/dev/null | grep -q 'installed\|config-files'; then
  echo "package: zagent is already installed here; this test would purge it. Remove it first (dpkg -P zagent)." >&2
  exit 1
fi

agent_pid=
own_policy=0
policy=/usr/sbin/policy-rc.d
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  # Whatever still runs the packaged binary was started here (the test refuses to run
  # where zagent was installed before).
  for p in $(packaged_procs); do kill "$p" 2>/dev/null; done
  if dpkg-query -W zagent >/dev/null 2>&1; then
    dpkg -P zagent >/dev/null 2>&1 || echo "package: cleanup: dpkg -P zagent failed" >&2
  fi
  rm -rf /run/zagent
  [[ -n ${work:-} ]] && rm -rf "$work"
  [[ $own_policy == 1 ]] && rm -f "$policy"
}
trap cleanup EXIT
# No maintainer script may start a service while we test (CI has no systemd, but a
# developer machine may): the agent is started by hand below.
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  own_policy=1
fi

# A free TCP port on 127.0.0.1 (nothing listening on it, v4 or v6), never 10050.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6
}
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000)) # ListenPort allows 1024-32767
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}
wait_port() { # wait_port PORT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_in_use "$1" && return 0
    sleep 0.1
  done
  return 1
}
# Processes running the packaged binary (other helpers' test agents run from target/).
packaged_procs() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    [[ $exe == /usr/sbin/zagent || $exe == "/usr/sbin/zagent (deleted)" ]] && echo "${p#/proc/}"
  done
}

# --- build -------------------------------------------------------------------------------
t0=$(date +%s)
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install --locked cargo-deb || { ko "cargo install cargo-deb"; finish; exit; }
  echo "package: cargo install cargo-deb took $(($(date +%s) - t0)) s"
fi
t1=$(date +%s)
out=$(scripts/package.sh 2>&1) || { echo "$out" >&2; ko "scripts/package.sh"; finish; exit; }
built=$(echo "$out" | grep '\.deb$' | tail -1)
echo "package: built $built in $(($(date +%s) - t1)) s (release build + cargo deb)"
version=$(dpkg-deb -f "$built" Version)
check "the .deb is target/debian/zagent_${version}_amd64.deb" \
  test "$built" -ef "target/debian/zagent_${version}_amd64.deb"
# Both versions in a directory of our own (cargo-deb may tidy target/debian).
work=$(mktemp -d /tmp/pkg-test.XXXXXX)
deb=$work/$(basename "$built")
cp "$built" "$deb"
cargo deb --no-build --strip --deb-version "${version}+next1" -o "$work/next.deb" >/dev/null 2>&1
next=$work/next.deb
check "version N+1 built" test "$(dpkg-deb -f "$next" Version 2>/dev/null)" = "${version}+next1"

# --- lintian -------------------------------------------------------------------------------
lint=$(lintian --fail-on error --suppress-tags-from-file /dev/null "$deb" 2>&1)
lint_rc=$?
echo "$lint" | sed 's/^/package: lintian: /'
check "lintian: no errors" test "$lint_rc" -eq 0 -a -z "$(echo "$lint" | grep '^E:')"

# --- install -------------------------------------------------------------------------------
if dpkg -i "$deb"; then ok "dpkg -i"; else ko "dpkg -i"; finish; exit; fi
check "zabbix user and group exist" sh -c 'getent passwd zabbix >/dev/null && getent group zabbix >/dev/null'
check "/etc/zagent/zagent.conf is a conffile" \
  sh -c "dpkg-query -W -f='\${Conffiles}' zagent | grep -q '^ /etc/zagent/zagent.conf '"
size=$(stat -c %s /usr/sbin/zagent)
echo "package: /usr/sbin/zagent installed size: $size bytes ($((size / 1024)) KiB); package Installed-Size: $(dpkg-query -W -f='${Installed-Size}' zagent) KiB"
check "/usr/sbin/zagent is stripped (no .symtab)" sh -c 'readelf -S /usr/sbin/zagent >/tmp/pkgtest-sections && ! grep -q "\.symtab" /tmp/pkgtest-sections'
check "zagent check-config on the installed conffile" zagent check-config
check "templates and docs installed" sh -c 'test -d /usr/share/zagent/templates -o -z "$(ls templates/*.yaml 2>/dev/null)" && test -f /usr/share/doc/zagent/README.md && test -f /usr/share/doc/zagent/examples/process-attribution.conf'
for t in templates/*.yaml; do
  [[ -e $t ]] && check "template $(basename "$t") installed" cmp -s "$t" "/usr/share/zagent/templates/$(basename "$t")"
done

# --- the unit, as written ------------------------------------------------------------------
unit=$(dpkg -L zagent | grep '/zagent\.service$' | head -1)
check "unit installed ($unit)" test -f "$unit"
unit_val() { sed -n "s/^$1=//p" "$unit" | tail -1; }
user=$(unit_val User)
group=$(unit_val Group)
exec_start=$(unit_val ExecStart)
exec_pre=$(unit_val ExecStartPre)
rundir=$(unit_val RuntimeDirectory)
echo "package: unit: User=$user Group=$group ExecStartPre=$exec_pre ExecStart=$exec_start"
check "the unit runs as zabbix, not root" test "$user" = zabbix
port=$(free_port)
cat >/etc/zagent/zagent.d/pkgtest.conf <<CONF
ListenPort=$port
ListenIP=127.0.0.1
UserParameter=pkgtest.up,echo 41
CONF
# What systemd does for RuntimeDirectory= before starting the service.
install -d -o "$user" -g "$group" -m 0755 "/run/$rundir"
as_user=(setpriv --reuid="$user" --regid="$group" --init-groups --)
read -ra pre <<<"$exec_pre"
check "ExecStartPre as $user" "${as_user[@]}" "${pre[@]}"
read -ra cmd <<<"$exec_start"
# A simple command in the background: $! is the agent itself (setpriv execs it).
"${as_user[@]}" "${cmd[@]}" 2>"$work/zagent.log" &
agent_pid=$!
check "ExecStart listens on 127.0.0.1:$port" wait_port "$port" 10
check "zabbix_get agent.ping = 1" test "$(zabbix_get -s 127.0.0.1 -p "$port" -k agent.ping)" = 1
listen=$(zabbix_get -s 127.0.0.1 -p "$port" -k 'tcp.status[listen]')
echo "package: tcp.status[listen] = $listen"
check "zabbix_get tcp.status[listen] counts zagent's own socket" test "$listen" -ge 1
check "agent runs as $user (uid $(id -u "$user"))" \
  test "$(awk '/^Uid:/ { print $2 }' "/proc/$agent_pid/status")" = "$(id -u "$user")"
check "PID file written" test "$(cat "/run/$rundir/zagent.pid" 2>/dev/null)" = "$agent_pid"
sed -i 's/echo 41/echo 42/' /etc/zagent/zagent.d/pkgtest.conf
check "zagent runtime userparameter_reload (what ExecReload's SIGUSR1 does)" zagent runtime userparameter_reload
reloaded=
for ((i = 0; i < 50; i++)); do
  reloaded=$(zabbix_get -s 127.0.0.1 -p "$port" -k pkgtest.up 2>/dev/null)
  [[ $reloaded == 42 ]] && break
  sleep 0.1
done
check "user parameter reloaded (42, was 41)" test "$reloaded" = 42
kill "$agent_pid"
stopped=1
for ((i = 0; i < 150; i++)); do
  kill -0 "$agent_pid" 2>/dev/null || { stopped=0; break; }
  sleep 0.1
done
wait "$agent_pid" 2>/dev/null
agent_pid=
check "SIGTERM stops the agent within 15 s" test "$stopped" -eq 0

# --- man pages, completions ------------------------------------------------------------------
pages=$(dpkg -L zagent | grep '/usr/share/man/man[58]/.*\.[58]\.gz$')
check "man pages: zagent.8, zagent.conf.5 and one per subcommand ($(echo "$pages" | wc -l))" \
  test "$(echo "$pages" | wc -l)" -ge 9
for p in $pages; do
  check "man -l $(basename "$p")" sh -c "MANWIDTH=80 man -l '$p' 2>/dev/null | grep -q '^NAME'"
done
comp=/usr/share/bash-completion/completions/zagent
check "bash completion loads and completes 'zagent check-c'" bash -c "
  source $comp || exit 1
  COMP_WORDS=(zagent check-c); COMP_CWORD=1; COMP_LINE='zagent check-c'; COMP_POINT=\${#COMP_LINE}
  \$(complete -p zagent | sed -n 's/.*-F \([^ ]*\).*/\1/p') zagent check-c zagent
  [[ \" \${COMPREPLY[*]} \" == *' check-config '* ]]"
check "zsh and fish completions installed" test -f /usr/share/zsh/vendor-completions/_zagent -a -f /usr/share/fish/vendor_completions.d/zagent.fish

# --- systemd-analyze -----------------------------------------------------------------------
verify=$(systemd-analyze verify "$unit" 2>&1)
echo "$verify" | sed '/^$/d; s/^/package: verify: /'
check "systemd-analyze verify: no complaint" test -z "$verify"
exposure=$(systemd-analyze security --offline=yes "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: //p')
echo "package: systemd-analyze security --offline=yes: exposure $exposure"
check "exposure <= 2.0" awk -v e="${exposure%% *}" 'BEGIN { exit !(e != "" && e <= 2.0) }'

# --- upgrade N -> N+1 keeps a changed conffile ---------------------------------------------
printf '# pkgtest: changed by the operator\nTimeout=7\n' >>/etc/zagent/zagent.conf
check "dpkg -i N+1 (upgrade)" dpkg -i "$next" </dev/null
check "version is now ${version}+next1" test "$(dpkg-query -W -f='${Version}' zagent)" = "${version}+next1"
check "the changed conffile stays" grep -qxF -e '# pkgtest: changed by the operator' /etc/zagent/zagent.conf
check "check-config still accepts it" zagent check-config

# --- remove, purge -------------------------------------------------------------------------
check "dpkg -r" dpkg -r zagent
check "no packaged zagent process left" test -z "$(packaged_procs)"
check "binary gone, conffile kept after remove" sh -c '! test -e /usr/sbin/zagent && test -f /etc/zagent/zagent.conf'
check "status is config-files" test "$(dpkg-query -W -f='${Status}' zagent)" = "deinstall ok config-files"
check "dpkg -P" dpkg -P zagent
check "/etc/zagent gone after purge (conffile and local zagent.d files)" test ! -e /etc/zagent
check "zabbix user kept after purge" getent passwd zabbix
check "package unknown after purge" sh -c '! dpkg-query -W zagent >/dev/null 2>&1'

finish
