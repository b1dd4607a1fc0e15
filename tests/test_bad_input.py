"""Hostile input is a 4xx that names the problem and changes nothing: never a 5xx, never a leak (issue 9)."""

import json

import pytest
import requests

from test_contract import api, error_of  # noqa: F401 - the fixture is used by name

PASS = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
JSON = {"Content-Type": "application/json"}
DEEP = "[" * 10000 + "]" * 10000


def definitions(api):
    return api("GET", "/v2/definitions").json()["definitions"]


def requests_stored(service):
    return len(service.service.db.by_kind("request"))


# -- 7: worker endpoints look at the token before the body ---------------------------------------------------

@pytest.mark.parametrize("path", ["/v2/worker/results", "/v2/workers/results", "/v2/worker/finish",
                                  "/v2/workers/finish"])
@pytest.mark.parametrize("header", [None, "Bearer nobody.secret"])
def test_worker_writes_without_a_valid_token_are_401_whatever_the_body(api, path, header):
    headers = {**JSON, **({"Authorization": header} if header else {})}
    for body in ("{not json", DEEP, '{"data": NaN}', "[]"):
        body = error_of(api("POST", path, data=body, headers=headers), 401)
        assert "JSON" not in body["message"] and "nest" not in body["message"]


# -- 4: a name must match as a whole ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "\nabc", "a" * 65, "ab c", ""])
def test_a_name_that_only_partly_matches_is_400_and_stores_nothing(api, name):
    before = definitions(api)
    for body in ({"type": "worker", "name": name}, {"type": "job", "name": name, "definition": PASS}):
        assert "name" in error_of(api("POST", "/v2/definitions", json=body), 400)["message"]
    assert definitions(api) == before


# -- 2: numbers ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vcpus, shown", [(0.5, 0.5), (0.25, 0.25), (1.0, 1), (2, 2)])
def test_vcpus_as_batch_takes_them_are_stored(api, unique, vcpus, shown):
    response = api("POST", "/v2/definitions", json={"type": "worker", "name": unique(), "vcpus": vcpus})
    assert response.status_code == 201, response.text
    assert response.json()["vcpus"] == shown
    assert api("GET", f"/v2/definitions/{response.json()['urn']}").json()["vcpus"] == shown


@pytest.mark.parametrize("field, raw", [
    ("vcpus", "Infinity"), ("vcpus", "NaN"), ("vcpus", "-Infinity"), ("vcpus", "1e400"), ("vcpus", "0.3"),
    ("vcpus", "0"), ("vcpus", "-1"), ("vcpus", "5000"), ("vcpus", "true"),
    ("memory_mib", str(10**40)), ("memory_mib", "2048.5"), ("memory_mib", "0"), ("memory_mib", "3"),
    ("timeout_seconds", str(10**40)), ("timeout_seconds", "100000000"), ("heartbeat_seconds", "-5"),
])
def test_numbers_out_of_range_or_not_finite_are_400_and_store_nothing(api, unique, field, raw):
    before = definitions(api)
    body = f'{{"type": "worker", "name": "{unique()}", "{field}": {raw}}}'
    message = error_of(api("POST", "/v2/definitions", data=body, headers=JSON), 400)["message"]
    assert field in message or "JSON" in message
    assert definitions(api) == before


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "[1, {\"a\": NaN}]", "1e999"])
def test_non_finite_numbers_in_a_job_input_are_400(api, client, unique, service, raw):
    job_def = client.register_job(unique(), PASS)["urn"]
    before = requests_stored(service)
    body = f'{{"definition": "{job_def}", "input": {raw}}}'
    error_of(api("POST", "/v2/jobs/requests", data=body, headers=JSON), 400)
    assert requests_stored(service) == before


# -- 3: nesting depth ------------------------------------------------------------------------------------------

