#!/usr/bin/env python3
"""The benchmark's scenarios, run by bench/run once the store is loaded and
the servers are up. Standard library only.

Every read scenario runs the API (wrk) and its reference (pgbench -M prepared
running the SQL that `chronik bench-sql` captured for the very same request
targets) in alternation, BENCH_ROUNDS times each, at the same concurrency.
The results go to stdout as one table and to bench/results/<time>.json
(schema in bench/README.md).
"""

import datetime as dt
from http.client import HTTPConnection
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = os.environ
EVENTS = int(ENV["BENCH_EVENTS"])
DURATION = int(ENV["BENCH_DURATION"])
ROUNDS = int(ENV["BENCH_ROUNDS"])
CONNECTIONS = int(ENV["BENCH_CONNECTIONS"])
IMPORT_EVENTS = int(ENV["BENCH_IMPORT_EVENTS"])
DATABASE_URL = ENV["DATABASE_URL"]
PG = ENV["BENCH_PG"]
CHRONIK = ENV["BENCH_CHRONIK"]
TOKEN = ENV["BENCH_TOKEN"]
WORK = Path(ENV["BENCH_WORK"])
BASE = f"http://127.0.0.1:{ENV['BENCH_PORT']}"
IMPORT_BASE = f"http://127.0.0.1:{ENV['BENCH_IMPORT_PORT']}"
IMPORT_DB_URL = f"{PG}/{ENV['BENCH_IMPORT_DB']}"
IMPORT_TOKEN = ENV["BENCH_IMPORT_TOKEN"]
SERVER_PID = int(ENV["BENCH_SERVER_PID"])
REVISED_FROM = dt.date.fromisoformat(ENV["BENCH_REVISED_FROM"])
# Distinct request targets per scenario (pgbench takes at most 128 scripts).
TARGETS = 50
WARMUP = int(ENV.get("BENCH_WARMUP", "5"))
THREADS = min(2, CONNECTIONS)
STORE_START = dt.date(2016, 1, 1)
STORE_END = dt.date(2026, 1, 1)
# The change feed's page size in the `changes` scenario (the most it allows).
FEED_LIMIT = 1000
# The `live` scenario: streams, the writer's rate, seconds of writing.
LIVE_CLIENTS = int(ENV.get("BENCH_LIVE_CLIENTS", "1000"))
LIVE_RATE = float(ENV.get("BENCH_LIVE_RATE", "200"))
LIVE_SECONDS = float(ENV.get("BENCH_LIVE_SECONDS", "30"))
LIVE_LOAD = ENV.get("BENCH_LIVE_LOAD", "")
# BENCH_BEFORE (bench/run): the server of an earlier commit on a copy of the
# store, for the write scenarios' before/after rounds.
BEFORE = ENV.get("BENCH_BEFORE", "")
if BEFORE:
    BEFORE_BASE = f"http://127.0.0.1:{ENV['BENCH_BEFORE_PORT']}"
    BEFORE_DB_URL = f"{PG}/{ENV['BENCH_BEFORE_DB']}"
    BEFORE_TOKEN = ENV["BENCH_BEFORE_TOKEN"]
    BEFORE_IMPORT_BASE = f"http://127.0.0.1:{ENV['BENCH_BEFORE_IMPORT_PORT']}"
    BEFORE_IMPORT_DB_URL = f"{PG}/{ENV['BENCH_BEFORE_IMPORT_DB']}"
    BEFORE_IMPORT_TOKEN = ENV["BENCH_BEFORE_IMPORT_TOKEN"]

rng = random.Random(42)


def log(message):
    print(f"   {message}", file=sys.stderr, flush=True)


