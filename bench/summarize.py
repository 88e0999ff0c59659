#!/usr/bin/env python3
"""Tables and target ratios for one scale of bench/run.sh.

usage: summarize.py RESULTS_DIR SCALE
Reads RESULTS_DIR/*.json (hyperfine) and RESULTS_DIR/agent_cost.txt (agent_cost.py).
"""
import json, os, re, sys

d, scale = sys.argv[1], int(sys.argv[2])
wall, cpu, rwall, rcpu = {}, {}, {}, {}
paired = json.load(open(os.path.join(d, "paired.json")))["methods"]
for n, r in paired.items():
    wall[n], cpu[n], rwall[n], rcpu[n] = r["wall_ms"], r["cpu_ms"], r["ratio_wall"], r["ratio_cpu"]
agent = {}
if os.path.exists(os.path.join(d, "agent_cost.txt")):
    for line in open(os.path.join(d, "agent_cost.txt")):
        m = re.search(r"^(\S+) .*reply='([^']*)'.*rtt_ms median=(\S+).*agent_cpu_ms_per_query=(\S+).*agent_peak_rss_mb_max=(\S+)", line)
        if m:
            agent[m.group(1)] = dict(reply=m.group(2), rtt=float(m.group(3)), cpu=float(m.group(4)), rss=float(m.group(5)))

print(f"\n### {scale} sockets\n")
pop = os.path.join(d, "population.txt")
if os.path.exists(pop):
    print("Population (sockgen; IPv4, IPv6, total): " + "; ".join(l.strip() for l in open(pop) if l.strip()) + "\n")
