"""Long polls: `?wait=SECONDS` on a job or a job request answers as soon as it changes, or at the deadline.

In this process every write of an item notifies its waiters (`DynamoDBConnection.changes`), so a
waiter answers within the write's own time. A write by another process (the queue or the poller
running elsewhere) is seen by re-reading the item every `recheck` seconds
(`Settings.wait_recheck_seconds`).
"""

import time

from .errors import BadRequest
from .resources import RUN_ATTR

MAX_WAIT_SECONDS = 20
JOB_ENDED = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
REQUEST_ENDED = ("FULFILLED", "FAILED")


def wait_seconds(args) -> float:
    """The `wait` query parameter: 0 when absent; BadRequest unless a number of seconds in 0..20."""
    raw = args.get("wait")
    if raw is None:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:  # also NaN
        raise BadRequest(f"'wait' must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, got {raw!r}")
    return seconds


def job_state(item: dict):
    """What a job's waiter watches: its status, its workers' status and Batch job, its result count."""
    runs = sorted((k, v.get("status"), v.get("batch_job_id")) for k, v in item.items() if k.startswith(RUN_ATTR))
    return item.get("status"), int(item.get("result_count") or 0), tuple(runs), item.get("status") in JOB_ENDED


def request_state(item: dict):
    return item.get("status"), item.get("job"), item.get("status") in REQUEST_ENDED


def read(db, urn: str, seconds: float, state, get=None, recheck: float = 1.0) -> dict:
    """The item `urn` (read by `get`, default `db.get`), re-read on each write of it in this process and
    every `recheck` seconds, until `state(item)` differs from its first value, it has ended, or `seconds` pass."""
    get = get or db.get
    if seconds <= 0:
        return get(urn)
    deadline = time.monotonic() + seconds
    with db.changes.watch(urn) as written:  # watching before the first read: no write is missed
        item = get(urn)
        first = state(item)
        while not first[-1] and state(item) == first:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            written.wait(min(left, recheck))
            written.clear()
            item = get(urn)
    return item
