"""Fixtures: one embedded service for the session, per-test names, a client, workers."""

import os
import sys
import uuid

import pytest

from harness.client import Client
from harness.service import RunningService

WORKERS = os.path.join(os.path.dirname(__file__), "workers")
BEHAVE = [sys.executable, os.path.join(WORKERS, "behave.py")]


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
