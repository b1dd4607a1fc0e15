"""What the embedded target needs beyond stock moto and fakeredis."""

from . import lazy_ec2, shared_loader

shared_loader.install()  # before moto is imported: its imports make botocore sessions
lazy_ec2.install()  # before moto.batch imports moto.ec2

from .aws import EmbeddedAWS  # noqa: E402
from .redis_server import EmbeddedRedis  # noqa: E402

__all__ = ["EmbeddedAWS", "EmbeddedRedis"]
