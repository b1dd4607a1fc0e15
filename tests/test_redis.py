"""A real Redis (Debian's redis-server) as the worker-info cache, through --redis-url."""

import shutil
import subprocess
import time
import uuid

import pytest
import redis

from harness.client import Client
from procs import HARNESS, Proc, free_port

from conftest import BEHAVE

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server binary "
                                "(apt-get install -y redis-server)")


@pytest.fixture(scope="module")
def redis_url():
    """A redis-server on a free loopback port, without persistence, for this module."""
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def server(redis_url):
    """`harness serve` (embedded AWS) with its cache in the real Redis."""
    with Proc([*HARNESS, "serve", "--port", "0", "--redis-url", redis_url]) as proc:
        yield Client(proc.output[0])


@pytest.fixture(scope="module")
def definition(server):
    name = f"redis-{uuid.uuid4().hex[:8]}"
    worker = server.register_worker(name, command=BEHAVE)
    asl = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": worker["urn"], "Next": "Two"},
        "Two": {"Type": "Task", "Resource": worker["urn"], "End": True}}}
    return server.register_job(name, asl)["urn"]


def cached_workers(url: str) -> set[str]:
    return {k.decode().rsplit(":", 1)[-1] for k in redis.Redis.from_url(url).keys("jobservice:worker:*")}


def test_job_completes_with_worker_info_cached_in_real_redis(server, definition, redis_url):
    job = server.run_job(definition, {"text": "cached"}, timeout=60)
    assert job["status"] == "COMPLETED", job["error"]
    assert {w["worker"] for w in job["workers"]} <= cached_workers(redis_url)


def test_job_completes_after_redis_loses_everything_mid_job(server, definition, redis_url):
    request = server.request_job(definition, {"mode": "sleep", "seconds": 1, "text": "flushed"})
    job_urn = server.wait_for_request(request["urn"], timeout=30)["job"]
    deadline = time.monotonic() + 30
    while not [w for w in server.get_job(job_urn)["workers"] if w["status"] == "RUNNING"]:
        assert time.monotonic() < deadline, "the first worker never started"
        time.sleep(0.02)
    cache = redis.Redis.from_url(redis_url)
    cache.flushall()
    assert cache.dbsize() == 0
    job = server.wait_for_job(job_urn, timeout=60)
    assert job["status"] == "COMPLETED", job["error"]
    assert [len(w["results"]) for w in job["workers"]] == [1, 1]
    assert server.download(job["results"][0]["files"][0]) == b"flushed"
    assert {w["worker"] for w in job["workers"]} <= cached_workers(redis_url)