def psql(sql, url=DATABASE_URL):
    out = subprocess.run(
        ["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


class NotAvailable(Exception):
    """The server lacks the endpoint or parameter a scenario needs."""


def http(method, path, body=None, headers=None, base=BASE, timeout=600):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- load generators ----------------------------------------------------------

def wrk(targets, duration, body=None, token=None, connections=CONNECTIONS, base=BASE, patch=None):
    """Runs wrk against `base` with random picks from `targets` (paths, or
    `METHOD path` lines: wrk.lua); `body` is what POSTs send, `patch` what
    PATCHes send. Returns its summary."""
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        (tmp / "targets").write_text("\n".join(targets) + "\n")
        env = dict(ENV, BENCH_TARGETS=str(tmp / "targets"), BENCH_OUT=str(tmp / "out.json"),
                   BENCH_TOKEN=token or "", BENCH_BODY="", BENCH_PATCH="")
        for name, text in (("BENCH_BODY", body), ("BENCH_PATCH", patch)):
            if text is not None:
                (tmp / name).write_text(text)
                env[name] = str(tmp / name)
        subprocess.run(
            ["wrk", "-t", str(min(THREADS, connections)), "-c", str(connections), "-d", f"{duration}s",
             "--timeout", "10s", "-s", str(ROOT / "bench" / "wrk.lua"), base],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )
        out = json.loads((tmp / "out.json").read_text())
    seconds = out["duration_us"] / 1e6
    errors = sum(out["errors"].values())
    return {
        "requests": out["requests"],
        "errors": errors,
        "per_second": round((out["requests"] - errors) / seconds, 1),
        "p50_ms": out["latency_us"]["p50"] / 1000,
        "p99_ms": out["latency_us"]["p99"] / 1000,
    }


def pgbench_scripts(statements, tmp):
    """pgbench scripts for captured statements: one script per statement, its
    binds passed as -D variables so that -M prepared sends them as parameters,
    exactly as Chronik does."""
    args = []
    for n, stmt in enumerate(statements):
        sql = re.sub(r"\$(\d+)", lambda m: placeholder(stmt, m, f":s{n}p{m.group(1)}"), stmt["sql"])
        script = tmp / f"s{n}.sql"
        script.write_text(sql + ";\n")
        args += ["-f", f"{script}@1"]
        for i, value in enumerate(stmt["params"], start=1):
            if value is not None:
                args += ["-D", f"s{n}p{i}={value}"]
    return args


def placeholder(stmt, match, variable):
    """A pgbench variable for bind `match`, or `NULL` written into the
    statement for a NULL bind: pgbench's variables are text, so it cannot
    send a NULL parameter (the feed page binds `NULL` for its bound)."""
    return "NULL" if stmt["params"][int(match.group(1)) - 1] is None else variable


def pgbench(statements, duration, connections=CONNECTIONS):
    """Runs pgbench -M prepared over `statements` for WARMUP + `duration`
    seconds and measures the last `duration` from its per-transaction log.
    Each pgbench run opens new connections, which prepare (and for their
    first five executions plan) every script anew; Chronik's pooled
    connections have long done that, so the warm-up is not counted."""
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        args = pgbench_scripts(statements, tmp)
        result = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", str(min(THREADS, connections)),
             "-T", str(WARMUP + duration), "-l", "--log-prefix", str(tmp / "log"), *args, DATABASE_URL],
            check=True, capture_output=True, text=True,
            env=dict(ENV, PGOPTIONS=f"-c plan_cache_mode={plan_cache_mode(statements)}"),
        )
        done = []  # (completion time in µs since the epoch, latency in µs)
        for log_file in tmp.glob("log*"):
            for line in log_file.read_text().splitlines():
                fields = line.split()
                done.append((int(fields[4]) * 1_000_000 + int(fields[5]), int(fields[2])))
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    end = max(t for t, _ in done)
    start = end - duration * 1_000_000
    latencies = sorted(latency for t, latency in done if t > start)
    return {
        "requests": len(latencies),
        "errors": int(failed.group(1)) if failed else 0,
        "per_second": round(len(latencies) / duration, 1),
        "p50_ms": percentile(latencies, 50) / 1000,
        "p99_ms": percentile(latencies, 99) / 1000,
    }


def plan_cache_mode(statements):
    """Chronik reuses some statements' prepared plans and plans others for
    each execution's values (`cached` in bench-sql's output); pgbench plans
    alike."""
    return "auto" if all(s["cached"] for s in statements) else "force_custom_plan"


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def capture(target):
    """The SQL and binds Chronik sends for `target` (see src/bench_sql.rs)."""
    out = subprocess.run([CHRONIK, "bench-sql", target], capture_output=True, text=True,
                         env=dict(ENV, DATABASE_URL=DATABASE_URL))
    if out.returncode != 0:
        raise NotAvailable(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "bench-sql failed")
    return json.loads(out.stdout)


