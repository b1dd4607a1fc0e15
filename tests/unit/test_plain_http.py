"""The scripted worker's HTTP/1.1 client (harness/workers/plain_http.py), against a scripted loopback server."""

import socket
import threading

import pytest
from hypothesis import given, settings, strategies as st

from harness.workers import plain_http


class Server:
    """Answers each request on 127.0.0.1 with the next of `answers` (bytes; `close_after` closes the
    connection after that answer). Records each request as (connection number, head, body)."""

    def __init__(self, answers, close_after=()):
        self.answers, self.close_after, self.requests = list(answers), set(close_after), []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn, number):
        buffer = b""
        with conn:
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                index = len(self.requests)
                self.requests.append((number, head.decode("latin-1"), body))
                conn.sendall(self.answers.pop(0))
                if index in self.close_after:
                    return

    def close(self):
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def make(answers, close_after=()):
        servers.append(Server(answers, close_after))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_calls_to_one_host_share_one_connection_and_the_request_is_as_written(serve):
    server = serve([ok(b'{"a": 1}'), ok(b"second")])
    http = plain_http.Connections(timeout=5)
    assert http.request("POST", server.url + "/v2/worker/finish?x=a%20b", b'{"o": 1}',
                        {"Authorization": "Bearer t", "Content-Type": "application/json"}) == \
        (200, {"content-length": "8"}, b'{"a": 1}')
    assert http.request("GET", server.url + "/v2/workers/files/k")[2] == b"second"
    assert server.connections == 1
    (_, first, body), (_, second, empty) = server.requests
    assert first.split("\r\n") == ["POST /v2/worker/finish?x=a%20b HTTP/1.1", f"Host: {server.url[7:]}",
                                   "Content-Length: 8", "Authorization: Bearer t", "Content-Type: application/json"]
    assert body == b'{"o": 1}'
    assert second.split("\r\n")[0] == "GET /v2/workers/files/k HTTP/1.1" and "Content-Length" not in second
    assert empty == b""
    http.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(serve):
    server = serve([ok(b"one"), ok(b"two")], close_after={0})  # closed with no `Connection: close`
    http = plain_http.Connections(timeout=5)
    assert http.request("GET", server.url + "/a")[2] == b"one"
    for _ in range(100):  # until the close has reached this side (it is sent right after the answer)
        if plain_http.idle_closed(http._idle[("127.0.0.1", int(server.url.rsplit(":", 1)[1]))]):
            break
        threading.Event().wait(0.01)
    assert http.request("GET", server.url + "/b")[2] == b"two"
    assert server.connections == 2 and [n for n, _, _ in server.requests] == [1, 2]


def test_connection_close_and_a_body_that_ends_with_the_connection_are_not_kept(serve):
    server = serve([ok(b"closing", "Connection: close\r\n"), b"HTTP/1.1 200 OK\r\n\r\nto the end", ok(b"three")],
                   close_after={0, 1})
    http = plain_http.Connections(timeout=5)
    assert http.request("GET", server.url + "/1")[2] == b"closing"
    assert http.request("GET", server.url + "/2")[2] == b"to the end"
    assert http.request("GET", server.url + "/3")[2] == b"three"
    assert server.connections == 3


def test_an_error_status_is_an_answer_and_an_interim_100_is_skipped(serve):
    server = serve([b"HTTP/1.1 100 Continue\r\n\r\n" + f"HTTP/1.1 503 Service Unavailable\r\n"
                    f"Content-Length: 4\r\n\r\nbusy".encode(), b"HTTP/1.1 204 No Content\r\n\r\n"])
    http = plain_http.Connections(timeout=5)
    assert http.request("POST", server.url + "/x", b"{}")[::2] == (503, b"busy")
    assert http.request("HEAD", server.url + "/y")[::2] == (204, b"")
    assert server.connections == 1


@pytest.mark.parametrize("answer, message", [
    (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 2OO OK\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "not a header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length -1"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n", "Content-Length 'many'"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a chunk size"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "too long"),
])
def test_an_answer_that_is_not_http_is_a_bad_answer_an_oserror(serve, answer, message):
    server = serve([answer])
    with pytest.raises(plain_http.BadAnswer, match=message) as raised:
        plain_http.Connections(timeout=5).request("GET", server.url + "/")
    assert isinstance(raised.value, OSError)  # the scripted worker retries it as it retries a reset


def test_a_server_that_closes_mid_answer_or_is_not_there_raises_an_oserror(serve):
    server = serve([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], close_after={0})
    with pytest.raises(ConnectionResetError, match="before its answer ended"):
        plain_http.Connections(timeout=5).request("GET", server.url + "/")
    port = server.url.rsplit(":", 1)[1]
    server.close()
    with pytest.raises(OSError):
        plain_http.Connections(timeout=5).request("GET", f"http://127.0.0.1:{port}/")


def test_only_plain_http_urls_are_sent():
    assert plain_http.plain("http://127.0.0.1:5000/v2") and plain_http.plain("http://localhost/x")
    assert not plain_http.plain("https://example.com/x") and not plain_http.plain("http:///nohost")
    with pytest.raises(ValueError, match="not a plain http:// URL"):
        plain_http.Connections().request("GET", "https://example.com/")


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=1, max_value=700), max_size=8),
       extension=st.booleans(), trailer=st.booleans())
def test_a_chunked_body_is_read_back_whole_however_it_is_cut(body, cuts, extension, trailer):
    chunks, rest = [], body
    for cut in cuts:
        if rest:
            chunks.append(rest[:cut])
            rest = rest[cut:]
    if rest:
        chunks.append(rest)
    wire = b"".join(f"{len(c):x}{';ext=1' if extension else ''}\r\n".encode() + c + b"\r\n" for c in chunks)
    wire += b"0\r\n" + (b"X-Trailer: 1\r\n" if trailer else b"") + b"\r\n"
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + wire + b"HTTP/1.1 200 OK")
        status, fields, data, keep = plain_http._answer(right, "GET")
    assert (status, data, keep) == (200, body, True)
