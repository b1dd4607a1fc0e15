"""The clock as a worker sees it: what time it is, and sleeping on the service's clock.

A worker process cannot read the service's virtual clock itself; these routes give it
`now` and a sleep that follows the clock's mode (and, in skip mode, lets time jump while
the worker sleeps instead of holding it still).
"""

import math

from flask import Blueprint, jsonify, request

from . import clock
from .errors import BadRequest
from .resources import current_service, parse_json_body

bp = Blueprint("worker_clock", __name__)
#: A sleep answers after at most this many wall seconds; the worker asks again for what is left.
MAX_WALL_SECONDS = 20.0
#: Longer than any AWS timer (a standard execution lasts at most a year).
MAX_SLEEP_SECONDS = 366 * 24 * 3600


def _authenticated() -> dict:
    return current_service().worker_info.authenticate(request.headers.get("Authorization"))


@bp.get("/v2/worker/clock")
def now():
    """The clock's mode and virtual now."""
    _authenticated()
    return jsonify(clock.CLOCK.describe())


@bp.post("/v2/worker/sleep")
def sleep():
    """Sleep `seconds` of the service's time; answers with what is left after at most 20 wall seconds."""
    info = _authenticated()
    body = parse_json_body(request, current_service().settings.max_json_bytes)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_SLEEP_SECONDS):
        raise BadRequest(f"'seconds' must be a number from 0 to {MAX_SLEEP_SECONDS}")
    until = clock.now() + seconds
    clock.CLOCK.sleep_until(until, release=(clock.worker_key(info["worker"]),), max_wall=MAX_WALL_SECONDS)
    return jsonify({**clock.CLOCK.describe(), "left": round(max(0.0, until - clock.now()), 3)})
