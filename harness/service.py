"""Run the Job Service on a target: emulators (embedded), provisioning, loops and the HTTP API."""

import gc
import logging
import os
import threading
from dataclasses import replace


from server.clock import CLOCK
from server.config import Names, Settings
from server.service import Service

from . import startup
from .clock import ServiceClock, check_target
from .errors import ServiceStartError
from .http_server import MAX_CONNECTIONS, READ_TIMEOUT, BoundedServer
from .provision import clients_for, provision

log = logging.getLogger(__name__)
TARGETS = ("embedded", "localstack", "aws")
WORKERS = ("batch", "local")
LOCALSTACK_DEFAULT = "http://localhost:4566"
#: Ended jobs the embedded target keeps by default (`--retain-ended-jobs`): more than one test session runs.
RETAIN_ENDED_JOBS = 10_000


def localstack_endpoint() -> str:
    """LocalStack's edge URL as localstack-client computes it (LOCALSTACK_HOST and friends honoured)."""
    from localstack_client.config import get_service_endpoint

    return get_service_endpoint("sqs") or LOCALSTACK_DEFAULT


def _region(region: str | None) -> str:
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


#: Environment variables that name one resource instead of deriving its name from the prefix.
NAME_VARIABLES = {"table": "HARNESS_TABLE", "queue": "HARNESS_QUEUE", "bucket": "HARNESS_BUCKET",
                  "compute_environment": "HARNESS_COMPUTE_ENVIRONMENT", "job_queue": "HARNESS_JOB_QUEUE",
                  "batch_service_role": "HARNESS_BATCH_ROLE", "states_role": "HARNESS_STATES_ROLE"}


def names_for(prefix: str = "jobservice", environ=os.environ) -> Names:
    """The resource names of a prefix, each overridable by its HARNESS_* variable (e.g. an existing bucket)."""
    return Names(prefix=prefix, **{field: environ[var] for field, var in NAME_VARIABLES.items() if environ.get(var)})


def target_settings(target: str, endpoint_url: str | None = None, prefix: str = "jobservice",
                    region: str | None = None, names: Names | None = None, **fields) -> Settings:
    """Settings for a localstack or aws target: its endpoint, credentials, region and names."""
    if target not in ("localstack", "aws"):
        raise ValueError(f"target {target!r} has no endpoint of its own: choose localstack or aws")
    credentials = {}
    if target == "localstack":
        endpoint_url = endpoint_url or localstack_endpoint()
        credentials = {"access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                       "secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}
    return Settings(region=_region(region), endpoint_url=endpoint_url, names=names or names_for(prefix), target=target,
                    **credentials, **fields)


def _resolved(settings: Settings):
    """The key pair the service's clients sign with on a target (the settings', or boto3's default chain)."""
    from emulators.sigv4 import Credentials

    if settings.access_key_id:
        return Credentials(settings.access_key_id, settings.secret_access_key or "")
    import boto3

    found = boto3.Session().get_credentials()
    return Credentials(found.access_key, found.secret_key) if found else None


def _retain_from_environment(environ=os.environ) -> int:
    value = environ.get("HARNESS_RETAIN_ENDED_JOBS", "").strip()
    if not value:
        return RETAIN_ENDED_JOBS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"HARNESS_RETAIN_ENDED_JOBS must be a whole number of jobs, at least 1, not {value!r}")
    return int(value)


