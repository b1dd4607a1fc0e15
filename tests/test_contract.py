"""Every status code of the contract, as a client, a user and a worker meet them."""

import json
import threading

import pytest
import requests

from conftest import BEHAVE

TWO = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


@pytest.fixture
def api(service):
    def call(method, path, **kw):
        return requests.request(method, service.url + path, timeout=30, **kw)

    return call


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] and body["code"][0].isupper() and " " not in body["code"]
    assert body["message"]
    return body


# -- definitions -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, why", [
    ("{not json", "bad JSON"),
    ("[1, 2]", "not an object"),
    ('{"name": "x"}', "no type"),
    ('{"type": "robot", "name": "x"}', "unknown type"),
    ('{"type": "worker"}', "no name"),
    ('{"type": "worker", "name": "has space"}', "bad name"),
    ('{"type": "worker", "name": "' + "x" * 65 + '"}', "name too long"),
    ('{"type": "worker", "name": "w", "command": "python x.py"}', "command not a list"),
    ('{"type": "worker", "name": "w", "vcpus": "two"}', "vcpus not a number"),
    ('{"type": "worker", "name": "w", "environment": {"K": 1}}', "environment value not a string"),
    ('{"type": "job", "name": "j"}', "no definition"),
    ('{"type": "job", "name": "j", "definition": 42}', "definition not ASL"),
    ('{"type": "job", "definition": {"States": {}}}', "malformed and invalid: the 400 wins"),
])
def test_malformed_definition_is_400_and_stores_nothing(api, body, why):
    before = api("GET", "/v2/definitions").json()["definitions"]
    error_of(api("POST", "/v2/definitions", data=body, headers={"Content-Type": "application/json"}), 400)
    assert api("GET", "/v2/definitions").json()["definitions"] == before, why


@pytest.mark.parametrize("definition, words", [
    ({"States": {"A": {"Type": "Pass", "End": True}}}, "StartAt"),
    ({"StartAt": "B", "States": {"A": {"Type": "Pass", "End": True}}}, "StartAt"),
    ({"StartAt": "A", "States": {"A": {"Type": "Dance", "End": True}}}, "Type"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}, "Next"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "End"),
    ("{not json", "JSON"),
])
def test_invalid_asl_is_422_with_the_reason(api, unique, definition, words):
    name = unique("bad")
    body = error_of(api("POST", "/v2/definitions", json={"type": "job", "name": name, "definition": definition}),
                    422)
    assert words in body["message"]
    error_of(api("GET", f"/v2/definitions/urn:jobservice:job-definition:{name}"), 404)


def test_unknown_worker_in_asl_is_422(api, unique):
    asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "urn:jobservice:worker:nobody",
                                            "End": True}}}
    body = error_of(api("POST", "/v2/definitions", json={"type": "job", "name": unique(), "definition": asl}), 422)
    assert "urn:jobservice:worker:nobody" in body["message"]


def test_asl_that_step_functions_rejects_is_422(api, unique):
    asl = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "ResultPath": 12}}}
    error_of(api("POST", "/v2/definitions", json={"type": "job", "name": unique(), "definition": asl}), 422)


def test_worker_registration_makes_revisions_of_one_urn(client, unique):
    name = unique("w")
    first = client.register_worker(name, command=BEHAVE, vcpus=2, memory_mib=512, environment={"K": "V"})
    second = client.register_worker(name, command=BEHAVE)
    assert first["urn"] == second["urn"] == f"urn:jobservice:worker:{name}"
    assert (first["revision"], second["revision"]) == (1, 2)
    assert first["job_definition_arn"] != second["job_definition_arn"]
    assert first["activity_arn"] == second["activity_arn"]
    assert first["environment"] == {"K": "V"} and first["vcpus"] == 2
    assert client.get_definition(first["urn"])["revision"] == 2
    listed = client.list_definitions("worker")
    assert [d["revision"] for d in listed if d["urn"] == first["urn"]] == [2]
    assert all(d["type"] == "worker" for d in listed)


def test_job_registration_again_updates_the_same_state_machine(client, unique):
    name = unique("j")
    first = client.register_job(name, TWO)
    second = client.register_job(name, {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}})
    assert first["urn"] == second["urn"] and first["state_machine_arn"] == second["state_machine_arn"]
    assert client.get_definition(first["urn"])["definition"]["StartAt"] == "B"
    assert any(d["urn"] == first["urn"] for d in client.list_definitions("job"))


def test_definitions_list_rejects_unknown_type(api):
    error_of(api("GET", "/v2/definitions?type=robot"), 400)


