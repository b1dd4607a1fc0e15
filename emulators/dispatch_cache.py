"""Route requests in moto's server without re-reading its package directory each time.

moto's DomainDispatcherApplication lists moto's ~200 package folders (a
listdir and an isdir each) and then tries its URL patterns for every request,
under one lock that every request thread shares. The answers never change
while the process runs, so the harness's server computes them once per host
(on its own dispatcher instance: other moto servers of the process are untouched).
"""

import types

from moto.moto_server import werkzeug_app

_original = werkzeug_app.DomainDispatcherApplication.get_backend_for_host


def _cached_backend_for_host(self, host):
    cache = self.__dict__.setdefault("_jobservice_hosts", {})
    if host not in cache:
        cache[host] = _original(self, host)
    return cache[host]


def install(dispatcher: werkzeug_app.DomainDispatcherApplication) -> None:
    """Cache one dispatcher's host-to-backend answers (idempotent)."""
    dispatcher.get_backend_for_host = types.MethodType(_cached_backend_for_host, dispatcher)
