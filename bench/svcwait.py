#!/usr/bin/env python3
"""bench/svcwait.py - run one command, then poll an Engine API socket every
50 ms until a service reaches a state; print the elapsed milliseconds.

Used by bench/service-converge.sh, with the same polling for shoald and
dockerd. The clock starts right before COMMAND is run (so the command's own
time is included) and stops at the first poll that sees the condition.

    svcwait.py SOCK SERVICE COND [N] -- COMMAND...

COND:
  replicas N   GET /services?status=true: RunningTasks == DesiredTasks == N
  updated N    GET /services/SERVICE: UpdateStatus.State == "completed" with
               a StartedAt other than the one before COMMAND ran, and
               replicas N as above
  gone         GET /containers/json: no running container labelled
               com.docker.swarm.service.name=SERVICE; prints two numbers:
               no running one, no container at all (running or not)
Exit 0 and "MS [MS2]" on stdout; exit 1 after --timeout seconds (300).
"""
import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.parse

PERIOD = 0.050
API = "/v1.41"


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.path)
        self.sock = s


class Api:
    def __init__(self, path):
        self.path = path
        self.conn = None

    def get(self, url):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = UnixConn(self.path)
                self.conn.request("GET", API + url)
                r = self.conn.getresponse()
                body = r.read()
                if r.status == 404:
                    return None
                if r.status != 200:
                    raise RuntimeError(f"GET {url}: {r.status} {body[:200]!r}")
                return json.loads(body)
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        return None


def service_counts(api, name):
    q = urllib.parse.quote(json.dumps({"name": [name]}))
    for s in api.get(f"/services?status=true&filters={q}") or []:
        if s.get("Spec", {}).get("Name") == name:
            st = s.get("ServiceStatus") or {}
            return st.get("RunningTasks"), st.get("DesiredTasks")
    return None, None


def update_state(api, name):
    s = api.get(f"/services/{name}")
    if not s:
        return None, None
    us = s.get("UpdateStatus") or {}
    return us.get("State"), us.get("StartedAt")


def task_containers(api, name, all_):
    q = urllib.parse.quote(json.dumps({"label": [f"com.docker.swarm.service.name={name}"]}))
    return len(api.get(f"/containers/json?all={1 if all_ else 0}&filters={q}") or [])


def main():
    argv = sys.argv[1:]
    timeout = 300.0
    if argv[:1] == ["--timeout"]:
        timeout = float(argv[1])
        argv = argv[2:]
    sep = argv.index("--")
    args, cmd = argv[:sep], argv[sep + 1:]
    sock, name, cond = args[0], args[1], args[2]
    n = int(args[3]) if len(args) > 3 else 0
    api = Api(sock)

    before = None
    if cond == "updated":
        before = update_state(api, name)[1]

    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        print(f"svcwait: {' '.join(cmd)}: exit {r.returncode}", file=sys.stderr)
        return 1
    nxt = time.monotonic()
    first = None
    last = ""
    while True:
        now = time.monotonic()
        if now - t0 > timeout:
            print(f"svcwait: {cond} {n} of {name} not reached in {timeout:.0f} s; last: {last}",
                  file=sys.stderr)
            return 1
        if cond == "replicas":
            run, want = service_counts(api, name)
            last = f"{run}/{want}"
            done = run == n and want == n
        elif cond == "updated":
            state, started = update_state(api, name)
            run, want = service_counts(api, name)
            last = f"{state} {started} {run}/{want}"
            done = state == "completed" and started != before and run == n and want == n
        elif cond == "gone":
            if first is None:
                c = task_containers(api, name, False)
                last = f"{c} running"
                if c == 0:
                    first = time.monotonic()
            c = task_containers(api, name, True) if first is not None else -1
            if first is not None:
                last = f"{c} left"
            done = c == 0
        else:
            print(f"svcwait: unknown condition {cond}", file=sys.stderr)
            return 2
        if done:
            t = time.monotonic()
            if cond == "gone":
                print(f"{(first - t0) * 1000:.0f} {(t - t0) * 1000:.0f}")
            else:
                print(f"{(t - t0) * 1000:.0f}")
            return 0
        nxt += PERIOD
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            nxt = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