def test_unknown_urns_are_404(api):
    error_of(api("GET", "/v2/definitions/urn:jobservice:worker:nobody-here"), 404)
    error_of(api("GET", "/v2/jobs/requests/urn:jobservice:request:nope"), 404)
    error_of(api("GET", "/v2/jobs/urn:jobservice:job:nope"), 404)
    error_of(api("GET", "/v2/jobs/not-a-urn"), 404)
    error_of(api("POST", "/v2/jobs/urn:jobservice:job:nope/cancel"), 404)
    error_of(api("GET", "/v2/files/jobs/nope/nope/nothing.txt"), 404)
    error_of(api("GET", "/v2/no/such/route"), 404)


def test_job_request_errors(api):
    error_of(api("POST", "/v2/jobs/requests", data="{", headers={"Content-Type": "application/json"}), 400)
    error_of(api("POST", "/v2/jobs/requests", json={"input": {}}), 400)
    error_of(api("POST", "/v2/jobs/requests", json={"definition": "urn:jobservice:job-definition:nope"}), 404)
    error_of(api("GET", "/v2/jobs?status=DANCING"), 400)


def test_method_not_allowed_is_json(api):
    error_of(api("DELETE", "/v2/definitions"), 405)


def test_health_is_ok_and_names_the_target(api):
    response = api("GET", "/v2/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["target"] == "embedded"


def test_jobs_list_newest_first_with_filters(client, unique):
    job_def = client.register_job(unique("pass"), TWO)
    urns = [client.wait_for_request(client.request_job(job_def["urn"], {"n": i})["urn"])["job"] for i in range(2)]
    for urn in urns:
        assert client.wait_for_job(urn)["status"] == "COMPLETED"
    listed = [j["urn"] for j in client.list_jobs(definition=job_def["urn"])]
    assert listed == urns[::-1]
    assert {j["urn"] for j in client.list_jobs(status="COMPLETED", definition=job_def["urn"])} == set(urns)
    assert client.list_jobs(status="RUNNING", definition=job_def["urn"]) == []


def test_job_output_is_the_executions_output(client, unique):
    asl = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"x": [1, 2.5, None, "s"]}, "End": True}}}
    job = client.run_job(client.register_job(unique("p"), asl)["urn"], {"in": True})
    assert job["status"] == "COMPLETED" and job["output"] == {"x": [1, 2.5, None, "s"]}
    assert job["input"] == {"in": True} and job["workers"] == [] and job["error"] is None


# -- workers ---------------------------------------------------------------------------------------------------

def test_worker_start_gives_the_payload_and_marks_the_run_running(client, hold):
    worker = hold({"text": "abc"})
    response = worker.call("POST", "/v2/workers/start")
    assert response.status_code == 200
    payload = response.json()
    assert payload == {"worker": worker.id, "job": worker.job, "definition": payload["definition"],
                       "input": {"text": "abc"}}
    assert worker.env["JOBSERVICE_JOB_URN"] == worker.job
    job = client.get_job(worker.job)
    assert [(w["worker"], w["status"]) for w in job["workers"]] == [(worker.id, "RUNNING")]
    assert worker.call("POST", "/v2/workers/start").json() == payload  # a retried start


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer nope.nope", "token-without-scheme"])
def test_worker_calls_without_a_valid_token_are_401(hold, header):
    worker = hold()
    headers = {} if header is None else {"Authorization": header}
    import requests as r

    for method, path in (("POST", "/v2/workers/start"), ("POST", "/v2/worker/results"),
                         ("POST", "/v2/worker/finish"), ("POST", "/v2/workers/files?name=a"),
                         ("GET", "/v2/workers/files/jobs/x/y/z")):
        response = r.request(method, worker.url + path, headers=headers, json={"data": 1}, timeout=30)
        error_of(response, 401)


def test_bearer_scheme_is_case_insensitive_for_workers(hold):
    worker = hold()
    response = worker.call("POST", "/v2/workers/start", headers={"Authorization": f"bEaReR {worker.token}"})
    assert response.status_code == 200


def test_worker_files_upload_raw_and_multipart_then_read(hold):
    worker = hold()
    raw = worker.call("POST", "/v2/workers/files?name=data.bin", data=b"\x00\x01binary")
    assert raw.status_code == 201
    assert raw.json() == {"key": f"jobs/{worker.job.rsplit(':', 1)[1]}/{worker.id}/data.bin", "size": 8}
    multi = worker.call("POST", "/v2/workers/files", files={"file": ("notes.txt", b"hello")})
    assert multi.status_code == 201 and multi.json()["key"].endswith("/notes.txt")
    again = worker.call("POST", "/v2/workers/files?name=data.bin", data=b"replaced")
    assert again.json()["key"] == raw.json()["key"] and again.json()["size"] == 8
    info = worker.call("GET", f"/v2/workers/files/{raw.json()['key']}").json()
    assert requests.get(info["url"], timeout=30).content == b"replaced"
    error_of(worker.call("GET", f"/v2/workers/files/jobs/{worker.job.rsplit(':', 1)[1]}/{worker.id}/none"), 404)


