"""Long polls: `?wait=SECONDS` on a job or a job request answers as soon as it changes, or at the deadline.

In this process every write of an item notifies its waiters (`DynamoDBConnection.changes`), so a
waiter answers within the write's own time. A write that returned the item's new content hands it
to the waiters: a write that changes nothing they watch (a heartbeat, a timestamp) costs them no
read; any other write, or one whose content is not known, makes them read the item again. A write
by another process (the queue or the poller running elsewhere) is seen by re-reading the item every
`recheck` seconds (`Settings.wait_recheck_seconds`).

`?until=STATUS[,STATUS...]` narrows what the waiter watches to the status: the answer comes as soon
as the resource's status is one of them (or has ended), so a caller that waits for an end asks once,
not once per run transition.
"""

import hashlib
import time

from .errors import BadRequest
from .job_updates import runs_written
from .resources import JOB_STATUSES, RUN_ATTR

MAX_WAIT_SECONDS = 20
JOB_ENDED = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
REQUEST_ENDED = ("FULFILLED", "FAILED")
REQUEST_STATUSES = ("PENDING", *REQUEST_ENDED)


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


def watched(args, state, cares, statuses, ended):
    """What a long poll watches: (a function of the item, a function of the attributes a write changes
    that says whether the first may have changed). `state` and `cares`, or with an `until` query
    parameter only whether the status is one it names (BadRequest unless each is one of `statuses`)
    or has `ended` (it will not change any more)."""
    raw = args.get("until")
    if raw is None:
        return state, cares
    wanted = tuple(part.strip() for part in raw.split(","))
    unknown = [part for part in wanted if part not in statuses]
    if unknown or not raw:
        raise BadRequest(f"'until' must be a comma-separated list of {', '.join(statuses)}, got {raw!r}")
    stop = frozenset(wanted) | frozenset(ended)
    return (lambda item: (item.get("status") in stop,)), _status_written


def tag(state) -> str:
    """A tag of what a waiter watches (`job_state` or `request_state` of an item): the answer's ETag
    (quoted), and what a later long poll passes back as `?seen=` (as is)."""
    return hashlib.sha256(repr(state).encode()).hexdigest()[:20]


def job_watch(args):
    return watched(args, job_state, _job_written, JOB_STATUSES, JOB_ENDED)


def request_watch(args):
    return watched(args, request_state, _request_written, REQUEST_STATUSES, REQUEST_ENDED)


def job_state(item: dict):
    """What a job's waiter watches: its status, its workers' status and Batch job, its result count."""
    runs = sorted((k, v.get("status"), v.get("batch_job_id")) for k, v in item.items() if k.startswith(RUN_ATTR))
    return item.get("status"), int(item.get("result_count") or 0), tuple(runs), item.get("status") in JOB_ENDED


def request_state(item: dict):
    return item.get("status"), item.get("job"), item.get("status") in REQUEST_ENDED


# Whether a write of these top-level attributes may change what the functions above return.
def _job_written(names) -> bool:
    return "status" in names or "result_count" in names or runs_written(names)


def _request_written(names) -> bool:
    return "status" in names or "job" in names


def _status_written(names) -> bool:
    return "status" in names


def read(db, urn: str, seconds: float, state, check=None, recheck: float = 1.0, seen=None, cares=None) -> dict:
    """The item `urn`, re-read on each write of it in this process and every `recheck` seconds, until
    `state(item)` differs from its first value, it has ended, or `seconds` pass. `cares(names)`: whether
    a write of these attributes may change `state(item)` (None: any write may); a write of others
    neither wakes the waiter nor asks DynamoDB for the new item on its behalf.

    `seen(item)`: whether the caller has seen the item as it is (the ETag of its last answer, sent
    back as `?seen=`). One it has not seen is answered at once: it changed between the caller's last
    answer and this read, and waiting for a change from it would hold that change back until the
    deadline.

    Every item answered goes through `check` (which raises for an item that must not be shown, None
    included), whether read or handed over by a write of this process (`Written`): such a write
    costs no read of its own.
    """
    check = check or (lambda item: item)

    def fresh():
        return check(db.get(urn))

    if seconds <= 0:
        return fresh()
    deadline = time.monotonic() + seconds
    with db.changes.watch(urn, cares=cares) as written:  # watching before the first read: no write is missed
        item, read_at = fresh(), time.monotonic()
        if seen is not None and not seen(item):
            return item
        first, stale = state(item), False
        while not first[-1] and state(item) == first:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            written.wait(min(left, recheck))
            pushed = written.take()
            if pushed and None not in pushed and time.monotonic() - read_at < recheck:
                changed = [new for new in pushed if state(new) != first]
                if not changed:
                    stale = True  # this process's writes, none a change the waiter watches: read once at the end
                    continue
                item, stale = check(changed[-1]), False
                continue
            item, read_at, stale = fresh(), time.monotonic(), False
        if stale:
            item = fresh()
    return item
