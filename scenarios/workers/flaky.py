"""A worker that fails its first two attempts and succeeds on the third.

The attempt comes in its input (`attempt`, from the Task's `Parameters: {attempt.$:
$$.State.RetryCount}`). Standard library only (the scripted worker's API class), so that
each attempt's process starts in a tenth of a second.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from harness.workers.scripted import Api  # noqa: E402

FAILURES = 2


def main() -> int:
    api = Api(os.environ)
    attempt = (api.call("POST", "/v2/workers/start")["input"] or {}).get("attempt", 0)
    if attempt < FAILURES:
        api.call("POST", "/v2/worker/finish", {"error": "Flaky.Error", "cause": f"attempt {attempt + 1} fails"})
    else:
        api.call("POST", "/v2/worker/finish", {"output": {"attempts": attempt + 1}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
