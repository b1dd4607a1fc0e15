"""The localstack target: `harness serve --target localstack` against `harness emulate` in another process."""

import os
import shutil
import subprocess
import time
import uuid

import boto3
import pytest
import requests
from click.testing import CliRunner

from harness.cli import main
from harness.client import Client
from procs import HARNESS, Proc, alive, children, close_all, emulate, free_port, serve

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
    health = requests.get(values["HARNESS_ENDPOINT_URL"] + "/_localstack/health", timeout=10).json()
    assert health["services"]["stepfunctions"] == "running"
    queues = boto3.client("sqs", endpoint_url=values["HARNESS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    assert queues.create_queue(QueueName=f"q{uuid.uuid4().hex[:8]}")["QueueUrl"]


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
            assert emulator.stop(grace=30) == 0, emulator.stderr()
            assert not [pid for pid in workers if alive(pid)]


MINISTACK = os.environ.get("HARNESS_MINISTACK") or shutil.which("ministack")


@pytest.fixture(scope="module")
def ministack(tmp_path_factory):
    """MiniStack (a LocalStack-compatible emulator from PyPI) on a free loopback port."""
    if MINISTACK is None:
        pytest.skip("ministack is not installed (python3 -m venv /opt/ministack && /opt/ministack/bin/pip install "
                    "ministack==1.5.33 && ln -s /opt/ministack/bin/ministack /usr/local/bin/ministack)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = Proc([MINISTACK], lines=0, cwd=str(tmp_path_factory.mktemp("ministack")),
                env={"GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"})
    proc.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/_ministack/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.proc.poll() is None, proc.stderr()
            time.sleep(0.1)
        yield url
    finally:
        proc.close()


@pytest.fixture(scope="module")
def on_ministack(ministack):
    """`harness serve --target localstack --workers local` on MiniStack; a client of it."""
    with serve(ministack, None, f"m{uuid.uuid4().hex[:8]}", "--workers", "local") as server:
        yield Client(server.output[0])


def test_serve_on_ministack_with_local_workers_runs_two_step_job(on_ministack):
    client = on_ministack
    job = client.run_job(two_step(client, f"m{uuid.uuid4().hex[:8]}"), {"text": "on ministack"}, timeout=60)
    assert job["status"] == "COMPLETED", job["error"]
    assert [w["status"] for w in job["workers"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert job["output"]["step"] == 2
    assert client.download(job["results"][1]["files"][0]) == b"on ministack"


def test_a_crashing_worker_fails_its_job_on_ministack(on_ministack):
    client = on_ministack
    job = client.run_job(two_step(client, f"m{uuid.uuid4().hex[:8]}"), {"mode": "crash"}, timeout=60)
    assert job["status"] == "FAILED"
    assert job["error"]["error"] == "Worker.Exited"
    assert "exited with code 3" in job["error"]["cause"]


def test_ministack_batch_runs_no_worker_so_the_job_fails_without_workers_local(ministack):
    prefix = f"m{uuid.uuid4().hex[:8]}"
    with serve(ministack, None, prefix) as server:
        client = Client(server.output[0])
        job = client.run_job(two_step(client, prefix), {}, timeout=60)
        assert job["status"] == "FAILED"
        assert job["workers"][0]["status"] == "FAILED"
        assert "without calling /v2/worker/finish" in job["error"]["cause"]


def test_harness_run_replays_the_documented_sequence_on_localstack_target(emulator):
    values = emulator.values()
    scenario = os.path.join(os.path.dirname(os.path.dirname(__file__)), "scenarios", "documented_sequence.scenario.yaml")
    done = subprocess.run([*HARNESS, "run", scenario, "--target", "localstack",
                           "--endpoint-url", values["HARNESS_ENDPOINT_URL"], "--redis-url", values["HARNESS_REDIS_URL"],
                           "--prefix", f"s{uuid.uuid4().hex[:8]}"],
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED: 1 passed, 0 failed" in done.stdout + done.stderr


def test_roles_as_processes_on_ministack_share_the_batch_of_one_emulate(ministack, emulator):
    prefix = f"m{uuid.uuid4().hex[:8]}"
    batch = ["--batch-endpoint-url", emulator.values()["HARNESS_ENDPOINT_URL"]]
    redis = emulator.values()["HARNESS_REDIS_URL"]
    procs = [serve(ministack, redis, prefix, "--role", "api", *batch)]
    try:
        url = procs[0].start()[0]
        procs += [serve(ministack, redis, prefix, "--role", "queue", *batch),
                  serve(ministack, redis, prefix, "--role", "poller", "--public-url", url, *batch)]
        for proc in procs[1:]:
            proc.launch()
        for proc in procs[1:]:
            proc.ready()
        client = Client(url)
        definition = two_step(client, prefix)
        requests_ = [client.request_job(definition, {"text": f"job {i}"})["urn"] for i in range(4)]
        jobs = [client.wait_for_job(client.wait_for_request(urn, timeout=60)["job"], timeout=60) for urn in requests_]
        assert [job["status"] for job in jobs] == ["COMPLETED"] * 4, [job["error"] for job in jobs]
        assert [len(job["workers"]) for job in jobs] == [2] * 4
    finally:
        close_all(procs)


def test_workers_local_refuses_roles_split_over_processes():
    result = CliRunner().invoke(main, ["serve", "--target", "localstack", "--role", "api", "--workers", "local"])
    assert result.exit_code == 2
    assert "--batch-endpoint-url" in result.output


def test_workers_local_runs_worker_processes_in_serve_not_on_the_target(emulator):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    values = emulator.values()
    with serve(values["HARNESS_ENDPOINT_URL"], values["HARNESS_REDIS_URL"], prefix, "--workers", "local") as server:
        client = Client(server.output[0])
        deadline = time.monotonic() + 30
        while children(emulator.pid):  # workers of earlier tests may take a moment to exit
            assert time.monotonic() < deadline, "earlier workers did not exit"
            time.sleep(0.02)
        request = client.request_job(two_step(client, prefix), {"mode": "sleep", "seconds": 1, "text": "local"})
        job_urn = client.wait_for_request(request["urn"], timeout=30)["job"]
        while not children(server.pid):
            assert time.monotonic() < deadline, "no worker process started by serve"
            time.sleep(0.02)
        assert children(emulator.pid) == []
        job = client.wait_for_job(job_urn, timeout=60)
        assert job["status"] == "COMPLETED", job["error"]
        assert client.download(job["results"][1]["files"][0]) == b"local"


def test_teardown_on_ministack_says_which_batch_resources_it_cannot_delete(ministack):
    prefix = f"m{uuid.uuid4().hex[:8]}"
    target = ["--target", "localstack", "--endpoint-url", ministack, "--prefix", prefix]
    created = CliRunner().invoke(main, ["provision", *target], catch_exceptions=False).output.splitlines()
    assert len(created) == 7 and all(line.startswith("created ") for line in created), created
    removed = CliRunner().invoke(main, ["teardown", *target], catch_exceptions=False).output.splitlines()
    assert removed[0].startswith(f"left Batch job queue {prefix}-workers: the endpoint cannot delete it")
    assert removed[1].startswith(f"left Batch compute environment {prefix}-local: the endpoint cannot delete it")
    assert removed[2:] == [f"deleted S3 bucket {prefix}-files", f"deleted SQS queue {prefix}-queue",
                           f"deleted DynamoDB table {prefix}-resources", f"deleted IAM role {prefix}-states",
                           f"deleted IAM role {prefix}-batch-service"]
