#!/usr/bin/env python3
"""Paired per-query timing: each method alternates run by run with a yardstick command,
so that the drift of a shared, noisy machine cancels out in the ratios.

usage: paired.py --runs N --yardstick CMD --out FILE.json NAME=CMD [NAME=CMD ...]

Each CMD is split like a shell would (shlex) and exec'd directly (no shell) unless it
contains a pipe or redirection, in which case it runs under /bin/sh -c. For every run
the wall time (perf_counter around spawn..wait4) and the CPU (user+sys of the child and
its reaped descendants, from wait4's rusage) are recorded. Output per method: median
wall/CPU, the yardstick's medians over its paired runs, and the median of the per-pair
ratios (method / yardstick).
"""
import argparse, json, os, shlex, statistics, sys, time

DEVNULL = os.open(os.devnull, os.O_RDWR)


def argv_of(cmd):
    if any(c in cmd for c in "|<>;&$"):
        return ["/bin/sh", "-c", cmd]
    return shlex.split(cmd)


def run_once(argv):
    fa = [(os.POSIX_SPAWN_DUP2, DEVNULL, 0), (os.POSIX_SPAWN_DUP2, DEVNULL, 1), (os.POSIX_SPAWN_DUP2, DEVNULL, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {argv}")
    return wall * 1e3, (ru.ru_utime + ru.ru_stime) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--yardstick", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--before", default="", help="command run (untimed) before each timed method run")
    ap.add_argument("methods", nargs="+")
    a = ap.parse_args()
    y = argv_of(a.yardstick)
    before = argv_of(a.before) if a.before else None
    res = {}
    for spec in a.methods:
        name, cmd = spec.split("=", 1)
        m = argv_of(cmd)
        for _ in range(a.warmup):
            run_once(m)
            run_once(y)
        mw, mc, yw, yc, rw, rc = [], [], [], [], [], []
        for i in range(a.runs):
            order = (m, y) if i % 2 == 0 else (y, m)
            out = {}
            for argv in order:
                if before and argv is m:
                    run_once(before)
                out[id(argv)] = run_once(argv)
            (w1, c1), (w2, c2) = out[id(m)], out[id(y)]
            mw.append(w1); mc.append(c1); yw.append(w2); yc.append(c2)
            rw.append(w1 / w2 if w2 else 0.0)
            rc.append(c1 / c2 if c2 else 0.0)
        res[name] = dict(cmd=cmd, runs=a.runs,
                         wall_ms=statistics.median(mw), cpu_ms=statistics.median(mc),
                         yard_wall_ms=statistics.median(yw), yard_cpu_ms=statistics.median(yc),
                         ratio_wall=statistics.median(rw), ratio_cpu=statistics.median(rc))
        print(f"{name}: wall {res[name]['wall_ms']:.2f} ms (x{res[name]['ratio_wall']:.2f} yardstick), "
              f"cpu {res[name]['cpu_ms']:.2f} ms", file=sys.stderr)
    json.dump(dict(yardstick=a.yardstick, methods=res), open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
