#!/usr/bin/env python3
"""bench/fakejoin.py - add worker node objects to a swarm through the real
JOIN exchange of the cluster port (TLS, hello kind JOIN, a JSON join request
with a worker token and a CSR), without running a shoald per node. The nodes
never heartbeat: the leader marks them Down after the heartbeat grace.

Usage: fakejoin.py MANAGER_ADDR TOKEN COUNT
  MANAGER_ADDR  a.b.c.d:port of a manager's cluster port
Prints the new node ids, one per line. Needs the openssl command (one CSR,
reused: the certificates it gets are thrown away).
"""
import json
import socket
import ssl
import struct
import subprocess
import sys


def frame(obj):
    b = json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b


def read_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError("closed by the manager")
        out += b
    return out


def join_one(host, port, token, csr, k):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a benchmark; shoald's joiner pins the CA
    with socket.create_connection((host, port), timeout=20) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(struct.pack(">IB", 1, 2))  # hello: kind JOIN, empty body
            if read_exact(s, 1) != b"\0":
                raise RuntimeError("JOIN hello refused")
            s.sendall(frame({"t": "join", "token": token, "csr": csr,
                             "hostname": "bench-%d" % k, "arch": "x86_64", "os": "linux",
                             "cpus": 1000000000, "mem": 1 << 30, "engine": "bench",
                             "addr": "192.0.2.%d" % (1 + k % 250), "port": 2377,
                             "availability": "active"}))
            n = struct.unpack(">I", read_exact(s, 4))[0]
            doc = json.loads(read_exact(s, n))
            if doc.get("t") != "joined":
                raise RuntimeError("join refused: %s" % doc.get("msg"))
            return doc["node_id"]


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    host, _, port = sys.argv[1].rpartition(":")
    token, count = sys.argv[2], int(sys.argv[3])
    csr = subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "/dev/null", "-subj", "/CN=bench"],
        check=True, capture_output=True, text=True).stdout
    for k in range(count):
        print(join_one(host, int(port), token, csr, k), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
