"""What the embedded target needs beyond stock moto and fakeredis."""

from . import shared_loader

shared_loader.install()  # before moto is imported: its imports make botocore sessions

from .aws import EmbeddedAWS  # noqa: E402
from .redis_server import EmbeddedRedis  # noqa: E402

__all__ = ["EmbeddedAWS", "EmbeddedRedis"]
