"""Fixtures: one embedded service for the session, per-test names, a client, workers."""

import os
import sys
import uuid

import pytest

from harness.client import Client
from harness.service import RunningService

WORKERS = os.path.join(os.path.dirname(__file__), "workers")
BEHAVE = [sys.executable, os.path.join(WORKERS, "behave.py")]


@pytest.fixture(scope="module")
def emulated_aws():
    """The harness's own emulator, as the service reaches it in process: (EmbeddedAWS, a boto3 client factory).

    Never `mock_aws` here: it resets every moto backend of the process (the session's service's
    too) and, being a plain mock, runs none of the harness's extensions (emulators/scope.py).
    """
    import boto3

    from emulators import EmbeddedAWS

    with EmbeddedAWS() as aws:
        transport = aws.transport()

        def client(service_name, region_name="us-east-1"):
            made = boto3.client(service_name, endpoint_url=aws.endpoint, region_name=region_name,
                                aws_access_key_id=aws.credentials.access_key_id,
                                aws_secret_access_key=aws.credentials.secret_access_key)
            transport.attach(made.meta.events)
            return made

        yield aws, client


@pytest.fixture(scope="session")
def running():
    """The whole Job Service on the embedded target, for the test session."""
    service = RunningService(settings_overrides={"reconcile_seconds": 0.5}).start()
    yield service
    service.stop()


@pytest.fixture
def service(running):
    """The running service; fails the test if a background thread raised during it."""
    before = len(running.service.errors)
    yield running
    errors = running.service.errors[before:]
    if errors:
        raise errors[0]


@pytest.fixture
def client(service):
    return Client(service.url)


@pytest.fixture
def unique():
    """A name no other test uses."""
    return lambda base="t": f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def two_step(client, unique):
    """A two-step job of the stdlib `behave` worker; returns (job definition URN, worker URN)."""
    worker = client.register_worker(unique("behave"), command=BEHAVE)
    asl = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": worker["urn"], "Next": "Two"},
        "Two": {"Type": "Task", "Resource": worker["urn"], "End": True}}}
    job = client.register_job(unique("two-step"), asl)
    return job["urn"], worker["urn"]


class HeldWorker:
    """A running worker run that the test drives itself, with the run's own token."""

    def __init__(self, client, env: dict, job: str, gate):
        self.client, self.env, self.job, self._gate = client, env, job, gate
        self.token, self.id = env["JOBSERVICE_WORKER_TOKEN"], env["JOBSERVICE_WORKER_ID"]
        self.url = env["JOBSERVICE_URL"]

    def call(self, method, path, token=None, **kw):
        """Call the API as this worker (or with another token); return the requests.Response."""
        import requests

        headers = kw.pop("headers", {})
        headers.setdefault("Authorization", f"Bearer {token or self.token}")
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def release(self):
        self._gate.write_text("go")


@pytest.fixture
def hold(client, unique, tmp_path):
    """Start a one-step job whose worker process waits; return a factory of HeldWorker."""
    import json
    import time

    held = []

    def start(job_input=None, asl_extra=None):
        n = len(held)
        env_file, gate = tmp_path / f"env{n}.json", tmp_path / f"gate{n}"
        worker = client.register_worker(unique("hold"), command=[sys.executable, os.path.join(WORKERS, "hold.py"),
                                                                str(env_file), str(gate)])
        task = {"Type": "Task", "Resource": worker["urn"], "End": True, **(asl_extra or {})}
        job_def = client.register_job(unique("held"), {"StartAt": "Hold", "States": {"Hold": task}})
        request = client.wait_for_request(client.request_job(job_def["urn"], job_input or {})["urn"])
        deadline = time.monotonic() + 20
        while not env_file.exists():
            assert time.monotonic() < deadline, "the held worker did not start"
            time.sleep(0.01)
        worker_run = HeldWorker(client, json.loads(env_file.read_text()), request["job"], gate)
        held.append(worker_run)
        return worker_run

    yield start
    for worker_run in held:
        worker_run.release()
