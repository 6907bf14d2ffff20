#!/usr/bin/env python3
"""Compare a recorded docker CLI conversation with shoald against a golden transcript.

Usage: compare.py [options] REF.txt OURS.txt
  REF.txt   a transcript from /work/shared/reference/docker-api/transcripts
  OURS.txt  the same scenario against shoald, recorded with recproxy.py and
            rendered with render.py
Options:
  --exit N          the CLI's exit code (checked against "# Exit code:")
  --output FILE     what the CLI printed (stdout+stderr), checked against the
                    "# CLI output" block with --mode
  --mode M          exact | sorted | shape | json | client | head:N | none
                      exact   normalised lines equal (ids, times, sizes, ages, table padding)
                      sorted  the same lines in any order (stdout/stderr interleaving)
                      shape   digits ignored too, the sets of distinct lines equal
                      json    every "Key": of the reference output appears in ours
                      client  only the lines before "Server:" (docker version/info)
                      head:N  each line equal in its first N normalised characters
  --no-order        request order is not checked (only the multiset)
  --ignore-line RE  drop reference output lines matching RE (swarm-only objects)
  --skip-route RE   leave requests whose "METHOD route" matches RE out of the checks
Checks: exit code; CLI output; the request sequence (method, route with ids
normalised, sorted query keys); status codes; names and types of every JSON
reply body (extra fields on our side are fine). Prints a report; exit 1 on a
difference."""
import argparse
import json
import re
import sys
from collections import Counter
from urllib.parse import urlsplit, parse_qsl

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
HEX12 = re.compile(r"\b[0-9a-f]{12}\b")
SHA = re.compile(r"sha256:[0-9a-f]{6,64}")
SWARMID = re.compile(r"\b[0-9a-z]{25}\b")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
AGO = re.compile(r"(About an? \w+|Less than a second|\d+ \w+?s?) ago")
UPFOR = re.compile(r"\bUp (About an? \w+|Less than a second|\d+ \w+)")
SIZE = re.compile(r"\b\d+(\.\d+)?\s?(B|kB|KB|MB|GB|KiB|MiB|GiB)\b")
PAD = re.compile(r"[ \t]{2,}")

# objects whose keys are data (names, ids, labels), not schema
DATA_MAPS = {"Labels", "Attributes", "Options", "DriverOpts", "Containers", "Networks",
             "Ports", "ExposedPorts", "PortBindings", "Volumes", "EndpointsConfig",
             "Config", "Annotations", "Peers", "Sysctls", "StorageOpt", "Data", "Tmpfs"}


def norm_line(s):
    s = SHA.sub("sha256:<ID>", s)
    s = HEX64.sub("<ID>", s)
    s = HEX12.sub("<SID>", s)
    s = RFC3339.sub("<TIME>", s)
    s = AGO.sub("<AGO> ago", s)
    s = UPFOR.sub("Up <DUR>", s)
    s = SIZE.sub("<SIZE>", s)
    s = PAD.sub("  ", s)
    return s.rstrip()


def norm_route(path):
    u = urlsplit(path)
    route = re.sub(r"^/v1\.\d+", "", u.path)
    route = SHA.sub("sha256:<ID>", route)
    route = HEX64.sub("<ID>", route)
    route = HEX12.sub("<SID>", route)
    keys = sorted({k for k, _ in parse_qsl(u.query, keep_blank_values=True)})
    return route + ("?" + "&".join(keys) if keys else "")


