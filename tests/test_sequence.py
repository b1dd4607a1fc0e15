"""The documented sequence over real HTTP, with real worker processes started by the emulated Batch."""

import json
import subprocess
import sys

from harness.client import Client

FETCH = "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())"


def fetch_in_other_process(url: str) -> bytes:
    """GET a URL from a separate Python process, as a user's tool would."""
    return subprocess.run([sys.executable, "-c", FETCH, url], check=True, capture_output=True, timeout=30).stdout


def wait_until(fn, timeout=20, what="condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_documented_sequence_two_steps_with_intermediate_results(client: Client, two_step, tmp_path):
    job_definition, worker = two_step
    gate = tmp_path / "gate"
    accepted = client.request_job(job_definition, {"text": "hello world", "gate": str(gate), "gate_at_step": 1})
    assert accepted["status"] == "PENDING" and accepted["urn"].startswith("urn:jobservice:request:")

    request = client.wait_for_request(accepted["urn"], timeout=20)
    assert request["status"] == "FULFILLED"
    assert request["job"].startswith("urn:jobservice:job:")
    job = client.get_job(request["job"])
    assert job["status"] == "RUNNING"
    assert job["input"] == {"text": "hello world", "gate": str(gate), "gate_at_step": 1}

    # The first worker has finished and the second is held at its gate: the job is still RUNNING.
    job = wait_until(lambda: (lambda j: j if len(j["results"]) >= 2 else None)(client.get_job(request["job"])),
                     what="results of both workers")
    assert job["status"] == "RUNNING"
    first, second = job["workers"]
    assert first["status"] == "SUCCEEDED" and second["status"] == "RUNNING"
    assert first["definition"] == second["definition"] == worker
    assert first["batch_job_id"] and second["batch_job_id"]
    intermediate = job["results"][0]
    assert intermediate["worker"] == first["worker"] and intermediate["data"] == {"len": 11}
    key = intermediate["files"][0]
    assert key == f"jobs/{request['job'].rsplit(':', 1)[1]}/{first['worker']}/out.txt"
    info = client.file_info(key)
    assert info["size"] == 11 and info["expires_in"] > 0
    assert fetch_in_other_process(info["url"]) == b"hello world"

    gate.write_text("go")
    job = client.wait_for_job(request["job"], timeout=20)
    assert job["status"] == "COMPLETED", job["error"]
    assert job["output"]["step"] == 2 and job["output"]["worker"] == second["worker"]
    assert job["output"] == job["workers"][1]["output"]
    assert [w["status"] for w in job["workers"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert client.download(job["output"]["key"]) == b"hello world"


def test_worker_receives_the_task_states_effective_input(client: Client, unique):
    from conftest import BEHAVE

    worker = client.register_worker(unique("behave"), command=BEHAVE)
    asl = {"StartAt": "Shape", "States": {
        "Shape": {"Type": "Pass", "Parameters": {"text.$": "$.nested.text", "extra": 7}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": worker["urn"], "Parameters": {"text.$": "$.text", "step": 10},
                 "ResultPath": "$.result", "End": True}}}
    job_def = client.register_job(unique("shaped"), json.dumps(asl))  # the ASL as a string, as AWS takes it
    job = client.run_job(job_def["urn"], {"nested": {"text": "abc"}}, timeout=30)
    assert job["status"] == "COMPLETED", job["error"]
    assert job["output"]["text"] == "abc" and job["output"]["extra"] == 7
    assert job["output"]["result"]["step"] == 11 and job["output"]["result"]["text"] == "abc"
