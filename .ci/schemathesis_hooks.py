"""Schemathesis hooks for .ci/schemathesis: the API's rules that the OpenAPI
document states in words but JSON Schema cannot express.

A schema describes each parameter alone. Some of Chronik's rules tie two
parameters together (`after` or `since`, not both), or name something that
must exist in the store (an event type, a cursor the feed gave out), or must
be unique per request (`Idempotency-Key`). A request generated as valid
("positive") that breaks such a rule is refused by the server, rightly, and
schemathesis would call that a rejected valid request. So each positive
request is repaired here before it is sent: the offending parameter is left
out, or replaced by a value that exists. Each rule below names the
description in the spec that states it. Negative requests are never touched.
(`before_call` runs in every phase, explicit examples included, and
schemathesis checks a repaired request against the schema again.)
"""

import datetime as dt
import json
import os
import urllib.request
import uuid

import schemathesis

BASE = os.environ["CHRONIK_BASE"]
LISTS = {"/v1/events", "/v1/timelines/{slug}/events"}
FEEDS = {"/v1/changes", "/v1/events/stream", "/v1/timelines/{slug}/stream"}
STATS = {"/v1/stats/histogram", "/v1/stats/casualties"}
PAGED = {"/v1/actors", "/v1/events/{id}/revisions"}
WHOLE = {"ndjson", "geojson", "timelinejs"}
# The feed's first position: every other cursor must be one this feed gave out.
FEED_START = "0-0"


def _known(path, key):
    with urllib.request.urlopen(BASE + path) as response:
        return sorted(item[key] for item in json.load(response)["data"])


# What the store names, read once: filters must name existing ones
# ("`type` or `timeline` names no event type or timeline" is a 400).
EVENT_TYPES = _known("/v1/event-types", "slug")
TIMELINES = _known("/v1/timelines", "slug")
# Operations on one event that a random UUID would only ever find missing
# (404) get an event that exists (restoring a live one is a 409).
EVENTS = _known("/v1/events?limit=5", "id")
ON_AN_EVENT = {"/v1/events/{id}/restore", "/v1/events/{id}/redaction"}
# A token of its own to revoke (.ci/schemathesis creates it): never the run's.
TOKEN_TO_REVOKE = os.environ["CHRONIK_TOKEN_TO_REVOKE"]


def _items(value):
    """A list parameter as its items, whether still a list or already joined."""
    return value if isinstance(value, list) else str(value).split(",")


def _pick(known, value):
    return known[hash(str(value)) % len(known)]


def _instant(raw, end):
    """The earliest (or, with `end`, latest) instant a `from`/`to` value can mean in any zone."""
    try:
        return dt.datetime.fromisoformat(str(raw).replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        day = dt.datetime.fromisoformat(str(raw)).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    # A date is a whole day in `tz`: anywhere from UTC-12 to UTC+14.
    return day + (dt.timedelta(days=1, hours=12) if end else dt.timedelta(hours=-14))


def _drop(query, *names):
    for name in names:
        query.pop(name, None)


def _window(query):
    """`from` must not be after `to` (their descriptions)."""
    start, end = query.get("from"), query.get("to")
    if start is None or end is None:
        return
    a, b = _instant(start, True), _instant(end, False)
    if a is None or b is None or a.utcoffset() is None or b.utcoffset() is None or a > b:
        _drop(query, "to")


def _filters(query):
    if "type" in query:
        query["type"] = ",".join(_pick(EVENT_TYPES, t) for t in _items(query["type"]))
    if "timeline" in query:
        query["timeline"] = _pick(TIMELINES, query["timeline"])
    # bbox: "`min_lat` not greater than `max_lat`".
    box = _items(query["bbox"]) if "bbox" in query else []
    if len(box) == 4 and float(box[1]) > float(box[3]):
        query["bbox"] = ",".join(str(n) for n in [box[0], box[3], box[2], box[1]])
    _window(query)


def _list(query):
    """The event lists' rules between parameters (their descriptions)."""
    fmt = query.get("format")
    whole = fmt in WHOLE or (query.get("stream") == "all" and fmt == "csv")
    if query.get("stream") == "all" and fmt != "csv":
        _drop(query, "stream")  # "`all`: with `format=csv`"
    if whole:
        _drop(query, "limit", "cursor", "count")  # "Not with the formats that return the whole result"
    if fmt not in (None, "json"):
        _drop(query, "count")  # "JSON pages only"
    if query.get("sort") == "relevance" and "q" not in query:
        _drop(query, "sort")  # "`relevance` (only with `q`)"


def _bom(query):
    if query.get("bom") in (True, "true") and query.get("format") != "csv":
        _drop(query, "bom")  # "CSV only"


BUCKET_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}


def _histogram(query):
    """"At most 5,000 buckets", from `from` (else the first event stored) to
    `to` (else the last): events the run itself stores may lie centuries
    apart, so a histogram is asked for a window that fits its buckets."""
    start = _instant(query["from"], False) if "from" in query else None
    end = _instant(query["to"], True) if "to" in query else None
    days = BUCKET_DAYS.get(query.get("bucket", "day"), 1)
    if start is None or end is None or abs((end - start).days) / days > 4900:
        query["from"], query["to"] = "2022-01-01", "2022-12-31"


def _feed(query, headers, stream):
    if "after" in query and "since" in query:
        _drop(query, "since")  # "Not with `after`"
    if stream and not ({"after", "since"} & query.keys() or "Last-Event-ID" in headers):
        # A stream read from the start sends its first message at once (a
        # stream from now stays silent until something changes).
        query["after"] = FEED_START
    if "after" in query:
        query["after"] = FEED_START
    if "Last-Event-ID" in headers:
        headers["Last-Event-ID"] = FEED_START
    if query.get("format") == "ndjson":
        _drop(query, "limit")  # "Not with NDJSON"


def _without_nul(value):
    """A JSON body's strings without U+0000: the API description says "a NUL
    in any string of a JSON body (or import record) is a `422` naming its
    field" (Postgres cannot store it), a rule across every string that the
    schemas leave to that sentence."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


# NDJSON import bodies are text, sent as generated.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    path = case.operation.path
    query = case.query if case.query is not None else {}
    headers = case.headers if case.headers is not None else {}
    if path in LISTS | FEEDS | STATS:
        _filters(query)
    if path in LISTS:
        _list(query)
    if path in LISTS | STATS:
        _bom(query)
    if path == "/v1/stats/histogram":
        _histogram(query)
    if path in FEEDS:
        _feed(query, headers, path.endswith("/stream"))
    if path in LISTS | PAGED:
        # "Opaque cursor from `next_cursor`": only a page gives one out.
        _drop(query, "cursor")
    if path == "/v1/import" and query.get("format") == "acled" and case.media_type != "text/csv":
        _drop(query, "format")  # "only with `Content-Type: text/csv`"
    if isinstance(case.body, (dict, list)):
        case.body = _without_nul(case.body)
    if path in ON_AN_EVENT and case.path_parameters:
        case.path_parameters["id"] = _pick(EVENTS, case.path_parameters.get("id"))
    if path == "/v1/tokens/{id}" and case.method.upper() == "DELETE" and case.path_parameters:
        case.path_parameters["id"] = TOKEN_TO_REVOKE
    # A key names one request: "a different request with a used key" is a 422.
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if query or case.query is not None:
        case.query = query
    if headers or case.headers is not None:
        case.headers = headers