class Transcript:
    def __init__(self, path):
        self.exit = None
        self.output = []
        self.exchanges = []  # dicts: method, route, status, bodies (list of JSON values)
        self._parse(open(path, encoding="utf-8", errors="replace").read().split("\n"))

    def _parse(self, lines):
        i = 0
        in_out = False
        while i < len(lines) and lines[i].startswith("#"):
            ln = lines[i]
            if ln.startswith("# Exit code:"):
                self.exit = int(ln.split(":", 1)[1].strip())
            elif ln.startswith("# CLI output"):
                in_out = True
            elif in_out and ln.startswith("#   |"):
                self.output.append(ln[6:] if len(ln) > 5 else "")
            elif in_out:
                in_out = False
            i += 1
        cur = None
        body = None
        for ln in lines[i:]:
            if ln.startswith(">>> "):
                parts = ln[4:].split(" ")
                cur = {"method": parts[0], "route": norm_route(parts[1]), "status": None,
                       "bodies": [], "raw": parts[1]}
                self.exchanges.append(cur)
                body = None
            elif ln.startswith("<<< ") and cur is not None:
                m = re.match(r"<<< HTTP/1\.\d (\d+)", ln)
                cur["status"] = int(m.group(1)) if m else None
                body = None
            elif cur is not None and cur["status"] is not None and re.match(
                    r"    \[(response body|chunked streaming body)", ln):
                body = []
                cur["_body"] = body
            elif body is not None and ln.startswith("    "):
                body.append(ln[4:])
            elif body is not None:
                self._finish(cur)
                body = None
        for ex in self.exchanges:
            self._finish(ex)

    @staticmethod
    def _finish(ex):
        lines = ex.pop("_body", None)
        if not lines:
            return
        txt = "\n".join(lines).strip()
        try:
            ex["bodies"] = [json.loads(txt)]
            return
        except ValueError:
            pass
        out = []
        for ln in lines:
            m = re.match(r"\[\+[\d.]+s chunk \d+B\] (.*)$", ln)
            cand = m.group(1) if m else ln
            cand = cand.strip()
            if cand.startswith("{") or cand.startswith("["):
                try:
                    out.append(json.loads(cand))
                except ValueError:
                    pass
        ex["bodies"] = out


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def trimmed(v):
    return isinstance(v, str) and re.match(r"^\.\.\. \(\d+ more items trimmed\)$", v)


def schema_diff(ref, ours, where, out):
    tr, to = jtype(ref), jtype(ours)
    if tr == "null":
        return
    if tr != to:
        out.append("%s: type %s in the reference, %s in ours" % (where or "(body)", tr, to))
        return
    if tr == "object":
        if where.rsplit(".", 1)[-1] in DATA_MAPS:
            return
        for k, v in ref.items():
            if k not in ours:
                out.append("%s.%s: missing (reference has %s)" % (where, k, jtype(v)))
            else:
                schema_diff(v, ours[k], "%s.%s" % (where, k), out)
    elif tr == "array":
        rs = [x for x in ref if not trimmed(x)]
        if rs and ours and all(isinstance(x, dict) for x in rs + ours):
            # possibly mixed elements ([{"Untagged"}, {"Deleted"}]): the
            # fields of all elements, merged, on both sides
            mr, mo = {}, {}
            for x in rs:
                for k, v in x.items():
                    mr.setdefault(k, v)
            for x in ours:
                for k, v in x.items():
                    mo.setdefault(k, v)
            schema_diff(mr, mo, where + "[]", out)
        elif rs and ours:
            for o in ours:
                schema_diff(rs[0], o, where + "[]", out)


def check_output(ref_lines, ours_text, mode):
    ours = ours_text.split("\n")
    while ours and ours[-1] == "":
        ours.pop()
    ref = list(ref_lines)
    while ref and ref[-1].strip() == "":
        ref.pop()
    if mode == "none":
        return []
    if mode == "client":
        def cut(ls):
            out = []
            for ln in ls:
                if ln.startswith("Server:"):
                    break
                out.append(ln)
            return out
        ref, ours = cut(ref), cut(ours)
        mode = "exact"
    if mode == "json":
        keys = set(re.findall(r'"([A-Za-z0-9_]+)":', "\n".join(ref)))
        have = set(re.findall(r'"([A-Za-z0-9_]+)":', "\n".join(ours)))
        missing = sorted(k for k in keys - have if not HEX64.fullmatch(k))
        return ["CLI output lacks the key %r" % k for k in missing]
    nr = [norm_line(x) for x in ref]
    no = [norm_line(x) for x in ours]
    if mode.startswith("head:"):
        n = int(mode[5:])
        nr = [x[:n] for x in nr]
        no = [x[:n] for x in no]
        mode = "exact"
    if mode == "shape":
        nr = sorted(set(re.sub(r"\d+", "N", x) for x in nr))
        no = sorted(set(re.sub(r"\d+", "N", x) for x in no))
    elif mode == "sorted":
        nr, no = sorted(nr), sorted(no)
    if nr == no:
        return []
    import difflib
    diff = difflib.unified_diff(nr, no, "reference CLI output", "our CLI output", lineterm="", n=2)
    return ["CLI output differs (normalised, mode %s):" % mode] + ["    " + d for d in diff]


