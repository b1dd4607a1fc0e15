"""Unit tests of harness.client against a tiny local HTTP server imitating the contract."""
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from harness.client import Client, JobServiceError, WorkerClient, WORKER_ENV
from harness.errors import HarnessError
from harness.loopback_http import Loopback

JOB_URN = "urn:jobservice:job:j1"
KEY = "jobs/j1/w1/result.json"


class FakeService:
    """Answer requests from a route table and record every request seen."""

    def __init__(self):
        self.routes = {}
        self.seen = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval keeps shutdown() quick in each teardown.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def route(self, method, path, status=200, body=None, raw=None):
        """Answer `method path` with a JSON body, raw bytes, or a callable(request) -> tuple."""
        self.routes[method, path] = body if callable(body) else (status, body, raw)

    def last(self, method, path):
        """Return the last recorded request to `method path`."""
        return [r for r in self.seen if (r["method"], r["path"]) == (method, path)][-1]

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = {"method": self.command, "path": parts.path,
                           "query": parse_qs(parts.query), "headers": dict(self.headers),
                           "body": self.rfile.read(length)}
                service.seen.append(request)
                answer = service.routes.get((self.command, parts.path))
                if answer is None:
                    answer = (404, {"error": {"code": "NoRoute", "message": parts.path}}, None)
                elif callable(answer):
                    answer = answer(request)
                status, body, raw, *extra = answer
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                kind = "text/plain" if raw is not None else "application/json"
                self.send_header("Content-Type", kind)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def service():
    fake = FakeService()
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()
    fake.thread.join()


@pytest.fixture
def client(service):
    return Client(service.url)


@pytest.fixture
def worker(service):
    return WorkerClient(service.url, "tok-1", worker_id="w1", job_urn=JOB_URN)


def statuses(*sequence):
    """Return a route answering a job with the given statuses in turn, repeating the last."""
    remaining = list(sequence)

    def answer(request):
        status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return 200, {"urn": JOB_URN, "status": status}, None

    return answer


def test_error_body_is_parsed_into_job_service_error(service, client):
    error = {"error": {"code": "NotFound", "message": "no job urn:jobservice:job:x"}}
    service.route("GET", "/v2/jobs/urn:jobservice:job:x", 404, error)
    with pytest.raises(JobServiceError) as info:
        client.get_job("urn:jobservice:job:x")
    assert (info.value.status, info.value.code) == (404, "NotFound")
    assert info.value.message == "no job urn:jobservice:job:x"
    assert str(info.value) == "404 NotFound: no job urn:jobservice:job:x"


def test_error_without_contract_body_falls_back_to_raw_text(service, client):
    service.route("GET", "/v2/health", 502, raw=b"bad gateway upstream")
    with pytest.raises(JobServiceError) as info:
        client.health()
    assert info.value.status == 502
    assert info.value.code == "BadGateway"
    assert info.value.message == "bad gateway upstream"


def test_bearer_header_sent_when_api_key_given(service):
    service.route("GET", "/v2/health", body={"status": "ok"})
    assert Client(service.url, api_key="k-123").health() == {"status": "ok"}
    assert service.last("GET", "/v2/health")["headers"]["Authorization"] == "Bearer k-123"


def test_no_authorization_header_without_api_key(service, client):
    service.route("GET", "/v2/health", body={"status": "ok"})
    client.health()
    assert "Authorization" not in service.last("GET", "/v2/health")["headers"]


def test_register_worker_sends_only_given_fields(service, client):
    service.route("POST", "/v2/definitions", 201, {"urn": "urn:jobservice:worker:w"})
    client.register_worker("w", command=["python", "w.py"], vcpus=1)
    body = json.loads(service.last("POST", "/v2/definitions")["body"])
    assert body == {"type": "worker", "name": "w", "command": ["python", "w.py"], "vcpus": 1}