class RemoteService:
    """A Job Service that runs elsewhere (`harness run --url`): scenarios call it, nothing is started here."""

    #: Its arrows are recorded in its own process: no conformance check or sequence from here.
    observable = False

    def __init__(self, url: str, api_keys=(), say=None):
        self.url, self.api_keys, self.target = url.rstrip("/"), tuple(api_keys), "remote"
        self.say = say or (lambda text: log.info(text))

    def start(self) -> "RemoteService":
        """Check that the service answers its health check."""
        import requests

        try:
            health = requests.get(self.url + "/v2/health", timeout=10)
        except requests.RequestException as exc:
            raise ServiceStartError(f"no Job Service answers at {self.url}: {exc}") from exc
        if health.status_code != 200:
            raise ServiceStartError(f"the Job Service at {self.url} is not healthy: {health.status_code} "
                                    f"{health.text[:200]}")
        self.target = health.json().get("target", "remote")
        return self

    def stop(self, grace: float = 0) -> None:
        """Nothing to stop: the service is not this process's."""


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
                 roles=("api", "queue", "poller"), workers: str = "batch", batch_endpoint_url: str | None = None,
                 settings_overrides: dict | None = None, say=None, read_timeout: float = READ_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, in_process: bool = True, clock: str | None = None,
                 retain_ended_jobs: int | None = None):
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
        check_target(target, clock)  # a virtual clock off the embedded target: an error before anything runs
        #: The process clock's mode while this service runs (None: leave it as it is).
        self.clock_mode = clock
        self.target, self.host, self.port = target, host, port
        self.api_keys, self.endpoint_url, self.redis_url = tuple(api_keys), endpoint_url, redis_url
        self.prefix, self.region, self.public_url = prefix, region, public_url
        self.worker_output, self.roles = worker_output, tuple(roles)
        if workers not in WORKERS:
            raise ValueError(f"unknown workers {workers!r}: choose one of {', '.join(WORKERS)}")
        #: "batch": worker runs go to the target's Batch; "local": to local processes (embedded: both are).
        self.workers, self.batch_endpoint_url = workers, batch_endpoint_url
        self.settings_overrides = settings_overrides or {}
        self.read_timeout, self.max_connections = read_timeout, max_connections
        #: Embedded only: the service calls moto in process (True) or over its loopback port like a worker (False).
        self.in_process = in_process
        #: Embedded only: how many ended jobs the emulated AWS keeps (older ones are dropped; see
        #: emulators/retention.py). None: HARNESS_RETAIN_ENDED_JOBS, else RETAIN_ENDED_JOBS.
        self.retain_ended_jobs = retain_ended_jobs or _retain_from_environment()
        self._retention = None
        self.say = say or (lambda text: log.info(text))
        self.aws = self.redis = self.service = self._http = self.api_faults = None
        self._thread = None
        from .faults import Injector

        #: Faults on this service: `faults.inject(...)` (a context manager that heals on exit).
        self.faults = Injector(self)

    @property
    def clock(self) -> ServiceClock:
        """The service's clock: `mode`, `now()`, `advance(seconds)`, `sleep(seconds)`, `use(mode)`."""
        return ServiceClock(self)

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError(f"no API here: this service runs {', '.join(self.roles)}")
        return f"http://{self.host}:{self._http.server_port}"

    def start(self) -> "RunningService":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        finally:
            startup.resume()
        return self

    def _start(self) -> None:
        overrides = dict(self.settings_overrides)
        if self.clock_mode is not None:
            CLOCK.configure(self.clock_mode)
        if self.target == "embedded":
            from emulators import EmbeddedAWS

            self.aws = EmbeddedAWS(worker_output=self.worker_output).start()
            settings = Settings(endpoint_url=self.aws.endpoint, access_key_id=self.aws.credentials.access_key_id,
                                secret_access_key=self.aws.credentials.secret_access_key,
                                names=names_for(self.prefix), target="embedded", region=_region(self.region))
            from emulators import retention

            self._retention = retention.Retention(settings.names.table,
                                                  self.retain_ended_jobs)
            retention.apply(self._retention)
        else:
            settings = target_settings(self.target, self.endpoint_url, self.prefix, self.region)
            if self.workers == "local" or self.batch_endpoint_url:
                self._start_local_batch(settings, overrides)
        redis_url, redis_client = self.redis_url, None
        if redis_url is None and self.target == "embedded":
            import fakeredis

            # In process: no socket and no server thread between the service and its cache.
            from emulators.clocked import on_clock

            redis_client = fakeredis.FakeRedis(server=on_clock(fakeredis.FakeServer()))
        elif redis_url is None:
            from emulators import EmbeddedRedis

            self.redis = EmbeddedRedis().start()
            redis_url = self.redis.url
            self.say(f"no --redis-url given: using fakeredis at {redis_url}")
        late = _LateApp()
        public_url = self.public_url
        if "api" in self.roles:  # a process without the API listens on no port
            self._http = BoundedServer(self.host, self.port, late, self.read_timeout, self.max_connections)
            public_url = public_url or self.url
        if {"api", "queue", "poller"} <= set(self.roles):
            # Every loop writes from this process, and its writes wake long polls at once: a re-read is
            # only a safety net (a second service on the same target), not the way changes are seen.
            overrides.setdefault("wait_recheck_seconds", 5.0)
        settings = replace(settings, redis_url=redis_url, api_keys=self.api_keys,
                           **({"public_url": public_url} if public_url else {}), **overrides)
        # Embedded: the service's own AWS calls go straight into the moto that the loopback port serves.
        transport = self.aws.transport() if self.target == "embedded" and self.in_process else None
        self.service = Service(settings, redis_client, transport)
        # Where Batch is local, its group was provisioned on the local emulator already.
        groups = ("service",) if "batch" in settings.endpoints else ("service", "batch")
        created = provision(self.service.clients, settings.names, log=lambda text: None, groups=groups)
        if created and self.target != "embedded":
            self.say("provisioned: " + ", ".join(created))
        # Faults of the API as workers see it (503s, dropped connections, killed workers) sit in front of it.
        from .faults import ApiFaults, kill_worker

        self.api_faults = ApiFaults(self.service.app, on_kill=lambda authorization: kill_worker(self, authorization))
        late.app = self.api_faults
        self.service.start([r for r in self.roles if r != "api"])
        if "api" in self.roles:
            self._thread = threading.Thread(target=self._http.serve_forever, name="jobservice-http", daemon=True)
            self._thread.start()
        # ~300k long-lived objects from moto and botocore: keep them out of every later collection.
        # No gc.collect() first: it costs 0.1-0.2 s of start-up and finds a few hundred objects to free.
        gc.freeze()

    def _start_local_batch(self, settings: Settings, overrides: dict) -> None:
        """Send worker runs to a Batch that runs them as local processes; everything else stays on the target.

        That Batch is an embedded emulator of this process (`--workers local`), or one at
        `batch_endpoint_url` (a `harness emulate` that processes of several roles share).
        """
        endpoint = self.batch_endpoint_url
        if endpoint is None:
            from emulators import EmbeddedAWS

            # The service calls this Batch with the target's credentials: the emulator takes those.
            self.aws = EmbeddedAWS(worker_output=self.worker_output, credentials=_resolved(settings)).start()
            endpoint = self.aws.endpoint
        local = Settings(endpoint_url=endpoint, access_key_id=settings.access_key_id,
                         secret_access_key=settings.secret_access_key, region=settings.region, names=settings.names)
        # That Batch checks its service role in its own IAM: both are provisioned there.
        created = provision(clients_for(local), settings.names, log=lambda text: None, groups=("batch",))
        log.info("worker runs go to the Batch at %s (created: %s)", endpoint, ", ".join(created) or "nothing")
        overrides["endpoints"] = {**overrides.get("endpoints", {}), "batch": endpoint}

    def stop(self, grace: float = 0.2) -> None:
        """Stop the loops, the HTTP server, worker processes and emulators (each at most once).

        The loops get `grace` seconds to end; one in a long poll (a daemon) ends with it. A process
        that exits right after (`harness run`) gives none.
        """
        self.faults.clear()
        if self.service is not None:
            self.service.stop(timeout=grace)
        if self._retention is not None:
            from emulators import retention

            retention.remove(self._retention)
            self._retention = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if self._http is not None:
            if self._thread is not None:
                from emulators.servers import shutdown_now

                shutdown_now(self._http)
                self._thread.join(5)
            self._http.server_close()
            self._http = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.service is not None:
            self.service = None
        if self.clock_mode is not None:
            CLOCK.reset()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
