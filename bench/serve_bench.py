#!/usr/bin/env python3
"""The service benchmark: `bugimporters serve --once` against the batch pipeline.

    python3 bench/serve_bench.py                      # 10 000 trackers, SQLite + PostgreSQL
    python3 bench/serve_bench.py --trackers 1000,3000,10000 --dbs sqlite --procs 1 --no-batch
                                                      # peak RSS against N

N synthetic Trac trackers of 10 bugs each (about 6 open ones: 6 records a tracker), every one
on its own port of one `fake-tracker --trackers N` process at 0 ms latency, are loaded into a
fresh host database (`customs load`, then `customs refresh --all`: all due). Then, timed:

* batch: `export-config` -> one `bugimporters crawl` -> `import-results`, one process each;
* serve xP: P real `bugimporters serve --once` processes started together on the same database
  (P > 1 only on a server database: a second serve on one SQLite file refuses to start).

For each it prints wall seconds, runs (trackers)/s, bugs/s (rows of the bugs table at the end
over the wall time), the peak RSS of each of our processes (/usr/bin/time -f %M), the CPU
seconds of our processes, of the fake trackers and of the whole machine (/proc/stat: the
difference is PostgreSQL and whatever else runs on the machine), the machine's CPU utilisation
over the measurement, and the serve processes' own account of where a run's time goes (the
`phase ms per run` line of `serve --once`: lease, export, crawl, lease check, import, record;
the scheduler's overhead is lease + check + record).

Binaries come from $CARGO_TARGET_DIR/release (default target/release), built first unless
--no-build; PostgreSQL from --postgres (default $BUGIMPORTERS_TEST_POSTGRES_URL or
postgres://postgres@127.0.0.1:5432/test), where a database `bi_serve_bench_PID_TAG` is created
per measurement and dropped after it. Only 127.0.0.1 is contacted. --json FILE saves the rows.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BIN = os.path.join(TARGET, "release")
PACKAGES = ["bugimporters", "fake-tracker", "customs", "export-config", "import-results"]
CLK = os.sysconf("SC_CLK_TCK")


def exe(name):
    return os.path.join(BIN, name)


def cpu_machine():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_of(pid):
    """User + system CPU seconds of one process so far."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK


class Timed:
    """A child process under /usr/bin/time: wall, CPU and peak RSS when it ends."""

    def __init__(self, argv, log):
        self.timefile = log + ".time"
        self.log = log
        self.out = open(log, "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/time", "-o", self.timefile, "-f", "%e %U %S %M"] + argv,
            stdout=self.out, stderr=subprocess.STDOUT)

    def wait(self):
        code = self.proc.wait()
        self.out.close()
        with open(self.timefile) as f:
            last = f.read().strip().splitlines()[-1]
        wall, user, sys_, rss = last.split()
        self.code, self.cpu, self.rss_mb = code, float(user) + float(sys_), int(rss) / 1024
        with open(self.log) as f:
            self.text = f.read()
        return self


def run(argv, log, ok=(0,)):
    t = Timed(argv, log).wait()
    if t.code not in ok:
        sys.exit(f"{' '.join(argv)} exited {t.code}; see {log}:\n{t.text[-2000:]}")
    return t


def psql(admin, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", "SET client_min_messages = warning", "-c", sql, admin], check=True,
                   stdout=subprocess.DEVNULL)


