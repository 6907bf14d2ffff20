#!/usr/bin/env python3
"""bench/apiwrite.py - replicated writes through an HTTP API, N in flight.

One asyncio process, one keep-alive connection per in-flight writer, no
third-party modules: the same client drives shoal and etcd.

Usage:
  apiwrite.py shoal SOCK IDS COUNT INFLIGHT
      Engine API on a Unix socket. IDS: comma-separated node ids, at least
      INFLIGHT of them; writer k owns node k (no version races by design).
      One write = GET /nodes/ID (for Version.Index, as `docker node update`
      does) + POST /nodes/ID/update?version=V with one changed label; the
      latency is the POST's (the replicated commit), the rate counts writes.
  apiwrite.py etcd PORT COUNT INFLIGHT
      etcd's JSON gateway on 127.0.0.1:PORT; one write = POST /v3/kv/put of
      key k<writer>.
Prints one JSON line: writes, conflicts, errors, seconds, rate, p50_ms, p99_ms.
"""
import asyncio
import base64
import json
import sys
import time


class Conn:
    def __init__(self, unix=None, port=None):
        self.unix, self.port = unix, port
        self.r = self.w = None

    async def open(self):
        if self.unix:
            self.r, self.w = await asyncio.open_unix_connection(self.unix)
        else:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)

    async def request(self, method, path, body=None):
        if self.w is None:
            await self.open()
        head = "%s %s HTTP/1.1\r\nHost: bench\r\n" % (method, path)
        data = b""
        if body is not None:
            data = body.encode()
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        self.w.write(head.encode() + b"\r\n" + data)
        status_line = await self.r.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "transfer-encoding" and "chunked" in v:
                chunked = True
            elif k == "connection" and v == "close":
                close = True
        if chunked:
            out = b""
            while True:
                n = int((await self.r.readline()).split(b";")[0], 16)
                if n == 0:
                    await self.r.readline()
                    break
                out += await self.r.readexactly(n)
                await self.r.readline()
        elif length is not None:
            out = await self.r.readexactly(length)
        else:  # no body, or one delimited by the end of the connection
            out = await self.r.read() if close else b""
        if close:
            self.w.close()
            self.w = None
        return status, out


def pct(v, p):
    if not v:
        return 0.0
    return v[min(len(v) - 1, int(len(v) * p / 100))]


async def shoal_writer(sock, node, count, lat, stats):
    c = Conn(unix=sock)
    i = 0
    while i < count:
        st, data = await c.request("GET", "/v1.41/nodes/" + node)
        if st != 200:
            stats["errors"] += 1
            stats["last_error"] = "GET %d %s" % (st, data[:200])
            if stats["errors"] > 50:
                return
            continue
        doc = json.loads(data)
        spec = doc["Spec"]
        spec["Labels"] = dict(spec.get("Labels") or {}, bench=str(i))
        body = json.dumps(spec)
        t0 = time.monotonic()
        st, data = await c.request(
            "POST", "/v1.41/nodes/%s/update?version=%d" % (node, doc["Version"]["Index"]), body)
        t1 = time.monotonic()
        if st == 200:
            lat.append(t1 - t0)
            i += 1
        elif b"out of sequence" in data:
            stats["conflicts"] += 1
        else:
            stats["errors"] += 1
            stats["last_error"] = "POST %d %s" % (st, data[:200])
            if stats["errors"] > 50:
                return


async def etcd_writer(port, k, count, lat, stats):
    c = Conn(port=port)
    key = base64.b64encode(b"k%d" % k).decode()
    for i in range(count):
        body = json.dumps({"key": key, "value": base64.b64encode(str(i).encode()).decode()})
        t0 = time.monotonic()
        st, data = await c.request("POST", "/v3/kv/put", body)
        t1 = time.monotonic()
        if st == 200:
            lat.append(t1 - t0)
        else:
            stats["errors"] += 1
            stats["last_error"] = "PUT %d %s" % (st, data[:200])


async def run(argv):
    lat, stats = [], {"conflicts": 0, "errors": 0}
    if argv[0] == "shoal":
        sock, ids, count, inflight = argv[1], argv[2].split(","), int(argv[3]), int(argv[4])
        if len(ids) < inflight:
            sys.exit("need at least %d node ids, got %d" % (inflight, len(ids)))
        per = [count // inflight + (1 if k < count % inflight else 0) for k in range(inflight)]
        jobs = [shoal_writer(sock, ids[k], per[k], lat, stats) for k in range(inflight)]
    else:
        port, count, inflight = int(argv[1]), int(argv[2]), int(argv[3])
        per = [count // inflight + (1 if k < count % inflight else 0) for k in range(inflight)]
        jobs = [etcd_writer(port, k, per[k], lat, stats) for k in range(inflight)]
    t0 = time.monotonic()
    await asyncio.gather(*jobs)
    secs = time.monotonic() - t0
    lat.sort()
    out = {"writes": len(lat), "conflicts": stats["conflicts"], "errors": stats["errors"],
           "seconds": round(secs, 3), "rate": round(len(lat) / secs, 1),
           "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3)}
    if "last_error" in stats:
        out["last_error"] = str(stats["last_error"])
    print(json.dumps(out))
    return 1 if stats["errors"] else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(asyncio.run(run(sys.argv[1:])))
