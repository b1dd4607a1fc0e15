"""The localstack target: `harness serve --target localstack` against `harness emulate` in another process."""

import os
import time
import uuid

import pytest

from harness.client import Client
from procs import alive, children, emulate, serve

from conftest import BEHAVE


@pytest.fixture(scope="module")
def emulator():
    """`harness emulate` on free ports, for this module."""
    with emulate() as proc:
        yield proc


def two_step(client: Client, prefix: str) -> str:
    worker = client.register_worker(f"{prefix}-behave", command=BEHAVE)
    asl = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": worker["urn"], "Next": "Two"},
        "Two": {"Type": "Task", "Resource": worker["urn"], "End": True}}}
    return client.register_job(f"{prefix}-two-step", asl)["urn"]


def test_emulate_prints_its_endpoint_and_redis_url(emulator):
    values = emulator.values()
    assert values["HARNESS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert values["AWS_ENDPOINT_URL"] == values["HARNESS_ENDPOINT_URL"]
    assert values["HARNESS_REDIS_URL"].startswith("redis://127.0.0.1:")


def test_serve_on_localstack_target_runs_two_step_job_against_emulate(emulator):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    values = emulator.values()
    with serve(values["HARNESS_ENDPOINT_URL"], values["HARNESS_REDIS_URL"], prefix) as server:
        client = Client(server.output[0])
        assert client.health()["target"] == "localstack"
        job = client.run_job(two_step(client, prefix), {"text": "from another process"}, timeout=60)
        assert job["status"] == "COMPLETED", job["error"]
        assert [w["status"] for w in job["workers"]] == ["SUCCEEDED", "SUCCEEDED"]
        assert job["output"]["step"] == 2
        assert len(job["results"]) == 2
        key = job["results"][1]["files"][0]
        assert client.download(key) == b"from another process"


def test_emulate_ends_its_worker_processes_when_stopped():
    with emulate() as emulator:
        values = emulator.values()
        prefix = f"t{uuid.uuid4().hex[:8]}"
        with serve(values["HARNESS_ENDPOINT_URL"], values["HARNESS_REDIS_URL"], prefix) as server:
            client = Client(server.output[0])
            request = client.request_job(two_step(client, prefix), {"mode": "sleep", "seconds": 60})
            job_urn = client.wait_for_request(request["urn"], timeout=30)["job"]
            deadline = time.monotonic() + 30
            while not children(emulator.pid):
                assert time.monotonic() < deadline, "no worker process started"
                time.sleep(0.05)
            assert client.get_job(job_urn)["status"] == "RUNNING"
            workers = children(emulator.pid)
            assert emulator.stop() == 0
            assert not [pid for pid in workers if alive(pid)]
