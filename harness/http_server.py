"""The HTTP server in front of the API: keep-alive, a read timeout, a bound on connections, no versions in `Server`."""

import json
import logging
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)
_REQUESTS = logging.getLogger("werkzeug")  # where werkzeug writes each request's line
#: Seconds a connection may stay silent while the server waits for its request or its body.
READ_TIMEOUT = 30
#: Seconds a kept-alive connection may wait idle for its next request before it is closed (and its thread ends).
IDLE_TIMEOUT = 5.0
#: Connections served at once, each by a thread; room for hundreds of `?wait=20` long polls.
MAX_CONNECTIONS = 512


class _CountedBody:
    """A request body as the app reads it, counting what is left (a connection is reused only once it is read)."""

    def __init__(self, stream, length: int):
        self._stream, self.left = stream, length

    def _took(self, data):
        self.left -= len(data)
        return data

    def read(self, size=-1):
        return self._took(self._stream.read(self.left if size is None or size < 0 else min(size, self.left)))

    def readline(self, size=-1):
        return self._took(self._stream.readline(self.left if size is None or size < 0 else min(size, self.left)))

    def readinto(self, buffer):
        view = memoryview(buffer)[:max(0, self.left)]
        count = self._stream.readinto(view) or 0
        self.left -= count
        return count


class _DrainGuard:
    """The handler's `rfile` while werkzeug answers: its after-response drain reads nothing from a kept connection.

    Werkzeug reads and discards whatever the client sent after the response (so that a client that
    sent a body too large sees the 413, not a reset): on a kept-alive connection that would be the
    next request. The app reads its body through `wsgi.input`, not through this.
    """

    def __init__(self, handler, rfile):
        self._handler, self.rfile = handler, rfile

    def read(self, size=-1):
        return b"" if self._handler._keep() else self.rfile.read(size)


class Handler(WSGIRequestHandler):
    """Werkzeug's handler with HTTP/1.1 keep-alive, minus the `Server` header's Python and Werkzeug versions.

    Werkzeug closes every connection, because a body the app did not read would be taken for the
    next request. This one keeps a connection open when the request's body was read to its end (or
    it had none), and closes it after `idle_timeout` seconds without a next request.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body of a kept-alive
    # connection's answer waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    idle_timeout = IDLE_TIMEOUT
    _body = None
    _served = False

    def version_string(self) -> str:
        return "jobservice"

    def make_environ(self):
        environ = super().make_environ()
        length = environ.get("CONTENT_LENGTH")
        self._body = None
        if "wsgi.input_terminated" in environ:  # a chunked body: where it ends is the app's business
            self._reusable = False
        else:
            self._reusable = True
            if length and length.isdigit() and int(length) > 0:
                self._body = environ["wsgi.input"] = _CountedBody(environ["wsgi.input"], int(length))
        self.rfile = _DrainGuard(self, self.rfile)
        return environ

    def send_header(self, keyword, value):
        # Werkzeug asks to close every connection; keep it when the next request can be read safely.
        if keyword.lower() == "connection" and value.lower() == "close" and self._keep():
            return
        super().send_header(keyword, value)

    def log_request(self, code="-", size="-") -> None:
        # Werkzeug formats the line (date, address, path) before its logger decides; most runs drop it.
        # NOTSET stays as werkzeug has it: its first line sets the logger to INFO.
        if _REQUESTS.level == logging.NOTSET or _REQUESTS.isEnabledFor(logging.INFO):
            super().log_request(code, size)

    def _keep(self) -> bool:
        """The connection may serve another request: HTTP/1.1 asked for it, and the body was read to its end."""
        return not self.close_connection and self._reusable and (self._body is None or self._body.left <= 0)

    def handle_one_request(self):
        if self._served and not self._next_request_comes():
            self.close_connection = True
            return
        self._served, self._reusable = True, False
        try:
            super().handle_one_request()
        finally:
            if isinstance(self.rfile, _DrainGuard):
                self.rfile = self.rfile.rfile
        if not self._keep():
            self.close_connection = True

    def _next_request_comes(self) -> bool:
        """Wait at most `idle_timeout` for the next request's first byte; False if none came (or the peer left)."""
        self.connection.settimeout(self.idle_timeout)
        try:
            return bool(self.rfile.peek(1))
        except OSError:  # the idle timeout, or a reset
            return False
        finally:
            self.connection.settimeout(self.timeout)


class BoundedServer(ThreadedWSGIServer):
    """A thread per connection, at most `max_connections` at once; past that, an immediate 503.

    A connection that sends nothing for `read_timeout` seconds (a stalled request line, headers or
    body) is closed, so a slow or hostile client cannot hold a thread for long. A kept-alive
    connection holds its thread (and its place in the bound) only `idle_timeout` seconds between
    requests.
    """

    def __init__(self, host: str, port: int, app, read_timeout: float = READ_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, idle_timeout: float = IDLE_TIMEOUT):
        handler = type("TimedHandler", (Handler,), {"timeout": read_timeout,
                                                    "idle_timeout": min(idle_timeout, read_timeout)})
        super().__init__(host, port, app, handler=handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        body = json.dumps({"error": {"code": "ServiceUnavailable", "message":
                                     f"the API Server has all its {max_connections} connections in use; "
                                     "retry in a moment"}}).encode()
        self._busy = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      b"Retry-After: 1\r\nConnection: close\r\nServer: jobservice\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 at once, on the accepting thread, without reading the request."""
        log.warning("all %d connections in use: refusing one", self.max_connections)
        try:
            request.settimeout(1)
            request.sendall(self._busy)
            request.shutdown(socket.SHUT_WR)
            request.recv(65536)  # let the client see the answer before the close resets the connection
        except OSError:
            pass
        finally:
            request.close()