def pg_server_settings(admin):
    out = subprocess.run(["psql", "-At", admin, "-c", "SHOW max_connections"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return int(out)


class Db:
    """A fresh host database: a SQLite file or a database on the PostgreSQL server."""

    def __init__(self, kind, tag, work, admin, template=None):
        """A new database; a copy of `template` (a Db) when given."""
        self.kind, self.admin = kind, admin
        if kind == "sqlite":
            self.path = os.path.join(work, f"{tag}.db")
            self.url = "sqlite://" + self.path
            if template:
                for ext in ("", "-wal"):
                    if os.path.exists(template.path + ext):
                        shutil.copyfile(template.path + ext, self.path + ext)
        else:
            self.name = f"bi_serve_bench_{os.getpid()}_{tag}"
            psql(admin, f"DROP DATABASE IF EXISTS {self.name}")
            copy = f" TEMPLATE {template.name}" if template else ""
            psql(admin, f"CREATE DATABASE {self.name}{copy}")
            self.url = admin.rsplit("/", 1)[0] + "/" + self.name

    def bugs(self):
        if self.kind == "sqlite":
            with sqlite3.connect(self.url[len("sqlite://"):]) as c:
                return c.execute("SELECT COUNT(*) FROM bugs").fetchone()[0]
        out = subprocess.run(["psql", "-At", self.url, "-c", "SELECT COUNT(*) FROM bugs"],
                             check=True, capture_output=True, text=True).stdout
        return int(out.strip())

    def drop(self):
        if self.kind != "sqlite":
            psql(self.admin, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def fetch_flags(args):
    # Every fake tracker of a fake-tracker process is behind its one host:port, and every one
    # is on 127.0.0.1 (one politeness host for the schedule): --per-host and --host-budget are
    # raised so that politeness is not what is measured.
    # The breaker is off: it is per host:port and per process, and here one host:port stands for
    # every tracker, so a few failed attempts to the shared fake (seen with three processes on
    # two busy cores) would fail every later run of the process.
    return ["--allow-private-networks", "--retries", "1", "--per-host", str(2 * args.workers),
            "--max-host-failures", "0"]


def measure(fake_pids, steps):
    """Runs `steps` (a function returning the Timed children it ran) with CPU accounting."""
    busy0, total0 = cpu_machine()
    fake0 = sum(cpu_of(p) for p in fake_pids)
    start = time.monotonic()
    children = steps()
    wall = time.monotonic() - start
    busy1, total1 = cpu_machine()
    ncpu = os.cpu_count() or 1
    machine_cpu = (busy1 - busy0) / CLK
    return {
        "wall_s": wall,
        "ours_cpu_s": sum(c.cpu for c in children),
        "fake_cpu_s": sum(cpu_of(p) for p in fake_pids) - fake0,
        "machine_cpu_s": machine_cpu,
        "machine_util_pct": 100.0 * (busy1 - busy0) / max(1, total1 - total0),
        "cores": ncpu,
        "peak_rss_mb": max(c.rss_mb for c in children),
        "children": children,
    }


def batch(args, db, work, tag, fake_pids):
    cfg, out = os.path.join(work, f"{tag}.yaml"), os.path.join(work, f"{tag}.jsonl")

    def steps():
        e = run([exe("export-config"), "--db", db.url, "-o", cfg], os.path.join(work, f"{tag}-export.log"))
        c = run([exe("bugimporters"), "crawl", "-i", cfg, "-o", out, "--no-progress",
                 "--concurrency", str(args.workers)] + fetch_flags(args),
                os.path.join(work, f"{tag}-crawl.log"))
        i = run([exe("import-results"), "--db", db.url, out], os.path.join(work, f"{tag}-import.log"))
        return [e, c, i]

    return measure(fake_pids, steps)


PHASES = re.compile(r"phase ms per run over (\d+) runs: (.*) \(([\d.]+) %\)")


def serve(args, db, procs, work, tag, fake_pids):
    def steps():
        children = []
        for p in range(procs):
            argv = [exe("bugimporters"), "serve", "--once", "--db", db.url,
                    "--workers", str(args.workers), "--host-budget", "100000",
                    "--spool", os.path.join(work, f"{tag}-spool{p}"),
                    "--worker-id", f"bench:{p}"] + fetch_flags(args)
            children.append(Timed(argv, os.path.join(work, f"{tag}-serve{p}.log")))
        done = [c.wait() for c in children]
        for c in done:
            if c.code != 0:
                sys.exit(f"serve --once exited {c.code}; see {c.log}:\n{c.text[-2000:]}")
        return done

    m = measure(fake_pids, steps)
    phases, runs = {}, 0
    for c in m["children"]:
        found = PHASES.search(c.text)
        if not found:
            sys.exit(f"no phase line in {c.log}")
        n = int(found.group(1))
        runs += n
        for kv in found.group(2).split():
            k, v = kv.split("=")
            phases[k] = phases.get(k, 0.0) + float(v) * n
    m["runs_per_process"] = [int(PHASES.search(c.text).group(1)) for c in m["children"]]
    m["phase_ms_per_run"] = {k: v / max(1, runs) for k, v in phases.items()}
    return m


def row(label, n, db, m):
    bugs = db.bugs()
    m.update(label=label, trackers=n, bugs=bugs)
    ph = m.get("phase_ms_per_run")
    extra = ""
    if ph:
        sched = ph["scheduler"]
        whole = sum(ph[k] for k in ("lease", "export", "crawl", "check", "import", "record"))
        extra = (f"  | per run ms: lease {ph['lease']:.2f} export {ph['export']:.2f} crawl "
                 f"{ph['crawl']:.2f} check {ph['check']:.2f} import {ph['import']:.2f} record "
                 f"{ph['record']:.2f} -> scheduler {sched:.2f} ({100 * sched / max(whole, 1e-9):.1f} %)"
                 f"  runs/process {m['runs_per_process']}")
    print(f"{label:<22} N={n:<6} {m['wall_s']:8.2f} s {n / m['wall_s']:8.1f} runs/s "
          f"{bugs / m['wall_s']:8.0f} bugs/s  RSS {m['peak_rss_mb']:6.1f} MB  CPU s: ours "
          f"{m['ours_cpu_s']:.1f} fake {m['fake_cpu_s']:.1f} machine {m['machine_cpu_s']:.1f} "
          f"({m['machine_util_pct']:.0f} % of {m['cores']} cores){extra}", flush=True)
    m.pop("children", None)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trackers", default="10000", help="comma-separated Ns (default 10000)")
    ap.add_argument("--bugs", type=int, default=10, help="bugs per tracker (default 10)")
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--procs", default="1,3", help="serve processes (>1 on PostgreSQL only)")
    ap.add_argument("--workers", type=int, default=32,
                    help="serve --workers, and the batch crawl's --concurrency (default 32)")
    ap.add_argument("--postgres", default=os.environ.get(
        "BUGIMPORTERS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--per-fake", type=int, default=100000,
                    help="trackers per fake-tracker process (default: all in one)")
    ap.add_argument("--no-batch", action="store_true", help="skip the batch pipeline")
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    if not args.no_build:
        cmd = ["cargo", "build", "--release"] + [a for p in PACKAGES for a in ("-p", p)]
        subprocess.run(cmd, cwd=ROOT, check=True)
    dbs = args.dbs.split(",")
    if "postgres" in dbs:
        print(f"PostgreSQL max_connections = {pg_server_settings(args.postgres)}")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}, "
          f"{os.cpu_count()} cores", flush=True)
    rows = []
    for n in (int(x) for x in args.trackers.split(",")):
        work = tempfile.mkdtemp(prefix=f"serve-bench-{n}-")
        # One port per fake-tracker process (trackers under /t{i}/): a port per tracker would
        # make the crawler keep a connection alive per tracker, thousands of open files.
        fakes, templates = [], {}
        for first in range(0, n, args.per_fake):
            count = min(args.per_fake, n - first)
            urls = os.path.join(work, f"urls-{first}.txt")
            fakes.append((urls, subprocess.Popen(
                [exe("fake-tracker"), "--trackers", str(count), "--seed", str(first + 1),
                 "--bugs", str(args.bugs), "--urls", urls],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        try:
            listed = []
            for urls, fake in fakes:
                while not os.path.exists(urls):
                    if fake.poll() is not None:
                        sys.exit(f"fake-tracker exited {fake.returncode}")
                    time.sleep(0.2)
                listed += open(urls).read().split()
            trackers = [{
                "tracker_name": f"T{i:05}", "bugimporter": "trac", "base_url": u,
                "queries": [f"{u}query?format=csv&status=!closed&col=id&order=id&max=50&page=1"],
            } for i, u in enumerate(listed)]
            config = os.path.join(work, "trackers.json")
            with open(config, "w") as f:
                json.dump(trackers, f)
            # Each database kind is loaded once (customs load; customs refresh --all: all due),
            # all kinds at once, and copied for each measurement.
            started = time.monotonic()
            templates = {k: Db(k, f"{k}_template_{n}", work, args.postgres) for k in dbs}
            loading = [Timed([exe("customs"), "--db", t.url, "load", config],
                             os.path.join(work, f"{k}-load.log")) for k, t in templates.items()]
            for t in loading:
                if t.wait().code != 0:
                    sys.exit(f"customs load failed; see {t.log}")
            for k, t in templates.items():
                run([exe("customs"), "--db", t.url, "refresh", "--all"],
                    os.path.join(work, f"{k}-refresh.log"))
            print(f"{n} trackers loaded into {', '.join(dbs)} in {time.monotonic() - started:.0f} s "
                  "(customs load + refresh --all, at once; not part of the figures)", flush=True)
            for kind in dbs:
                cases = ([("batch", 0)] if not args.no_batch else [])
                cases += [("serve", int(p)) for p in args.procs.split(",")
                          if kind != "sqlite" or int(p) == 1]
                template = templates[kind]
                for what, procs in cases:
                    tag = f"{kind}-{what}{procs or ''}-{n}"
                    db = Db(kind, tag.replace("-", "_"), work, args.postgres, template)
                    try:
                        if what == "batch":
                            m = batch(args, db, work, tag, [f.pid for _, f in fakes])
                            label = f"{kind} batch"
                        else:
                            m = serve(args, db, procs, work, tag, [f.pid for _, f in fakes])
                            label = f"{kind} serve --once x{procs}"
                        rows.append(row(label, n, db, m))
                    finally:
                        db.drop()
        finally:
            for t in templates.values():
                t.drop()
            for _, fake in fakes:
                fake.terminate()
                fake.wait()
            if not args.keep:
                subprocess.run(["rm", "-rf", work])
            else:
                print(f"work directory kept: {work}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
