"""Roles: the API, two queue processors and two activity pollers as five processes on one target."""

import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.client import Client
from harness.wsgi import settings_from_env
from procs import Proc, close_all, emulate, free_port, serve

from conftest import BEHAVE

JOBS = 20


@pytest.fixture
def deployment():
    """`harness emulate`, then one `--role api`, two `--role queue` and two `--role poller` processes."""
    prefix = f"r{uuid.uuid4().hex[:8]}"
    procs = []
    try:
        emulator = emulate()
        procs.append(emulator)
        emulator.start()
        values = emulator.values()
        endpoint, redis = values["HARNESS_ENDPOINT_URL"], values["HARNESS_REDIS_URL"]
        api = serve(endpoint, redis, prefix, "--role", "api")
        procs.append(api)
        url = api.start()[0]  # provisions the target first; the others then find everything
        others = [serve(endpoint, redis, prefix, "--role", role, *extra)
                  for role, extra in (("queue", ()), ("queue", ()),
                                      ("poller", ("--public-url", url)), ("poller", ("--public-url", url)))]
        procs.extend(others)
        for proc in others:
            proc.launch()
        assert [proc.ready()[0] for proc in others] == ["running queue"] * 2 + ["running poller"] * 2
        yield Client(url), prefix
    finally:
        close_all(procs)


def test_two_queue_and_two_poller_processes_run_each_job_and_worker_once(deployment):
    client, prefix = deployment
    worker = client.register_worker(f"{prefix}-behave", command=BEHAVE)
    asl = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": worker["urn"], "Next": "Two"},
        "Two": {"Type": "Task", "Resource": worker["urn"], "End": True}}}
    definition = client.register_job(f"{prefix}-two-step", asl)["urn"]

    with ThreadPoolExecutor(8) as pool:
        requests = list(pool.map(lambda i: client.request_job(definition, {"text": f"job {i}"})["urn"], range(JOBS)))
        requests = list(pool.map(lambda urn: client.wait_for_request(urn, timeout=120), requests))
        assert [(r["status"], r["job"] is not None) for r in requests] == [("FULFILLED", True)] * JOBS, requests
        jobs = list(pool.map(lambda r: client.wait_for_job(r["job"], timeout=120), requests))

    assert [job["status"] for job in jobs] == ["COMPLETED"] * JOBS, [job["error"] for job in jobs]
    assert len({job["urn"] for job in jobs}) == JOBS
    listed = client.list_jobs(definition=definition)
    assert sorted(j["urn"] for j in listed) == sorted(job["urn"] for job in jobs)
    runs = []
    for job in jobs:
        assert len(job["workers"]) == 2, job["workers"]
        assert [w["status"] for w in job["workers"]] == ["SUCCEEDED", "SUCCEEDED"]
        assert [len(w["results"]) for w in job["workers"]] == [1, 1]
        assert sorted(r["worker"] for r in job["results"]) == sorted(w["worker"] for w in job["workers"])
        assert job["output"]["step"] == 2
        runs += [w["worker"] for w in job["workers"]]
    assert len(set(runs)) == 2 * JOBS


def test_api_under_gunicorn_with_loops_in_another_process_runs_a_job():
    pytest.importorskip("gunicorn")
    prefix = f"g{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with emulate() as emulator:
        values = emulator.values()
        endpoint, redis = values["HARNESS_ENDPOINT_URL"], values["HARNESS_REDIS_URL"]
        with serve(endpoint, redis, prefix, "--role", "queue", "--role", "poller", "--public-url", url) as loops:
            assert loops.output == ["running queue,poller"]
            env = {"HARNESS_TARGET": "localstack", "HARNESS_ENDPOINT_URL": endpoint, "HARNESS_REDIS_URL": redis,
                   "HARNESS_PREFIX": prefix, "HARNESS_PUBLIC_URL": url}
            with Proc([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                       "harness.wsgi:create_app()"], lines=0, env=env) as gunicorn:
                client = Client(url)
                deadline = time.monotonic() + 30
                while True:
                    try:
                        assert client.health()["target"] == "localstack"
                        break
                    except OSError:
                        assert time.monotonic() < deadline, gunicorn.stderr()
                        time.sleep(0.1)
                worker = client.register_worker(f"{prefix}-behave", command=BEHAVE)
                asl = {"StartAt": "One", "States": {
                    "One": {"Type": "Task", "Resource": worker["urn"], "Next": "Two"},
                    "Two": {"Type": "Task", "Resource": worker["urn"], "End": True}}}
                definition = client.register_job(f"{prefix}-two-step", asl)["urn"]
                job = client.run_job(definition, {"text": "via gunicorn"}, timeout=60)
                assert job["status"] == "COMPLETED", job["error"]
                assert client.download(job["results"][0]["files"][0]) == b"via gunicorn"


def test_a_poller_without_the_api_needs_the_public_url():
    result = CliRunner().invoke(main, ["serve", "--target", "localstack", "--role", "poller"])
    assert result.exit_code == 2
    assert "--public-url" in result.output


def test_roles_need_a_shared_target():
    result = CliRunner().invoke(main, ["serve", "--role", "api"])
    assert result.exit_code == 2
    assert "localstack or aws" in result.output


def test_wsgi_app_reads_its_deployment_from_the_environment():
    settings = settings_from_env({"HARNESS_TARGET": "localstack", "HARNESS_ENDPOINT_URL": "http://127.0.0.1:1",
                                  "HARNESS_REDIS_URL": "redis://127.0.0.1:2/0", "HARNESS_PREFIX": "w",
                                  "HARNESS_PUBLIC_URL": "https://jobs.example/", "HARNESS_API_KEYS": "a, b"})
    assert (settings.endpoint_url, settings.redis_url, settings.names.table) == (
        "http://127.0.0.1:1", "redis://127.0.0.1:2/0", "w-resources")
    assert (settings.public_url, settings.api_keys, settings.target) == ("https://jobs.example", ("a", "b"),
                                                                         "localstack")
    with pytest.raises(RuntimeError, match="HARNESS_PUBLIC_URL"):
        settings_from_env({"HARNESS_REDIS_URL": "redis://127.0.0.1:2/0"})