def test_deep_nesting_is_400_on_every_json_endpoint(api, client, unique, hold):
    error_of(api("POST", "/v2/definitions", data=DEEP, headers=JSON), 400)
    error_of(api("POST", "/v2/jobs/requests", data=DEEP, headers=JSON), 400)
    job_def = client.register_job(unique(), PASS)["urn"]
    deep_input = '{"definition": "%s", "input": %s}' % (job_def, "[" * 65 + "]" * 65)
    assert "64" in error_of(api("POST", "/v2/jobs/requests", data=deep_input, headers=JSON), 400)["message"]
    ok_input = {"definition": job_def, "input": json.loads("[" * 63 + "]" * 63)}
    assert api("POST", "/v2/jobs/requests", json=ok_input).status_code == 202
    worker = hold()
    for path in ("/v2/worker/results", "/v2/worker/finish"):
        error_of(worker.call("POST", path, data=DEEP, headers=JSON), 400)
    assert worker.call("POST", "/v2/worker/results", json={"data": "[]"}).json()["results"] == 1


# -- 1: malformed ASL is 400, invalid ASL 422 ------------------------------------------------------------------

def nested_parallel(levels: int) -> dict:
    machine = PASS
    for _ in range(levels):
        machine = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [machine], "End": True}}}
    return machine


@pytest.mark.parametrize("states, field", [
    ({"A": {"Type": [], "End": True}}, "Type"),
    ({"A": {"Type": {}, "End": True}}, "Type"),
    ({"A": {"Type": "Pass", "Next": ["A"]}}, "Next"),
    ({"A": {"Type": "Parallel", "Branches": 5, "End": True}}, "Branches"),
    ({"A": {"Type": "Parallel", "Branches": [5], "End": True}}, "Branches"),
    ({"A": {"Type": "Pass", "End": "yes"}}, "End"),
    ({"A": {"Type": "Choice", "Choices": [{"Next": 1}]}}, "Next"),
    ({"A": {"Type": "Map", "ItemProcessor": [], "End": True}}, "ItemProcessor"),
    ({"A": []}, "A"),
    ([], "States"),
])
def test_asl_with_a_mistyped_field_is_400_naming_it(api, unique, states, field):
    name = unique()
    for definition in ({"StartAt": "A", "States": states}, json.dumps({"StartAt": "A", "States": states})):
        body = {"type": "job", "name": name, "definition": definition}
        assert field in error_of(api("POST", "/v2/definitions", json=body), 400)["message"]
    error_of(api("GET", f"/v2/definitions/urn:jobservice:job-definition:{name}"), 404)


def test_150_nested_parallel_states_are_400_as_an_object_or_a_string(api, unique):
    deep = nested_parallel(150)
    error_of(api("POST", "/v2/definitions", json={"type": "job", "name": unique(), "definition": deep}), 400)
    body = {"type": "job", "name": unique(), "definition": json.dumps(deep)}
    assert "64" in error_of(api("POST", "/v2/definitions", json=body), 400)["message"]


def test_a_few_nested_parallel_states_are_fine_and_an_unknown_type_in_them_is_422(api, unique):
    ok = api("POST", "/v2/definitions", json={"type": "job", "name": unique(), "definition": nested_parallel(5)})
    assert ok.status_code == 201, ok.text
    bad = nested_parallel(3)
    bad["States"]["P"]["Branches"][0]["States"]["P"]["Type"] = "Dance"
    error_of(api("POST", "/v2/definitions", json={"type": "job", "name": unique(), "definition": bad}), 422)


# -- 6: any JSON value as input, output or data ----------------------------------------------------------------

@pytest.mark.parametrize("output", ["done", 42, True, None, [1, "a"], {"k": "v"}])
def test_any_json_value_as_output_leaves_the_job_readable(hold, client, output):
    worker = hold()
    assert worker.call("POST", "/v2/worker/results", json={"data": output}).status_code == 200
    assert worker.call("POST", "/v2/worker/finish", json={"output": output}).status_code == 200
    job = client.wait_for_job(worker.job)
    assert job["status"] == "COMPLETED"
    assert job["results"][0]["data"] == output and job["workers"][0]["output"] == output
    assert job["output"] == output
    assert any(j["urn"] == worker.job for j in client.list_jobs())


@pytest.mark.parametrize("job_input", ["hello", 3.5, ["x"], False])
def test_any_json_value_as_input_of_a_pass_job_is_its_output(client, unique, job_input):
    job = client.run_job(client.register_job(unique(), PASS)["urn"], job_input)
    assert job["status"] == "COMPLETED" and job["output"] == job_input
    assert client.list_jobs(status="COMPLETED")


