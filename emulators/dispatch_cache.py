"""Route requests in moto's server without re-reading its package directory each time.

moto's DomainDispatcherApplication lists moto's ~200 package folders (a
listdir and an isdir each) and then tries its URL patterns for every request,
under one lock that every request thread shares. The answers never change
while the process runs, so the harness's server computes them once per host
(on its own dispatcher instance: other moto servers of the process are untouched).
"""

import types

from moto.core import responses
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


_stock_method_names = responses.method_names_from_class
_method_names: dict = {}


def _cached_method_names(clazz) -> frozenset:
    """The functions of a response class (its actions), listed once: moto lists them on every request."""
    names = _method_names.get(clazz)
    if names is None:
        names = _method_names[clazz] = frozenset(_stock_method_names(clazz))
    return names


def install_action_cache() -> None:
    """List each response class's actions once per process (idempotent).

    moto finds a request's handler by `inspect.getmembers` of its response class on every
    request: 2-3 % of the service's CPU. Installed with the other extensions, before any request,
    so a class patched by them is listed as patched.
    """
    _method_names.clear()
    responses.method_names_from_class = _cached_method_names
