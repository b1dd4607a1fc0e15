"""The one place that makes the boto3 clients and the Redis client for a deployment."""

import threading

import boto3
import redis
from botocore.config import Config

from . import observe
from .config import Settings

# GetActivityTask holds for up to 60 s on AWS: the read timeout must outlast it. Retries: Settings.aws_retry_mode.
_LONG_POLL = Config(read_timeout=70, connect_timeout=5,
                    max_pool_connections=50)
# Requests are built from checked values only: botocore's own parameter validation is work done twice.
_DEFAULT = Config(read_timeout=30, connect_timeout=5,
                  max_pool_connections=50, s3={"addressing_style": "path"}, parameter_validation=False)

# Presigned URLs signed with Signature Version 4, as AWS requires in every region opened since 2014
# (botocore presigns with the legacy SigV2 on a custom endpoint otherwise).
_S3 = _DEFAULT.merge(Config(signature_version="s3v4"))


def _drop_expect_header(request, **_):
    # werkzeug-based endpoints stall some PutObject calls on Expect: 100-continue.
    request.headers.pop("Expect", None)


class Clients:
    """boto3 clients (one per service, shared by threads) and a Redis client."""

    def __init__(self, settings: Settings, redis_client=None, transport=None):
        self.settings = settings
        #: A botocore `before-send` handler given by whoever made the target (an in-process emulator), or None.
        self._transport = transport
        self._session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            region_name=settings.region,
        )
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}
        #: A Redis client made elsewhere (an in-process fakeredis); else one is made from `redis_url`.
        self._redis = redis_client

    def _make(self, service: str, config: Config):
        endpoint = self.settings.endpoints.get(service, self.settings.endpoint_url)
        retries = {"mode": self.settings.aws_retry_mode, "max_attempts": self.settings.aws_max_attempts}
        client = self._session.client(service, endpoint_url=endpoint, config=config.merge(Config(retries=retries)))
        client.meta.events.register("before-send.s3.*", _drop_expect_header)
        if self._transport is not None:
            self._transport.attach(client.meta.events, client)
        observe.hook_boto3(client)
        return client

    def _get(self, service: str, config: Config = _DEFAULT, key: str | None = None):
        key = key or service
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key) or self._make(service, config)
                self._clients[key] = client
        return client

    @property
    def sfn(self):
        return self._get("stepfunctions")

    @property
    def sfn_poll(self):
        """A Step Functions client for GetActivityTask long polls, with its own pool."""
        return self._get("stepfunctions", _LONG_POLL, key="stepfunctions-poll")

    @property
    def batch(self):
        return self._get("batch")

    @property
    def dynamodb(self):
        return self._get("dynamodb")

    @property
    def sqs(self):
        return self._get("sqs")

    @property
    def s3(self):
        return self._get("s3", _S3)

    @property
    def iam(self):
        return self._get("iam")

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = redis.Redis.from_url(
                        self.settings.redis_url, socket_timeout=5, socket_connect_timeout=5,
                        health_check_interval=30,
                    )
        return self._redis