def test_a_file_downloads_in_one_step_with_download_1_or_accept_octet_stream(hold, api):
    worker = hold()
    key = worker.call("POST", "/v2/workers/files?name=one-step.txt", data=b"in one step").json()["key"]
    assert api("GET", f"/v2/files/{key}").json()["key"] == key  # JSON by default, curl's */* included
    for how in ({"params": {"download": "1"}}, {"headers": {"Accept": "application/octet-stream"}}):
        redirect = api("GET", f"/v2/files/{key}", allow_redirects=False, **how)
        assert redirect.status_code == 302 and redirect.headers["Cache-Control"] == "no-store"
        assert requests.get(redirect.headers["Location"], timeout=30).content == b"in one step"
        assert api("GET", f"/v2/files/{key}", **how).content == b"in one step"
    own = worker.call("GET", f"/v2/workers/files/{key}?download=1", allow_redirects=False)
    assert own.status_code == 302
    error_of(api("GET", f"/v2/files/{key}-none", params={"download": "1"}), 404)


@pytest.mark.parametrize("name", ["a/b", "..", "x..y", "bad\x01name", "new\nline", ""])
def test_worker_file_names_with_slash_dots_or_control_chars_are_400(hold, name):
    worker = hold()
    error_of(worker.call("POST", "/v2/workers/files", params={"name": name}, data=b"x"), 400)


def test_worker_upload_without_name_is_400(hold):
    worker = hold()
    error_of(worker.call("POST", "/v2/workers/files", data=b"x"), 400)
    error_of(worker.call("POST", "/v2/workers/files", files={"other": ("a.txt", b"x")}), 400)


def test_worker_cannot_read_or_cite_another_jobs_files(hold, client):
    first, second = hold(), hold()
    key = first.call("POST", "/v2/workers/files?name=secret.txt", data=b"s").json()["key"]
    error_of(second.call("GET", f"/v2/workers/files/{key}"), 403)
    error_of(second.call("POST", "/v2/worker/results", json={"data": 1, "files": [key]}), 403)
    assert client.file_info(key)["size"] == 1  # a user may read any job's file


def test_results_appear_in_the_job_at_once(hold, client):
    worker = hold()
    key = worker.call("POST", "/v2/workers/files?name=r.json", data=b"{}").json()["key"]
    response = worker.call("POST", "/v2/worker/results", json={"data": {"p": 0.5}, "files": [key]})
    assert response.json() == {"worker": worker.id, "results": 1}
    job = client.get_job(worker.job)
    assert job["status"] == "RUNNING"
    assert [(r["worker"], r["data"], r["files"]) for r in job["results"]] == [(worker.id, {"p": 0.5}, [key])]
    assert job["workers"][0]["results"][0]["data"] == {"p": 0.5}
    assert worker.call("POST", "/v2/workers/results", json={"data": 2}).json()["results"] == 2  # the alias


def test_results_errors(hold):
    worker = hold()
    error_of(worker.call("POST", "/v2/worker/results", json={"files": []}), 400)
    error_of(worker.call("POST", "/v2/worker/results", json={"data": 1, "files": "k"}), 400)
    error_of(worker.call("POST", "/v2/worker/results", data="{", headers={"Content-Type": "application/json"}), 400)
    missing = f"jobs/{worker.job.rsplit(':', 1)[1]}/{worker.id}/missing.txt"
    error_of(worker.call("POST", "/v2/worker/results", json={"data": 1, "files": [missing]}), 404)


def test_twenty_concurrent_results_from_one_worker_lose_nothing(hold, client):
    worker = hold()
    counts = []

    def post(i):
        counts.append(worker.call("POST", "/v2/worker/results", json={"data": {"i": i}}).json()["results"])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counts) == list(range(1, 21))
    job = client.get_job(worker.job)
    assert sorted(r["data"]["i"] for r in job["results"]) == list(range(20))
    assert sorted(r["data"]["i"] for r in job["workers"][0]["results"]) == list(range(20))