def explain(statement):
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement, prepared the way
    pgbench prepares it (parameters typed by Postgres from their context)."""
    literals = ", ".join("NULL" if p is None else "'" + p.replace("'", "''") + "'"
                         for p in statement["params"])
    execute = f"EXECUTE bench({literals})" if literals else "EXECUTE bench"
    sql = f"PREPARE bench AS {statement['sql']};\nEXPLAIN (ANALYZE, BUFFERS) {execute};"
    out = subprocess.run(["psql", DATABASE_URL, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=sql,
                         check=True, capture_output=True, text=True).stdout
    return out.rstrip("\n")


def delivery_seconds(statement):
    """Seconds Postgres takes to run a captured statement without binds and
    send every row as text to a client that discards it (COPY TO STDOUT):
    the most any server reading through it could deliver."""
    if statement["params"]:
        raise ValueError("delivery_seconds takes statements without binds")
    started = time.monotonic()
    subprocess.run(["psql", DATABASE_URL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
                    f"COPY ({statement['sql']}) TO STDOUT"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - started


def summarize(runs):
    """Median over rounds of each measure."""
    return {key: round(statistics.median(r[key] for r in runs), 3)
            for key in ("per_second", "p50_ms", "p99_ms")} | {
        "requests": sum(r["requests"] for r in runs), "errors": sum(r["errors"] for r in runs)}


def compare(targets, reference=True, connections=CONNECTIONS):
    """The API over `targets` and pgbench over the same statements, alternating."""
    check_targets(targets)
    statements = [capture(t) for t in targets] if reference else None
    wrk(targets, WARMUP, connections=connections)
    api_runs, ref_runs = [], []
    for r in range(ROUNDS):
        api_runs.append(wrk(targets, DURATION, connections=connections))
        log(f"round {r + 1} api: {api_runs[-1]}")
        if reference:
            ref_runs.append(pgbench(statements, DURATION, connections=connections))
            log(f"round {r + 1} pgbench: {ref_runs[-1]}")
    result = {"api": summarize(api_runs), "api_rounds": api_runs}
    if reference:
        result["sql"] = statements[0]
        result["explain"] = explain(statements[0])
    if reference:
        result["reference"] = summarize(ref_runs) | {"plan_cache_mode": plan_cache_mode(statements)}
        result["reference_rounds"] = ref_runs
        result["ratio"] = round(result["api"]["per_second"] / result["reference"]["per_second"], 3)
    return result


def check_targets(targets):
    """Every target must answer 200 before it is measured; a 400 naming an
    unknown parameter, or a 404/405 for the path, means the feature is missing."""
    for target in targets[:3]:
        status, body = http("GET", target)
        if status == 200:
            continue
        text = body.decode(errors="replace")
        if status in (404, 405) or (status == 400 and "unknown parameter" in text):
            raise NotAvailable(f"GET {target} answered {status}: {text[:200]}")
        raise RuntimeError(f"GET {target} answered {status}: {text[:500]}")


# --- request targets ----------------------------------------------------------

def random_windows(start, end, days=30):
    span = (end - start).days - days
    out = []
    for _ in range(TARGETS):
        first = start + dt.timedelta(days=rng.randrange(span))
        out.append((first, first + dt.timedelta(days=days - 1)))
    return out


def timeline_targets(start=STORE_START, end=STORE_END, extra=""):
    # `to` is inclusive to the end of its day: the window is 30 whole days.
    return [f"/v1/events?from={a}&to={b}&limit=100{extra}" for a, b in random_windows(start, end)]


# --- scenarios -----------------------------------------------------------------

def scenario_timeline():
    result = compare(timeline_targets())
    result["target"] = "ratio >= 0.8 and p99 <= 25 ms"
    result["met"] = result["ratio"] >= 0.8 and result["api"]["p99_ms"] <= 25
    return result


def scenario_by_id():
    ids = [row[0] for row in psql(
        f"SELECT id FROM events WHERE deleted_at IS NULL ORDER BY md5(id::text) LIMIT {TARGETS}")]
    result = compare([f"/v1/events/{i}" for i in ids])
    result["target"] = "ratio >= 0.8"
    result["met"] = result["ratio"] >= 0.8
    return result


def scenario_deep_paging():
    """The first page and the 1,000th (reached by following next_cursor) of
    the whole store in time order, 100 events a page."""
    target = "/v1/events?limit=100"
    first = target
    for page in range(1, 1000):
        status, body = http("GET", target)
        if status != 200:
            raise RuntimeError(f"GET {target} answered {status}")
        cursor = json.loads(body)["next_cursor"]
        if cursor is None:
            raise RuntimeError(f"the store has only {page} pages of 100 events; deep paging needs 1,000")
        target = f"/v1/events?limit=100&cursor={cursor}"
    first_page = compare([first])
    deep_page = compare([target])
    ratio = round(deep_page["api"]["p50_ms"] / first_page["api"]["p50_ms"], 3)
    return {"first_page": first_page, "page_1000": deep_page, "api": deep_page["api"],
            "reference": deep_page["reference"], "ratio": deep_page["ratio"],
            "sql": deep_page["sql"], "explain": deep_page["explain"],
            "latency_vs_first_page": ratio,
            "target": "page 1000 p50 <= 1.5 x first page p50", "met": ratio <= 1.5}


def scenario_filtered():
    rows = psql(
        "SELECT event_type, country_code, tags[1] FROM events TABLESAMPLE SYSTEM (5) REPEATABLE (7) "
        f"WHERE deleted_at IS NULL AND country_code IS NOT NULL ORDER BY md5(id::text) LIMIT {TARGETS}")
    targets = [f"/v1/events?type={t}&country={c}&tag={g}&limit=100" for t, c, g in rows]
    result = compare(targets)
    result["target"] = "ratio >= 0.8"
    result["met"] = result["ratio"] >= 0.8
    return result


def scenario_as_of():
    """Windows among the events with several revisions, as known three days
    after each window: every revision until then is a candidate. Compared with
    the same windows in their current state."""
    windows = random_windows(REVISED_FROM, STORE_END)

    def as_of(b):
        return f"{b + dt.timedelta(days=3)}T00:00:00Z"

    historic = [f"/v1/events?from={a}&to={b}&limit=100&as_of={as_of(b)}" for a, b in windows]
    current = [f"/v1/events?from={a}&to={b}&limit=100" for a, b in windows]
    check_targets(historic)
    try:
        capture(historic[0])
        result = compare(historic)
    except NotAvailable as reason:
        # The endpoint serves as_of, but bench-sql cannot capture its SQL.
        log(f"no pgbench reference for as_of: {reason}")
        result = compare(historic, reference=False)
    result["current_state"] = compare(current, reference=False)["api"]
    result["latency_vs_current"] = round(result["api"]["p50_ms"] / result["current_state"]["p50_ms"], 3)
    result["target"] = "p50 <= 2 x the current-state page"
    result["met"] = result["latency_vs_current"] <= 2
    return result


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def scenario_export():
    """GET /v1/events?format=ndjson, every event, read as fast as the client can;
    the server's resident memory is sampled every 20 ms."""
    statement = capture("/v1/events?format=ndjson")
    # One unmeasured pass first, so that the export and the COPY after it
    # both read a warm cache: measured cold, right after the load, the
    # export ran at 15,000 events/s and the same export again at 62,000.
    delivery_seconds(statement)
    baseline = rss_kib(SERVER_PID)
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(SERVER_PID))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    lines = size = 0
    started = time.monotonic()
    try:
        with urllib.request.urlopen(BASE + "/v1/events?format=ndjson", timeout=600) as resp:
            while chunk := resp.read(1 << 20):
                lines += chunk.count(b"\n")
                size += len(chunk)
    finally:
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
    expected = int(psql("SELECT count(*) FROM events WHERE deleted_at IS NULL")[0][0])
    # How long Postgres alone takes for the statement the export's cursor
    # reads: executing it (EXPLAIN ANALYZE, which renders no rows), and
    # executing it and sending every row (COPY), which is the export's limit.
    plan = explain(statement)
    sql_ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
    delivery = delivery_seconds(statement)
    if lines != expected:
        raise RuntimeError(f"the export had {lines} lines, the store {expected} events")
    per_second = round(lines / elapsed, 1)
    growth_mb = round((peak[0] - baseline) / 1024, 1)
    return {"events": lines, "bytes": size, "seconds": round(elapsed, 2),
            "api": {"per_second": per_second}, "server_rss_baseline_mb": round(baseline / 1024, 1),
            "sql": statement, "explain": plan,
            "postgres_alone": {"seconds": round(sql_ms / 1000, 2),
                               "per_second": round(expected / (sql_ms / 1000), 1)},
            "postgres_delivery": {"seconds": round(delivery, 2),
                                  "per_second": round(expected / delivery, 1)},
            "ratio": round(per_second / (expected / delivery), 3),
            "server_rss_growth_mb": growth_mb,
            "target": ">= 200,000 events/s, server memory growth <= 50 MB",
            "met": per_second >= 200_000 and growth_mb <= 50}


