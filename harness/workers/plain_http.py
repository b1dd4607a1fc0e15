"""HTTP/1.1 for a worker process, over one kept-alive socket per host, for plain `http://` URLs.

A worker process is a fresh interpreter, and each scenario run starts many. `http.client` (and
`urllib.request` on it) imports the `email` package's parser and `ssl`: about 40 ms of a worker's
start, more than the rest of its imports together. This reads and writes HTTP/1.1 itself: a
request with a `Content-Length` body, an answer with a `Content-Length` body, a chunked one, or one
that ends with the connection. The connection is kept for the next call to the same host unless
the server says `Connection: close`; one the server closed while it was idle is noticed before
reuse and replaced. Anything else (https, in particular) is the caller's to send another way.

Transport failures raise OSError (ConnectionError, TimeoutError), an answer that is not HTTP/1.x
as read here raises `BadAnswer` (an OSError too): the caller's retries treat them alike.
"""

import select
import socket
from urllib.parse import urlsplit

#: The most a status line and headers may take.
MAX_HEAD = 64 * 1024


class BadAnswer(OSError):
    """What came back is not an HTTP/1.x answer as this client reads it."""


def plain(url: str) -> bool:
    """Whether `url` is one this client sends (`http://`, with a host)."""
    return _plain_parts(url) is not None


def _plain_parts(url: str):
    parts = urlsplit(url)
    return parts if parts.scheme == "http" and parts.hostname else None


class Connections:
    """Keep-alive connections by host and port; `request` sends one request on one of them."""

    def __init__(self, timeout: float = 30.0):
        self.timeout = timeout
        self._idle: dict = {}

    def request(self, method: str, url: str, body: bytes = b"", headers: dict | None = None):
        """(status, headers with lower-case names, body) of one request to a plain `http://` URL."""
        parts = _plain_parts(url)
        if parts is None:
            raise ValueError(f"not a plain http:// URL: {url!r}")
        address = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock = self._idle.pop(address, None)
        if sock is not None and idle_closed(sock):
            sock.close()
            sock = None
        if sock is None:
            sock = socket.create_connection(address, timeout=self.timeout)
        try:
            sock.sendall(head + body)
            status, fields, data, keep = _answer(sock, method)
        except BaseException:
            sock.close()
            raise
        if keep:
            self._idle[address] = sock
        else:
            sock.close()
        return status, fields, data

    def close(self) -> None:
        for sock in self._idle.values():
            sock.close()
        self._idle.clear()


def idle_closed(sock: socket.socket) -> bool:
    """Whether an idle connection has been closed by its server (or has unasked-for bytes): anything to
    read on it means so. The client's pool (harness/loopback_http.py) checks its idle connections so too."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)  # an idle connection has nothing to read: an end, a reset or stray bytes


class _Reader:
    """Bytes of one socket, read as they are asked for."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer = sock, b""

    def more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def line(self, limit: int = MAX_HEAD) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise BadAnswer("a line of the answer is too long")
            if not self.more():
                raise ConnectionResetError("the server closed the connection before its answer ended")
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self.more():
                raise ConnectionResetError("the server closed the connection before its answer ended")
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def rest(self) -> bytes:
        while self.more():
            pass
        data, self.buffer = self.buffer, b""
        return data


def _answer(sock: socket.socket, method: str):
    """(status, headers, body, keep the connection) of the answer on `sock`."""
    reader = _Reader(sock)
    while True:
        version, status, fields = _head(reader)
        if not 100 <= status < 200:
            break  # an interim answer (100 Continue) is followed by the real one
    keep = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
    if method == "HEAD" or status in (204, 304):
        return status, fields, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, fields, _chunked(reader), keep
    if "content-length" in fields:
        try:
            length = int(fields["content-length"])
        except ValueError:
            raise BadAnswer(f"Content-Length {fields['content-length']!r}") from None
        if length < 0:
            raise BadAnswer(f"Content-Length {length}")
        return status, fields, reader.exactly(length), keep
    return status, fields, reader.rest(), False  # the body ends with the connection


def _head(reader: _Reader):
    total, lines = 0, []
    while True:
        line = reader.line()
        total += len(line) + 2
        if total > MAX_HEAD:
            raise BadAnswer("the answer's headers are too long")
        if not line:
            break
        lines.append(line.decode("latin-1"))
    if not lines:
        raise BadAnswer("an answer with no status line")
    version, _, rest = lines[0].partition(" ")
    code = rest.split(" ", 1)[0]
    if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
        raise BadAnswer(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise BadAnswer(f"not a header line: {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    return version, int(code), fields


def _chunked(reader: _Reader) -> bytes:
    parts = []
    while True:
        size_text = reader.line().split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadAnswer(f"a chunk size {size_text[:20]!r}") from None
        if size == 0:
            while reader.line():  # trailers, up to the empty line
                pass
            return b"".join(parts)
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise BadAnswer("a chunk not followed by CRLF")