def test_wait_for_job_returns_on_completed(service, client):
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=statuses("RUNNING", "RUNNING", "COMPLETED"))
    job = client.wait_for_job(JOB_URN, timeout=5, poll=0.01)
    assert job["status"] == "COMPLETED"
    assert len(service.seen) == 3


def test_wait_for_job_times_out_naming_urn_and_last_status(service, client):
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=statuses("RUNNING"))
    with pytest.raises(TimeoutError) as info:
        client.wait_for_job(JOB_URN, timeout=0.3)
    message = str(info.value)
    assert JOB_URN in message and "COMPLETED" in message
    assert "last status: RUNNING" in message


def test_run_job_requests_then_waits_for_request_and_job(service, client):
    request_urn = "urn:jobservice:request:r1"
    service.route("POST", "/v2/jobs/requests", 202, {"urn": request_urn, "status": "PENDING"})
    service.route("GET", f"/v2/jobs/requests/{request_urn}",
                  body={"urn": request_urn, "status": "FULFILLED", "job": JOB_URN})
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=statuses("RUNNING", "COMPLETED"))
    job = client.run_job("urn:jobservice:job-definition:d", {"text": "hi"}, timeout=5)
    assert job["status"] == "COMPLETED"
    body = json.loads(service.last("POST", "/v2/jobs/requests")["body"])
    assert body == {"definition": "urn:jobservice:job-definition:d", "input": {"text": "hi"}}


@pytest.mark.parametrize("missing", WORKER_ENV)
def test_from_env_raises_naming_the_missing_variable(missing):
    environ = {name: "x" for name in WORKER_ENV if name != missing}
    with pytest.raises(HarnessError, match=missing):
        WorkerClient.from_env(environ)


def test_from_env_reads_all_variables():
    environ = dict(zip(WORKER_ENV, ["http://h:1/", "tok", "w1", JOB_URN]))
    worker = WorkerClient.from_env(environ)
    assert (worker.base_url, worker.token, worker.worker_id, worker.job_urn) == \
        ("http://h:1", "tok", "w1", JOB_URN)


def test_upload_sends_name_query_and_raw_bytes(service, worker):
    service.route("POST", "/v2/workers/files", 201, {"key": "jobs/j1/w1/in.bin", "size": 4})
    assert worker.upload("in.bin", b"\x00\x01ab") == "jobs/j1/w1/in.bin"
    request = service.last("POST", "/v2/workers/files")
    assert request["query"] == {"name": ["in.bin"]}
    assert request["body"] == b"\x00\x01ab"
    assert request["headers"]["Authorization"] == "Bearer tok-1"


