"""The OpenAPI document is the whole API: every route is in it and it in the routes; a fuzzer finds no 5xx."""

import json
import os
import re
import sys
import time
from importlib import resources

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from conftest import WORKERS
from harness.client import Client
from procs import HARNESS, Proc

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def flask_routes(app) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every rule the app serves."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(method, path) for method in rule.methods & METHODS}
    return routes


def documented(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def test_every_route_is_documented_and_every_documented_route_exists(running):
    document = requests.get(f"{running.url}/v2/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.1")
    assert flask_routes(running.service.app) == documented(document)


def test_the_document_needs_no_key_and_names_wait_and_idempotency_key():
    from harness.service import RunningService

    with RunningService(prefix="openapi9", api_keys=["k"]) as keyed:
        assert requests.get(f"{keyed.url}/v2/jobs", timeout=30).status_code == 401
        response = requests.get(f"{keyed.url}/v2/openapi.json", timeout=30)
        assert response.status_code == 200
        paths = response.json()["paths"]
    for path in ("/v2/jobs/{urn}", "/v2/jobs/requests/{urn}"):
        assert "wait" in [p["name"] for p in paths[path]["get"]["parameters"]]
    for path in ("/v2/worker/results", "/v2/workers/results", "/v2/worker/finish", "/v2/workers/files"):
        assert "Idempotency-Key" in [p["name"] for p in paths[path]["post"]["parameters"]]


@pytest.fixture(scope="module")
def served():
    """A live `harness serve` on the embedded target, stopped by pid at the end."""
    with Proc([*HARNESS, "serve", "--port", "0"], timeout=60) as proc:
        yield proc.output[0]


@pytest.fixture(scope="module")
def worker_token(served, tmp_path_factory):
    """The token of a worker run on the served API that waits, so fuzzed worker calls get past the 401."""
    folder = tmp_path_factory.mktemp("held")
    env_file, gate = folder / "env.json", folder / "gate"
    client = Client(served)
    worker = client.register_worker("fuzzed", command=[sys.executable, os.path.join(WORKERS, "hold.py"),
                                                       str(env_file), str(gate)])
    job = client.register_job("fuzzed", {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": worker["urn"], "End": True}}})
    client.wait_for_request(client.request_job(job["urn"], {"x": 1})["urn"])
    deadline = time.monotonic() + 30
    while not env_file.exists():
        assert time.monotonic() < deadline, "the held worker did not start"
        time.sleep(0.02)
    yield json.loads(env_file.read_text())["JOBSERVICE_WORKER_TOKEN"]
    gate.write_text("go")


# The package's own document; the live server serves the same one (checked above).
schema = schemathesis.openapi.from_path(str(resources.files("server").joinpath("openapi.json")))


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_answers_fuzzed_requests_without_5xx_and_as_documented(case, served, worker_token):
    worker_call = case.operation.path.startswith(("/v2/worker/", "/v2/workers/"))
    headers = {"Authorization": f"Bearer {worker_token}"} if worker_call else None
    case.call_and_validate(base_url=served, timeout=30, headers=headers, checks=[not_a_server_error, status_code_conformance,
                                                               content_type_conformance,
                                                               response_schema_conformance])
