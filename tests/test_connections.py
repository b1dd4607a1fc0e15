"""Connections: kept alive between requests, closed when stalled or idle, and past the bound the API answers 503 at once."""

import socket
import time

import pytest
import requests

from harness.service import RunningService


@pytest.fixture(scope="module")
def small():
    with RunningService(prefix="conn9", read_timeout=1, max_connections=3) as running:
        yield running


def stalled(url: str, partial: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(partial)
    return sock


def closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sent before it closed the connection (recv blocks until then)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_stalled_request_line_or_body_is_closed_after_the_read_timeout(small):
    line = stalled(small.url, b"GET /v2/hea")
    body = stalled(small.url, b"POST /v2/definitions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100\r\n\r\n{\"type\": ")
    assert closed_by_server(line) == b""
    answer = closed_by_server(body)
    assert answer.startswith(b"HTTP/1.1 408") and b"RequestTimeout" in answer
    assert list(small.service.errors) == []


def test_past_the_bound_the_api_answers_503_at_once_and_recovers(small):
    held = [stalled(small.url, b"GET /v2/health HTTP/1.1\r\n") for _ in range(3)]
    deadline = time.monotonic() + 30
    while True:  # the server accepts them one by one: wait until all three hold a slot
        refused = requests.get(f"{small.url}/v2/health", timeout=30)
        if refused.status_code == 503 or time.monotonic() > deadline:
            break
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "ServiceUnavailable" and "connections" in refused.json()["error"]["message"]
    for sock in held:
        sock.close()
    deadline = time.monotonic() + 30
    while requests.get(f"{small.url}/v2/health", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the API did not recover its connections"
        time.sleep(0.05)


def answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP answer read from a connection that stays open: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed after {data!r}")
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536) or pytest.fail("closed in the body")
    return head, body


def test_one_connection_serves_several_requests_then_is_closed_when_idle(small):
    sock = stalled(small.url, b"")
    for _ in range(3):
        sock.sendall(b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = answer(sock)
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower()
        assert b'"status"' in body
    # Idle past the timeout: the server closes it (its thread and its place in the bound are freed).
    assert closed_by_server(sock) == b""


def test_a_body_the_api_did_not_read_is_never_taken_for_the_next_request(small):
    sock = stalled(small.url, b"")
    hidden = b"GET /v2/health HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(b"POST /v2/health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden)
    answered = closed_by_server(sock)
    assert answered.startswith(b"HTTP/1.1 405") and b"connection: close" in answered.lower()
    assert answered.count(b"HTTP/1.1") == 1


def test_request_lines_follow_the_werkzeug_loggers_level(small, caplog):
    """`-vvv` (werkzeug at INFO) shows a line per request; at WARNING, the default, none is written."""
    for level, shown in (("INFO", True), ("WARNING", False)):
        caplog.clear()
        with caplog.at_level(level, logger="werkzeug"):
            assert requests.get(f"{small.url}/v2/health?probe={level}", timeout=10).status_code == 200
        lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
        assert any(f"GET /v2/health?probe={level} HTTP/1.1" in line and " 200 " in line for line in lines) is shown, lines