print("| method | wall ms | CPU ms | wall / yardstick (paired) | agent CPU ms/query | agent round trip ms | agent peak RSS MB | answer |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for n in wall:
    a = agent.get(n, {})
    fmt = lambda k: f"{a[k]:.2f}" if k in a else ""
    print(f"| {n} | {wall[n]:.2f} | {cpu[n]:.2f} | {rwall[n]:.2f} | {fmt('cpu')} | {fmt('rtt')} | {fmt('rss')} | {a.get('reply', '')[:24]} |")
print("\n(wall, CPU: medians per query of the whole command; yardstick = `tcpstate nl time_wait`, "
      "run alternately with each method; agent columns from agent_cost.py)")


def pr(a, b):
    """paired ratio a/b via the common yardstick"""
    if a in rwall and b in rwall and rwall[b]:
        return rwall[a], rwall[b]
    return None, None


YARD = "floor_nl_time_wait"


def ratio(label, num, den, target=None, better="<="):
    if den == "yardstick":
        den = 1.0  # paired ratios are already in units of the yardstick
    if num is None or den is None or den == 0:
        print(f"| {label} | n/a | |")
        return
    r = num / den
    ok = ""
    if target is not None:
        ok = "PASS" if (r <= target if better == "<=" else r >= target) else "FAIL"
    print(f"| {label} | {r:.2f}x | {'' if target is None else better + ' ' + str(target) + 'x ' + ok} |")


print("\n| ratio | value | target |")
print("|---|---:|---|")
g = lambda n: rwall.get(n)  # paired: each method in units of the yardstick
if scale >= 100000:
    ratio("zabbix_get tcp.status[timewait] / raw netlink one state (wall)", g("zagent_tcp_status_timewait"), "yardstick", 1.3)
    ratio("zabbix_get net.tcp.socket.count[,,,,time_wait] / raw netlink one state (wall)", g("zagent_count_time_wait"), "yardstick", 1.3)
    zc = agent.get("zagent_count_time_wait", {}).get("cpu")
    ratio("zagent CPU per one-state query / raw netlink one-state CPU", zc, cpu.get("floor_nl_time_wait"), 1.3)
    rss = max((v["rss"] for k, v in agent.items() if k.startswith("zagent")), default=None)
    if rss is not None:
        print(f"| zagent peak RSS while answering | {rss:.1f} MB | < 16 MB {'PASS' if rss < 16 else 'FAIL'} |")
if scale <= 1000:
    ratio("zabbix_get tcp.status[timewait] / zabbix_get agent.ping (zagent)", g("zagent_tcp_status_timewait"), g("zagent_ping"), 2.0)
    ratio("zabbix_get tcp.status[timewait] / zabbix_get agent.ping (zabbix_agentd)", g("zagent_tcp_status_timewait"), g("agentd_ping"), 2.0)
ratio("zabbix_get net.tcp.socket.count[,,,,established] / raw netlink established (wall)", g("zagent_count_established"), g("floor_nl_established"), 1.3 if scale >= 100000 else None)
ratio("zabbix_get net.tcp.states / raw netlink all-states dump (wall)", g("zagent_states"), g("floor_nl_all"), 1.0 if scale >= 100000 else None)
ratio("zagent one state / raw legacy one-walk netlink one state (wall)", g("zagent_count_time_wait"), g("floor_nl1_time_wait"))
ratio("zabbix_agentd net.tcp.socket.count / zagent (wall, speed-up)", g("agentd_count_time_wait"), g("zagent_count_time_wait"))
ratio("zabbix_agent2 net.tcp.socket.count / zagent (wall, speed-up)", g("agent2_count_time_wait"), g("zagent_count_time_wait"))
ratio("seed script via agentd UserParameter / zagent tcp.status (wall, speed-up)", g("seed_via_agentd_UP"), g("zagent_tcp_status_timewait"))
ratio("ss via agentd UserParameter / zagent tcp.status (wall, speed-up)", g("ss_via_agentd_UP"), g("zagent_tcp_status_timewait"))
ac = agent.get("agentd_count_time_wait", {}).get("cpu")
zc = agent.get("zagent_count_time_wait", {}).get("cpu")
ratio("zabbix_agentd CPU / zagent CPU per query (speed-up)", ac, zc)

# TCP health (issue 9): one raw all-states dump (legacy one-walk request) is the unit.
nl1 = g("floor_nl1_all")
if scale >= 100000:
    ratio("net.tcp.listen.stats (all listeners) / raw all-states dump (wall)", g("zagent_listen_stats"), nl1, 1.2)
    ratio("net.tcp.ephemeral / raw all-states dump (wall)", g("zagent_ephemeral"), nl1, 1.2)
    ratio("net.tcp.group[remote] / raw all-states dump (wall)", g("zagent_group_remote"), nl1, 1.2)
    ratio("net.tcp.health (template poll, 1 dump) / raw all-states dump (wall)", g("zagent_health"), nl1, 1.5)
    ratio("net.tcp.quality[remote] (tcp_info) / raw all-states dump (wall)", g("zagent_quality"), nl1, 2.5)
else:
    ratio("net.tcp.health / raw all-states dump (wall)", g("zagent_health"), nl1)
    ratio("net.tcp.quality[remote] / raw all-states dump (wall)", g("zagent_quality"), nl1)
# The same ratios in CPU: the agent's own CPU per query (agent_cost.py, schedstat, no
# zabbix_get process in it) over the raw dump command's CPU (wait4 rusage of tcpstate,
# its process start included). CPU barely moves with the machine's load, where the wall
# ratios above swing by +-0.1 on a shared 2-core machine.
raw_cpu = cpu.get("floor_nl1_all")
for name, label, target in (
    ("zagent_states", "net.tcp.states", 1.0),
    ("zagent_listen_stats", "net.tcp.listen.stats (all listeners)", 1.2),
    ("zagent_ephemeral", "net.tcp.ephemeral", 1.2),
    ("zagent_group_remote", "net.tcp.group[remote]", 1.2),
    ("zagent_health", "net.tcp.health (template poll, 1 dump)", 1.5),
    ("zagent_quality", "net.tcp.quality[remote] (tcp_info)", 2.5),
):
    if name in agent:
        ratio(f"{label} / raw all-states dump (CPU)", agent[name]["cpu"], raw_cpu,
              target if scale >= 100000 else None)
lf = os.path.join(d, "listeners.txt")
if os.path.exists(lf) and g("agentd_template_11_states") and g("agentd_count_port_filter"):
    L = int(open(lf).read().strip() or 0)
    poll = g("agentd_template_11_states") + L * g("agentd_count_port_filter")
    print(f"| zabbix_agentd template poll: 11 states + {L} listeners = {11 + L} table reads, est. wall / zagent net.tcp.health (1 dump) | "
          f"{poll / g('zagent_health'):.1f}x | |")
for k in ("zagent_health", "zagent_quality"):
    if k in agent:
        print(f"| {k} peak RSS | {agent[k]['rss']:.1f} MB | < 16 MB {'PASS' if agent[k]['rss'] < 16 else 'FAIL'} |")
