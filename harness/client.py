"""Client SDK of the Job Service v2 API, for users (Client) and workers (WorkerClient)."""
import os
import re
import threading
import time

import requests

from .errors import HarnessError, JobFailed
from .loopback_http import Loopback

JOB_END_STATUSES = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
REQUEST_END_STATUSES = ("FULFILLED", "FAILED")
SEEN_KEPT = 1024
WORKER_ENV = ("JOBSERVICE_URL", "JOBSERVICE_WORKER_TOKEN",
              "JOBSERVICE_WORKER_ID", "JOBSERVICE_JOB_URN")


class JobServiceError(HarnessError):
    """Raise for any non-2xx answer of the service (or of a presigned URL)."""

    def __init__(self, status, code, message):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self):
        return f"{self.status} {self.code}: {self.message}"

    @classmethod
    def from_response(cls, resp):
        """Build the error from a response: the contract's body, else S3's XML, else raw text."""
        try:
            err = resp.json()["error"]
            return cls(resp.status_code, str(err["code"]), str(err.get("message", "")))
        except (ValueError, KeyError, TypeError):
            pass
        text = resp.text
        code = re.search(r"<Code>([^<]*)</Code>", text)
        message = re.search(r"<Message>([^<]*)</Message>", text)
        fallback = (resp.reason or "HTTPError").replace(" ", "")
        return cls(resp.status_code, code.group(1) if code else fallback,
                   message.group(1) if message else text.strip())


