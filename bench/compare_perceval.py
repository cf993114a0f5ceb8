#!/usr/bin/env python3
"""Side-by-side benchmark: our crawler and Perceval on the same loopback mock server.

    python3 bench/compare_perceval.py                 # every backend we implement, all scenarios
    python3 bench/compare_perceval.py --backends github,gitlab --scenarios 1000:0,1000:20
    python3 bench/compare_perceval.py --skip-perceval # ours only (uses Perceval's published figures)

Uses ../shared/bench/mock_trackers.py (a loopback mock of the Redmine, Jira, Bugzilla REST,
GitLab and GitHub APIs) and Perceval from a venv (created on first use from PyPI:
/tmp/perceval-venv). For each backend and scenario (issues:latency_ms) it runs each tool once
in a fresh process against a freshly started mock, and reports wall time, items, items/s,
requests (the mock's own counters), requests per item and peak RSS (/usr/bin/time -f %M), then
the ratios. A fault scenario (every 50th request answers 429/503 without Retry-After) shows what
each tool does when a server misbehaves. Results go to stdout and, with --json FILE, to a file.
Only 127.0.0.1 is contacted.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared"))
MOCK = os.path.join(SHARED, "bench", "mock_trackers.py")
VENV = os.environ.get("PERCEVAL_VENV", "/tmp/perceval-venv")
# BUGIMPORTERS_BIN: a crawler built elsewhere (no build then); else target/release's, rebuilt.
OURS = os.environ.get("BUGIMPORTERS_BIN") or os.path.join(ROOT, "target", "release", "bugimporters")

# Perceval's figures as published in ../shared/bench/README.md (items/s), for --skip-perceval.
PUBLISHED = {
    ("redmine", 1000, 0): 559, ("jira", 1000, 0): 599, ("bugzillarest", 1000, 0): 1462,
    ("gitlab", 1000, 0): 220, ("redmine", 1000, 20): 43, ("jira", 1000, 20): 43,
    ("gitlab", 1000, 20): 11.2, ("redmine", 10000, 0): 714,
}


def our_config(backend, url):
    """The tracker record that makes our crawler fetch every issue of the mock."""
    if backend == "github":
        return {"tracker_name": "bench", "bugimporter": "github", "github_name": "mock",
                "github_repo": "repo", "api_url": url + "/api/v3",
                "queries": [url + "/api/v3/repos/mock/repo/issues?state=all&per_page=100"]}
    if backend == "gitlab":
        return {"tracker_name": "bench", "bugimporter": "gitlab", "base_url": url + "/",
                "project": "mock/repo"}
    if backend == "redmine":
        return {"tracker_name": "bench", "bugimporter": "redmine", "base_url": url + "/"}
    if backend == "jira":
        return {"tracker_name": "bench", "bugimporter": "jira", "base_url": url + "/",
                "queries": [url + "/rest/api/2/search?jql=order+by+updated&maxResults=100"]}
    if backend == "bugzillarest":
        return {"tracker_name": "bench", "bugimporter": "bugzilla", "base_url": url + "/",
                "bugzilla_api": "rest",
                "queries": [url + "/rest/bug?last_change_time=1970-01-01T00:00:00Z"]}
    raise ValueError(backend)


def perceval_cmd(backend, url, out):
    base = [os.path.join(VENV, "bin", "perceval")]
    tail = ["--no-archive", "--json-line", "-o", out]
    return {
        "redmine": base + ["redmine", url] + tail,
        "jira": base + ["jira", url] + tail,
        "bugzillarest": base + ["bugzillarest", url] + tail,
        "gitlab": base + ["gitlab", "mock", "repo", "--url", url] + tail,
        "github": base + ["github", "mock", "repo", "--enterprise-url", url, "-t", "x"] + tail,
    }[backend]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_mock(issues, latency, extra=()):
    port = free_port()
    p = subprocess.Popen([sys.executable, MOCK, "--port", str(port), "--issues", str(issues),
                          "--latency-ms", str(latency), "--max-seconds", "1800", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()  # "mock listening ..."
    return p, "http://127.0.0.1:%d" % port


def stats(url):
    with urllib.request.urlopen(url + "/__stats") as r:
        return json.load(r)


def timed(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True,
                       env=env)
    wall = time.monotonic() - t0
    rss_kb = int(p.stderr.strip().splitlines()[-1]) if p.stderr.strip() else 0
    return p.returncode, wall, rss_kb, p.stderr


def count_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0


def run_ours(backend, issues, latency, extra=()):
    mock, url = start_mock(issues, latency, extra)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "config.json")
            with open(cfg, "w") as f:
                json.dump([our_config(backend, url)], f)
            out = os.path.join(tmp, "out.jsonl")
            rc, wall, rss, err = timed([OURS, "crawl", "-i", cfg, "-o", out, "--no-progress",
                                        "--allow-network", "127.0.0.0/8"],
                                       env=dict(os.environ, RUST_LOG="warn"))
            items = count_lines(out)
            return {"rc": rc, "wall_s": wall, "items": items, "rss_kb": rss,
                    "requests": stats(url).get("total", 0), "stderr": err[-400:]}
    finally:
        mock.kill()


def run_perceval(backend, issues, latency, extra=()):
    mock, url = start_mock(issues, latency, extra)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.jsonl")
            env = dict(os.environ, HOME=tmp)
            rc, wall, rss, err = timed(perceval_cmd(backend, url, out), env=env)
            return {"rc": rc, "wall_s": wall, "items": count_lines(out), "rss_kb": rss,
                    "requests": stats(url).get("total", 0), "stderr": err[-400:]}
    finally:
        mock.kill()


def ensure_perceval():
    if os.path.exists(os.path.join(VENV, "bin", "perceval")):
        return
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", "perceval"], check=True)


def registered_backends():
    out = subprocess.run([OURS, "trackers", "--json"], capture_output=True, text=True, check=True)
    kinds = {t["kind"] for t in json.loads(out.stdout)}
    mapping = {"github": "github", "gitlab": "gitlab", "redmine": "redmine", "jira": "jira",
               "bugzillarest": "bugzilla"}
    return [b for b, k in mapping.items() if k in kinds]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="")
    ap.add_argument("--scenarios", default="1000:0,1000:20,10000:0,10000:20")
    ap.add_argument("--skip-perceval", action="store_true")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.environ.get("BUGIMPORTERS_BIN"):
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "bugimporters"], cwd=ROOT, check=True)
    if not a.skip_perceval:
        ensure_perceval()
    backends = a.backends.split(",") if a.backends else registered_backends()
    scenarios = [tuple(int(x) for x in s.split(":")) for s in a.scenarios.split(",")]
    results = []
    print("%-13s %6s %4s | %8s %8s %7s %6s | %8s %8s %7s %6s | %7s" % (
        "backend", "issues", "ms", "ours/s", "req/item", "rssMB", "items",
        "perc/s", "req/item", "rssMB", "items", "ratio"))
    for backend in backends:
        for issues, latency in scenarios:
            ours = run_ours(backend, issues, latency)
            ours_rate = ours["items"] / ours["wall_s"] if ours["wall_s"] else 0
            row = {"backend": backend, "issues": issues, "latency_ms": latency, "ours": ours}
            if a.skip_perceval:
                perc_rate = PUBLISHED.get((backend, issues, latency))
                perc = None
            else:
                perc = run_perceval(backend, issues, latency)
                perc_rate = perc["items"] / perc["wall_s"] if perc["wall_s"] else 0
            row["perceval"] = perc
            row["perceval_items_per_s"] = perc_rate
            row["ratio"] = (ours_rate / perc_rate) if perc_rate else None
            results.append(row)
            fmt = lambda r, rate: ("%8.0f %8.3f %7.1f %6d" % (rate, r["requests"] / max(r["items"], 1), r["rss_kb"] / 1024, r["items"])) if r else ("%8s %8s %7s %6s" % (("%.0f" % rate) if rate else "-", "-", "-", "-"))
            print("%-13s %6d %4d | %s | %s | %7s" % (
                backend, issues, latency, fmt(ours, ours_rate), fmt(perc, perc_rate or 0),
                ("%.1fx" % row["ratio"]) if row["ratio"] else "-"), flush=True)
            if ours["rc"] != 0:
                print("   ours exited %d: %s" % (ours["rc"], ours["stderr"].strip()[-300:]))
    if not a.no_faults:
        print("\nfaults: every 50th request answers 503 without Retry-After (1000 issues, 0 ms)")
        for backend in backends:
            extra = ("--fail-every", "50", "--fail-status", "503")
            ours = run_ours(backend, 1000, 0, extra)
            line = "%-13s ours: exit %d, %d items" % (backend, ours["rc"], ours["items"])
            if not a.skip_perceval:
                perc = run_perceval(backend, 1000, 0, extra)
                line += " | perceval: exit %d, %d items" % (perc["rc"], perc["items"])
            print(line, flush=True)
            results.append({"backend": backend, "fault": "503 every 50th", "ours": ours})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
