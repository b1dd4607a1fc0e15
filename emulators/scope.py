"""Which requests the extensions apply to: only those that reach moto through the harness's own server.

moto keeps its backends and its response classes in module globals that every moto
server and every `mock_aws` of the process share, so a patch of a class reaches them
all. Each extension in emulators/ therefore asks `active()` and, outside a request
that one of our servers is answering, does exactly what stock moto does. A user's own
`mock_aws` test in the same process (say, in the pytest session that also runs the
harness's service) sees stock moto: executions not run, Batch jobs not run as local
processes, CreateActivity not idempotent.
"""

import select
import socket
import threading

from server import clock

_local = threading.local()


def active() -> bool:
    """True inside a request that a harness emulator is answering."""
    return getattr(_local, "environ", None) is not None


def client_connected() -> bool:
    """False once the client of the current request has closed its connection (or it broke).

    True when it cannot tell (not in a request of ours, or no socket to look at).
    """
    environ = getattr(_local, "environ", None)
    sock = environ.get("werkzeug.socket") if environ is not None else None
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return True
        # Readable with nothing to read: the client sent FIN. Data would be a pipelined request.
        return sock.recv(1, socket.MSG_PEEK) != b""
    except (OSError, ValueError):
        return False


def scoped(app):
    """Wrap a WSGI app so that the extensions apply while it answers a request."""

    def harness_emulator(environ, start_response):
        previous = getattr(_local, "environ", None)
        _local.environ = environ
        # A call that changes something holds the clock still while in flight (skip mode); a long
        # poll waits for work (its thread is not happening) and its thread is awake once it has
        # answered, until it waits again (the work it got is handed on); a read changes nothing.
        kind = call_kind(environ)
        if kind == "write":
            clock.CLOCK.hold(clock.thread_key())
        elif kind == "long poll":
            clock.CLOCK.park()
        try:
            return app(environ, start_response)
        finally:
            _local.environ = previous
            if kind == "write":
                clock.CLOCK.release(clock.thread_key())
            elif kind == "long poll":
                clock.CLOCK.wake()

    harness_emulator.wrapped = app
    return harness_emulator


#: Calls that wait for work to appear: they are not "something happening" for the clock.
LONG_POLLS = ("AWSStepFunctions.GetActivityTask", "AmazonSQS.ReceiveMessage")


READS = ("get", "describe", "list", "query", "scan", "batchget", "head")


def call_kind(environ) -> str:
    """'long poll', 'read' or 'write': what an AWS call is to the clock."""
    target = environ.get("HTTP_X_AMZ_TARGET") or ""
    if target in LONG_POLLS or "Action=ReceiveMessage" in environ.get("QUERY_STRING", ""):
        return "long poll"
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
        return "read"
    operation = target.rsplit(".", 1)[-1] if target else environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
    return "read" if operation.lower().startswith(READS) else "write"


_servers: list[tuple[int, object]] = []  # (port, the credentials it accepts or None), oldest first
_servers_lock = threading.Lock()


def serving(port: int, credentials=None) -> None:
    """Record that a harness emulator listens on `port` (until `stopped(port)`)."""
    with _servers_lock:
        _servers.append((port, credentials))


def stopped(port: int) -> None:
    with _servers_lock:
        _servers[:] = [server for server in _servers if server[0] != port]


def serving_ports() -> list[int]:
    """Ports of the harness emulators running in this process, oldest first."""
    with _servers_lock:
        return [port for port, _ in _servers]


def credentials_for(port: int):
    """The credentials the emulator on `port` accepts (None: not ours, or it checks none)."""
    with _servers_lock:
        return next((credentials for served, credentials in _servers if served == port), None)