class _BaseClient:
    """Hold the base URL, the bearer credential and the shared HTTP plumbing."""

    def __init__(self, base_url, credential=None, timeout=30, session=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self._auth = {"Authorization": f"Bearer {credential}"} if credential else {}
        #: Calls to a service on this machine go over pooled http.client connections (harness/loopback_http.py),
        #: unless the caller gave a session of its own.
        self._loopback = Loopback(self.base_url) if session is None and Loopback.serves(self.base_url) else None

    def close(self):
        """Close the client's idle connections."""
        if self._loopback is not None:
            self._loopback.close()
        self.session.close()

    def _request(self, method, path, **kw):
        """Call the API at `path` and return the decoded JSON body (None when empty)."""
        resp = self._send(method, path, **kw)
        return resp.json() if resp.content else None

    def _send(self, method, path, **kw):
        """Call the API at `path` and return the response (JobServiceError unless 2xx)."""
        kw.setdefault("timeout", self.timeout)
        kw["headers"] = {**self._auth, **kw.get("headers", {})}
        if self._loopback is not None and set(kw) <= _LOOPBACK_ARGUMENTS:
            resp = self._loopback.request(method, path, params=kw.get("params"), json_body=kw.get("json"),
                                          data=kw.get("data"), headers=kw["headers"], timeout=kw["timeout"])
        else:
            resp = self.session.request(method, self.base_url + path, **kw)
        if not resp.ok:
            raise JobServiceError.from_response(resp)
        return resp

    def _fetch(self, url):
        """GET a presigned URL without the API's credentials and return its bytes."""
        resp = self.session.get(url, timeout=self.timeout)
        if not resp.ok:
            raise JobServiceError.from_response(resp)
        return resp.content


#: The request arguments that `Loopback` takes (an upload's `files` goes through requests).
_LOOPBACK_ARGUMENTS = frozenset({"params", "json", "data", "headers", "timeout"})


class Client(_BaseClient):
    """Talk to the Job Service as a client or user."""

    def __init__(self, base_url, api_key=None, timeout=30, session=None):
        super().__init__(base_url, api_key, timeout, session)
        #: The ETag of the last answer for each job or request read (the last SEEN_KEPT of them): a long
        #: poll passes it back (`?seen=`), so a change made since that answer is answered at once.
        self._seen: dict[str, str] = {}
        self._seen_lock = threading.Lock()

    def health(self):
        """Return the health document."""
        return self._request("GET", "/v2/health")

    def register_worker(self, name, command=None, image=None, environment=None, vcpus=None,
                        memory_mib=None, timeout_seconds=None, heartbeat_seconds=None):
        """Register (or revise) a worker definition and return the resource."""
        fields = dict(command=command, image=image, environment=environment, vcpus=vcpus,
                      memory_mib=memory_mib, timeout_seconds=timeout_seconds,
                      heartbeat_seconds=heartbeat_seconds)
        body = {"type": "worker", "name": name}
        body.update((k, v) for k, v in fields.items() if v is not None)
        return self._request("POST", "/v2/definitions", json=body)

    def register_job(self, name, definition):
        """Register (or update) a job definition from ASL given as a dict or a string."""
        body = {"type": "job", "name": name, "definition": definition}
        return self._request("POST", "/v2/definitions", json=body)

    def get_definition(self, urn):
        """Return a stored definition."""
        return self._request("GET", f"/v2/definitions/{urn}")

    def list_definitions(self, type=None):
        """Return the list of definitions, optionally of one type ("worker" or "job")."""
        return self._request("GET", "/v2/definitions", params={"type": type})["definitions"]

    def request_job(self, definition, input=None):
        """Request a job of a definition URN and return the 202 body (urn, status)."""
        body = {"definition": definition}
        if input is not None:
            body["input"] = input
        return self._request("POST", "/v2/jobs/requests", json=body)

    def get_request(self, urn, wait=None, until=None):
        """Return a job request resource; with `wait` (seconds, at most 20), as soon as it changes (with
        `until`, a list of statuses: as soon as its status is one of them or it has ended)."""
        return self._watched(f"/v2/jobs/requests/{urn}", urn, wait, until)

    def get_job(self, urn, wait=None, until=None):
        """Return a job resource; with `wait` (seconds, at most 20), as soon as its status, workers or
        results change, or when the wait runs out (with `until`, a list of statuses: as soon as its
        status is one of them or it has ended)."""
        return self._watched(f"/v2/jobs/{urn}", urn, wait, until)

    def _watched(self, path, urn, wait, until):
        kw = _long_poll(wait, self.timeout, until)
        with self._seen_lock:
            seen = self._seen.get(urn)
        if kw and not until and seen:
            kw["params"]["seen"] = seen
        resp = self._send("GET", path, **kw)
        tag = resp.headers.get("ETag", "").strip('"')
        if tag:
            with self._seen_lock:
                self._seen.pop(urn, None)
                self._seen[urn] = tag
                if len(self._seen) > SEEN_KEPT:
                    self._seen.pop(next(iter(self._seen)))
        return resp.json()

    def list_jobs(self, status=None, definition=None):
        """Return the list of jobs, newest first, optionally filtered."""
        params = {"status": status, "definition": definition}
        return self._request("GET", "/v2/jobs", params=params)["jobs"]

    def cancel_job(self, urn):
        """Cancel a running job and return it."""
        return self._request("POST", f"/v2/jobs/{urn}/cancel")

    def file_info(self, key):
        """Return a file's key, presigned url, expires_in and size."""
        return self._request("GET", f"/v2/files/{key}")

    def download(self, key):
        """Return a file's bytes, fetched through its presigned URL."""
        return self._fetch(self.file_info(key)["url"])

    def wait_for_request(self, urn, statuses=REQUEST_END_STATUSES, timeout=30, poll=0.05):
        """Long-poll a job request until its status is one of `statuses` and return it."""
        return _wait(self.get_request, urn, statuses, timeout, poll)

    def wait_for_job(self, urn, statuses=JOB_END_STATUSES, timeout=60, poll=0.05):
        """Long-poll a job until its status is one of `statuses` and return it."""
        return _wait(self.get_job, urn, statuses, timeout, poll)

    def run_job(self, definition, input=None, timeout=60, expect=None):
        """Request a job, wait for it to end within `timeout` seconds and return it.

        With `expect` (a status such as "COMPLETED"), a job that ends otherwise raises
        JobFailed whose message says why: the failed runs, their error, exit code and stderr.
        """
        from .failures import request_summary

        deadline = time.monotonic() + timeout
        urn = self.request_job(definition, input)["urn"]
        request = self.wait_for_request(urn, timeout=max(deadline - time.monotonic(), 0))
        if request["status"] != "FULFILLED":
            raise JobFailed(request_summary(request, "FULFILLED"), request)
        job = self.wait_for_job(request["job"], timeout=max(deadline - time.monotonic(), 0))
        if expect is not None and job.get("status") != expect:
            raise JobFailed(self.explain(job, expect), job)
        return job

    def explain(self, job, expect=None):
        """Why a job is as it is: its failed runs (step, attempt, error, cause, exit code, stderr), its open runs."""
        from .failures import asl_steps, job_summary

        try:
            steps = asl_steps(self.get_definition(job["definition"]).get("definition"))
        except (JobServiceError, KeyError, AttributeError):
            steps = {}  # the summary still names each run's worker
        return job_summary(job, expect, steps=steps)


class WorkerClient(_BaseClient):
    """Talk to the Job Service as one worker run, with its bearer token.

    Transient answers (429, 5xx, a dropped connection) are retried with backoff; results,
    finish and uploads carry one Idempotency-Key for all their tries, so a retry never
    duplicates a result.
    """

    def _request(self, method, path, **kw):
        from . import retry

        kw["headers"] = {**kw.get("headers", {}), **retry.idempotency_headers(method, path)}
        for attempt in range(retry.ATTEMPTS):
            try:
                return super()._request(method, path, **kw)
            except JobServiceError as exc:
                if exc.status not in retry.TRANSIENT or attempt == retry.ATTEMPTS - 1:
                    raise
            except requests.ConnectionError:
                if attempt == retry.ATTEMPTS - 1:
                    raise
            for _, fh in (kw.get("files") or {}).values():  # an upload's file is read again from its start
                fh.seek(0)
            time.sleep(retry.pause(attempt))

    def __init__(self, base_url, token, worker_id=None, job_urn=None, timeout=30, session=None):
        super().__init__(base_url, token, timeout, session)
        self.token = token
        self.worker_id = worker_id
        self.job_urn = job_urn

    @classmethod
    def from_env(cls, environ=None, **kw):
        """Build the client from the JOBSERVICE_* variables a worker run receives (default: os.environ)."""
        environ = os.environ if environ is None else environ
        missing = [name for name in WORKER_ENV if not environ.get(name)]
        if missing:
            raise HarnessError(f"worker environment variable(s) not set: {', '.join(missing)}")
        url, token, worker_id, job_urn = (environ[name] for name in WORKER_ENV)
        return cls(url, token, worker_id=worker_id, job_urn=job_urn, **kw)

    def start(self):
        """Start the run and return its payload (worker, job, definition, input)."""
        payload = self._request("POST", "/v2/workers/start", json={})
        self.worker_id = self.worker_id or payload.get("worker")
        self.job_urn = self.job_urn or payload.get("job")
        return payload

    def upload(self, name, data):
        """Store bytes (or utf-8 text) as the job file `name` and return its key."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        headers = {"Content-Type": "application/octet-stream"}
        return self._request("POST", "/v2/workers/files", params={"name": name},
                             data=data, headers=headers)["key"]

    def upload_file(self, path, name=None):
        """Store a local file (multipart field `file`) and return its key."""
        with open(path, "rb") as fh:
            files = {"file": (name or os.path.basename(path), fh)}
            return self._request("POST", "/v2/workers/files", files=files)["key"]

    def file_info(self, key):
        """Return a file's key, presigned url, expires_in and size."""
        return self._request("GET", f"/v2/workers/files/{key}")

    def download(self, key):
        """Return a file's bytes, fetched through its presigned URL."""
        return self._fetch(self.file_info(key)["url"])

    def results(self, data, files=None):
        """Post one result entry and return the run's result count so far."""
        body = {"data": data}
        if files is not None:
            body["files"] = list(files)
        return self._request("POST", "/v2/worker/results", json=body)["results"]

    def heartbeat(self):
        """Tell the service the run is alive (needed when its definition has heartbeat_seconds)."""
        return self._request("POST", "/v2/worker/heartbeat")

    def now(self):
        """The service's time (virtual under a skip or scale clock), as an aware UTC datetime."""
        from server.clock import parse_iso

        return parse_iso(self._request("GET", "/v2/worker/clock")["now"])

    def sleep(self, seconds):
        """Sleep `seconds` of the service's time: real seconds, or virtual ones that skip mode may jump over.

        Use it instead of time.sleep in a worker: a run that sleeps this way lets the clock move,
        while one that sleeps otherwise holds it still as any running step does.
        """
        left = float(seconds)
        while left > 0:
            left = self._request("POST", "/v2/worker/sleep", json={"seconds": left})["left"]

    def finish(self, output=None):
        """Finish the run successfully with `output`."""
        return self._request("POST", "/v2/worker/finish", json={"output": output})

    def fail(self, error, cause=""):
        """Finish the run as failed with an error code and cause."""
        return self._request("POST", "/v2/worker/finish", json={"error": error, "cause": cause})


#: The longest `?wait=` the service takes.
MAX_WAIT_SECONDS = 20


def _long_poll(wait, timeout, until=None) -> dict:
    """Request arguments of a long poll of `wait` seconds (none without one), until one of `until`."""
    if not wait or wait <= 0:
        return {}
    wait = min(float(wait), MAX_WAIT_SECONDS)
    params = {"wait": f"{wait:.3f}"}
    if until:
        params["until"] = ",".join((until,) if isinstance(until, str) else until)
    return {"params": params, "timeout": max(timeout, wait + 10)}


def wait_changed(get, urn, remaining, previous=None, poll=0.05, until=None):
    """`get(urn, wait=...)` once: the resource as soon as it changes (with `until`, as soon as its
    status is one of those or it has ended), or when `remaining` seconds pass.

    A service that answers at once with the same resource (one without long polls) is asked again
    only after `poll` seconds, so the caller's loop never spins.
    """
    wait = min(max(remaining, 0), MAX_WAIT_SECONDS)
    resource = get(urn, wait=wait, until=until) if until else get(urn, wait=wait)
    if previous is not None and resource == previous and remaining > 0:
        time.sleep(min(poll, remaining))
    return resource


def _wait(get, urn, statuses, timeout, poll):
    """Long-poll `get(urn)` until its status is in `statuses`; raise TimeoutError at the deadline."""
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    deadline = time.monotonic() + timeout
    resource = None
    while True:
        resource = wait_changed(get, urn, deadline - time.monotonic(), resource, poll, until=statuses)
        if resource.get("status") in statuses:
            return resource
        if deadline - time.monotonic() <= 0:
            raise TimeoutError(f"{urn} did not reach {'|'.join(statuses)} within {timeout}s; "
                               f"last status: {resource.get('status')}")
