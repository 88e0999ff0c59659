#!/usr/bin/env bash
# Passive agent.ping throughput and memory, side by side in one run:
# zagent vs the real zabbix_agentd and zabbix_agent2, one TCP connection per request
# (as a Zabbix server polls), at 1, 4 and 16 concurrent clients, in a private network
# namespace on loopback. Needs root, gcc, zabbix-agent, zabbix-agent2.
#
#   bench/passive.sh            # 5 s per run
#   SECS=10 bench/passive.sh
#
# Prints a markdown table (requests/s, p50/p99 latency) and the agents' RSS idle and
# after the load. Every run is bounded by SECS; everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
NS=zbench-passive-$$
WORK=$(mktemp -d /tmp/zagent-bench-passive.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --locked -q
cc -O2 -Wall -pthread -o "$WORK/zbxload" bench/zbxload.c

ip netns add "$NS"
N="ip netns exec $NS"
$N ip link set lo up
$N sysctl -qw net.ipv4.ip_local_port_range="10000 65535" net.ipv4.tcp_tw_reuse=0 \
  net.ipv4.tcp_max_tw_buckets=1000000 net.core.somaxconn=65535

cat > "$WORK/zagent.conf" <<CONF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11060
Hostname=bench
DebugLevel=2
CONF
cat > "$WORK/zabbix_agentd.conf" <<CONF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11050
Hostname=bench
AllowRoot=1
StartAgents=3
PidFile=$WORK/agentd.pid
LogFile=$WORK/agentd.log
LogFileSize=0
CONF
cat > "$WORK/zabbix_agent2.conf" <<CONF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11051
Hostname=bench
PidFile=$WORK/agent2.pid
LogType=file
LogFile=$WORK/agent2.log
LogFileSize=0
ControlSocket=$WORK/agent2.ctl.sock
PluginSocket=$WORK/agent2.plugin.sock
CONF

$N target/release/zagent run -c "$WORK/zagent.conf" 2>"$WORK/zagent.log" & PIDS+=($!); ZPID=$!
$N /usr/sbin/zabbix_agentd -f -c "$WORK/zabbix_agentd.conf" >/dev/null 2>&1 & PIDS+=($!); APID=$!
$N /usr/sbin/zabbix_agent2 -c "$WORK/zabbix_agent2.conf" >/dev/null 2>&1 & PIDS+=($!); A2PID=$!

for port in 11060 11050 11051; do
  for _ in $(seq 100); do
    $N zabbix_get -s 127.0.0.1 -p $port -k agent.ping >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# RSS (kB) summed over a process and its children (zabbix_agentd forks listeners).
rss() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    total=$((total + $(awk '/^VmRSS:/{print $2}' /proc/$p/status 2>/dev/null || echo 0)))
  done
  echo $total
}
nproc_of() { echo $((1 + $(pgrep -P "$1" 2>/dev/null | wc -l))); }
# CPU ticks (utime+stime) of a process and its children, all threads.
ticks() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    total=$((total + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0)))
  done
  echo $total
}
HZ=$(getconf CLK_TCK)

declare -A IDLE
IDLE[zagent]=$(rss $ZPID); IDLE[agentd]=$(rss $APID); IDLE[agent2]=$(rss $A2PID)

declare -A RPS P50 P99 CPU
for c in 1 4 16; do
  for a in zagent agentd agent2; do
    case $a in zagent) port=11060;; agentd) port=11050;; agent2) port=11051;; esac
    case $a in zagent) pid=$ZPID;; agentd) pid=$APID;; agent2) pid=$A2PID;; esac
    t0=$(ticks $pid)
    line=$($N "$WORK/zbxload" 127.0.0.1 $port agent.ping "$SECS" $c)
    t1=$(ticks $pid)
    RPS[$a,$c]=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
    P50[$a,$c]=$(sed -E 's/.*p50=([0-9]+).*/\1/' <<<"$line")
    P99[$a,$c]=$(sed -E 's/.*p99=([0-9]+).*/\1/' <<<"$line")
    err=$(sed -E 's/.*err=([0-9]+).*/\1/' <<<"$line")
    ok=$(sed -E 's/.*ok=([0-9]+).*/\1/' <<<"$line")
    CPU[$a,$c]=$(awk "BEGIN{printf \"%.1f\", ($t1-$t0)*1e6/$HZ/($ok>0?$ok:1)}")
    [[ $err == 0 ]] || echo "warning: $a conc $c: $err errors ($line)" >&2
  done
done

echo "## agent.ping throughput, ${SECS} s per run, one connection per request ($(date -u +%F), $(nproc) cores)"
echo
echo "| agent | req/s conc 1 | conc 4 | conc 16 | p50 / p99 µs at conc 1 | agent CPU µs/request (conc 1 / 4 / 16) |"
echo "|---|---:|---:|---:|---:|---:|"
for a in zagent agentd agent2; do
  echo "| $a | ${RPS[$a,1]} | ${RPS[$a,4]} | ${RPS[$a,16]} | ${P50[$a,1]} / ${P99[$a,1]} | ${CPU[$a,1]} / ${CPU[$a,4]} / ${CPU[$a,16]} |"
done
echo
echo "| ratio zagent / zabbix_agentd | $(awk "BEGIN{printf \"%.2fx\", ${RPS[zagent,1]}/${RPS[agentd,1]}}") | $(awk "BEGIN{printf \"%.2fx\", ${RPS[zagent,4]}/${RPS[agentd,4]}}") | $(awk "BEGIN{printf \"%.2fx\", ${RPS[zagent,16]}/${RPS[agentd,16]}}") | | CPU $(awk "BEGIN{printf \"%.2fx\", ${CPU[zagent,16]}/${CPU[agentd,16]}}") at conc 16 |"
echo
echo "| agent | processes | RSS idle (MB) | RSS after load (MB) |"
echo "|---|---:|---:|---:|"
for a in zagent agentd agent2; do
  case $a in zagent) pid=$ZPID;; agentd) pid=$APID;; agent2) pid=$A2PID;; esac
  echo "| $a | $(nproc_of $pid) | $(awk "BEGIN{printf \"%.1f\", ${IDLE[$a]}/1024}") | $(awk "BEGIN{printf \"%.1f\", $(rss $pid)/1024}") |"
done
