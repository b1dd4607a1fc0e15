"""Worker info: one worker run's identity, token and state.

DynamoDB holds it (a `urn:jobservice:run:<id>` item, the source of truth);
ElastiCache (Redis) caches it for the Worker Manager and Worker Helper, and a
miss, or a cache that lost everything, is rebuilt from DynamoDB.
"""

import hashlib
import hmac
import json
import secrets

import redis

from . import observe
from .dynamodb_connection import ConditionFailed, Update, now
from .errors import Conflict, ServiceUnavailable, Unauthorized
from .resources import RUN

CACHE = "AWS ElastiCache"
ACTIVE_STATUSES = ("SUBMITTED", "RUNNING")
#: Seconds the cached copy of an ended run lives (its token can still read; a miss re-reads DynamoDB).
ENDED_TTL_SECONDS = 300


def key_for(worker_id: str) -> str:
    return f"jobservice:worker:{worker_id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(worker_id: str) -> str:
    """A bearer token that names its run: `<worker id>.<secret>`."""
    return f"{worker_id}.{secrets.token_urlsafe(24)}"


def worker_id_for(task_token: str) -> str:
    """The run's id follows from its task token, so a task handled twice makes one run."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:32]


class WorkerInfo:
    """Worker info in DynamoDB, cached in Redis."""

    def __init__(self, db, redis_client, ttl: int):
        self.db, self.redis, self.ttl = db, redis_client, ttl

    def _cache_call(self, label: str, fn, *args):
        observe.record(observe.current(), CACHE, label)
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"the cache (Redis) is unreachable: {exc}") from exc

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
            raw = self._cache_call("Get Worker Info From Cache", self.redis.get, key_for(worker_id))
            if raw is not None:
                return json.loads(raw)
        item = self.db.get(RUN + worker_id, label="Get Worker Info")
        if item is None:
            return None
        info = {k: v for k, v in item.items() if k not in ("urn", "kind", "active")}
        self.cache(info)
        return info

    def authenticate(self, header: str | None) -> dict:
        """The run a worker's `Authorization: Bearer <token>` names; Unauthorized otherwise."""
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or "." not in token:
            raise Unauthorized("a worker call needs 'Authorization: Bearer <worker token>'")
        info = self.get(token.split(".", 1)[0])
        if info is None or not hmac.compare_digest(info["token_hash"], token_hash(token)):
            raise Unauthorized("unknown worker token")
        return info

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

    def set(self, info: dict, **fields) -> dict:
        """Set fields of a run whatever its status."""
        update = Update().set("updated_at", now())
        for key, value in fields.items():
            update.set(key, value)
        return self._store(info, update, "Update Worker Info")

    def set_once(self, info: dict, field: str, value) -> dict:
        """Set a field that is written once (a run's Batch job id); unchanged if it is set already."""
        update = Update().set(field, value).set("updated_at", now())
        update.names["#once"] = field
        try:
            return self._store(info, update, "Update Worker Info", "attribute_not_exists(#once)")
        except ConditionFailed:
            return self.get(info["worker"], fresh=True)

    def transition(self, info: dict, status: str, allowed=ACTIVE_STATUSES, **fields) -> dict:
        """Move a run to `status` if it is in one of `allowed`; Conflict otherwise."""
        update = Update().set("status", status).set("updated_at", now())
        for key, value in fields.items():
            update.set(key, value)
        if status not in ACTIVE_STATUSES:
            update.remove("active")
        try:
            return self._conditional(info, update, allowed, "Update Worker Info")
        except ConditionFailed:
            raise Conflict(f"worker run {info['worker']} is {self._status(info)}, "
                           f"not {' or '.join(allowed)}") from None

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