FEED_PAGE_END = re.compile(rb'\],"next_cursor":"(\d+-\d+)","has_more":(true|false)\}$')


def read_feed():
    """Reads the whole change feed from its start, one JSON page of
    FEED_LIMIT entries after the other, following `next_cursor` until
    `has_more` is false, as a client copying the store would. The client
    does little per page (like pgbench, which receives the rows and drops
    them): the cursor is read off the page's end and entries are counted by
    their opening `{"cursor":` (the entry's first field). Returns the pages,
    the entries, the seconds and the `after` of each page."""
    after, starts, pages, entries = None, [], 0, 0
    # One connection kept alive, as a syncing client keeps it.
    connection = HTTPConnection(BASE.removeprefix("http://"), timeout=600)
    started = time.monotonic()
    while True:
        target = f"/v1/changes?limit={FEED_LIMIT}" + (f"&after={after}" if after else "")
        starts.append(after)
        connection.request("GET", target)
        response = connection.getresponse()
        status, body = response.status, response.read()
        if status != 200:
            if status in (404, 405):
                raise NotAvailable(f"GET {target} answered {status}")
            raise RuntimeError(f"GET {target} answered {status}: {body[:300].decode(errors='replace')}")
        end = FEED_PAGE_END.search(body[-100:])
        if not end:
            raise RuntimeError(f"GET {target}: the page does not end in next_cursor and has_more")
        pages += 1
        entries += body.count(b'{"cursor":"')
        after = end.group(1).decode()
        if end.group(2) == b"false":
            elapsed = time.monotonic() - started
            connection.close()
            return pages, entries, elapsed, starts


def scenario_changes():
    """The change feed in pages of 1,000. The ratio: 50 pages spread evenly
    over the feed, read by one client (wrk, one connection) against pgbench
    on one connection running their page statements (captured by bench-sql),
    alternating. Beside it: the whole feed read page by page, following
    `next_cursor` until `has_more` is false (every revision once, checked),
    and the 50 pages at BENCH_CONNECTIONS, wrk against pgbench."""
    revisions = int(psql("SELECT count(*) FROM event_revisions")[0][0])
    reads = []
    for r in range(ROUNDS):
        pages, entries, seconds, starts = read_feed()
        if entries != revisions:
            raise RuntimeError(f"the feed had {entries} entries, the store {revisions} revisions")
        reads.append({"pages": pages, "entries": entries, "seconds": round(seconds, 2),
                      "per_second": round(pages / seconds, 2),
                      "entries_per_second": round(entries / seconds, 1)})
        log(f"round {r + 1} feed read whole: {reads[-1]}")
    # Full pages only: the last page of the feed is shorter.
    full = starts[:-1] or starts
    count = min(TARGETS, len(full))
    picks = [full[round(i * (len(full) - 1) / max(1, count - 1))] for i in range(count)]
    targets = [f"/v1/changes?limit={FEED_LIMIT}" + (f"&after={a}" if a else "") for a in picks]
    one = compare(targets, connections=1)
    log(f"one client: {one['api']} vs {one['reference']}")
    concurrent = compare(targets)
    log(f"{CONNECTIONS} connections: {concurrent['api']} vs {concurrent['reference']}")
    whole = {key: round(statistics.median(x[key] for x in reads), 2)
             for key in ("per_second", "entries_per_second", "seconds")}
    keys = ("api", "api_rounds", "reference", "reference_rounds", "ratio")
    return {"api": one["api"] | {"unit": "pages/s", "entries_per_second": round(one["api"]["per_second"] * FEED_LIMIT)},
            "api_rounds": one["api_rounds"], "reference": one["reference"] | {"connections": 1},
            "reference_rounds": one["reference_rounds"], "ratio": one["ratio"],
            "whole_feed": whole | {"pages": reads[-1]["pages"], "entries": reads[-1]["entries"],
                                   "ratio_to_reference": round(whole["per_second"] / one["reference"]["per_second"], 3)},
            "whole_feed_rounds": reads, "feed_limit": FEED_LIMIT,
            "sql": one["sql"], "explain": one["explain"],
            "concurrent": {k: concurrent[k] for k in keys} | {"connections": CONNECTIONS},
            "target": ">= 0.8 x pgbench of the same page statements (pages/s, one client)",
            "met": one["ratio"] >= 0.8}


