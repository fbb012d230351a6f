"""The `soak` scenario (bench/scenarios.py runs it): minutes of mixed load
on one server, to find what only time shows (memory that grows, latency
that creeps up, connections that leak), and a verdict.

wrk runs the mix in windows of BENCH_SOAK_WINDOW seconds, one after the
other, for BENCH_SOAK_SECONDS in all: timeline pages, reads by id, POSTs
and PATCHes of events the soak itself wrote. Beside it, a thread runs a
whole NDJSON export and a small import in turn, one every
BENCH_SOAK_BULK_EVERY seconds. After each window: requests/s, p99 and
errors of the window, the server's RSS, and the store's Postgres
connections. Everything the soak wrote is removed again at the end.
"""

import json
import threading
import time
import urllib.request

# Of every 100 requests of the mix: timeline pages, reads by id, POSTs, PATCHes.
MIX = {"timeline": 60, "by_id": 25, "post": 10, "patch": 5}
# Events the soak writes first, for the mix's PATCHes (and reads by id).
PATCHED = 50
# Events of each import of the bulk thread.
IMPORT_SIZE = 1000
SOURCE_HOST = "soak.example.org"
IMPORT_PREFIX = "soak-import"


def scenario_soak(b):
    """b: the scenarios module (its settings, helpers and load generators)."""
    seconds = int(b.ENV.get("BENCH_SOAK_SECONDS", "600"))
    window = int(b.ENV.get("BENCH_SOAK_WINDOW", "60"))
    bulk_every = int(b.ENV.get("BENCH_SOAK_BULK_EVERY", "60"))
    if seconds < 2 * window:
        raise ValueError("BENCH_SOAK_SECONDS must hold at least two windows (BENCH_SOAK_WINDOW)")
    posted = b.posted_on(SOURCE_HOST)
    cleanup(b, posted)
    auth = {"Authorization": f"Bearer {b.TOKEN}", "Content-Type": "application/json"}
    body = b.post_body("soak")
    ids = []
    for n in range(PATCHED):
        status, answer = b.http("POST", "/v1/events",
                                json.dumps(body).replace("{{n}}", f"seed-{n}").encode(), auth)
        if status != 201:
            raise RuntimeError(f"POST /v1/events answered {status}: {answer[:300]!r}")
        ids.append(json.loads(answer)["id"])
    targets = mix(b, ids)
    patch = json.dumps({"summary": "Revised by the soak ({{n}})."})
    bulk = Bulk(b, bulk_every)
    windows = []
    try:
        bulk.start()
        for w in range(seconds // window):
            run = b.wrk(targets, window, body=json.dumps(body), token=b.TOKEN, patch=patch)
            run |= {"minute": w + 1, "rss_mb": round(b.rss_kib(b.SERVER_PID) / 1024, 1),
                    "postgres_connections": connections(b)}
            windows.append(run)
            b.log(f"soak window {w + 1}: {run}")
    finally:
        bulk.stop()
        cleanup(b, posted)
    return verdict(windows, bulk, seconds, window)


def mix(b, ids):
    """The targets file of the mix: each kind as often as MIX says."""
    timeline = b.timeline_targets()
    stored = [row[0] for row in b.psql(
        f"SELECT id FROM events WHERE deleted_at IS NULL ORDER BY md5(id::text) LIMIT {b.TARGETS}")]
    # Every line names its method: wrk.lua sends a bare path as a POST when a body is given.
    kinds = {"timeline": [f"GET {t}" for t in timeline],
             "by_id": [f"GET /v1/events/{i}" for i in stored + ids],
             "post": ["POST /v1/events"], "patch": [f"PATCH /v1/events/{i}" for i in ids]}
    targets = []
    for kind, share in MIX.items():
        pool = kinds[kind]
        targets += [pool[n % len(pool)] for n in range(share * 10)]
    return targets


class Bulk:
    """A thread that runs a whole NDJSON export and an import in turn."""

    def __init__(self, b, every):
        self.b, self.every = b, every
        self.done = threading.Event()
        self.runs, self.errors = [], []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join()

    def loop(self):
        n = 0
        while not self.done.wait(self.every):
            n += 1
            kind = "export" if n % 2 else "import"
            started = time.monotonic()
            try:
                events = self.export() if kind == "export" else self.import_(n)
                self.runs.append({"kind": kind, "events": events,
                                  "seconds": round(time.monotonic() - started, 2)})
            except (RuntimeError, OSError) as err:
                self.errors.append(f"{kind}: {err}")

    def export(self):
        """Every event, read in pieces and counted: not kept in memory."""
        with urllib.request.urlopen(self.b.BASE + "/v1/events?format=ndjson", timeout=600) as resp:
            lines = 0
            while piece := resp.read(1 << 20):
                lines += piece.count(b"\n")
        return lines

    def import_(self, n):
        actors = [f"Import Actor {i}" for i in range(20)]
        body = "".join(json.dumps(self.b.event_input(i, actors, f"{IMPORT_PREFIX}-{n}")) + "\n"
                       for i in range(IMPORT_SIZE)).encode()
        headers = {"Authorization": f"Bearer {self.b.TOKEN}", "Content-Type": "application/x-ndjson"}
        status, answer = self.b.http("POST", "/v1/import", body, headers)
        if status >= 300:
            raise RuntimeError(f"the import answered {status}: {answer[:300]!r}")
        return IMPORT_SIZE


def connections(b):
    return int(b.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")[0][0])


def cleanup(b, posted):
    """What the soak wrote: its POSTed events, and its imports'."""
    b.remove_written(posted, SOURCE_HOST)
    b.remove_written(f"external_id LIKE '{IMPORT_PREFIX}-%'", f"{IMPORT_PREFIX}-%.example.org",
                     actors="name LIKE 'Import Actor %'")


def verdict(windows, bulk, seconds, window):
    """RSS growth after the first window, errors, and the last window's p99
    against the second's."""
    first_rss = windows[0]["rss_mb"]
    growth = round(max(w["rss_mb"] for w in windows[1:]) - first_rss, 1)
    errors = sum(w["errors"] for w in windows) + len(bulk.errors)
    p99_second, p99_last = windows[1]["p99_ms"], windows[-1]["p99_ms"]
    creep = round(p99_last / p99_second, 3) if p99_second else None
    met = {"rss growth after the first minute <= 50 MB": growth <= 50,
           "no errors": errors == 0,
           "p99 of the last minute <= 1.5 x the second's": creep is not None and creep <= 1.5}
    return {"api": {"per_second": round(sum(w["per_second"] for w in windows) / len(windows), 1),
                    "p50_ms": windows[-1]["p50_ms"], "p99_ms": p99_last},
            "seconds": seconds, "window_seconds": window, "mix": MIX, "windows": windows,
            "bulk": bulk.runs, "bulk_errors": bulk.errors[:20],
            "rss_growth_mb": growth, "errors": errors, "p99_last_to_second": creep,
            "target": "RSS growth <= 50 MB after the first minute, no errors, "
                      "p99 of the last minute <= 1.5 x the second minute's",
            "met_each": met, "met": all(met.values())}
