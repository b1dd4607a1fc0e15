"""Route requests in moto's server without re-reading its package directory each time.

moto's DomainDispatcherApplication lists moto's ~200 package folders (a
listdir and an isdir each) and then tries its URL patterns for every request,
under one lock that every request thread shares. The answers never change
while the process runs, so they are computed once per host.
"""

import functools

from moto import backends
from moto.moto_server import werkzeug_app

_original = werkzeug_app.DomainDispatcherApplication.get_backend_for_host


@functools.lru_cache(maxsize=None)
def _modules() -> frozenset:
    return frozenset(_original_list())


_original_list = backends.list_of_moto_modules


def _cached_backend_for_host(self, host):
    cache = self.__dict__.setdefault("_jobservice_hosts", {})
    if host not in cache:
        cache[host] = _original(self, host)
    return cache[host]


def install() -> None:
    """Cache moto's module list and its host-to-backend answers (idempotent)."""
    backends.list_of_moto_modules = _modules
    werkzeug_app.DomainDispatcherApplication.get_backend_for_host = _cached_backend_for_host
