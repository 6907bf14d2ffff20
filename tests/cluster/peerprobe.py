#!/usr/bin/env python3
"""tests/cluster/peerprobe.py - talk to a shoald cluster port as a (hostile) peer.

Usage: peerprobe.py HOST PORT MODE [CERT KEY]
  MODE is one of
    raft | join | rpc | session   a well-formed hello of that kind
    kind9                          a hello of an unknown kind
    empty                          a hello of length 0
    huge                           a hello announcing 1 GiB
    garbage                        64 random bytes instead of a hello
  CERT/KEY: PEM files of a client certificate to present (default: none).
Prints one word: accepted (status byte 0), refused (status byte 1), closed
(the server closed without a status byte), tls-refused (handshake failed),
or other:<byte>. After "accepted" it sends 16 junk bytes and reports, on a
second line, whether the server then closed the connection ("then-closed") or
kept it ("then-open") within 3 s.
"""
import os
import socket
import ssl
import struct
import sys


def hello(kind, body):
    return struct.pack(">IB", len(body) + 1, kind) + body


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cert = sys.argv[4] if len(sys.argv) > 5 else None
    key = sys.argv[5] if len(sys.argv) > 5 else None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection((host, port), timeout=5)
    try:
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError):
        print("tls-refused")
        return 0
    msgs = {
        "raft": hello(1, struct.pack(">Q", 4242) + b"10.0.0.99:2377"),
        "join": hello(2, b"{}"),
        "rpc": hello(3, b""),
        "session": hello(4, b""),
        "kind9": hello(9, b"x"),
        "empty": struct.pack(">I", 0),
        "huge": struct.pack(">IB", 1 << 30, 1) + b"\0" * 64,
        "garbage": os.urandom(64),
    }
    try:
        s.sendall(msgs[mode])
        b = s.recv(1)
    except (ssl.SSLError, OSError):
        b = b""
    if b == b"":
        print("closed")
    elif b == b"\0":
        print("accepted")
        try:
            s.sendall(b"\xff" * 16)
            s.settimeout(3)
            print("then-closed" if s.recv(1) == b"" else "then-open")
        except socket.timeout:
            print("then-open")
        except (ssl.SSLError, OSError):
            print("then-closed")
    elif b == b"\1":
        print("refused")
    else:
        print("other:%d" % b[0])
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
