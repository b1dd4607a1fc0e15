"""One running Job Service: its clients, its stores, its two loops and its API."""

import logging
import sys
import threading

from . import clock
from .activity_poller import ActivityPoller
from .api_server import create_app
from .clients import Clients
from .config import Settings
from .dynamodb_connection import DynamoDBConnection
from .queue import QueueProcessor
from .worker_info import WorkerInfo

log = logging.getLogger(__name__)
ROLES = ("api", "queue", "poller")
#: Unexpected errors kept for tests to raise again (each is logged in full); more are only logged.
MAX_ERRORS_KEPT = 100


class Service:
    """The service for one deployment; `start(roles)` runs its loops in threads."""

    def __init__(self, settings: Settings, redis_client=None):
        self.settings = settings
        self.clients = Clients(settings, redis_client)
        self.db = DynamoDBConnection(self.clients, settings.names.table)
        self.worker_info = WorkerInfo(self.db, self.clients.redis, settings.cache_ttl_seconds)
        self.queue = QueueProcessor(self)
        self.poller = ActivityPoller(self)
        self.errors: list[BaseException] = []
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
        self.queue.stop()
        self.poller.stop()
        for thread in self._threads:
            thread.join(timeout)

    def report_error(self) -> None:
        """Keep an unexpected error of a background thread, for tests to raise again."""
        exc = sys.exc_info()[1]
        if exc is not None and len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(exc)

    def health(self) -> tuple[dict, bool]:
        """Check each backing service; the body names those that fail."""
        checks = {
            "dynamodb": self.db.ping,
            "sqs": lambda: self.queue.url,
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
