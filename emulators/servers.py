"""Stop a socketserver-based HTTP server at once, not at its next poll (up to 0.5 s later)."""

import socket
import threading


def shutdown_now(server) -> None:
    """`server.shutdown()`, waking its `serve_forever` loop with a connection so that it sees the request now."""
    stopping = threading.Thread(target=server.shutdown, daemon=True)
    stopping.start()
    host, port = server.server_address[:2]
    while stopping.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            pass
        stopping.join(0.01)