def test_upload_file_sends_multipart_field_file(service, worker, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    service.route("POST", "/v2/workers/files", 201, {"key": "jobs/j1/w1/notes.txt", "size": 5})
    assert worker.upload_file(path) == "jobs/j1/w1/notes.txt"
    request = service.last("POST", "/v2/workers/files")
    assert request["headers"]["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="notes.txt"' in request["body"]


def test_keys_with_slashes_go_unencoded_into_the_path(service, client, worker):
    info = {"key": KEY, "url": "http://unused", "expires_in": 60, "size": 2}
    service.route("GET", f"/v2/files/{KEY}", body=info)
    service.route("GET", f"/v2/workers/files/{KEY}", body=info)
    assert client.file_info(KEY) == info
    assert worker.file_info(KEY) == info
    assert [r["path"] for r in service.seen] == [f"/v2/files/{KEY}", f"/v2/workers/files/{KEY}"]


def test_download_fetches_presigned_url_without_credentials(service, worker):
    info = {"key": KEY, "url": f"{service.url}/bucket/{KEY}?X-Amz-Signature=s",
            "expires_in": 60, "size": 3}
    service.route("GET", f"/v2/workers/files/{KEY}", body=info)
    service.route("GET", f"/bucket/{KEY}", raw=b"abc")
    assert worker.download(KEY) == b"abc"
    assert "Authorization" not in service.last("GET", f"/bucket/{KEY}")["headers"]


def test_results_and_finish_send_contract_bodies(service, worker):
    service.route("POST", "/v2/worker/results", body={"worker": "w1", "results": 2})
    service.route("POST", "/v2/worker/finish", body={"worker": "w1", "status": "FAILED"})
    assert worker.results({"n": 1}, files=[KEY]) == 2
    worker.fail("Worker.Error", "boom")
    assert json.loads(service.last("POST", "/v2/worker/results")["body"]) == \
        {"data": {"n": 1}, "files": [KEY]}
    assert json.loads(service.last("POST", "/v2/worker/finish")["body"]) == \
        {"error": "Worker.Error", "cause": "boom"}


def test_help_of_the_worker_client_does_not_print_the_environment(monkeypatch):
    import pydoc

    monkeypatch.setenv("JOBSERVICE_WORKER_TOKEN", "w1.not-for-your-eyes")
    text = pydoc.render_doc(WorkerClient, renderer=pydoc.plaintext)
    assert "from_env(environ=None" in text
    assert "not-for-your-eyes" not in text and os.environ["PATH"] not in text


def test_every_error_the_client_raises_is_a_harness_error():
    assert issubclass(JobServiceError, HarnessError)
    with pytest.raises(HarnessError, match="JOBSERVICE_URL"):
        WorkerClient.from_env({})


def test_worker_retries_a_503_with_the_same_idempotency_key(service, worker):
    answers = [(503, {"error": {"code": "ServiceUnavailable", "message": "the cache is unreachable"}}, None),
               (200, {"worker": "w1", "results": 1}, None)]
    service.route("POST", "/v2/worker/results", body=lambda request: answers.pop(0))
    assert worker.results({"n": 1}) == 1
    tries = [r for r in service.seen if r["path"] == "/v2/worker/results"]
    keys = {r["headers"].get("Idempotency-Key") for r in tries}
    assert len(tries) == 2 and len(keys) == 1 and None not in keys


def test_each_write_gets_its_own_key_and_a_4xx_is_not_retried(service, worker):
    service.route("POST", "/v2/worker/results", 200, {"worker": "w1", "results": 1})
    worker.results(1)
    worker.results(2)
    keys = [r["headers"]["Idempotency-Key"] for r in service.seen]
    assert len(set(keys)) == 2
    service.route("POST", "/v2/worker/finish", 409, {"error": {"code": "Conflict", "message": "finished"}})
    with pytest.raises(JobServiceError):
        worker.finish({})
    assert len([r for r in service.seen if r["path"] == "/v2/worker/finish"]) == 1


def test_wait_for_job_long_polls_with_the_time_left(service, client):
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=statuses("RUNNING", "COMPLETED"))
    assert client.wait_for_job(JOB_URN, timeout=5)["status"] == "COMPLETED"
    waits = [float(r["query"]["wait"][0]) for r in service.seen]
    assert len(waits) == 2 and all(0 < w <= 5 for w in waits)


def test_waiting_for_a_job_asks_the_service_to_answer_at_its_end_not_at_each_change(service, client):
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=statuses("RUNNING", "COMPLETED"))
    client.wait_for_job(JOB_URN, timeout=5)
    assert [r["query"]["until"] for r in service.seen] == [["COMPLETED,FAILED,TIMED_OUT,CANCELLED"]] * 2


def test_a_long_poll_passes_back_the_etag_of_the_answer_it_has_seen(service, client):
    tags = iter(["t1", "t2", "t3"])
    service.route("GET", f"/v2/jobs/{JOB_URN}", body=lambda request: (
        200, {"urn": JOB_URN, "status": "RUNNING"}, None, {"ETag": f'"{next(tags)}"'}))
    client.get_job(JOB_URN)  # an answer and its tag
    client.get_job(JOB_URN, wait=5)  # a change since that answer is answered at once
    client.get_job(JOB_URN, wait=5, until=["COMPLETED"])  # waits for a status, not for a change
    queries = [r["query"] for r in service.seen]
    assert "seen" not in queries[0] and queries[1]["seen"] == ["t1"] and "seen" not in queries[2]


