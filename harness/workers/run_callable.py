"""Run a `module:function` worker: call it with a WorkerClient, finish with what it returns.

Usage: run_callable.py module:function. The scenario's directory is on the
import path (JOBSERVICE_SCENARIO_DIR), so a module next to the scenario works.
If the function returns without finishing, its return value is the output;
if it raises, the run fails with the exception's type and message.
"""
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for extra in (ROOT, os.path.dirname(os.path.abspath(__file__)), os.environ.get("JOBSERVICE_SCENARIO_DIR")):
    if extra and extra not in sys.path:
        sys.path.insert(0, extra)

from harness.client import WorkerClient  # noqa: E402


class _Tracking(WorkerClient):
    """A WorkerClient that remembers whether the run was finished."""

    started = finished = False

    def start(self):
        self.started = True
        return super().start()

    def finish(self, output=None):
        self.finished = True
        return super().finish(output)

    def fail(self, error, cause=""):
        self.finished = True
        return super().fail(error, cause)


def resolve(spec):
    """Import `module:function` and return the function."""
    module, _, name = spec.partition(":")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def main(argv=sys.argv, environ=os.environ):
    """Run the callable named on the command line; return the process exit code."""
    if len(argv) != 2 or ":" not in argv[1]:
        print("usage: run_callable.py module:function", file=sys.stderr)
        return 2
    client = _Tracking.from_env(environ)
    try:
        output = resolve(argv[1])(client)
        if not client.finished:
            if not client.started:
                client.start()
            client.finish(output)
    except Exception as exc:  # noqa: BLE001 - the run fails with the callable's own error
        print(f"run_callable: {argv[1]} raised {exc!r}", file=sys.stderr)
        if not client.finished:
            try:
                client.fail(f"Worker.{type(exc).__name__}", str(exc))
            except Exception as fail_exc:  # noqa: BLE001
                print(f"run_callable: could not report the failure: {fail_exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
