"""Worker that follows the sequence diagram: start, upload, download, results, finish."""
import json
import os
import sys

# Runnable as a plain script from any directory, installed or not.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from harness.client import WorkerClient  # noqa: E402


class WorkerFailure(Exception):
    """Raise to fail the run with a specific error code."""

    def __init__(self, code, cause):
        super().__init__(cause)
        self.code = code


def process(data):
    """Return the text, upper-cased text, word count and step computed from one input."""
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        text = data["text"]
    else:
        text = json.dumps(data, sort_keys=True)
    step = data.get("step") if isinstance(data, dict) else None
    step = step + 1 if isinstance(step, int) and not isinstance(step, bool) else 1
    return {"text": text.upper(), "words": len(text.split()), "chars": len(text), "step": step}


def run(client):
    """Run the diagram's worker steps with `client` and return the finish output."""
    payload = client.start()
    sent = json.dumps(payload["input"], sort_keys=True).encode("utf-8")
    input_key = client.upload("input.txt", sent)
    received = client.download(input_key)
    if received != sent:
        raise WorkerFailure("Worker.Mismatch",
                            f"{input_key}: uploaded {len(sent)} bytes, downloaded {len(received)}")
    computed = process(json.loads(received))
    result = {"worker": payload["worker"], "input_key": input_key, **computed}
    result_key = client.upload("result.json", json.dumps(result, sort_keys=True))
    summary = {"words": computed["words"], "chars": computed["chars"], "step": computed["step"]}
    client.results(summary, files=[result_key])
    output = {"text": computed["text"], "result_key": result_key, "step": computed["step"]}
    client.finish(output)
    return output


def main(environ=os.environ):
    """Run the worker from its environment; return the process exit code."""
    try:
        client = WorkerClient.from_env(environ)
    except RuntimeError as exc:
        print(f"diagram_worker: {exc}", file=sys.stderr)
        return 1
    try:
        run(client)
    except Exception as exc:
        code = exc.code if isinstance(exc, WorkerFailure) else "Worker.Error"
        print(f"diagram_worker: failing with {code}: {exc}", file=sys.stderr)
        try:
            client.fail(code, str(exc))
        except Exception as fail_exc:
            print(f"diagram_worker: could not report the failure: {fail_exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
