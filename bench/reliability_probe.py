#!/usr/bin/env python3
"""Adversarial probe for issue 12 findings 1-4: runs one `zagent run` per scenario on
127.0.0.1 and reports what an allowed peer can make it hold.

  python3 bench/reliability_probe.py target/debug/zagent [scenario ...]

Scenarios: regexp (vfs.file.regexp[/dev/zero]), fifo (600 vfs.file.cksum of a FIFO whose
writer never writes, then vfs.file.size of a regular file), commas (16 x a 1 MiB key of
commas to a [*] UserParameter), slowloris (2,000 connections that send nothing while
agent.ping is probed). Each prints peak RSS (VmHWM), threads and probe latencies.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


def frame(payload: bytes) -> bytes:
    return b"ZBXD\x01" + struct.pack("<II", len(payload), 0) + payload


def free_port() -> int:
    """A free port in ListenPort's range (1024-32767)."""
    import random
    for _ in range(1000):
        p = random.randint(20000, 32767)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def status(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def ask(port: int, payload: bytes, timeout: float = 10.0):
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(payload)
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        return time.monotonic() - t0, out[13:]
    except OSError as e:
        return time.monotonic() - t0, ("ERR " + type(e).__name__).encode()


class Agent:
    def __init__(self, binary: str, extra: str):
        self.dir = tempfile.TemporaryDirectory(prefix="rel-probe-")
        self.port = free_port()
        conf = os.path.join(self.dir.name, "zagent.conf")
        with open(conf, "w") as f:
            f.write(f"ListenPort={self.port}\nListenIP=127.0.0.1\nServer=127.0.0.1\nAllowRoot=1\n{extra}")
        self.log = open(os.path.join(self.dir.name, "zagent.log"), "w")
        self.proc = subprocess.Popen([binary, "run", "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        self.base_rss = status(self.proc.pid, "VmRSS")

    def report(self, label: str):
        pid = self.proc.pid
        alive = self.proc.poll() is None
        print(f"  {label}: alive={alive} VmRSS={status(pid, 'VmRSS') // 1024} MiB "
              f"VmHWM={status(pid, 'VmHWM') // 1024} MiB (start {self.base_rss // 1024} MiB) "
              f"threads={status(pid, 'Threads')}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def regexp(binary):
    a = Agent(binary, "Timeout=3\n")
    took, out = ask(a.port, frame(b"vfs.file.regexp[/dev/zero,x]"))
    print(f"  answer after {took:.2f} s: {out[:60]!r}")
    a.report("after /dev/zero")
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="rel-sparse-") as f:
        f.truncate(256 << 20)
        f.flush()
        took, out = ask(a.port, frame(f"vfs.file.regmatch[{f.name},x]".encode()))
        print(f"  256 MiB sparse file: {took:.2f} s {out[:60]!r}")
    a.report("after sparse file")
    a.stop()


def fifo(binary):
    d = tempfile.mkdtemp(prefix="rel-fifo-")
    path = os.path.join(d, "fifo")
    os.mkfifo(path)
    a = Agent(binary, "Timeout=3\n")
    rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer open
    wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # a writer that never writes
    res = []
    lock = threading.Lock()

    def one(i):
        p = path if i % 2 == 0 else path.replace("/fifo", "//fifo")
        r = ask(a.port, frame(f"vfs.file.cksum[{p}]".encode()))
        with lock:
            res.append(r)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(600)]
    for t in ts:
        t.start()
    time.sleep(4)
    a.report("600 FIFO checks sent, 4 s later")
    took, out = ask(a.port, frame(b"vfs.file.size[/etc/passwd]"))
    print(f"  vfs.file.size[/etc/passwd] during: {took:.2f} s {out[:60]!r}")
    for t in ts:
        t.join()
    kinds = {}
    for _, out in res:
        k = out[:50]
        kinds[k] = kinds.get(k, 0) + 1
    print(f"  FIFO answers: {kinds}")
    a.report("after")
    took, out = ask(a.port, frame(b"vfs.file.size[/etc/passwd]"))
    print(f"  vfs.file.size[/etc/passwd] after: {took:.2f} s {out[:60]!r}")
    os.close(wfd)
    os.close(rfd)
    a.stop()


def commas(binary):
    a = Agent(binary, "Timeout=10\nUserParameter=rel.up[*],sleep 2; echo $1\n")
    key = b"rel.up[" + b"," * ((1 << 20) - 100) + b"]"
    res = []
    ts = [threading.Thread(target=lambda: res.append(ask(a.port, frame(key), 20)))
          for _ in range(16)]
    for t in ts:
        t.start()
    time.sleep(1)
    a.report("16 comma keys in flight")
    for t in ts:
        t.join()
    print(f"  answers: {sorted(set(o[:60] for _, o in res))}")
    a.report("after")
    a.stop()


def slowloris(binary, n=2000, probes=int(os.environ.get("PROBES", "100"))):
    a = Agent(binary, "Timeout=3\n")
    lat = []
    fails = 0
    for _ in range(10):
        t, out = ask(a.port, frame(b"agent.ping"), 10)
        lat.append(t)
    print(f"  idle agent.ping p50={pct(lat, .5) * 1000:.1f} ms p99={pct(lat, .99) * 1000:.1f} ms")
    socks = []
    for i in range(n):
        try:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", a.port))
            socks.append(s)
            if i % 100 == 99:
                time.sleep(0.02)
        except OSError:
            break
    time.sleep(0.5)
    # Keep them slow: a header announcing 1000 bytes, then one byte now and then, never
    # a whole request.
    for s in socks:
        try:
            s.send(b"ZBXD\x01" + struct.pack("<II", 1000, 0))
        except OSError:
            pass
    stop = threading.Event()

    def fresh():
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", a.port))
        return s

    def drip():
        # Closed ones are replaced at once, with a header: the pressure stays.
        while not stop.is_set():
            for i, s in enumerate(socks):
                try:
                    s.send(b"Z")
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    socks[i] = fresh()
                    try:
                        socks[i].send(b"ZBXD\x01" + struct.pack("<II", 1000, 0))
                    except OSError:
                        pass
            stop.wait(0.5)

    threading.Thread(target=drip, daemon=True).start()
    time.sleep(1)
    lat = []
    for _ in range(probes):
        t, out = ask(a.port, frame(b"agent.ping"), 5)
        if out != b"1":
            fails += 1
        lat.append(t)
        time.sleep(0.05)
    print(f"  {len(socks)} slow connections: agent.ping p50={pct(lat, .5) * 1000:.1f} ms "
          f"p99={pct(lat, .99) * 1000:.1f} ms failed={fails}/{probes}")
    a.report("during")
    stop.set()
    for s in socks:
        s.close()
    a.stop()


def burst(binary, n=256, rounds=5):
    """Bursts of n concurrent maximum-size (1 MiB) requests; RSS a while after."""
    a = Agent(binary, "Timeout=5\n")
    payload = frame(b"agent.version[" + b"a" * ((1 << 20) - 100) + b"]")
    for _ in range(rounds):
        res = []
        ts = [threading.Thread(target=lambda: res.append(ask(a.port, payload, 20)))
              for _ in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print(f"  answers: {sorted(set(o[:50] for _, o in res))}")
    a.report("right after the bursts")
    time.sleep(3)
    a.report("3 s later")
    a.stop()


SCENARIOS = {"regexp": regexp, "fifo": fifo, "commas": commas, "slowloris": slowloris, "burst": burst}

if __name__ == "__main__":
    binary = sys.argv[1]
    for name in sys.argv[2:] or list(SCENARIOS):
        print(f"== {name}")
        SCENARIOS[name](binary)
