"""Worker info: one worker run's identity, token and state.

DynamoDB holds it (a `urn:jobservice:run:<id>` item, the source of truth);
ElastiCache (Redis) caches it for the Worker Manager and Worker Helper, and a
miss, or a cache that lost everything, is rebuilt from DynamoDB.
"""

import hashlib
import hmac
import json
import re
import secrets

import redis

from . import observe
from .dynamodb_connection import ConditionFailed, Update, now
from .errors import Conflict, ServiceUnavailable, Unauthorized
from .resources import RUN

CACHE = "AWS ElastiCache"
ACTIVE_STATUSES = ("SUBMITTED", "RUNNING")
WORKER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: Seconds the cached copy of an ended run lives (its token can still read; a miss re-reads DynamoDB).
ENDED_TTL_SECONDS = 300


def key_for(worker_id: str) -> str:
    return f"jobservice:worker:{worker_id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: Compared with when no run has the token's id, so an unknown id costs what a wrong secret costs.
_DUMMY_HASH = token_hash("no run has this token")


def new_token(worker_id: str) -> str:
    """A bearer token that names its run: `<worker id>.<secret>`."""
    return f"{worker_id}.{secrets.token_urlsafe(24)}"


def worker_id_for(task_token: str) -> str:
    """The run's id follows from its task token, so a task handled twice makes one run."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:32]


def _run_info(item: dict | None) -> dict | None:
    """A run's info from its DynamoDB item (None for no item)."""
    return None if item is None else {k: v for k, v in item.items() if k not in ("urn", "kind", "active")}


def _matches(info: dict | None, digest: str) -> bool:
    """Whether a run's info has this token hash, in constant time even when there is no run."""
    return hmac.compare_digest(info["token_hash"] if info else _DUMMY_HASH, digest) and info is not None


class WorkerInfo:
    """Worker info in DynamoDB, cached in Redis."""

    def __init__(self, db, redis_client, ttl: int):
        self.db, self.redis, self.ttl = db, redis_client, ttl

    def _cache_call(self, label: str, fn, *args):
        observe.record(observe.current(), CACHE, label)
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise ServiceUnavailable("the cache (Redis) is unreachable") from exc

    def cache(self, info: dict) -> None:
        """Cache Worker Info Resource."""
        ttl = self.ttl if info.get("status") in ACTIVE_STATUSES else min(self.ttl, ENDED_TTL_SECONDS)
        self._cache_call("Cache Worker Info Resource", self.redis.set, key_for(info["worker"]), json.dumps(info), ttl)

    def create(self, info: dict) -> bool:
        """Store a new run's info in DynamoDB; False if that run exists already."""
        item = {"urn": RUN + info["worker"], "kind": "run", "active": "run", **info}
        return self.db.put_new(item, label="Add Worker Info")

    def get(self, worker_id: str, fresh: bool = False) -> dict | None:
        """Get Worker Info From Cache, rebuilding it from DynamoDB on a miss (or when `fresh`)."""
        if not fresh:
            cached = self._cached(worker_id)
            if cached is not None:
                return cached
        info = _run_info(self.db.get(RUN + worker_id, label="Get Worker Info"))
        if info is not None:
            self.cache(info)
        return info

    def _cached(self, worker_id: str) -> dict | None:
        raw = self._cache_call("Get Worker Info From Cache", self.redis.get, key_for(worker_id))
        return None if raw is None else json.loads(raw)

    def authenticate(self, header: str | None) -> dict:
        """The run a worker's `Authorization: Bearer <token>` names; Unauthorized otherwise."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or "." not in token:
            raise Unauthorized("a worker call needs 'Authorization: Bearer <worker token>'")
        worker_id, digest = token.split(".", 1)[0], token_hash(token)
        if not WORKER_ID.fullmatch(worker_id):  # no run has such an id; nor may it reach DynamoDB as a key
            raise Unauthorized("unknown worker token")
        # Every refusal takes one path, whether the id is unknown or known with a wrong secret: a cache
        # read and a DynamoDB read of the hash, each followed by a constant-time comparison (with a dummy
        # where no run is).
        cached = self._cached(worker_id)
        if _matches(cached, digest):
            return cached
        # Only the hash is read here, so a known id costs no more than an unknown one.
        if not _matches(self.db.get(RUN + worker_id, label="Get Worker Info", attributes=("token_hash",)), digest):
            raise Unauthorized("unknown worker token")
        return self.get(worker_id, fresh=True)  # a run the cache had lost (or never had)

    def _conditional(self, info: dict, update: Update, allowed, label: str) -> dict:
        """Apply `update` to the run only while its status is one of `allowed`."""
        update.names["#st"] = "status"
        update.values.update({f":s{i}": {"S": s} for i, s in enumerate(allowed)})
        cond = "#st IN (" + ", ".join(f":s{i}" for i in range(len(allowed))) + ")"
        return self._store(info, update, label, cond)

    def _store(self, info: dict, update: Update, label: str, condition: str | None = None) -> dict:
        """Write the run's item, and cache what DynamoDB now holds (never a stale copy)."""
        item = self.db.update(RUN + info["worker"], update, condition=condition, label=label)
        new = {k: v for k, v in item.items() if k not in ("urn", "kind", "active")}
        self.cache(new)
        return new

    def set_once(self, info: dict, field: str, value) -> dict:
        """Set a field that is written once (a run's Batch job id); unchanged if it is set already."""
        update = Update().set(field, value).set("updated_at", now())
        update.names["#once"] = field
        try:
            return self._store(info, update, "Update Worker Info", "attribute_not_exists(#once)")
        except ConditionFailed:
            return self.get(info["worker"], fresh=True)

    def transition(self, info: dict, status: str, allowed=ACTIVE_STATUSES, explain: bool = True, **fields) -> dict:
        """Move a run to `status` if it is in one of `allowed`; Conflict otherwise (whose message names the
        run's status, read for it, when `explain`)."""
        update = Update().set("status", status).set("updated_at", now())
        for key, value in fields.items():
            update.set(key, value)
        if status not in ACTIVE_STATUSES:
            update.remove("active")
        try:
            return self._conditional(info, update, allowed, "Update Worker Info")
        except ConditionFailed:
            now_is = self._status(info) if explain else "in another state"
            raise Conflict(f"worker run {info['worker']} is {now_is}, not {' or '.join(allowed)}") from None

    def _status(self, info) -> str:
        item = self.db.get(RUN + info["worker"], label="Get Worker Info")
        return item["status"] if item else "unknown"

    def count_result(self, info: dict) -> int:
        """Count one more result of the run; return the count so far."""
        update = Update().add("result_count", 1).set("updated_at", now())
        try:
            return int(self._conditional(info, update, ACTIVE_STATUSES, "Update Worker Results")["result_count"])
        except ConditionFailed:
            raise Conflict(f"worker run {info['worker']} has finished: "
                           "its token can read but no longer write") from None

    @staticmethod
    def require_writable(info: dict) -> None:
        """Conflict unless the run is unfinished: a finished run's token can read but not write."""
        if info["status"] not in ACTIVE_STATUSES:
            raise Conflict(f"worker run {info['worker']} has finished ({info['status']}): "
                           "its token can read but no longer write")

    def running(self) -> list[dict]:
        """Every run not yet finished: what watching its Batch job and failing it need of it."""
        return self.db.active("run", attributes=("worker", "job", "definition", "status", "task_token",
                                                 "batch_job_id", "created_at"))
