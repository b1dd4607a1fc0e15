"""What the embedded target needs beyond stock moto and fakeredis."""

from .aws import EmbeddedAWS
from .redis_server import EmbeddedRedis

__all__ = ["EmbeddedAWS", "EmbeddedRedis"]
