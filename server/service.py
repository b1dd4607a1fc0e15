"""One running Job Service: its clients, its stores, its two loops and its API."""

import logging
import sys
import threading
import time
import traceback

from . import clock
from .activity_poller import ActivityPoller
from .api_server import create_app
from .clients import Clients
from .config import Settings
from .dynamodb_connection import DynamoDBConnection
from .queue import MessageQueue, QueueProcessor
from .runs import Runs
from .worker_info import WorkerInfo

log = logging.getLogger(__name__)
ROLES = ("api", "queue", "poller")
#: Unexpected errors kept for tests to raise again (each is logged in full); more are only logged.

class Service:
    """The service for one deployment; `start(roles)` runs its loops in threads."""

    def __init__(self, settings: Settings, redis_client=None, transport=None):
        self.settings = settings
        self.clients = Clients(settings, redis_client, transport)
        self.db = DynamoDBConnection(self.clients, settings.names.table)
        self.worker_info = WorkerInfo(self.db, self.clients.redis, settings.cache_ttl_seconds)
        self.errors = ErrorLog(settings.errors_kept)
        self.messages = MessageQueue(self.clients, settings.names.queue)
        self.runs = Runs(self.db, self.worker_info, self.clients, self.messages.send)
        self.queue = QueueProcessor(self)
        self.poller = ActivityPoller(self)
        self._threads: list[threading.Thread] = []
        self._role_arn = None
        self.app = create_app(self)

    def states_role_arn(self) -> str:
        """The role Step Functions executions assume (looked up once by name)."""
        if self._role_arn is None:
            name = self.settings.names.states_role
            self._role_arn = self.clients.iam.get_role(RoleName=name)["Role"]["Arn"]
        return self._role_arn

    def start(self, roles=("queue", "poller")) -> "Service":
        """Start the background loops of the given roles."""
        loops = {"queue": (self.queue.work, self.queue.reconcile_forever), "poller": (self.poller.work,)}
        for role in roles:
            for loop in loops.get(role, ()):
                thread = threading.Thread(target=loop, name=f"jobservice-{role}-{loop.__name__}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loops; wait for them `timeout` seconds in all (one in a long poll ends with it)."""
        self.queue.stop()
        self.poller.stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def report_error(self) -> None:
        """Keep an unexpected error of a background thread, for tests to raise again."""
        exc = sys.exc_info()[1]
        if exc is not None:
            self.errors.append(exc)  # the log keeps the latest `errors_kept`

    def take_errors(self) -> list[BaseException]:
        """The errors kept so far, removed from the log (for a caller that checks them once)."""
        return self.errors.drain()

    def health(self) -> tuple[dict, bool]:
        """Check each backing service; the body names those that fail."""
        checks = {
            "dynamodb": self.db.ping,
            "sqs": lambda: self.messages.url,
            "s3": lambda: self.clients.s3.head_bucket(Bucket=self.settings.names.bucket),
            "redis": self.clients.redis.ping,
        }
        failing = {}
        for name, check in checks.items():
            try:
                check()
            except Exception:  # noqa: BLE001 - any failure is reported, none raised
                log.warning("health: %s is unreachable", name, exc_info=True)
                failing[name] = "unreachable"
        body = {"status": "ok" if not failing else "unavailable", "target": self.settings.target,
                "clock": clock.CLOCK.describe()}
        if failing:
            body["failing"] = failing
            body["error"] = {"code": "ServiceUnavailable",
                             "message": "unreachable: " + ", ".join(sorted(failing))}
        return body, not failing


class ErrorLog:
    """The latest `size` unexpected errors of background threads, with their frames' locals released.

    Reads like a list that grows for ever (`len()` counts every error ever appended; `log[n:]` is
    what is still kept of those appended after the n-th), but holds at most `size` errors.
    """

    def __init__(self, size: int = 50):
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._kept: list[BaseException] = []
        self._dropped = 0  # errors appended, then dropped or drained

    def append(self, exc: BaseException) -> None:
        if exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)  # the lines stay; the locals (big requests) go
        with self._lock:
            self._kept.append(exc)
            if len(self._kept) > self.size:
                self._dropped += len(self._kept) - self.size
                del self._kept[:-self.size]

    def drain(self) -> list[BaseException]:
        with self._lock:
            taken, self._kept = self._kept, []
            self._dropped += len(taken)
            return taken

    def __len__(self) -> int:
        with self._lock:
            return self._dropped + len(self._kept)

    def __getitem__(self, index):
        with self._lock:
            if isinstance(index, slice):
                if index.step not in (None, 1) or (index.start or 0) < 0 or index.stop is not None:
                    raise IndexError("an ErrorLog reads as log[n:] only")
                return self._kept[max(0, (index.start or 0) - self._dropped):]
            return self._kept[index]

    def __iter__(self):
        with self._lock:
            return iter(list(self._kept))
