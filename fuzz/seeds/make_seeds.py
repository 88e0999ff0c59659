#!/usr/bin/env python3
"""Regenerates fuzz/seeds/<target>/ (committed; CI does not run this).

Sources, all inside the repository: the wire vectors captured from the real 6.0.14
binaries (crates/zbx-proto/tests/vectors), the test fixtures (tests/fixtures), messages
built as the unit tests build them (DNS, LDAP, HTTP, telnet, NTP), and one sock_diag dump
of this machine's listening TCP sockets (real kernel bytes; run as any user on Linux).
Usage, from the repository root: python3 fuzz/seeds/make_seeds.py
"""
import glob, os, socket, struct, shutil, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
VEC = os.path.join(ROOT, "crates", "zbx-proto", "tests", "vectors")
FIX = os.path.join(ROOT, "tests", "fixtures")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def hexfile(path):
    with open(path) as f:
        return bytes.fromhex("".join(f.read().split()))


def payload(frame):
    """Payload of a ZBXD frame (uncompressed, small header), or None."""
    if len(frame) < 13 or frame[:4] != b"ZBXD" or frame[4] & 0x06:
        return None
    (n,) = struct.unpack_from("<I", frame, 5)
    return frame[13:13 + n]


# frame_decode: one of each kind of exchange.
for pat in ["passive-edge/agentd-*.request.hex", "passive/agentd-*.hex", "active/agentd-*.hex",
            "sender/real-server-*.hex", "probes/*compressed*.hex"]:
    for p in sorted(glob.glob(os.path.join(VEC, pat)))[:8]:
        b = hexfile(p)
        if b:
            put("frame_decode", os.path.basename(p)[:-4], b)

# key_parse and passive_json: the payloads of passive requests.
for p in sorted(glob.glob(os.path.join(VEC, "passive*", "*.request.hex"))):
    pl = payload(hexfile(p))
    if not pl:
        continue
    name = os.path.basename(p)[:-len(".request.hex")]
    if pl.lstrip().startswith(b"{"):
        put("passive_json", name, pl)
    else:
        put("key_parse", name, pl)
for name, text in [("quoted", 'vector.echo["a,b",c d]'), ("array", 'k[[ a , "b" ] ,c]'),
                   ("socket_count", "net.tcp.socket.count[,10050,,,listen]")]:
    put("key_parse", name, text.encode())
for name, text in [
    ("timeout_string", '{"request":"passive checks","data":[{"key":"agent.ping","timeout":"3s"}]}'),
    ("timeout_number", '{"request":"passive checks","data":[{"key":"system.uname","timeout":600}]}'),
    ("no_timeout", '{"request":"passive checks","data":[{"key":"agent.ping"}]}'),
    ("unknown_request", '{"request":"active checks","host":"h"}'),
]:
    put("passive_json", name, text.encode())

# active_checks: the server's JSON answers.
for p in sorted(glob.glob(os.path.join(VEC, "*", "*.response.json"))):
    with open(p, "rb") as f:
        data = f.read()
    if b"response" in data:
        put("active_checks", os.path.basename(p)[:-5], data)

# config_lines: the configuration fixtures.
for p in sorted(glob.glob(os.path.join(FIX, "config", "**", "*.conf"), recursive=True)):
    with open(p, "rb") as f:
        put("config_lines", os.path.relpath(p, FIX).replace("/", "_"), f.read())

# proc_parsers: first byte = CPU count, then a /proc text.
for p in sorted(glob.glob(os.path.join(FIX, "proc", "**"), recursive=True)
                + glob.glob(os.path.join(FIX, "net", "*"))):
    if os.path.isfile(p):
        with open(p, "rb") as f:
            put("proc_parsers", os.path.relpath(p, FIX).replace("/", "_"), b"\x04" + f.read())


# dns_reply: answers built as net_dns.rs's tests build them.
def name(n):
    out = b""
    for label in filter(None, n.split(".")):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, t, data):
    return owner + struct.pack(">HHIH", t, 1, 300, len(data)) + data


def message(records, rcode=0, zone="example.test", qtype=255):
    q = struct.pack(">HBBHHHH", 7, 0x81, 0x80 | rcode, 1, len(records), 0, 0)
    q += name(zone) + struct.pack(">HH", qtype, 1)
    return q + b"".join(records)


