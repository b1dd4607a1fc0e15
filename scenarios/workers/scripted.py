"""A worker that runs the scripted steps of a scenario (JOBSERVICE_SCRIPT, a JSON list).

Steps: start, upload, download, results, sleep, wait (for the user's `signal`),
finish, fail, crash. Strings may hold `${input.x}`, `${worker}`, `${job}` and
`${files.NAME}` (the key of a file this run uploaded).
"""
import json
import os
import sys
import time

# Runnable as a plain script from any directory, installed or not.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from harness.client import WorkerClient  # noqa: E402
from harness.scenario import render  # noqa: E402

SIGNAL_TIMEOUT = float(os.environ.get("JOBSERVICE_SIGNAL_TIMEOUT", "60"))


class Stop(Exception):
    """End the run: finish with an error code and cause, then exit 1."""

    def __init__(self, code, cause):
        super().__init__(cause)
        self.code = code


class Script:
    """One run of the scripted steps with a WorkerClient."""

    def __init__(self, client, steps, signals_dir=None):
        self.client, self.steps, self.signals_dir = client, steps, signals_dir
        self.vars = {"input": None, "worker": client.worker_id, "job": client.job_urn, "files": {}}
        self.started = False

    def run(self):
        for step in self.steps:
            (action, args), = step.items()
            if action not in ("start", "sleep", "wait", "crash") and not self.started:
                self.start({})
            getattr(self, action)(args)

    def start(self, _args):
        payload = self.client.start()
        self.vars.update(input=payload["input"], worker=payload["worker"], job=payload["job"])
        self.started = True

    def upload(self, args):
        content = render(args["content"], self.vars)
        if not isinstance(content, str):
            content = json.dumps(content, sort_keys=True)
        self.vars["files"][args["name"]] = self.client.upload(args["name"], content)

    def download(self, args):
        key = self.vars["files"][args["file"]] if "file" in args else render(args["key"], self.vars)
        data = self.client.download(key)
        if "expect" not in args:
            return
        expected = render(args["expect"], self.vars)
        if isinstance(expected, str):
            got = data.decode("utf-8", "replace")
        else:
            try:
                got = json.loads(data)
            except ValueError:
                got = data.decode("utf-8", "replace")
        if got != expected:
            raise Stop("Worker.Mismatch", f"{key}: expected {expected!r}, downloaded {got!r}")

    def results(self, args):
        files = [self.vars["files"].get(f) or render(f, self.vars) for f in args.get("files", [])]
        self.client.results(render(args["data"], self.vars), files=files or None)

    def sleep(self, seconds):
        time.sleep(seconds)

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
        self.client.finish(render(args.get("output"), self.vars))

    def fail(self, args):
        self.client.fail(args["error"], render(args.get("cause", ""), self.vars))

    def crash(self, args):
        sys.stdout.flush()
        os._exit(args.get("exit_code", 1))


def main(environ=os.environ):
    """Run the script from the environment; return the process exit code."""
    try:
        client = WorkerClient.from_env(environ)
        steps = json.loads(environ["JOBSERVICE_SCRIPT"])
    except (RuntimeError, KeyError, ValueError) as exc:
        print(f"scripted worker: {exc!r}", file=sys.stderr)
        return 1
    script = Script(client, steps, environ.get("JOBSERVICE_SIGNALS"))
    try:
        script.run()
    except Exception as exc:  # noqa: BLE001 - any failure fails the run with its reason
        code = exc.code if isinstance(exc, Stop) else "Worker.Error"
        print(f"scripted worker: failing with {code}: {exc}", file=sys.stderr)
        try:
            client.fail(code, str(exc))
        except Exception as fail_exc:  # noqa: BLE001
            print(f"scripted worker: could not report the failure: {fail_exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
