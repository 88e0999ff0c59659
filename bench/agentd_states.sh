#!/bin/bash
# The official agent's way to poll all TCP states: one net.tcp.socket.count item per
# state (11 zabbix_get calls, each a full read of the socket table by zabbix_agentd).
#   usage: agentd_states.sh PORT
set -eu
for st in established syn_sent syn_recv fin_wait1 fin_wait2 time_wait close close_wait last_ack listen closing; do
  zabbix_get -s 127.0.0.1 -p "$1" -k "net.tcp.socket.count[,,,,$st]" >/dev/null
done
