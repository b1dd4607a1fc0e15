"""The HTTP server in front of the API: a read timeout and a bound on connections, no versions in `Server`."""

import json
import logging
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)
#: Seconds a connection may stay silent while the server waits for its request or its body.
READ_TIMEOUT = 30
#: Connections served at once, each by a thread; room for hundreds of `?wait=20` long polls.
MAX_CONNECTIONS = 512


class Handler(WSGIRequestHandler):
    """Werkzeug's handler, minus the `Server` header's Python and Werkzeug versions."""

    def version_string(self) -> str:
        return "jobservice"


class BoundedServer(ThreadedWSGIServer):
    """A thread per connection, at most `max_connections` at once; past that, an immediate 503.

    A connection that sends nothing for `read_timeout` seconds (a stalled request line, headers or
    body) is closed, so a slow or hostile client cannot hold a thread for long.
    """

    def __init__(self, host: str, port: int, app, read_timeout: float = READ_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS):
        handler = type("TimedHandler", (Handler,), {"timeout": read_timeout})
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