def test_finish_completes_the_job_and_a_second_finish_is_409(hold, client):
    worker = hold()
    key = worker.call("POST", "/v2/workers/files?name=o.txt", data=b"out").json()["key"]
    response = worker.call("POST", "/v2/worker/finish", json={"output": {"answer": 42}})
    assert response.json() == {"worker": worker.id, "status": "SUCCEEDED"}
    job = client.wait_for_job(worker.job)
    assert job["status"] == "COMPLETED" and job["output"] == {"answer": 42}
    error_of(worker.call("POST", "/v2/worker/finish", json={"output": {"answer": 0}}), 409)
    error_of(worker.call("POST", "/v2/workers/finish", json={"error": "E"}), 409)
    # A finished run's token can still read, but no longer write.
    assert worker.call("GET", f"/v2/workers/files/{key}").status_code == 200
    error_of(worker.call("POST", "/v2/workers/files?name=late.txt", data=b"x"), 409)
    error_of(worker.call("POST", "/v2/worker/results", json={"data": 1}), 409)
    error_of(worker.call("POST", "/v2/workers/start"), 409)
    assert client.get_job(worker.job)["output"] == {"answer": 42}


def test_finish_with_error_fails_the_job_with_that_error(hold, client):
    worker = hold()
    response = worker.call("POST", "/v2/worker/finish", json={"error": "Worker.Bad", "cause": "input was bad"})
    assert response.json()["status"] == "FAILED"
    job = client.wait_for_job(worker.job)
    assert job["status"] == "FAILED"
    assert job["error"] == {"error": "Worker.Bad", "cause": "input was bad"}
    assert job["workers"][0]["status"] == "FAILED"


def test_finish_malformed_is_400_and_changes_nothing(hold, client):
    worker = hold()
    error_of(worker.call("POST", "/v2/worker/finish", json={"output": 1, "error": "E"}), 400)
    error_of(worker.call("POST", "/v2/worker/finish", json={"error": 5}), 400)
    assert client.get_job(worker.job)["workers"][0]["status"] in ("SUBMITTED", "RUNNING")
    assert worker.call("POST", "/v2/worker/finish", json={"output": None}).status_code == 200


def test_cancel_stops_the_job_and_its_worker(hold, client, service):
    worker = hold()
    job = client.cancel_job(worker.job)
    assert job["status"] == "CANCELLED"
    assert job["workers"][0]["status"] == "FAILED"
    error_of(requests.post(f"{service.url}/v2/jobs/{worker.job}/cancel", timeout=30), 409)
    assert client.wait_for_job(worker.job)["status"] == "CANCELLED"


def test_heartbeats_keep_a_slow_worker_alive_past_heartbeat_seconds(client, unique, tmp_path):
    import json
    import os
    import sys
    import time

    from conftest import WORKERS

    env_file, gate = tmp_path / "env.json", tmp_path / "gate"
    worker = client.register_worker(unique("beat"), heartbeat_seconds=1, timeout_seconds=60,
                                    command=[sys.executable, os.path.join(WORKERS, "hold.py"), str(env_file),
                                             str(gate)])
    job_def = client.register_job(unique("beats"), {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": worker["urn"], "End": True}}})
    job_urn = client.wait_for_request(client.request_job(job_def["urn"])["urn"])["job"]
    deadline = time.monotonic() + 20
    while not env_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    headers = {"Authorization": f"Bearer {json.loads(env_file.read_text())['JOBSERVICE_WORKER_TOKEN']}"}
    url = client.base_url
    for _ in range(5):  # 2.5 s, well past heartbeat_seconds
        assert requests.post(f"{url}/v2/worker/heartbeat", headers=headers, timeout=30).status_code == 200
        time.sleep(0.5)
    assert client.get_job(job_urn)["status"] == "RUNNING"
    assert requests.post(f"{url}/v2/worker/finish", headers=headers, json={"output": 1}, timeout=30).ok
    gate.write_text("go")
    assert client.wait_for_job(job_urn)["status"] == "COMPLETED"


def test_a_state_machine_left_by_an_earlier_deployment_is_taken_over(client, service, unique):
    name = unique("left")
    sfn = service.service.clients.sfn
    left = sfn.create_state_machine(name=f"jobservice-{name}", definition=json.dumps(TWO),
                                    roleArn=service.service.states_role_arn())["stateMachineArn"]
    job = client.register_job(name, {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}})
    assert job["state_machine_arn"] == left
    assert json.loads(sfn.describe_state_machine(stateMachineArn=left)["definition"])["StartAt"] == "B"


def test_an_unreachable_backing_service_is_503_naming_it():
    from harness.service import RunningService

    with RunningService(prefix="noredis", redis_url="redis://127.0.0.1:1/0") as broken:
        health = requests.get(f"{broken.url}/v2/health", timeout=30)
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and "redis" in health.json()["failing"]
        assert health.json()["error"]["code"] == "ServiceUnavailable"
        worker_call = requests.post(f"{broken.url}/v2/workers/start", timeout=30,
                                    headers={"Authorization": "Bearer someone.secret"})
        assert error_of(worker_call, 503)["message"].startswith("the cache (Redis) is unreachable")