def test_a_long_poll_asks_for_at_most_20_seconds(service, client):
    service.route("GET", "/v2/jobs/requests/r1", body={"urn": "r1", "status": "FULFILLED"})
    client.get_request("r1", wait=60)
    assert service.last("GET", "/v2/jobs/requests/r1")["query"]["wait"] == ["20.000"]


# -- the loopback transport (harness/loopback_http.py) ------------------------------------------------

@pytest.fixture
def keepalive():
    """A FakeService that speaks HTTP/1.1 (keeps connections open), counting the connections it accepts."""
    fake = FakeService()
    fake.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"
    fake.connections = 0
    accept = fake.httpd.get_request

    def counted():
        fake.connections += 1
        return accept()

    fake.httpd.get_request = counted
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()
    fake.thread.join()


def test_calls_to_a_local_service_share_one_kept_alive_connection(keepalive):
    keepalive.route("GET", "/v2/health", body={"status": "ok"})
    client = Client(keepalive.url)
    assert [client.health() for _ in range(5)] == [{"status": "ok"}] * 5
    assert keepalive.connections == 1
    client.close()


def test_a_connection_the_service_closed_while_idle_is_replaced_not_failed(keepalive):
    keepalive.route("GET", "/v2/health", body={"status": "ok"})
    client = Client(keepalive.url)
    client.health()
    idle = client._loopback._idle[0]
    idle.sock.shutdown(socket.SHUT_RDWR)  # as a server closing an idle connection: the next read is its end
    assert client.health() == {"status": "ok"}
    assert keepalive.connections == 2
    client.close()


def test_query_parameters_drop_none_and_paths_are_quoted_as_requests_quotes_them(service, client):
    service.route("GET", "/v2/jobs", body={"jobs": []})
    client.list_jobs(status="RUNNING", definition=None)
    assert service.last("GET", "/v2/jobs")["query"] == {"status": ["RUNNING"]}
    client._request("GET", "/v2/jobs", params={"status": ["RUNNING", "FAILED"]})  # a list: the key repeated
    assert service.last("GET", "/v2/jobs")["query"] == {"status": ["RUNNING", "FAILED"]}
    service.route("GET", "/v2/files/jobs/j1/w1/a%20b.txt", body={"key": "k"})
    assert client.file_info("jobs/j1/w1/a b.txt") == {"key": "k"}


def test_a_service_that_is_not_listening_raises_requests_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: a connection is refused
        with pytest.raises(requests.ConnectionError):
            Client(f"http://127.0.0.1:{port}").health()


def test_a_service_that_does_not_answer_in_time_raises_requests_read_timeout(service):
    service.route("GET", "/v2/health", body=lambda request: (time.sleep(1.0), (200, {}, None))[1])
    with pytest.raises(requests.ReadTimeout):
        Client(service.url, timeout=0.2).health()


@pytest.mark.parametrize("url, served", [
    ("http://127.0.0.1:8080", True), ("http://localhost:8080/", True), ("http://[::1]:8080", True),
    ("https://127.0.0.1:8080", False), ("http://example.com:8080", False), ("http://127.0.0.1:8080/prefix", False),
    ("http://user:pw@127.0.0.1:8080", False), ("http://127.0.0.1:port", False)])
def test_only_plain_http_to_this_machine_takes_the_loopback_transport(url, served):
    assert Loopback.serves(url) is served
    assert (Client(url)._loopback is not None) is served


def test_a_session_of_the_callers_own_carries_every_call(service):
    service.route("GET", "/v2/health", body={"status": "ok"})
    session = requests.Session()
    sent = []
    session.hooks["response"].append(lambda response, **_: sent.append(response.url))
    client = Client(service.url, session=session)
    assert client._loopback is None
    client.health()
    assert sent == [f"{service.url}/v2/health"]
