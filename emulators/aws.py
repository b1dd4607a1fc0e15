"""moto as a server on a free loopback port, with the extensions this service needs."""

import logging

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from . import (batch_local, clocked, dispatch_cache, dynamodb_atomic, dynamodb_index, dynamodb_serialize,
               dynamodb_update, faults, model_tracking, scope, sfn_activities, sfn_parse_cache, sigv4)
from .servers import shutdown_now


def install() -> None:
    """Install every extension of moto (idempotent); each applies only to the harness's servers (scope.py)."""
    sfn_activities.install()
    sfn_parse_cache.install()
    batch_local.install()
    dynamodb_update.install()  # before dynamodb_atomic wraps the methods it replaces
    dynamodb_atomic.install()
    dynamodb_index.install()
    dynamodb_serialize.install()
    faults.install()
    clocked.install()
    model_tracking.install()
    dispatch_cache.install_action_cache()


def _extended(app):
    """moto's WSGI app with the extensions every request meets: fault rules, then the scope of the extensions."""
    return faults.wsgi(scope.scoped(app))


class EmbeddedAWS:
    """moto with working Step Functions activities and Batch jobs run as local processes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, worker_output: str | None = None,
                 check_credentials: bool = True, credentials: "sigv4.Credentials | None" = None):
        self._host, self._port = host, port
        #: The one key pair the endpoint accepts (fresh unless given); checked unless told not to.
        self.credentials = credentials or sigv4.Credentials.generate()
        self.check_credentials = check_credentials
        self._server: ThreadedMotoServer | None = None
        batch_local.output_dir = worker_output

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    url = endpoint

    def transport(self, direct: bool = True):
        """A botocore `before-send` handler that serves this process's own calls without HTTP.

        `direct`: call moto's handlers without Flask's request handling where they allow it
        (emulators/inprocess.py); False runs the whole WSGI app of the loopback server.
        """
        from .inprocess import DirectDispatch, InProcessTransport

        # This process's own calls skip the credential check (they are signed with the right pair
        # anyway) but meet the same faults and the same scoped extensions as any request.
        if direct:
            return InProcessTransport(_extended(DirectDispatch(self._dispatcher)), self.endpoint, direct=True)
        return InProcessTransport(self._app, self.endpoint)

    def start(self) -> "EmbeddedAWS":
        install()
        # werkzeug logs each request to stderr; a parent that pipes stderr and never reads it would block us.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The ASL interpreter logs every failed state (an expected outcome here) at ERROR, with its whole AST.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        # werkzeug's request handler reads `server.app` per request: wrap it before anyone is told the URL.
        server = self._server._server
        dispatch_cache.install(server.app)
        self._dispatcher = server.app
        self._app = _extended(server.app)
        # The credential check stands outside the scope: a refused request never reaches an extension or a fault.
        server.app = sigv4.guard(self._app, self.credentials if self.check_credentials else None)
        scope.serving(server.server_port, self.credentials)
        return self

    def stop(self) -> None:
        """Release long polls, end worker processes, stop the server."""
        if self._server is None:
            return
        scope.stopped(self._server._server.server_port)
        sfn_activities.wake_all()
        batch_local.kill_all()
        shutdown_now(self._server._server)
        self._server.stop()
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
