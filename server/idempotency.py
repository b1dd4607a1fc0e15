"""The Idempotency-Key of worker writes: the same key from the same run repeats the first answer, changes nothing.

A worker that retries `POST /v2/worker/results`, `/v2/worker/finish` or
`/v2/workers/files` after a timeout or a 503 sends the key of its first try.
The first call claims the key with a conditional put in DynamoDB, runs, and
stores its answer (status and body) under the key; a repeat gets that answer.
A call that ends in an error releases the key, so the retry runs for real.
A key is bound to its call (the endpoint, its query, and the body's type and
length): the same key on another call is a 409, never another call's answer.
"""

import functools
import hashlib
import re

from flask import Response, make_response, request

from .dynamodb_connection import Update, now
from .errors import BadRequest, Conflict
from .resources import current_service

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
PREFIX = "urn:jobservice:idempotency:"


def _fingerprint(endpoint: str) -> str:
    """What binds a key to its call, read without consuming the body (a multipart upload reads it later)."""
    parts = (endpoint, request.query_string.decode("latin-1"), request.content_type or "",
             str(request.content_length or 0))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def keyed(view):
    """Decorate a worker write handler: a call with an Idempotency-Key runs at most once per run and key."""

    @functools.wraps(view)
    def once(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.match(key):
            raise BadRequest(f"'{HEADER}' must be 1-255 visible ASCII characters")
        service = current_service()
        info = service.worker_info.authenticate(request.headers.get("Authorization"))  # 401 before anything
        urn = PREFIX + hashlib.sha256(f"{info['worker']}\n{key}".encode()).hexdigest()
        call = _fingerprint(view.__name__)
        claim = {"urn": urn, "state": "pending", "call": call, "created_at": now()}
        if not service.db.put_new(claim, label="Claim Idempotency Key"):
            stored = service.db.get(urn, label="Get Idempotency Key")
            if stored and stored.get("call", call) != call:
                raise Conflict(f"this {HEADER} was used for another call (endpoint or body): use a new key per call")
            if stored and stored.get("state") == "done":
                return Response(stored["body"], status=int(stored["status"]), mimetype="application/json")
            raise Conflict(f"a call with this {HEADER} is still in progress; retry it")
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            service.db.delete(urn, label="Release Idempotency Key")
            raise
        if response.status_code >= 400:
            service.db.delete(urn, label="Release Idempotency Key")
            return response
        update = (Update().set("state", "done").set("status", response.status_code)
                  .set("body", response.get_data(as_text=True)))
        service.db.update(urn, update, label="Store Idempotent Answer", returns="NONE")
        return response

    return once