def dedup(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("ours")
    ap.add_argument("--exit", type=int)
    ap.add_argument("--output")
    ap.add_argument("--mode", default="exact")
    ap.add_argument("--no-order", action="store_true")
    ap.add_argument("--skip-route", action="append", default=[])
    ap.add_argument("--ignore-line", action="append", default=[])
    a = ap.parse_args()

    ref, ours = Transcript(a.ref), Transcript(a.ours)
    problems, notes = [], []

    if a.exit is not None and ref.exit is not None and a.exit != ref.exit:
        problems.append("exit code: reference %d, ours %d" % (ref.exit, a.exit))
    if a.ignore_line:
        ref.output = [x for x in ref.output if not any(re.search(p, x) for p in a.ignore_line)]
    if a.output is not None:
        problems += check_output(ref.output, open(a.output, encoding="utf-8",
                                                  errors="replace").read(), a.mode)

    def keep(ex):
        k = "%s %s" % (ex["method"], ex["route"])
        return not any(re.search(p, k) for p in a.skip_route)

    rx = [e for e in ref.exchanges if keep(e)]
    ox = [e for e in ours.exchanges if keep(e)]
    rseq = dedup(["%s %s" % (e["method"], e["route"]) for e in rx])
    oseq = dedup(["%s %s" % (e["method"], e["route"]) for e in ox])
    if rseq != oseq:
        if Counter(rseq) == Counter(oseq) and a.no_order:
            notes.append("request order differs (allowed)")
        elif Counter(rseq) == Counter(oseq):
            notes.append("request order differs (concurrent connections); same requests")
        else:
            import difflib
            problems.append("request sequence differs:")
            problems += ["    " + d for d in difflib.unified_diff(
                rseq, oseq, "reference", "ours", lineterm="", n=1)]
    # pair exchanges by (method, route, occurrence)
    seen = Counter()
    omap = {}
    for e in ox:
        key = (e["method"], e["route"])
        omap[key + (seen[key],)] = e
        seen[key] += 1
    seen = Counter()
    for e in rx:
        key = (e["method"], e["route"])
        o = omap.get(key + (seen[key],))
        seen[key] += 1
        if o is None:
            continue
        what = "%s %s" % key
        if e["status"] != o["status"]:
            problems.append("%s: status %s in the reference, %s in ours" %
                            (what, e["status"], o["status"]))
            continue
        if e["bodies"] and not o["bodies"]:
            # e.g. a wait long-poll the CLI hangs up on: the reference's
            # reply to the hang-up is an artefact of timing
            notes.append("%s: the reference replied with JSON, ours sent no body" % what)
            continue
        diffs = []
        if len(e["bodies"]) == 1 and len(o["bodies"]) == 1:
            schema_diff(e["bodies"][0], o["bodies"][0], "", diffs)
        elif e["bodies"]:
            # a stream of JSON messages: the fields all reference messages share
            common = e["bodies"][0]
            for b in e["bodies"][1:]:
                if isinstance(common, dict) and isinstance(b, dict):
                    common = {k: v for k, v in common.items() if k in b}
            for b in o["bodies"]:
                schema_diff(common, b, "", diffs)
        for d in sorted(set(diffs)):
            problems.append("%s: %s" % (what, d))

    name = a.ref.rsplit("/", 1)[-1]
    for n in notes:
        print("note: %s: %s" % (name, n))
    if problems:
        print("DIFFERS: %s" % name)
        for p in problems:
            print("  " + p)
        return 1
    print("MATCHES: %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
