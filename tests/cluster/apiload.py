#!/usr/bin/env python3
"""tests/cluster/apiload.py - replicated writes through the Engine API.

Each write is one node label update: GET /nodes/ID (for Version.Index), then
POST /nodes/ID/update?version=V with the spec plus one changed label. A write
that loses a version race ("update out of sequence") is retried and counted as
a conflict; its latency is that of the POST that finally committed.

Usage: apiload.py SOCK NODE_IDS COUNT [INFLIGHT] [KEYPREFIX]
  NODE_IDS is a comma-separated list; writer i updates node i % len(list).
Prints one JSON line: writes, conflicts, errors, seconds, rate, p50_ms, p99_ms.
Exit status 1 if any write failed for another reason than a version race.

Usage: apiload.py failover SOCKS NODE_ID T0 [TIMEOUT]
  From the wall-clock time T0 (seconds since the epoch, e.g. taken just
  before the leader was killed), try one write every 20 ms through each of the
  comma-separated SOCKS in turn until one is accepted; prints the milliseconds
  from T0 to that acceptance. Exit status 1 on timeout (default 60 s).
"""
import http.client
import json
import socket
import sys
import threading
import time


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def worker(sock, node, count, key, lat, stats, lock):
    conn = UnixConn(sock)
    i = 0
    while i < count:
        try:
            st, data = request(conn, "GET", "/v1.41/nodes/" + node)
            if st != 200:
                raise RuntimeError("GET %d %s" % (st, data[:200]))
            doc = json.loads(data)
            spec = doc["Spec"]
            labels = spec.get("Labels") or {}
            labels[key] = str(i)
            spec["Labels"] = labels
            body = json.dumps(spec)
            t0 = time.monotonic()
            st, data = request(conn, "POST", "/v1.41/nodes/%s/update?version=%d"
                               % (node, doc["Version"]["Index"]), body)
            t1 = time.monotonic()
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
            with lock:
                stats["errors"] += 1
                stats["last_error"] = str(e)
            conn.close()
            conn = UnixConn(sock)
            if stats["errors"] > 50:
                return
            time.sleep(0.05)
            continue
        if st == 200:
            lat.append(t1 - t0)
            i += 1
        elif b"out of sequence" in data:
            with lock:
                stats["conflicts"] += 1
        else:
            with lock:
                stats["errors"] += 1
                stats["last_error"] = "POST %d %s" % (st, data[:200].decode(errors="replace"))
            if stats["errors"] > 50:
                return
            time.sleep(0.05)
    conn.close()


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def one_write(sock, node, key, timeout):
    conn = UnixConn(sock, timeout=timeout)
    try:
        st, data = request(conn, "GET", "/v1.41/nodes/" + node)
        if st != 200:
            return False
        doc = json.loads(data)
        spec = doc["Spec"]
        spec["Labels"] = dict(spec.get("Labels") or {}, **{key: str(time.time())})
        st, data = request(conn, "POST", "/v1.41/nodes/%s/update?version=%d"
                           % (node, doc["Version"]["Index"]), json.dumps(spec))
        return st == 200
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return False
    finally:
        conn.close()


def failover(argv):
    socks, node, t0 = argv[0].split(","), argv[1], float(argv[2])
    limit = float(argv[3]) if len(argv) > 3 else 60.0
    i = 0
    while time.time() - t0 < limit:
        if one_write(socks[i % len(socks)], node, "failover", 2.0):
            print(int((time.time() - t0) * 1000))
            return 0
        i += 1
        time.sleep(0.02)
    print("timeout")
    return 1


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "failover":
        return failover(sys.argv[2:])
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    sock, nodes, count = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    inflight = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    prefix = sys.argv[5] if len(sys.argv) > 5 else "load"
    lat, lock = [], threading.Lock()
    stats = {"conflicts": 0, "errors": 0}
    per = [count // inflight + (1 if i < count % inflight else 0) for i in range(inflight)]
    threads = [threading.Thread(target=worker,
                                args=(sock, nodes[i % len(nodes)], per[i], "%s%d" % (prefix, i), lat, stats, lock))
               for i in range(inflight)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    lat.sort()
    out = {
        "writes": len(lat), "conflicts": stats["conflicts"], "errors": stats["errors"],
        "seconds": round(secs, 3), "rate": round(len(lat) / secs, 1) if secs > 0 else 0,
        "p50_ms": round(pct(lat, 50) * 1000, 3), "p99_ms": round(pct(lat, 99) * 1000, 3),
    }
    if "last_error" in stats:
        out["last_error"] = stats["last_error"]
    print(json.dumps(out))
    return 0 if len(lat) == count and stats["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
