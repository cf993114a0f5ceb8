#!/usr/bin/env python3
"""Import throughput of the release `import-results` beside each database's bulk-load baseline
(issue 18, docs/performance.md "Import throughput").

    python3 bench/import_bench.py                      # 200 000 records, sqlite postgres mysql, 3 runs
    python3 bench/import_bench.py --records 1000000 --dbs sqlite --runs 1   # RSS at 1 000 000

Records are generated (seeded, so every run reads the same file): about 1 KB each, a title, a
100-800 byte description and the usual fields, one tracker (Twisted's Trac), 50 projects.
For each database it times, on a fresh database each run:

* ours, first import: `import-results` of the file into an empty `bugs` table (change capture
  on, as the service runs it);
* ours, re-import: the same file again (every record unchanged);
* the baseline: SQLite - a plain Python script, `json.loads` per line and `executemany`
  upserts of the same 15 columns into a table with a unique link index, 5 000 rows a batch,
  one transaction; PostgreSQL - `psql \\copy` of the same 15 columns (CSV) into an unindexed
  table; MariaDB - `LOAD DATA LOCAL INFILE` of the same CSV into an unindexed table.

Each figure is the median of `--runs` runs; ratios are what to compare on a shared machine.
Peak RSS comes from `/usr/bin/time`. `--no-build` skips `cargo build --release`.
"""

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BIN = os.path.join(TARGET, "release")
PG_ADMIN = os.environ.get("BUGIMPORTERS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MY_ADMIN = os.environ.get("BUGIMPORTERS_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")

CONFIG = """\
- tracker_name: Twisted
  bugimporter: trac
  base_url: https://twistedmatrix.com/trac/
  bug_project_name_format: '{tracker_name}'
  queries:
  - https://twistedmatrix.com/trac/query?status=new&format=csv
"""

# The 15 columns of the baselines (the link and the 14 a record of the benchmark sets).
COLUMNS = ["canonical_bug_link", "title", "description", "status", "importance",
           "people_involved", "date_reported", "last_touched", "last_polled",
           "submitter_username", "submitter_realname", "looks_closed", "good_for_newcomers",
           "concerns_just_documentation", "as_appears_in_distribution"]
SQL_TYPES = {"people_involved": "INTEGER", "looks_closed": "SMALLINT", "good_for_newcomers": "SMALLINT",
             "concerns_just_documentation": "SMALLINT", "date_reported": "TIMESTAMP",
             "last_touched": "TIMESTAMP", "last_polled": "TIMESTAMP"}

WORDS = ("crash segfault when opening the file dialog twice memory leak in reactor loop "
         "documentation typo broken link timeout deferred callback error handling unicode "
         "decode test fails on windows python3 port deprecation warning regression").split()


def generate(path, csv_path, n):
    """Writes n records as JSON lines and the same 15 columns as CSV."""
    rng = random.Random(18)
    with open(path, "w") as out, open(csv_path, "w", newline="") as cout:
        w = csv.writer(cout)
        for i in range(n):
            desc_len = rng.randint(100, 800)
            desc = []
            size = 0
            while size < desc_len:
                word = rng.choice(WORDS)
                desc.append(word)
                size += len(word) + 1
            rec = {
                "canonical_bug_link": f"https://twistedmatrix.com/trac/ticket/{i}",
                "title": f"bug {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))),
                "description": " ".join(desc),
                "status": rng.choice(["new", "assigned", "reopened", "closed"]),
                "importance": rng.choice(["low", "normal", "high"]),
                "people_involved": rng.randint(1, 9),
                "date_reported": f"2012-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}T14:05:09",
                "last_touched": f"2013-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}T10:00:00",
                "last_polled": "2014-01-01T00:00:00.123456",
                "submitter_username": f"user{rng.randint(1, 5000)}",
                "submitter_realname": f"User Number {rng.randint(1, 5000)}",
                "looks_closed": rng.random() < 0.2,
                "good_for_newcomers": rng.random() < 0.3,
                "concerns_just_documentation": rng.random() < 0.1,
                "as_appears_in_distribution": "",
                "_project_name": f"project-{i % 50}",
                "_tracker_name": "Twisted",
            }
            out.write(json.dumps(rec) + "\n")
            w.writerow([int(v) if isinstance(v, bool) else v for v in (rec[c] for c in COLUMNS)])


def timed(argv, env=None):
    """(wall s, peak RSS MiB) of a command; exits on failure."""
    tf = tempfile.NamedTemporaryFile(delete=False)
    tf.close()
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%M"] + argv,
                       capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    with open(tf.name) as f:
        rss = int(f.read().strip().splitlines()[-1]) / 1024
    os.unlink(tf.name)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return wall, rss, p.stdout


class Fresh:
    """A fresh host database of one kind, dropped by drop()."""

    def __init__(self, kind, work, tag):
        self.kind = kind
        if kind == "sqlite":
            self.path = os.path.join(work, f"{tag}.db")
            for ext in ("", "-wal", "-shm"):
                if os.path.exists(self.path + ext):
                    os.unlink(self.path + ext)
            self.url = "sqlite://" + self.path
        else:
            admin = PG_ADMIN if kind == "postgres" else MY_ADMIN
            self.name = f"bi_import_bench_{os.getpid()}_{tag}"
            self.admin = admin
            self.sql(f"DROP DATABASE IF EXISTS {self.name}")
            self.sql(f"CREATE DATABASE {self.name}")
            self.url = admin.rsplit("/", 1)[0] + "/" + self.name

    def sql(self, text, db=None):
        if self.kind == "postgres":
            url = self.admin if db is None else self.admin.rsplit("/", 1)[0] + "/" + db
            subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", text], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            args = ["mysql", "-uroot", "-h127.0.0.1", "--local-infile=1"]
            if db:
                args.append(db)
            subprocess.run(args + ["-e", text], check=True)

    def drop(self):
        if self.kind == "postgres":
            self.sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        elif self.kind == "mysql":
            self.sql(f"DROP DATABASE IF EXISTS {self.name}")


def exe(name):
    """The release binary `name`; `IMPORT_RESULTS` / `CUSTOMS` override the path."""
    return os.environ.get(name.upper().replace("-", "_")) or os.path.join(BIN, name)


def ours(kind, work, data, config):
    """(first import s, re-import s, peak RSS MiB of the two) on a fresh database."""
    db = Fresh(kind, work, "ours")
    try:
        timed([exe("customs"), "--db", db.url, "load", config])
        first, rss1, out1 = timed([exe("import-results"), "--db", db.url, data])
        again, rss2, out2 = timed([exe("import-results"), "--db", db.url, data])
        if " 0 rejected" not in out1 or " 0 inserted" not in out2:
            sys.exit(f"unexpected summaries:\n{out1}{out2}")
        return first, again, max(rss1, rss2)
    finally:
        db.drop()


def python_sqlite(work, data):
    """The plain-Python baseline: json.loads + executemany upserts, 5 000 a batch, one transaction."""
    path = os.path.join(work, "python.db")
    if os.path.exists(path):
        os.unlink(path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    cols = ", ".join(f"{c} {SQL_TYPES.get(c, 'TEXT')}" for c in COLUMNS)
    con.execute(f"CREATE TABLE bugs (id INTEGER PRIMARY KEY, {cols})")
    con.execute("CREATE UNIQUE INDEX bugs_link ON bugs (canonical_bug_link)")
    marks = ", ".join("?" for _ in COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    sql = (f"INSERT INTO bugs ({', '.join(COLUMNS)}) VALUES ({marks}) "
           f"ON CONFLICT (canonical_bug_link) DO UPDATE SET {sets}")
    start = time.monotonic()
    con.execute("BEGIN")
    batch = []
    with open(data) as f:
        for line in f:
            r = json.loads(line)
            batch.append(tuple(r.get(c) for c in COLUMNS))
            if len(batch) >= 5000:
                con.executemany(sql, batch)
                batch.clear()
    if batch:
        con.executemany(sql, batch)
    con.execute("COMMIT")
    secs = time.monotonic() - start
    con.close()
    return secs


def bulk(kind, work, csv_path):
    """psql \\copy (PostgreSQL) or LOAD DATA LOCAL INFILE (MariaDB) into an unindexed table."""
    db = Fresh(kind, work, "bulk")
    try:
        cols = ", ".join(f"{c} {SQL_TYPES.get(c, 'TEXT')}" for c in COLUMNS)
        db.sql(f"CREATE TABLE bulk_bugs ({cols})", db.name)
        if kind == "postgres":
            argv = ["psql", "-q", "-v", "ON_ERROR_STOP=1", db.url, "-c",
                    f"\\copy bulk_bugs ({', '.join(COLUMNS)}) FROM '{csv_path}' WITH (FORMAT csv)"]
        else:
            argv = ["mysql", "-uroot", "-h127.0.0.1", "--local-infile=1", db.name, "-e",
                    f"LOAD DATA LOCAL INFILE '{csv_path}' INTO TABLE bulk_bugs FIELDS TERMINATED BY ',' "
                    f"OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\r\\n' "
                    f"({', '.join(COLUMNS)})"]
        secs, _, _ = timed(argv)
        return secs
    finally:
        db.drop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--dbs", default="sqlite,postgres,mysql")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-baseline", action="store_true", help="time only ours")
    ap.add_argument("--data", help="a JSON lines file to import instead of generated records "
                    "(its CSV twin, same name with .csv, for the bulk baselines)")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "import-results", "-p", "customs"],
                       cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="import-bench-")
    try:
        data = os.path.join(work, "records.jsonl")
        csv_path = os.path.join(work, "records.csv")
        config = os.path.join(work, "trackers.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        if args.data:
            data, csv_path = args.data, os.path.splitext(args.data)[0] + ".csv"
            with open(data) as f:
                args.records = sum(1 for _ in f)
        else:
            generate(data, csv_path, args.records)
        n = args.records
        print(f"{n} records, {os.path.getsize(data) / n:.0f} bytes each on average, "
              f"{args.runs} runs, medians; load average {os.getloadavg()[0]:.1f}")
        print(f"{'database':<10} {'first rec/s':>12} {'re-import rec/s':>16} {'re/first':>9} "
              f"{'RSS MiB':>8} {'baseline':<26} {'base rec/s':>11} {'first/base time':>16}")
        for kind in args.dbs.split(","):
            firsts, agains, rss, bases = [], [], [], []
            for _ in range(args.runs):
                f, a, r = ours(kind, work, data, config)
                firsts.append(f)
                agains.append(a)
                rss.append(r)
                if not args.no_baseline:
                    bases.append(python_sqlite(work, data) if kind == "sqlite" else bulk(kind, work, csv_path))
            f, a = statistics.median(firsts), statistics.median(agains)
            label = {"sqlite": "python executemany", "postgres": "psql \\copy (no index)",
                     "mysql": "LOAD DATA LOCAL INFILE"}[kind]
            if bases:
                b = statistics.median(bases)
                base = f"{label:<26} {n / b:>11.0f} {f / b:>16.2f}"
            else:
                base = ""
            print(f"{kind:<10} {n / f:>12.0f} {n / a:>16.0f} {f / a:>9.2f} {max(rss):>8.1f} {base}",
                  flush=True)
            print(f"  raw s: first {['%.2f' % x for x in firsts]} re-import {['%.2f' % x for x in agains]} "
                  f"baseline {['%.2f' % x for x in bases]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
