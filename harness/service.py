"""Run the Job Service on a target: emulators (embedded), provisioning, loops and the HTTP API."""

import gc
import logging
import os
import threading

from werkzeug.serving import make_server

from server.config import Names, Settings
from server.service import Service

from .provision import provision

log = logging.getLogger(__name__)
TARGETS = ("embedded", "localstack", "aws")
LOCALSTACK_DEFAULT = "http://localhost:4566"


def localstack_endpoint() -> str:
    """LocalStack's edge URL as localstack-client computes it (LOCALSTACK_HOST and friends honoured)."""
    try:
        from localstack_client.config import get_service_endpoint

        return get_service_endpoint("sqs") or LOCALSTACK_DEFAULT
    except Exception:  # noqa: BLE001 - an old localstack-client: fall back to its documented default
        return LOCALSTACK_DEFAULT


class _LateApp:
    """A WSGI app that forwards to one set after the socket is bound (the port names the public URL)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class RunningService:
    """The whole service on one target, serving HTTP on 127.0.0.1; `start()` returns when ready."""

    def __init__(self, target: str = "embedded", host: str = "127.0.0.1", port: int = 0, api_keys=(),
                 endpoint_url: str | None = None, redis_url: str | None = None, prefix: str = "jobservice",
                 region: str | None = None, public_url: str | None = None, worker_output: str | None = None,
                 roles=("api", "queue", "poller"), settings_overrides: dict | None = None, say=None):
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
        self.target, self.host, self.port = target, host, port
        self.api_keys, self.endpoint_url, self.redis_url = tuple(api_keys), endpoint_url, redis_url
        self.prefix, self.region, self.public_url = prefix, region, public_url
        self.worker_output, self.roles = worker_output, tuple(roles)
        self.settings_overrides = settings_overrides or {}
        self.say = say or (lambda text: log.info(text))
        self.aws = self.redis = self.service = self._http = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._http.server_port}"

    def start(self) -> "RunningService":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        credentials = {}
        endpoint = self.endpoint_url
        if self.target == "embedded":
            from emulators import EmbeddedAWS

            self.aws = EmbeddedAWS(worker_output=self.worker_output).start()
            endpoint = self.aws.endpoint
            credentials = {"access_key_id": "testing", "secret_access_key": "testing"}
        elif self.target == "localstack":
            endpoint = endpoint or localstack_endpoint()
            credentials = {"access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                           "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}
        redis_url = self.redis_url
        if redis_url is None:
            from emulators import EmbeddedRedis

            self.redis = EmbeddedRedis().start()
            redis_url = self.redis.url
            if self.target != "embedded":
                self.say(f"no --redis-url given: using fakeredis at {redis_url}")
        late = _LateApp()
        self._http = make_server(self.host, self.port, late, threaded=True)
        region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        settings = Settings(region=region, endpoint_url=endpoint, redis_url=redis_url, names=Names(prefix=self.prefix),
                            target=self.target, api_keys=self.api_keys,
                            public_url=self.public_url or self.url, **credentials, **self.settings_overrides)
        self.service = Service(settings)
        created = provision(self.service.clients, settings.names, log=lambda text: None)
        if created and self.target != "embedded":
            self.say("provisioned: " + ", ".join(created))
        late.app = self.service.app
        self.service.start([r for r in self.roles if r != "api"])
        if "api" in self.roles:
            self._thread = threading.Thread(target=self._http.serve_forever, name="jobservice-http", daemon=True)
            self._thread.start()
        # ~300k long-lived objects from moto and botocore: keep them out of every later collection.
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        """Stop the loops, the HTTP server, worker processes and emulators (each at most once)."""
        if self.service is not None:
            self.service.stop(timeout=2)
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self._http is not None:
            if self._thread is not None:
                self._http.shutdown()
                self._thread.join(5)
            self._http.server_close()
            self._http = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.service is not None:
            self.service = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
