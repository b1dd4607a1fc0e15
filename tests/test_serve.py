"""`harness serve` as an outside suite runs it: a port, API keys, a worker process, SIGTERM."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from procs import HARNESS, Proc, alive, free_port

WORKERS = os.path.join(os.path.dirname(__file__), "workers")


def held_worker(tmp_path) -> dict:
    """The definition of worker `held`: it waits for its gate file (tests/workers/hold.py)."""
    return {"type": "worker", "name": "held",
            "command": [sys.executable, os.path.join(WORKERS, "hold.py"), str(tmp_path / "env.json"),
                        str(tmp_path / "gate")]}


def register_held_job(url: str, auth: dict) -> None:
    """Register job `j`, one Task that runs worker `held`."""
    asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "urn:jobservice:worker:held", "End": True}}}
    assert requests.post(f"{url}/v2/definitions", json={"type": "job", "name": "j", "definition": asl},
                         headers=auth, timeout=10).status_code == 201


def test_serve_with_an_api_key_runs_a_job_and_stops_its_workers_on_sigterm(tmp_path):
    port = free_port()
    with Proc([*HARNESS, "serve", "--port", str(port), "--api-key", "k1", "--api-key", "k2",
               "--max-upload-bytes", "1024"], timeout=60) as serve:
        url = serve.output[0]
        assert url == f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/v2/health", timeout=10).json()["target"] == "embedded"
        body = held_worker(tmp_path)
        assert requests.post(f"{url}/v2/definitions", json=body, timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert requests.post(f"{url}/v2/definitions", json=body, headers=wrong, timeout=10).status_code == 401
        basic = {"Authorization": "Basic k1"}
        assert requests.get(f"{url}/v2/definitions", headers=basic, timeout=10).status_code == 401
        auth = {"Authorization": "bearer k2"}
        assert requests.post(f"{url}/v2/definitions", json=body, headers=auth, timeout=10).status_code == 201
        register_held_job(url, auth)
        accepted = requests.post(f"{url}/v2/jobs/requests", json={"definition": "urn:jobservice:job-definition:j"},
                                 headers=auth, timeout=10)
        assert accepted.status_code == 202
        deadline = time.monotonic() + 30
        while not (tmp_path / "env.json").exists():
            assert time.monotonic() < deadline, serve.stderr()
            time.sleep(0.02)
        token = json.loads((tmp_path / "env.json").read_text())["JOBSERVICE_WORKER_TOKEN"]
        as_worker = {"Authorization": f"Bearer {token}"}
        too_big = requests.post(f"{url}/v2/workers/files?name=big.bin", data=b"x" * 2048, headers=as_worker,
                                timeout=10)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "PayloadTooLarge"
        assert requests.post(f"{url}/v2/workers/files?name=small.bin", data=b"x" * 100, headers=as_worker,
                             timeout=10).status_code == 201
        workers = [pid for pid in _children_tree(serve.pid) if _cmdline(pid).endswith("gate")]
        assert len(workers) == 1
        assert serve.stop() == 0
        deadline = time.monotonic() + 10
        while alive(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(workers[0]), "serve left its worker process running"
        assert "stopped" in serve.stderr()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _children_tree(pid: int) -> list[int]:
    from procs import children

    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def test_serve_on_a_taken_port_says_so_and_exits_non_zero():
    port = free_port()
    with Proc([*HARNESS, "serve", "--port", str(port)], timeout=60) as first:
        said = first.stderr()
        assert f"listening on http://127.0.0.1:{port}" in said and "in memory: a restart loses" in said
        assert "warning: no --api-key: any local process can register commands" in said
        second = Proc([*HARNESS, "serve", "--port", str(port)], timeout=60).launch()
        assert second.proc.wait(60) != 0
        assert f"{port}" in second.stderr()
        second.close()


def test_no_secret_is_logged_at_the_highest_verbosity_and_v_tells_the_lifecycle(tmp_path):
    api_key = "api-key-" + os.urandom(8).hex()
    port = free_port()
    with Proc([*HARNESS, "-vvv", "serve", "--port", str(port), "--api-key", api_key], timeout=60) as serve:
        url, auth = serve.output[0], {"Authorization": f"Bearer {api_key}"}
        body = held_worker(tmp_path)
        assert requests.post(f"{url}/v2/definitions", json=body, headers=auth, timeout=10).status_code == 201
        register_held_job(url, auth)
        request = requests.post(f"{url}/v2/jobs/requests", json={"definition": "urn:jobservice:job-definition:j"},
                                headers=auth, timeout=10).json()["urn"]
        deadline = time.monotonic() + 30
        while not (tmp_path / "env.json").exists():
            assert time.monotonic() < deadline, serve.stderr()
            time.sleep(0.02)
        token = json.loads((tmp_path / "env.json").read_text())["JOBSERVICE_WORKER_TOKEN"]
        as_worker = {"Authorization": f"Bearer {token}"}
        assert requests.post(f"{url}/v2/workers/start", headers=as_worker, timeout=10).status_code == 200
        assert requests.post(f"{url}/v2/worker/results", json={"data": 1}, headers=as_worker,
                             timeout=10).status_code == 200
        assert requests.post(f"{url}/v2/worker/finish", json={"output": 2}, headers=as_worker,
                             timeout=10).status_code == 200
        (tmp_path / "gate").write_text("")
        job = requests.get(f"{url}/v2/jobs/requests/{request}", headers=auth, timeout=10).json()["job"]
        while requests.get(f"{url}/v2/jobs/{job}", headers=auth, timeout=10).json()["status"] == "RUNNING":
            assert time.monotonic() < deadline + 30, serve.stderr()
            time.sleep(0.05)
        assert serve.stop() == 0
        with open(serve._stderr.name, errors="replace") as err:
            logged = err.read()  # all of it: stderr() keeps only the end
    secret_part = token.split(".", 1)[1]
    assert "SubmitJob" in logged and "botocore" in logged  # -vvv really logged the request bodies
    assert secret_part not in logged, "a worker token was logged"
    assert api_key not in logged, "an API key was logged"
    assert "Credential=testing" not in logged and "Credential=***" in logged
    for words in ("request accepted: " + request, "job started: " + job, "run submitted: ", "worker process started: pid",
                  "worker started: ", "result posted: ", "worker finished: ", "worker exited: code 0",
                  f"job ended: {job} (COMPLETED after "):
        assert words in logged, words


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_the_curl_walkthrough_of_the_api_reference_runs_as_written(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "http-api.md").read_text()
    walkthrough = text.split("## The whole sequence with curl", 1)[1].split("```bash\n", 1)[1].split("\n```\n", 1)[0]
    with Proc([*HARNESS, "serve", "--port", "0"], timeout=60) as serve:
        done = subprocess.run(["bash", "-euc", walkthrough], env={**os.environ, "API": serve.output[0],
                                                                  "TMPDIR": str(tmp_path)},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert '"status":"COMPLETED"' in lines[-2] and '"results":[{"stored":true}]' in lines[-2]
    assert json.loads(lines[-1]) == {"text": "hello"}
