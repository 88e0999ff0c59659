#!/bin/bash
# zagent connection-state benchmark: one command, side by side in one run.
#
#   usage (root):  bench/run.sh [SCALE ...]        default scales: 1000 10000 100000
#   env:           RUNS=N     paired runs per method (default 10)
#                  N_AGENT=N  requests per agent_cost.py measurement (default 30)
#                  OUT=DIR    results directory (default bench/results)
#                  NO_BUILD=1 use the existing target/release/zagent
#
# For each scale it creates a private network namespace (zt-bench-<pid>-<scale>),
# holds SCALE sockets in it with sockgen (the default mix: ESTABLISHED, TIME_WAIT,
# CLOSE_WAIT/FIN_WAIT2, SYN_RECV, LISTEN; 25% IPv6), starts inside it
#   zabbix_agentd  127.0.0.1:11050  (+ the seed script and an ss one-liner as UserParameters)
#   zabbix_agent2  127.0.0.1:11051
#   zagent run     127.0.0.1:11052  (release build)
# and measures, per query:
#   - whole command wall/CPU with paired.py, each method alternating run by run with
#     the yardstick `tcpstate nl time_wait` (zabbix_get end to end, the seed script,
#     ss, and tcpstate: the raw netlink counts, i.e. the floor),
#   - each agent's own CPU per query and RSS with agent_cost.py (the agent's
#     schedstat, idle subtracted; RST close so it adds no TIME_WAIT).
# Between methods the TIME_WAIT sockets of the agents' ports are destroyed (ss -K)
# so the population stays at SCALE. Everything started is stopped and the namespace
# deleted on exit, also on failure. Prints markdown tables and the target ratios;
# writes them to $OUT/summary-SCALE.md.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-10}
N_AGENT=${N_AGENT:-30}
OUT=${OUT:-$HERE/results}
SCALES=("$@")
[ ${#SCALES[@]} -gt 0 ] || SCALES=(1000 10000 100000)
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
for t in cc zabbix_get zabbix_agentd zabbix_agent2 netstat ss python3 cargo; do
  command -v $t >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
BIN=$OUT/bin
cc -O2 -Wall -o "$BIN/sockgen" "$HERE/sockgen.c"
cc -O2 -Wall -o "$BIN/tcpstate" "$HERE/tcpstate.c"
if [ -z "${NO_BUILD:-}" ]; then (cd "$ROOT" && cargo build --release --quiet); fi
ZAGENT=$ROOT/target/release/zagent
[ -x "$ZAGENT" ] || { echo "no $ZAGENT (cargo build --release)" >&2; exit 1; }

NS=
GEN=
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}" $GEN; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}" $GEN; do
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
  PIDS=(); GEN=; NS=
}
trap cleanup EXIT INT TERM

in_ns() { ip netns exec "$NS" "$@"; }

start_agents() {
  local d=$1
  mkdir -p "$d"
  cat > "$d/zabbix_agentd.conf" <<EOF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11050
Hostname=zbxbench
AllowRoot=1
StartAgents=3
Timeout=30
PidFile=$d/zabbix_agentd.pid
LogFile=$d/zabbix_agentd.log
LogFileSize=0
UserParameter=tcp.status[*],TMPDIR=$d $HERE/tcp_conn_status.sh \$1
UserParameter=ss.tcp.tw,ss -Htan state time-wait | wc -l
EOF
  cat > "$d/zabbix_agent2.conf" <<EOF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11051
Hostname=zbxbench
Timeout=30
PidFile=$d/zabbix_agent2.pid
LogType=file
LogFile=$d/zabbix_agent2.log
LogFileSize=0
ControlSocket=$d/agent2.ctl.sock
PluginSocket=$d/agent2.plugin.sock
EOF
  cat > "$d/zagent.conf" <<EOF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=11052
Hostname=zbxbench
Timeout=30
LogFile=$d/zagent.log
EOF
  # `ip netns exec` execs the program, so $! is the agent's own PID (not a subshell:
  # never background the in_ns function). SIGTERM to zabbix_agentd's main process
  # stops its forked children too.
  ip netns exec "$NS" /usr/sbin/zabbix_agentd -f -c "$d/zabbix_agentd.conf" >"$d/agentd.out" 2>&1 & AGENTD=$!; PIDS+=($AGENTD)
  ip netns exec "$NS" /usr/sbin/zabbix_agent2 -c "$d/zabbix_agent2.conf" >"$d/agent2.out" 2>&1 & AGENT2=$!; PIDS+=($AGENT2)
  ip netns exec "$NS" "$ZAGENT" run -c "$d/zagent.conf" >"$d/zagent.out" 2>&1 & ZPID=$!; PIDS+=($ZPID)
  for i in $(seq 100); do
    if in_ns zabbix_get -s 127.0.0.1 -p 11050 -k agent.ping >/dev/null 2>&1 &&
       in_ns zabbix_get -s 127.0.0.1 -p 11051 -k agent.ping >/dev/null 2>&1 &&
       in_ns zabbix_get -s 127.0.0.1 -p 11052 -k agent.ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "agents did not answer; see $d" >&2; exit 1
}

purge() {
  in_ns "$HERE/purge.sh"
  sleep 0.3   # sockgen tops its own TIME_WAIT population back up
}

