"""fakeredis behind a loopback TCP port, standing in for ElastiCache."""

import threading

from fakeredis import TcpFakeServer

from .clocked import on_clock


class EmbeddedRedis:
    """A fakeredis server on a free loopback port; `url` is its redis:// URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._address = (host, port)
        self._server: TcpFakeServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"redis://{host}:{port}/0"

    def start(self) -> "EmbeddedRedis":
        self._server = TcpFakeServer(self._address)
        on_clock(self._server.fake_server)  # key TTLs follow the process's clock
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakeredis", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
