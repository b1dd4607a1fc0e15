"""A worker that runs the scripted steps of a scenario (JOBSERVICE_SCRIPT, a JSON list).

Steps: start, upload, download, results, heartbeat, sleep, wait (for the user's `signal`),
finish, fail, crash. Strings may hold `${input.x}`, `${worker}`, `${job}` and
`${files.NAME}` (the key of a file this run uploaded). Standard library only:
many of these start at once, and each start costs a fresh interpreter. Its calls to a plain
`http://` URL (the embedded and LocalStack targets, a presigned URL of the embedded S3) go over
one kept-alive connection (harness/workers/plain_http.py), without http.client's imports; any
other URL (https) goes through urllib, imported then.
"""
import json
import os
import sys
import time
import urllib.parse

# Runnable as a plain script from any directory, installed or not.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from harness import retry  # noqa: E402
from harness.templates import render  # noqa: E402
from harness.workers import plain_http  # noqa: E402

TIMEOUT = 30.0

SIGNAL_TIMEOUT = float(os.environ.get("JOBSERVICE_SIGNAL_TIMEOUT", "60"))


class Stop(Exception):
    """End the run: finish with an error code and cause, then exit 1."""

    def __init__(self, code, cause):
        super().__init__(cause)
        self.code = code


class Api:
    """The worker routes of the Job Service, with the run's bearer token."""

    def __init__(self, environ):
        self.url, self.token = environ["JOBSERVICE_URL"].rstrip("/"), environ["JOBSERVICE_WORKER_TOKEN"]
        self.http = plain_http.Connections(TIMEOUT)

    def send(self, method, url, data=b"", headers=None):
        """(status, body) of one request; OSError when no answer came."""
        if plain_http.plain(url):
            status, _, body = self.http.request(method, url, data, headers)
            return status, body
        return _send_by_urllib(method, url, data, headers)

    def call(self, method, path, body=None, raw=None):
        """One call, retried on transient answers (harness/retry.py) with one Idempotency-Key for all tries."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"{}")
        kind = "application/octet-stream" if raw is not None else "application/json"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": kind,
                   **retry.idempotency_headers(method, path.split("?", 1)[0])}
        for attempt in range(retry.ATTEMPTS):
            try:
                status, answer = self.send(method, self.url + path, data if method == "POST" else b"", headers)
            except OSError as exc:
                if attempt == retry.ATTEMPTS - 1:
                    raise Stop("Worker.Error", f"{method} {path}: {exc}")
            else:
                if status < 300:
                    return json.loads(answer or b"null")
                if status not in retry.TRANSIENT or attempt == retry.ATTEMPTS - 1:
                    raise Stop("Worker.Error", f"{method} {path}: {status} {answer.decode('utf-8', 'replace')}")
            time.sleep(retry.pause(attempt))

    def fetch(self, url):
        status, data = self.send("GET", url)
        if status != 200:
            raise Stop("Worker.Error", f"GET of a presigned URL: {status} {data[:200].decode('utf-8', 'replace')}")
        return data


def _send_by_urllib(method, url, data, headers):
    """(status, body) of a request to a URL plain_http does not send (https)."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, http.client.HTTPException) as exc:
        raise ConnectionError(str(exc)) from exc


class Script:
    """One run of the scripted steps."""

    def __init__(self, api, steps, signals_dir=None, environ=os.environ):
        self.api, self.steps, self.signals_dir = api, steps, signals_dir
        self.vars = {"input": None, "worker": environ.get("JOBSERVICE_WORKER_ID"),
                     "job": environ.get("JOBSERVICE_JOB_URN"), "files": {}}
        self.started = False

    def run(self):
        for step in self.steps:
            (action, args), = step.items()
            if action not in ("start", "sleep", "wait", "crash") and not self.started:
                self.start({})
            getattr(self, action)(args)

    def start(self, _args):
        payload = self.api.call("POST", "/v2/workers/start")
        self.vars.update(input=payload["input"], worker=payload["worker"], job=payload["job"])
        self.started = True

    def upload(self, args):
        content = render(args["content"], self.vars)
        if not isinstance(content, str):
            content = json.dumps(content, sort_keys=True)
        path = "/v2/workers/files?" + urllib.parse.urlencode({"name": args["name"]})
        self.vars["files"][args["name"]] = self.api.call("POST", path, raw=content.encode("utf-8"))["key"]

    def download(self, args):
        key = self.vars["files"][args["file"]] if "file" in args else render(args["key"], self.vars)
        data = self.api.fetch(self.api.call("GET", f"/v2/workers/files/{key}")["url"])
        if "expect" not in args:
            return
        expected = render(args["expect"], self.vars)
        got = data.decode("utf-8", "replace")
        if not isinstance(expected, str):
            try:
                got = json.loads(got)
            except ValueError:
                pass
        if got != expected:
            raise Stop("Worker.Mismatch", f"{key}: expected {expected!r}, downloaded {got!r}")

    def results(self, args):
        files = [self.vars["files"].get(f) or render(f, self.vars) for f in args.get("files", [])]
        body = {"data": render(args["data"], self.vars)}
        if files:
            body["files"] = files
        self.api.call("POST", "/v2/worker/results", body)

    def heartbeat(self, args):
        """Tell the service the run is alive, `times` times, `every` seconds apart."""
        for i in range(args.get("times", 1)):
            if i:
                self.sleep(args.get("every", 1))
            self.api.call("POST", "/v2/worker/heartbeat")

    def sleep(self, seconds):
        """Sleep on the service's clock (virtual time under `clock: skip` or `scale=N`)."""
        left = seconds
        while left > 0:
            left = self.api.call("POST", "/v2/worker/sleep", {"seconds": left})["left"]

    def wait(self, name):
        """Block until the scenario's user sends `signal: name` (a file in the signals directory)."""
        if not self.signals_dir:
            raise Stop("Worker.NoSignals", "no JOBSERVICE_SIGNALS directory: run this worker from a scenario")
        name = str(render(name, self.vars))
        path, deadline = os.path.join(self.signals_dir, name), time.monotonic() + SIGNAL_TIMEOUT
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise Stop("Worker.SignalTimeout", f"no signal {name!r} within {SIGNAL_TIMEOUT:.0f}s")
            time.sleep(0.01)

    def finish(self, args):
        self.api.call("POST", "/v2/worker/finish", {"output": render(args.get("output"), self.vars)})

    def fail(self, args):
        self.api.call("POST", "/v2/worker/finish",
                      {"error": args["error"], "cause": render(args.get("cause", ""), self.vars)})

    def crash(self, args):
        sys.stdout.flush()
        os._exit(args.get("exit_code", 1))


def main(environ=os.environ):
    """Run the script from the environment; return the process exit code."""
    try:
        api = Api(environ)
        steps = json.loads(environ["JOBSERVICE_SCRIPT"])
    except (KeyError, ValueError) as exc:
        print(f"scripted worker: missing or bad environment: {exc!r}", file=sys.stderr)
        return 1
    try:
        Script(api, steps, environ.get("JOBSERVICE_SIGNALS"), environ).run()
    except Exception as exc:  # noqa: BLE001 - any failure fails the run with its reason
        code = exc.code if isinstance(exc, Stop) else "Worker.Error"
        print(f"scripted worker: failing with {code}: {exc}", file=sys.stderr)
        try:
            api.call("POST", "/v2/worker/finish", {"error": code, "cause": str(exc)[:32000]})
        except Exception as fail_exc:  # noqa: BLE001
            print(f"scripted worker: could not report the failure: {fail_exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