o = b"\xc0\x0c"
soa = name("ns1.example.test") + name("admin.example.test") + struct.pack(">5I", 2024010101, 7200, 3600, 1209600, 300)
put("dns_reply", "all_types", message([
    rr(o, 1, bytes([192, 0, 2, 1])), rr(o, 28, bytes(15) + b"\x01"), rr(o, 6, soa),
    rr(o, 33, b"\x00\x01\x00\x02\x01\x85" + name("ldap.example.test")),
    rr(o, 15, b"\x00\x0a" + name("mx.example.test")), rr(o, 16, b"\x05hello\x05world"),
    rr(o, 13, b"\x03CPU\x02OS"), rr(o, 10, b"abc"), rr(o, 11, bytes([192, 0, 2, 9, 6, 0x60])),
    rr(o, 14, name("rmail.example.test") + name("email.example.test")),
    rr(o, 2, name("ns1.example.test")), rr(o, 5, b"\x03www\xc0\x0c"), rr(o, 12, name("host.example.test")),
]))
put("dns_reply", "nxdomain", message([], rcode=3))
put("dns_reply", "a_record", message([rr(o, 1, bytes([127, 0, 0, 1]))], zone="localhost", qtype=1))
put("dns_reply", "zone_text", b"zabbix.com")

# http_response: first byte = split point / encoding choice, then the response.
for i, r in enumerate([
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.0 204 No Content\n\n",
]):
    put("http_response", "head_%d" % i, bytes([i * 60]) + r)
put("http_response", "chunked", b"\x80" + b"6\r\nhello \r\n5;ext=1\r\nworld\r\n0\r\nX-T: 1\r\n\r\n")
put("http_response", "chunked_lf", b"\x20" + b"3\nabc\nA \n0123456789\n0\n\n")
gz = zlib.compressobj(wbits=31)
put("http_response", "gzip_body", b"\x00" + gz.compress(b"packed body\n") + gz.flush())
put("http_response", "deflate_body", b"\x01" + zlib.compress(b"deflated body\n"))


# service_replies: LDAP, greetings, telnet, NTP.
def ber(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    lb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(lb)]) + lb + content


attr = ber(0x04, b"namingContexts") + ber(0x31, ber(0x04, b"dc=example"))
entry = ber(0x04, b"") + ber(0x30, ber(0x30, attr))
put("service_replies", "ldap_entry", ber(0x30, ber(0x02, b"\x01") + ber(0x64, entry)))
put("service_replies", "ldap_done", ber(0x30, ber(0x02, b"\x01") + ber(0x65, b"\x0a\x01\x00\x04\x00\x04\x00")))
put("service_replies", "ldap_long_form", ber(0x30, ber(0x04, b"x" * 300)))
put("service_replies", "ssh", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
put("service_replies", "smtp", b"220 mail.example.test ESMTP\r\n")
put("service_replies", "imap", b"* OK IMAP4rev1 ready\r\n")
put("service_replies", "telnet", b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x03\xff\xfb\x01\xff\xff\r\nlogin: ")
ntp_req = bytes([0x1b]) + bytes(39) + struct.pack(">II", 3900000000, 0x80000000)
ntp_resp = bytes([0x1c, 2, 0, 0]) + bytes(20) + ntp_req[40:48] + bytes(8) + struct.pack(">II", 3900000001, 1)
put("service_replies", "ntp", ntp_req + ntp_resp)

# sock_diag_reply: one real dump of this machine's listening TCP sockets (IPv4).
try:
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)  # NETLINK_SOCK_DIAG
    req = struct.pack("=BBBxI", socket.AF_INET, socket.IPPROTO_TCP, 0, 1 << 10) + bytes(48)
    s.send(struct.pack("=IHHII", 16 + len(req), 20, 0x301, 1, 0) + req)
    batches = []
    while len(batches) < 4:
        b = s.recv(65536)
        batches.append(b)
        if struct.unpack_from("=H", b, 4)[0] == 3:
            break
    dump = b"".join(batches)
    put("sock_diag_reply", "listen_dump", dump[:8192])
finally:
    pass