# -- 8: no internals in errors or headers ----------------------------------------------------------------------

def test_the_server_header_names_no_versions(api):
    server = api("GET", "/v2/health").headers.get("Server", "")
    assert "Python" not in server and "Werkzeug" not in server and "/" not in server


def test_a_503_names_the_component_and_carries_no_exception_text():
    from harness.service import RunningService

    with RunningService(prefix="noredis9", redis_url="redis://127.0.0.1:1/0") as broken:
        health = requests.get(f"{broken.url}/v2/health", timeout=30).json()
        assert health["failing"] == {"redis": "unreachable"}
        response = requests.post(f"{broken.url}/v2/workers/start", timeout=30,
                                 headers={"Authorization": "Bearer someone.secret"})
        message = error_of(response, 503)["message"]
        assert "Redis" in message
        for leak in ("Error", "refused", "Errno", "127.0.0.1", "Traceback"):
            assert leak not in message


# -- 5: sizes --------------------------------------------------------------------------------------------------

BIG = "x" * (300 * 1024)


def too_big(response, field):
    message = error_of(response, 413)["message"]
    assert f"'{field}'" in message and "upload it as a file" in message


def test_a_job_input_too_big_to_store_is_413_and_stores_nothing(api, client, unique, service):
    job_def = client.register_job(unique(), PASS)["urn"]
    before = requests_stored(service)
    too_big(api("POST", "/v2/jobs/requests", json={"definition": job_def, "input": {"blob": BIG}}), "input")
    assert requests_stored(service) == before


def test_an_environment_too_big_to_store_is_413_and_stores_nothing(api, unique):
    before = definitions(api)
    body = {"type": "worker", "name": unique(), "environment": {"BLOB": "x" * (30 * 1024)}}
    too_big(api("POST", "/v2/definitions", json=body), "environment")
    assert definitions(api) == before


def test_results_and_output_too_big_are_413_and_the_run_goes_on(hold, client):
    worker = hold()
    too_big(worker.call("POST", "/v2/worker/results", json={"data": BIG}), "data")
    too_big(worker.call("POST", "/v2/worker/finish", json={"output": {"blob": BIG}}), "output")
    job = client.get_job(worker.job)
    assert job["results"] == [] and job["workers"][0]["status"] in ("SUBMITTED", "RUNNING")
    assert worker.call("POST", "/v2/worker/results", json={"data": "small"}).json()["results"] == 1
    assert worker.call("POST", "/v2/worker/finish", json={"output": "small"}).status_code == 200
    assert client.wait_for_job(worker.job)["status"] == "COMPLETED"


@pytest.mark.parametrize("fields, word", [
    ('"environment": {"": "x"}', "environment"), ('"environment": {"A=B": "x"}', "environment"),
    ('"environment": {"JOBSERVICE_WORKER_TOKEN": "x"}', "JOBSERVICE_WORKER_TOKEN"), ('"environment": {"AWS_BATCH_X": "x"}', "AWS_BATCH"),
    ('"environment": {"K": "a\\u0000b"}', "NUL"), ('"command": ["python", "\\ud800"]', "surrogate"),
    ('"image": "repo/x\\u0000"', "NUL"),
])
def test_strings_a_process_cannot_be_started_with_are_400(api, unique, fields, word):
    before = definitions(api)
    body = f'{{"type": "worker", "name": "{unique()}", {fields}}}'
    assert word in error_of(api("POST", "/v2/definitions", data=body, headers=JSON), 400)["message"]
    assert definitions(api) == before


@pytest.mark.parametrize("files", [["jobs/x/\ud800"], ["jobs/x/a\u0000"], ["k"] * 101, ["jobs/" + "z" * 1100], [""], "k"])
def test_result_files_that_are_no_s3_keys_are_400_and_store_nothing(hold, client, files):
    worker = hold()
    prefix = f"jobs/{worker.job.rsplit(':', 1)[1]}/"
    files = [prefix + f if f.startswith("jobs/x/") else f for f in files] if isinstance(files, list) else files
    body = json.dumps({"data": 1, "files": files})  # json.dumps writes a lone surrogate as its escape
    error_of(worker.call("POST", "/v2/worker/results", data=body, headers=JSON), 400)
    assert client.get_job(worker.job)["results"] == []
