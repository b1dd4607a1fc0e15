"""Settings of one Job Service deployment: endpoints, credentials, names, limits."""

from dataclasses import dataclass, field


@dataclass
class Names:
    """Names of the AWS resources the service uses; all derive from one prefix by default."""

    prefix: str = "jobservice"
    table: str = ""
    queue: str = ""
    bucket: str = ""
    compute_environment: str = ""
    job_queue: str = ""
    batch_service_role: str = ""
    states_role: str = ""

    def __post_init__(self):
        p = self.prefix
        self.table = self.table or f"{p}-resources"
        self.queue = self.queue or f"{p}-queue"
        self.bucket = self.bucket or f"{p}-files"
        self.compute_environment = self.compute_environment or f"{p}-local"
        self.job_queue = self.job_queue or f"{p}-workers"
        self.batch_service_role = self.batch_service_role or f"{p}-batch-service"
        self.states_role = self.states_role or f"{p}-states"


@dataclass
class Settings:
    """Everything the service needs to know about where it runs; never which target it is."""

    region: str = "us-east-1"
    #: One endpoint for every AWS service (moto, LocalStack); None means AWS's own.
    endpoint_url: str | None = None
    #: Per-service endpoints (boto3 service name -> URL) that override `endpoint_url`,
    #: e.g. {"batch": ...} to run workers on another Batch than the rest of the target.
    endpoints: dict[str, str] = field(default_factory=dict)
    access_key_id: str | None = None
    secret_access_key: str | None = None
    #: None when the service is handed its Redis client (an in-process fakeredis).
    redis_url: str | None = "redis://127.0.0.1:6379/0"
    names: Names = field(default_factory=Names)
    #: A label for /v2/health and logs only; no code path depends on it.
    target: str = "embedded"
    #: Client API keys; empty means client calls are open.
    api_keys: tuple[str, ...] = ()
    #: Base URL of the API as workers reach it (JOBSERVICE_URL), without /v2.
    public_url: str = "http://127.0.0.1:8080"
    max_upload_bytes: int = 64 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    presign_seconds: int = 3600
    #: Seconds a long poll of SQS waits for a message (SQS allows up to 20).
    queue_wait_seconds: int = 20
    #: Seconds between checks of running worker runs' Batch jobs.
    batch_watch_seconds: float = 0.5
    #: Seconds between sweeps that read the executions of running jobs.
    reconcile_seconds: float = 1.0
    #: Seconds between reads of the activities that running jobs use (a job created in the same
    #: process is seen at once).
    discover_seconds: float = 1.0
    #: A run whose Batch job was not submitted this long after its task was taken (its poller died) fails.
    unsubmitted_grace_seconds: float = 60.0
    #: A long poll (`?wait=`) re-reads its resource at least this often, to see writes made by other
    #: processes (writes of this process wake it at once).
    wait_recheck_seconds: float = 1.0
    #: Unexpected errors of background threads kept for `Service.errors` (the latest; older ones dropped).
    errors_kept: int = 50
    #: Threads that process queue messages at once.
    queue_threads: int = 4
    #: botocore's retry mode ("standard" or "adaptive") and attempts per call (throttling and 5xx are retried).
    aws_retry_mode: str = "standard"
    aws_max_attempts: int = 6
    #: Seconds a cached worker info lives in Redis.
    cache_ttl_seconds: int = 24 * 3600