one_scale() {
  local S=$1 R=$OUT/scale-$1
  rm -rf "$R"; mkdir -p "$R"
  NS=zt-bench-$$-$S
  "$HERE/setup_netns.sh" "$NS" >/dev/null
  ip netns exec "$NS" "$BIN/sockgen" -T "$S" > "$R/sockgen.log" 2>&1 & GEN=$!   # sockgen's own PID
  for i in $(seq 120); do grep -q READY "$R/sockgen.log" && break; sleep 0.5; done
  grep -q READY "$R/sockgen.log" || { cat "$R/sockgen.log"; exit 1; }
  start_agents "$R/agents"
  export TMPDIR=$R
  local ZG="zabbix_get -s 127.0.0.1"
  local -a NAMES=() CMDS=()
  add() { NAMES+=("$1"); CMDS+=("$2"); }
  add floor_nl_time_wait           "$BIN/tcpstate nl time_wait"
  add floor_nl1_time_wait          "$BIN/tcpstate nl1 time_wait"
  add floor_nl_established         "$BIN/tcpstate nl established"
  add floor_nl_all                 "$BIN/tcpstate nl all"
  add floor_nl1_all                "$BIN/tcpstate nl1 all"
  add zagent_ping                  "$ZG -p 11052 -k agent.ping"
  add zagent_tcp_status_timewait   "$ZG -p 11052 -k 'tcp.status[timewait]'"
  add zagent_count_time_wait       "$ZG -p 11052 -k 'net.tcp.socket.count[,,,,time_wait]'"
  add zagent_count_established     "$ZG -p 11052 -k 'net.tcp.socket.count[,,,,established]'"
  add zagent_count_port_filter     "$ZG -p 11052 -k 'net.tcp.socket.count[,,,2000]'"
  add zagent_states                "$ZG -p 11052 -k net.tcp.states"
  # TCP health (issue 9): every listener, ephemeral pressure, grouped counts, the template's
  # whole poll (net.tcp.health = one dump) and tcp_info quality (its own request)
  add zagent_listen_stats          "$ZG -p 11052 -k net.tcp.listen.stats"
  add zagent_ephemeral             "$ZG -p 11052 -k net.tcp.ephemeral"
  add zagent_group_remote          "$ZG -p 11052 -k 'net.tcp.group[remote]'"
  add zagent_health                "$ZG -p 11052 -k net.tcp.health"
  add zagent_quality               "$ZG -p 11052 -k 'net.tcp.quality[remote]'"
  # the same template with zabbix_agentd: 11 per-state items + one item per listener
  # (summarize.py: 11 states + LISTENERS x one port-filtered count; one table read each)
  add agentd_template_11_states    "bash $HERE/agentd_states.sh 11050"
  add agentd_count_port_filter     "$ZG -p 11050 -k 'net.tcp.socket.count[,2000]'"
  add seed_script                  "bash $HERE/tcp_conn_status.sh timewait"
  add seed_via_agentd_UP           "$ZG -p 11050 -k 'tcp.status[timewait]'"
  add ss_via_agentd_UP             "$ZG -p 11050 -k ss.tcp.tw"
  add agentd_ping                  "$ZG -p 11050 -k agent.ping"
  add agentd_count_time_wait       "$ZG -p 11050 -k 'net.tcp.socket.count[,,,,time_wait]'"
  add agent2_count_time_wait       "$ZG -p 11051 -k 'net.tcp.socket.count[,,,,time_wait]'"
  local -a SPECS=()
  for i in "${!NAMES[@]}"; do SPECS+=("${NAMES[$i]}=${CMDS[$i]}"); done
  purge
  in_ns python3 "$HERE/paired.py" --runs "$RUNS" --yardstick "$BIN/tcpstate nl time_wait" \
    --before "$HERE/purge.sh" --out "$R/paired.json" "${SPECS[@]}" 2> "$R/paired.log"
  : > "$R/agent_cost.txt"
  for spec in "zagent_ping $ZPID 11052 agent.ping" \
              "zagent_tcp_status_timewait $ZPID 11052 tcp.status[timewait]" \
              "zagent_count_time_wait $ZPID 11052 net.tcp.socket.count[,,,,time_wait]" \
              "zagent_states $ZPID 11052 net.tcp.states" \
              "zagent_listen_stats $ZPID 11052 net.tcp.listen.stats" \
              "zagent_ephemeral $ZPID 11052 net.tcp.ephemeral" \
              "zagent_group_remote $ZPID 11052 net.tcp.group[remote]" \
              "zagent_health $ZPID 11052 net.tcp.health" \
              "zagent_quality $ZPID 11052 net.tcp.quality[remote]" \
              "agentd_count_time_wait $AGENTD 11050 net.tcp.socket.count[,,,,time_wait]" \
              "seed_via_agentd_UP $AGENTD 11050 tcp.status[timewait]" \
              "agent2_count_time_wait $AGENT2 11051 net.tcp.socket.count[,,,,time_wait]"; do
    set -- $spec
    local n=$N_AGENT
    case $1 in seed_*|agent*_count_*) [ "$S" -ge 100000 ] && n=10 ;; esac
    purge
    echo "$1 $(in_ns python3 "$HERE/agent_cost.py" --pid "$2" --port "$3" --key "$4" -n $n)" >> "$R/agent_cost.txt"
  done
  grep -E '^(SYN|EST|TIME|CLOSE|FIN|LISTEN|total|[a-z_]+ +[0-9]+$)' "$R/sockgen.log" > "$R/population.txt" || true
  in_ns ss -s > "$R/ss-s.txt"
  in_ns ss -Hltn | awk '{print $4}' | sort -u | wc -l > "$R/listeners.txt"
  cleanup
  python3 "$HERE/summarize.py" "$R" "$S" | tee "$OUT/summary-$S.md"
}

for S in "${SCALES[@]}"; do one_scale "$S"; done