def scenario_live():
    """LIVE_CLIENTS streams of GET /v1/events/stream while a writer POSTs
    LIVE_RATE events per second for LIVE_SECONDS (examples/live_load.rs):
    commit-to-delivery latency, lost and duplicated messages, the server's
    memory; then POST throughput (wrk, as in `post`) with the streams open
    against without, alternating."""
    if not LIVE_LOAD or not Path(LIVE_LOAD).exists():
        raise NotAvailable("no load client (BENCH_LIVE_LOAD: bench/run builds examples/live_load)")
    # Only the status: the stream itself never ends.
    try:
        with urllib.request.urlopen(BASE + "/v1/events/stream", timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as err:
        status = err.code
    if status != 200:
        if status in (404, 405):
            raise NotAvailable(f"GET /v1/events/stream answered {status}")
        raise RuntimeError(f"GET /v1/events/stream answered {status}")
    prefix = dt.datetime.now(dt.timezone.utc).strftime("live-%H%M%S-")
    event = post_body("live")
    event["external_id"] = prefix + "{{n}}"
    posted = posted_on("live.example.org")
    post_posted = posted_on("post.example.org")
    remove_written(posted, "live.example.org")
    remove_written(post_posted, "post.example.org")
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_text(json.dumps(event))
        common = [LIVE_LOAD, "--base", BASE, "--clients", str(LIVE_CLIENTS), "--pid", str(SERVER_PID)]
        try:
            out = subprocess.run(common + ["--mode", "measure", "--rate", str(LIVE_RATE),
                                           "--seconds", str(LIVE_SECONDS), "--token", TOKEN,
                                           "--body", str(body_file), "--prefix", prefix],
                                 check=True, capture_output=True, text=True)
            measured = json.loads(out.stdout)
            log(f"live: {json.dumps(measured)}")
            post = json.dumps(post_body("post"))
            wrk(["/v1/events"], WARMUP, body=post, token=TOKEN)
            alone, with_streams = [], []
            for r in range(ROUNDS):
                alone.append(wrk(["/v1/events"], DURATION, body=post, token=TOKEN))
                log(f"round {r + 1} post without streams: {alone[-1]}")
                hold = subprocess.Popen(common + ["--mode", "hold", "--seconds", str(DURATION + 120)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                try:
                    ready = json.loads(hold.stdout.readline() or "{}")
                    if ready.get("ready") != LIVE_CLIENTS:
                        raise RuntimeError(f"the streams did not open: {ready}")
                    with_streams.append(wrk(["/v1/events"], DURATION, body=post, token=TOKEN))
                finally:
                    hold.stdin.close()
                    held = json.loads(hold.stdout.read() or "{}")
                    hold.wait(timeout=60)
                with_streams[-1]["streams"] = held.get("streams")
                log(f"round {r + 1} post with {LIVE_CLIENTS} streams: {with_streams[-1]}")
        except subprocess.CalledProcessError as err:
            raise RuntimeError(f"live_load failed: {err.stderr.strip()[-500:]}") from err
        finally:
            remove_written(posted, "live.example.org")
            remove_written(post_posted, "post.example.org")
    delivery = measured["delivery"]
    latency = delivery["latency_ms"]
    growth = measured["server_rss_mb"]["growth"]
    post_alone, post_streams = summarize(alone), summarize(with_streams)
    post_ratio = round(post_streams["per_second"] / post_alone["per_second"], 3)
    met = {"p99 <= 100 ms": latency["p99"] is not None and latency["p99"] <= 100,
           "no loss": delivery["lost"] == 0 and delivery["expected"] > 0,
           "no duplicates": delivery["duplicates"] == 0,
           "rss growth <= 100 MB": growth is not None and growth <= 100,
           "post >= 0.8 x without streams": post_ratio >= 0.8}
    return {"api": {"per_second": measured["writer"]["per_second"], "p50_ms": latency["p50"],
                    "p99_ms": latency["p99"]},
            "clients": LIVE_CLIENTS, "rate": LIVE_RATE, "seconds": LIVE_SECONDS,
            "load": measured, "lost": delivery["lost"], "duplicates": delivery["duplicates"],
            "server_rss_growth_mb": growth,
            "post_without_streams": post_alone, "post_without_streams_rounds": alone,
            "post_with_streams": post_streams, "post_with_streams_rounds": with_streams,
            "post_ratio": post_ratio,
            "target": "p99 <= 100 ms, no message lost or duplicated, server RSS growth <= 100 MB, "
                      "POST with the streams open >= 0.8 x without",
            "met_each": met, "met": all(met.values())}


def event_input(n, actors, prefix="import"):
    """An event as a client would POST it (src/models/event.rs EventInput)."""
    day = STORE_START + dt.timedelta(days=n % 3650)
    return {
        "external_id": f"{prefix}-{n}",
        "title": f"Imported protest {n}",
        "summary": "Several hundred people gathered in the main square, organizers said.",
        "language": "en",
        "type": ["protest", "armed_clash", "arrest", "official_statement"][n % 4],
        "occurred_start": f"{day}T{n % 24:02d}:00:00Z",
        "precision": "hour",
        "location": {"name": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
        "actors": [{"name": actors[n % len(actors)], "role": "organizer"}],
        "casualties": [{"kind": "injured", "party": "protesters", "min": n % 7, "max": None,
                        "status": "claimed"}] if n % 3 == 0 else [],
        "sources": [{"url": f"https://{prefix}.example.org/articles/{n // 5}", "via": ["AFP"]}],
        "tags": ["import", ["election", "strike", "students"][n % 3]],
    }


def timed_import(prefix, base, token, db_url):
    """POST /v1/import of IMPORT_EVENTS events as one NDJSON body; checks that
    the store gained exactly those, and returns the scenario's record."""
    actors = [f"Import Actor {i}" for i in range(200)]
    body = "".join(json.dumps(event_input(n, actors, prefix)) + "\n" for n in range(IMPORT_EVENTS)).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    count = "SELECT count(*) FROM events"
    before = int(psql(count, url=db_url)[0][0])
    started = time.monotonic()
    status, answer = http("POST", "/v1/import", body, headers, base=base)
    elapsed = time.monotonic() - started
    if status in (404, 405):
        raise NotAvailable(f"POST /v1/import answered {status}")
    if status >= 300:
        raise RuntimeError(f"POST /v1/import answered {status}: {answer[:500].decode(errors='replace')}")
    gained = int(psql(count, url=db_url)[0][0]) - before
    if gained != IMPORT_EVENTS:
        raise RuntimeError(f"imported {IMPORT_EVENTS} events, the store gained {gained}")
    return {"events": IMPORT_EVENTS, "store_before": before, "bytes": len(body),
            "seconds": round(elapsed, 2), "api": {"per_second": round(IMPORT_EVENTS / elapsed, 1)}}


def scenario_import():
    """Bulk import into an empty store of its own. With BENCH_BEFORE, ROUNDS
    imports by each server, alternating, each into its own empty store
    (emptied again after each round)."""
    if not BEFORE:
        record = timed_import("import", IMPORT_BASE, IMPORT_TOKEN, IMPORT_DB_URL)
        return dict(record, target=">= 50,000 events/s into an empty store",
                    met=record["api"]["per_second"] >= 50_000)
    servers = {"before": (BEFORE_IMPORT_BASE, BEFORE_IMPORT_TOKEN, BEFORE_IMPORT_DB_URL),
               "after": (IMPORT_BASE, IMPORT_TOKEN, IMPORT_DB_URL)}
    rounds = {"before": [], "after": []}
    for r in range(ROUNDS):
        for side, (base, token, url) in servers.items():
            empty_store(url)
            rounds[side].append(timed_import("import", base, token, url))
            log(f"round {r + 1} import {side}: {rounds[side][-1]['api']}")
    for _, _, url in servers.values():
        empty_store(url)
    rate = {side: statistics.median(x["api"]["per_second"] for x in runs) for side, runs in rounds.items()}
    record = dict(rounds["after"][-1], api={"per_second": round(rate["after"], 1)},
                  api_rounds=rounds["after"], before={"commit": BEFORE, "per_second": round(rate["before"], 1)},
                  before_rounds=rounds["before"], ratio_to_before=round(rate["after"] / rate["before"], 3))
    return dict(record, target=">= 50,000 events/s into an empty store", met=rate["after"] >= 50_000)


def remove_written(events, source_host, actors="FALSE", url=DATABASE_URL):
    """Deletes the events matching the SQL condition `events` from the main
    store, history and all, with the sources on `source_host` and the actors
    matching `actors` that no event names any more: so that the store stays
    as generated for later runs (BENCH_SKIP_LOAD). The history is append-only
    (a trigger forbids DELETE on event_revisions); a replica session role
    skips triggers, as maintenance of a copy would."""
    psql(f"""
        SET session_replication_role = replica;
        CREATE TEMP TABLE gone AS SELECT id FROM events WHERE {events};
        DELETE FROM event_revisions WHERE event_id IN (SELECT id FROM gone);
        DELETE FROM event_actors WHERE event_id IN (SELECT id FROM gone);
        DELETE FROM event_sources WHERE event_id IN (SELECT id FROM gone);
        DELETE FROM event_timelines WHERE event_id IN (SELECT id FROM gone);
        DELETE FROM events WHERE id IN (SELECT id FROM gone);
        DELETE FROM sources WHERE url LIKE 'https://{source_host}/%';
        DELETE FROM actors a WHERE ({actors})
            AND NOT EXISTS (SELECT 1 FROM event_actors ea WHERE ea.actor_id = a.id)""", url=url)
    # A separate command: VACUUM cannot run inside the one above's transaction.
    psql("VACUUM ANALYZE events, event_revisions, event_actors, event_sources, sources, actors", url=url)


def empty_store(url):
    """Empties an import store of its events and all they brought, as it was
    before the first import: TRUNCATE, so that its tables read as never
    analyzed again. (Deleting the rows and VACUUM ANALYZE instead left
    statistics of empty tables, and the next import, planned for those,
    ran for over ten minutes instead of one.) Triggers are skipped as in
    remove_written; the tables an import writes are truncated, and what
    refers to them (CASCADE), which in an import store is nothing else."""
    psql("""
        SET session_replication_role = replica;
        TRUNCATE events, event_revisions, event_actors, event_sources, event_timelines,
                 sources, actors CASCADE""", url=url)


def remove_imported(prefix, url=DATABASE_URL):
    """What timed_import(prefix) wrote into the store at `url` (the main one by default)."""
    remove_written(f"external_id LIKE '{prefix}-%'", f"{prefix}.example.org",
                   actors="name LIKE 'Import Actor %'", url=url)


def scenario_import_full():
    """Bulk import into the benchmark's store (1M events by default), the
    second target of issue 5; the imported events are removed afterwards."""
    prefix = "import-full"
    remove_imported(prefix)  # what an interrupted run left
    try:
        record = timed_import(prefix, BASE, TOKEN, DATABASE_URL)
    finally:
        remove_imported(prefix)
    return dict(record, target=">= 20,000 events/s into a store that holds 1M events",
                met=record["api"]["per_second"] >= 20_000)


def scenario_post():
    """POST /v1/events, one event per request (each with its revision), with a
    source URL unique to the request and actors already in the store."""
    body = json.dumps(post_body("post"))
    # The posted events cite only this host; they are removed again after
    # (and before, if an interrupted run left them), as import_full's are.
    posted = posted_on("post.example.org")
    # With BENCH_BEFORE, the same rounds against the earlier commit's server
    # on its copy of the store, alternating: before, after, before, …
    servers = {"after": (BASE, TOKEN, DATABASE_URL)}
    if BEFORE:
        servers = {"before": (BEFORE_BASE, BEFORE_TOKEN, BEFORE_DB_URL)} | servers
    rounds = {side: [] for side in servers}
    for _, _, url in servers.values():
        remove_written(posted, "post.example.org", url=url)
    try:
        for base, token, _ in servers.values():
            wrk(["/v1/events"], WARMUP, body=body, token=token, base=base)
        for r in range(ROUNDS):
            for side, (base, token, _) in servers.items():
                rounds[side].append(wrk(["/v1/events"], DURATION, body=body, token=token, base=base))
                log(f"round {r + 1} post {side}: {rounds[side][-1]}")
    finally:
        for _, _, url in servers.values():
            remove_written(posted, "post.example.org", url=url)
    runs = rounds["after"]
    api = summarize(runs)
    record = {"api": api, "api_rounds": runs, "target": ">= 2,000 events/s",
              "met": api["per_second"] >= 2000 and api["errors"] == 0}
    if BEFORE:
        before = summarize(rounds["before"])
        record |= {"before": before | {"commit": BEFORE}, "before_rounds": rounds["before"],
                   "ratio_to_before": round(api["per_second"] / before["per_second"], 3)}
    return record


def post_body(prefix):
    """The body of the `post` scenario's POSTs: an event with an actor of
    the store and a new source per request on `<prefix>.example.org`
    (wrk.lua and the live load client replace `{{n}}`)."""
    names = [row[0] for row in psql("SELECT name FROM actors ORDER BY name_key LIMIT 50")]
    event = event_input(0, names)
    event.pop("external_id")
    event["sources"] = [{"url": f"https://{prefix}.example.org/articles/{{{{n}}}}", "via": ["AFP"]}]
    event["title"] = "Posted event {{n}}"
    return event


def posted_on(host):
    """The SQL condition for the events that cite `host`."""
    return ("id IN (SELECT es.event_id FROM event_sources es JOIN sources s ON s.id = es.source_id "
            f"WHERE s.url LIKE 'https://{host}/%')")


def scenario_soak():
    """Mixed load for BENCH_SOAK_SECONDS (bench/soak.py)."""
    import soak
    return soak.scenario_soak(sys.modules[__name__])


SCENARIOS = [
    ("timeline", "timeline page: 100 events, random 30-day window", scenario_timeline),
    ("by_id", "single event by id", scenario_by_id),
    ("deep_paging", "deep paging: page 1,000 via cursor", scenario_deep_paging),
    ("filtered", "filtered page (type + country + tag)", scenario_filtered),
    ("as_of", "as_of timeline page, 5 revisions per event", scenario_as_of),
    ("export", "NDJSON export of all events", scenario_export),
    ("changes", "change feed, 1,000 per page, one client", scenario_changes),
    ("import", "bulk import into an empty store", scenario_import),
    ("post", "single-event POST (with its revision)", scenario_post),
    ("import_full", "bulk import into the full store", scenario_import_full),
    ("live", "live streams: 1,000 clients, 200 POSTs/s", scenario_live),
    ("soak", "soak: minutes of mixed reads, writes, exports, imports", scenario_soak),
]
TARGET_TEXT = {
    "timeline": "≥ 0.8 × pgbench, p99 ≤ 25 ms",
    "by_id": "≥ 0.8 × pgbench",
    "deep_paging": "p50 ≤ 1.5 × first page",
    "filtered": "≥ 0.8 × pgbench",
    "as_of": "p50 ≤ 2 × current-state page",
    "export": "≥ 200,000 events/s, ≤ 50 MB growth",
    "import": "≥ 50,000 events/s",
    "post": "≥ 2,000 events/s",
    "import_full": "≥ 20,000 events/s (issue 5)",
    "changes": "≥ 0.8 × pgbench (pages/s)",
    "live": "p99 ≤ 100 ms, 0 lost/dup, RSS ≤ +100 MB, POST ≥ 0.8×",
    "soak": "RSS ≤ +50 MB after minute 1, 0 errors, p99 last ≤ 1.5 × second minute",
}


# --- the record -----------------------------------------------------------------

def command_version(*cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return None


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "load_average_at_start": list(os.getloadavg())}


def versions():
    git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    return {
        "chronik": command_version(CHRONIK, "--version"),
        "git": git,
        "postgres": psql("SELECT version()")[0][0],
        "pgbench": command_version("pgbench", "--version"),
        "wrk": command_version("wrk", "-v"),
        "rustc": command_version("rustc", "--version"),
        "python": platform.python_version(),
    }


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def table(results):
    lines = ["| scenario | Chronik | pgbench | ratio | p50 ms | p99 ms | target | met |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for key, title, _ in SCENARIOS:
        r = results[key]
        if "not_available" in r:
            lines.append(f"| {title} | not available | | | | | {TARGET_TEXT[key]} | – |")
            continue
        if "error" in r:
            lines.append(f"| {title} | failed: {r['error'][:80]} | | | | | {TARGET_TEXT[key]} | no |")
            continue
        api, ref = r["api"], r.get("reference")
        if key == "changes":
            whole = r["whole_feed"]
            lines.append(
                f"| {title} | {fmt(api['per_second'], 1)} pages/s ({fmt(api['entries_per_second'])} entries/s); "
                f"whole feed {fmt(whole['entries'])} entries in {whole['seconds']} s | "
                f"{fmt(ref['per_second'], 1)} tx/s | {r['ratio']} | {fmt(api.get('p50_ms'), 2)} | "
                f"{fmt(api.get('p99_ms'), 2)} | {TARGET_TEXT[key]} | {'yes' if r['met'] else 'no'} |")
            continue
        if key == "live":
            lines.append(
                f"| {title} | {r['lost']} lost, {r['duplicates']} dup, +{r['server_rss_growth_mb']} MB; "
                f"POST {fmt(r['post_with_streams']['per_second'])}/s with streams | "
                f"POST {fmt(r['post_without_streams']['per_second'])}/s without | {r['post_ratio']} | "
                f"{fmt(api.get('p50_ms'), 2)} | {fmt(api.get('p99_ms'), 2)} | {TARGET_TEXT[key]} | "
                f"{'yes' if r['met'] else 'no'} |")
            continue
        if key == "soak":
            lines.append(
                f"| {title} | {fmt(api['per_second'])} req/s over {r['seconds']} s; +{r['rss_growth_mb']} MB "
                f"after minute 1, {r['errors']} errors, p99 last/second {r['p99_last_to_second']} | – | – | "
                f"{fmt(api.get('p50_ms'), 2)} | {fmt(api.get('p99_ms'), 2)} | {TARGET_TEXT[key]} | "
                f"{'yes' if r['met'] else 'no'} |")
            continue
        unit = "events/s" if key in ("export", "import", "post", "import_full") else "req/s"
        note = ""
        if key == "deep_paging":
            note = f" ({r['latency_vs_first_page']} × page 1)"
        elif key == "as_of":
            note = f" ({r['latency_vs_current']} × current)"
        elif key == "export":
            note = f" (+{r['server_rss_growth_mb']} MB)"
        reference, ratio = (f"{fmt(ref['per_second'])} tx/s", r["ratio"]) if ref else ("–", "–")
        if "before" in r:
            reference = f"{fmt(r['before']['per_second'])} events/s at {r['before'].get('commit', BEFORE)}"
            ratio = r["ratio_to_before"]
        if key == "export" and "postgres_delivery" in r:
            reference = f"{fmt(r['postgres_delivery']['per_second'])} events/s (COPY)"
            ratio = r["ratio"]
        lines.append(
            f"| {title} | {fmt(api['per_second'])} {unit}{note} | {reference} | {ratio} | "
            f"{fmt(api.get('p50_ms'), 2)} | {fmt(api.get('p99_ms'), 2)} | {TARGET_TEXT[key]} | "
            f"{'yes' if r['met'] else 'no'} |")
    return "\n".join(lines)


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    record = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "settings": {"events": EVENTS, "duration_s": DURATION, "rounds": ROUNDS,
                     "connections": CONNECTIONS, "wrk_threads": THREADS, "import_events": IMPORT_EVENTS,
                     "targets_per_scenario": TARGETS,
                     "postgres": dict(psql("SELECT name, setting || coalesce(unit, '') FROM pg_settings "
                                           "WHERE name IN ('shared_buffers', 'work_mem', 'max_connections', "
                                           "'effective_cache_size', 'jit')")),
                     "server": {k: v for k, v in ENV.items() if k.startswith("CHRONIK_")
                                and "TOKEN_FILE" not in k}},
        "store": {"events": int(psql("SELECT count(*) FROM events")[0][0]),
                  "revisions": int(psql("SELECT count(*) FROM event_revisions")[0][0]),
                  "database_size": psql("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0],
                  "load_seconds": float((WORK / "load-seconds").read_text())
                  if (WORK / "load-seconds").exists() else None},
        "scenarios": {},
    }
    only = set(filter(None, ENV.get("BENCH_ONLY", "").split(",")))
    for key, title, run in SCENARIOS:
        if only and key not in only:
            record["scenarios"][key] = {"not_available": "skipped (BENCH_ONLY)"}
            continue
        log(f"-- {title}")
        try:
            record["scenarios"][key] = run()
        except NotAvailable as reason:
            log(f"not available: {reason}")
            record["scenarios"][key] = {"not_available": str(reason)}
        except (RuntimeError, subprocess.CalledProcessError, ValueError, OSError) as err:
            log(f"failed: {err}")
            record["scenarios"][key] = {"error": str(err)}
    record["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    record["table"] = table(record["scenarios"])
    out = ROOT / "bench" / "results" / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{EVENTS}.json"
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    explains = [f"### {title}\n\n```sql\n{r['sql']['sql']}\n-- binds: {r['sql']['params']}\n```\n\n```\n{r['explain']}\n```\n"
                for key, title, _ in SCENARIOS for r in [record["scenarios"][key]] if "explain" in r]
    if explains:
        out.with_suffix(".explain.md").write_text("\n".join(explains))
    print(record["table"])
    print(f"\nmachine: {record['machine']['cores']} cores, {record['machine']['memory_gib']} GiB; "
          f"store: {record['store']['events']:,} events, {record['store']['revisions']:,} revisions")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
