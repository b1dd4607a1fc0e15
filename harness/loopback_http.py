"""The client's HTTP to a service on this machine: pooled HTTP/1.1 connections over http.client.

A call through `requests` cost the calling thread 0.7-1.3 ms of CPU (the session's settings merged
with the environment's proxies, the request prepared, hooks, cookies, urllib3's pool and retry
objects), against 0.2-0.3 ms through http.client (bench/client_calls.py). A test session and the
scenario runner share one process, and one core, with the embedded service, so every call's
overhead is the service's too.

`Loopback` serves the simple calls of `harness.client` to a plain `http://` URL on the loopback
interface (127.0.0.1, ::1, localhost), where no proxy applies: a method, a path, query parameters,
headers, and a JSON or bytes body. Anything else (uploads, presigned URLs, HTTPS, other hosts, a
caller's own `requests.Session`) stays with `requests`. Its answers look like the parts of
`requests.Response` the client reads, and its failures are `requests`' exceptions, so callers see
one behaviour.

Connections are kept alive and reused, at most `MAX_IDLE` of them idle (as `requests`' default
pool). One the server closed while it was idle is noticed before it is reused (it reads as
ready: an end of stream), and replaced.
"""

import http.client
import json
import socket
import threading
from urllib.parse import urlencode, urlsplit

import requests
from requests.utils import requote_uri

from .workers.plain_http import idle_closed

#: Idle connections kept per service (requests' default pool size).
MAX_IDLE = 10
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class Response:
    """What the client reads of an answer: as `requests.Response` names it."""

    __slots__ = ("status_code", "reason", "headers", "content", "url")

    def __init__(self, status_code: int, reason: str, headers, content: bytes, url: str):
        self.status_code, self.reason, self.headers, self.content, self.url = status_code, reason, headers, content, url

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.get_content_charset() or "utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


class Loopback:
    """Pooled keep-alive connections to one `http://` service on the loopback interface."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    @staticmethod
    def serves(base_url: str) -> bool:
        """Whether calls to this base URL may go this way: plain HTTP to this machine, no path prefix
        or credentials in the URL, and a port that parses."""
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return False
        return (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and parts.path in ("", "/")
                and not parts.username and not parts.password and not parts.query and not parts.fragment)

    def request(self, method: str, path: str, params=None, json_body=None, data=None, headers=None,
                timeout: float = 30) -> Response:
        """One call; raises `requests.ConnectionError` (or its `ConnectTimeout`, `ReadTimeout`) as `requests` would."""
        target = requote_uri(path)
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)  # as requests
            if query:
                target += ("&" if "?" in target else "?") + query
        sent = {"Accept": "*/*"}
        body = data
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        sent.update(headers or {})
        if body is not None or method in ("POST", "PUT", "PATCH"):
            sent["Content-Length"] = str(len(body or b""))
        connection = self._take(timeout)
        url = f"http://{self.host}:{self.port}{target}"
        try:
            connection.request(method, target, body=body, headers=sent)
            answer = connection.getresponse()
            content = answer.read()
        except socket.timeout as exc:
            connection.close()
            if getattr(exc, "_connecting", False):
                raise requests.ConnectTimeout(f"connecting to {url} timed out") from None
            raise requests.ReadTimeout(f"{method} {url}: no answer within {timeout} s") from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise requests.ConnectionError(f"{method} {url}: {exc.__class__.__name__}: {exc}") from None
        if answer.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return Response(answer.status, answer.reason, answer.headers, content, url)

    def _take(self, timeout: float) -> http.client.HTTPConnection:
        """An idle connection the server has not closed, or a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return _Connection(self.host, self.port, timeout=timeout)
            if _usable(connection):
                connection.timeout = timeout
                connection.sock.settimeout(timeout)
                return connection
            connection.close()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class _Connection(http.client.HTTPConnection):
    """http.client's connection, whose timeout while connecting says so (a ConnectTimeout, not a ReadTimeout)."""

    def connect(self):
        try:
            super().connect()
        except socket.timeout as exc:
            exc._connecting = True
            raise


def _usable(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection is still open (`idle_closed`: nothing to read on it)."""
    return connection.sock is not None and not idle_closed(connection.sock)
