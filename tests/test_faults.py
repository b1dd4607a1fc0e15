"""Fault injection: each kind of fault, and what the service does about it (retried and succeeded, or FAILED
with a named error; never hung)."""

from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.diagram import to_mermaid
from harness.runner import run_scenario
from harness.scenario import ScenarioError, load, load_dict

ROOT = Path(__file__).resolve().parents[1]


def one_step(worker_script, faults, expect, asl_extra=None, timeout=30):
    """A scenario: one scripted worker run as a one-step job, under `faults`, ending as `expect` says."""
    task = {"Type": "Task", "Resource": "worker:w", "End": True, **(asl_extra or {})}
    return load_dict({
        "name": "fault", "timeout": timeout, "faults": faults,
        "workers": {"w": {"scripted": worker_script}},
        "jobs": {"j": {"definition": {"StartAt": "T", "States": {"T": task}}}},
        "steps": [{"request": {"job": "j", "input": {"text": "a b"}}, "as": "request"},
                  {"wait": {"request": "${request}", "status": "FULFILLED"}, "capture": {"job": "job"}},
                  {"name": "the end", "wait": {"job": "${job}", **expect}}]})


def faults_seen(result):
    return [e.label for e in result.events if e.kind == "note" and e.details.get("fault")]


@pytest.mark.parametrize("clock", [None, "skip"], ids=["real-clock", "skip-clock"])
def test_chaos_scenario_completes_with_two_results_and_the_same_output(service, clock):
    scenario = load(ROOT / "scenarios" / "chaos.scenario.yaml")[0]
    result = run_scenario(scenario, service, clock=clock)
    assert result.passed, result.format_failure()
    done = next(s for s in result.steps if s.name == "job COMPLETED")
    assert done.ok  # the step checks: COMPLETED, exactly 2 results, the same output as without faults
    seen = faults_seen(result)
    for what in ("fault: ProvisionedThroughputExceededException on", "fault: ThrottlingException on",
                 "fault: message duplicate on ReceiveMessage", "fault injected: Redis down for 1 s",
                 "fault healed: Redis down for 1 s", "fault: 503 for POST /v2/worker/results (call 1)"):
        assert any(label.startswith(what) for label in seen), (what, seen)
    drawing = to_mermaid(result.events)
    assert drawing.count("rect rgb(255, 215, 215)") >= 6 and "⚡ fault: 503 for POST /v2/worker/results" in drawing


def test_a_batch_job_that_cannot_pull_its_image_fails_the_run_naming_it(service):
    scenario = one_step(["start", {"finish": {"output": 1}}], [{"batch": "cannot-pull"}],
                        {"status": "FAILED", "error": {"cause": "re:CannotPullContainerError"}}, timeout=10)
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()


def test_a_host_that_goes_away_fails_the_run_with_the_status_reason_of_aws(service):
    scenario = one_step(["start", {"wait": "never"}],
                        [{"batch": "host-terminated", "when": "Worker -> Worker Manager: POST /v2/workers/start"}],
                        {"status": "FAILED", "error": {"cause": r"re:Host EC2 \(instance i-[0-9a-f]+\) terminated"}})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()


def test_a_worker_killed_after_its_first_result_fails_its_job(service):
    scenario = one_step(["start", {"results": {"data": 1}}, {"wait": "never"}],
                        [{"worker": "kill", "after": "POST /v2/worker/results", "nth": 1}],
                        {"status": "FAILED", "results": 1, "workers": [{"status": "FAILED"}]})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()
    assert any("worker killed after POST /v2/worker/results" in label for label in faults_seen(result))


def test_a_worker_killed_is_retried_per_the_asl(service):
    scenario = one_step(["start", {"results": {"data": 1}}, {"finish": {"output": "done"}}],
                        [{"worker": "kill", "after": "POST /v2/worker/results", "nth": 1}],
                        {"status": "COMPLETED", "output": "done", "workers": [{"status": "FAILED"},
                                                                             {"status": "SUCCEEDED"}]},
                        asl_extra={"Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1,
                                              "MaxAttempts": 1}]})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()


def test_a_dropped_answer_is_retried_and_the_result_is_not_duplicated(service):
    """The connection drops after the service stored the result: the retry, with the same key, repeats it."""
    scenario = one_step(["start", {"results": {"data": "once"}}, {"finish": {"output": 1}}],
                        [{"api": "POST /v2/worker/results", "drop": True, "nth": 1}],
                        {"status": "COMPLETED", "results": [{"data": "once"}]})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()
    assert any("connection dropped" in label for label in faults_seen(result))


@pytest.mark.parametrize("fault, seen", [
    ({"redis": "flush", "when": "Worker -> Worker Manager: POST /v2/workers/start"}, "fault injected: redis flush"),
    ({"redis": "slow", "latency_ms": 100}, "fault injected: redis slow"),
    ({"redis": "down", "for": 0.5, "when": "Worker -> Worker Manager: POST /v2/workers/start"},
     "fault healed: redis down"),
    ({"sqs": "late", "delay_seconds": 1}, "fault: message late on SendMessage"),
    ({"aws": "states:SendTaskSuccess", "error": "ServiceUnavailable", "nth": 1},
     "fault: ServiceUnavailable on SendTaskSuccess by Worker Manager"),
    ({"aws": "dynamodb:*", "error": "InternalServerError", "first": 3}, "fault: InternalServerError on"),
    ({"aws": "sqs:SendMessage", "participant": "Worker Manager", "error": "InternalError", "first": 2},
     "fault: InternalError on SendMessage by Worker Manager"),
    ({"loop": "restart-queue"}, "fault: restarted mid-message"),
    ({"loop": "pause-queue", "for": 0.5}, "fault: paused before handling"),
    ({"loop": "pause-poller", "for": 0.5}, "fault: paused before handling"),
])
def test_the_service_rides_out(service, fault, seen):
    scenario = one_step(["start", {"results": {"data": 1}}, {"finish": {"output": "ok"}}], [fault],
                        {"status": "COMPLETED", "output": "ok", "results": 1})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()
    assert any(label.startswith(seen) for label in faults_seen(result)), faults_seen(result)


def test_redis_down_is_a_503_to_callers_then_recovery(service):
    worker_token = "w" * 32 + ".secret"
    with service.faults.inject(redis="down"):
        down = requests.post(service.url + "/v2/worker/heartbeat", headers={"Authorization": f"Bearer {worker_token}"},
                             timeout=10)
        health = requests.get(service.url + "/v2/health", timeout=10)
    assert down.status_code == 503 and down.json()["error"]["code"]
    assert health.status_code == 503
    assert requests.get(service.url + "/v2/health", timeout=10).status_code == 200


def test_an_aws_fault_the_service_cannot_outlast_fails_the_job_with_a_named_error(service):
    scenario = one_step(["start", {"finish": {"output": 1}}],
                        [{"aws": "states:SendTaskSuccess", "error": "AccessDeniedException", "status": 400}],
                        {"status": "FAILED", "error": {"error": "Worker.Error", "cause": "re:/v2/worker/finish: 503"}})
    # The service answers 503 each time (never the raw AWS error); the worker gives up after its retries and fails.
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()


def test_a_rule_that_cannot_match_is_refused_at_load(tmp_path):
    path = tmp_path / "bad.scenario.yaml"
    path.write_text((ROOT / "scenarios" / "chaos.scenario.yaml").read_text().replace('"dynamodb:*"',
                                                                                     '"dynamodb:UpdateItems"'))
    with pytest.raises(ScenarioError, match=r"bad.scenario.yaml:\d+: .*dynamodb has no operation 'UpdateItems' "
                                            r"\(did you mean 'UpdateItem'\?\)"):
        load(path)


def test_chaos_api_of_harness_emulate_makes_a_boto3_call_fail_as_the_rule_says():
    from procs import emulate

    with emulate(checked=True) as proc:
        values = proc.values()
        endpoint = values["HARNESS_ENDPOINT_URL"]
        chaos = endpoint + "/_localstack/chaos/faults"
        rule = [{"service": "dynamodb", "operation": "ListTables", "region": "us-east-1",
                 "error": {"statusCode": 503, "code": "ServiceUnavailable"}}]
        assert requests.post(chaos, json=rule, timeout=10).json()[0]["operation"] == "ListTables"
        assert requests.get(chaos, timeout=10).json() == [dict(rule[0], probability=1.0)]
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
                           config=Config(retries={"max_attempts": 1}))
        with pytest.raises(ClientError) as failed:
            ddb.list_tables()
        assert failed.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"])
        assert sqs.list_queues()["ResponseMetadata"]["HTTPStatusCode"] == 200  # other calls are untouched
        assert requests.delete(chaos, json=rule, timeout=10).json() == []
        assert "TableNames" in ddb.list_tables()
        refused = requests.post(chaos, json=[{"service": "dynamodb", "operation": "Nope"}], timeout=10)
        assert refused.status_code == 400 and "no operation 'Nope'" in refused.json()["error"]["message"]
        effects = endpoint + "/_localstack/chaos/effects"
        assert requests.post(effects, json={"latency": 5}, timeout=10).json() == {"latency": 5}
        assert requests.get(effects, timeout=10).json() == {"latency": 5}


def test_inject_and_heal_steps_apply_a_named_fault_between_them(service):
    scenario = load_dict({
        "name": "inject and heal", "timeout": 30, "faults": [{"name": "cache down", "redis": "down"}],
        "workers": {"w": {"scripted": ["start", {"wait": "go"}, {"finish": {"output": "ok"}}]}},
        "jobs": {"j": {"definition": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "worker:w",
                                                                      "End": True}}}}},
        "steps": [{"request": {"job": "j"}, "as": "request"},
                  {"wait": {"request": "${request}", "status": "FULFILLED"}, "capture": {"job": "job"}},
                  {"wait": {"job": "${job}", "status": "RUNNING", "workers": [{"status": "RUNNING"}]}},
                  {"inject": "cache down"},
                  {"signal": "go"},
                  {"sleep": 0.3},
                  {"heal": "cache down"},
                  {"wait": {"job": "${job}", "status": "COMPLETED", "output": "ok"}}]})
    result = run_scenario(scenario, service)
    assert result.passed, result.format_failure()
    seen = faults_seen(result)
    assert seen.index("fault injected: cache down") < seen.index("fault healed: cache down")


def test_a_failure_report_lists_the_faults_injected(service):
    scenario = one_step(["start", {"finish": {"output": 1}}], [{"batch": "cannot-pull"}], {"status": "COMPLETED"})
    result = run_scenario(scenario, service)
    assert not result.passed
    report = result.format_failure()
    assert "faults injected during the run:" in report and "fault: CannotPullContainerError" in report


pytest_plugins = ["pytester"]


def test_the_documented_pytest_examples_pass(pytester):
    from test_plugin import RUN, documented_files, write

    files = documented_files(ROOT / "docs" / "how-to" / "faults.md")
    assert "tests/test_chaos.py" in files
    write(pytester, files)
    result = pytester.runpytest_subprocess(*RUN, "-v")
    result.assert_outcomes(passed=2)


def test_harness_run_faults_applies_a_fault_file_to_any_scenario(tmp_path):
    import json
    import subprocess
    import sys

    faults = tmp_path / "faults.yaml"
    faults.write_text("- aws: 'dynamodb:*'\n  error: ThrottlingException\n  first: 2\n- sqs: duplicate\n")
    trace = tmp_path / "trace.json"
    run = subprocess.run([sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / "crash.scenario.yaml"),
                          "--faults", str(faults), "--trace", str(trace)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    notes = [e["label"] for s in json.loads(trace.read_text())["scenarios"] for e in s["events"]
             if e["details"].get("fault")]
    assert sum(n.startswith("fault: ThrottlingException on") for n in notes) == 4  # first 2, in each scenario
    assert any(n == "fault: message duplicate on ReceiveMessage" for n in notes)
    faults.write_text("- aws: 'dynamodb:UpdateItems'\n  error: ThrottlingException\n")
    bad = subprocess.run([sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / "crash.scenario.yaml"),
                          "--faults", str(faults)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert bad.returncode == 2 and "dynamodb has no operation 'UpdateItems'" in bad.stderr + bad.stdout


def test_the_same_idempotency_key_from_the_same_run_repeats_the_first_answer(client, hold):
    one, two = hold(), hold()
    for worker in (one, two):
        assert worker.call("POST", "/v2/workers/start", json={}).status_code == 200
    first = one.call("POST", "/v2/worker/results", json={"data": 1}, headers={"Idempotency-Key": "k1"})
    again = one.call("POST", "/v2/worker/results", json={"data": 2}, headers={"Idempotency-Key": "k1"})
    other_run = two.call("POST", "/v2/worker/results", json={"data": 3}, headers={"Idempotency-Key": "k1"})
    fresh = one.call("POST", "/v2/worker/results", json={"data": 4}, headers={"Idempotency-Key": "k2"})
    bad = one.call("POST", "/v2/worker/results", json={"data": 5}, headers={"Idempotency-Key": "no spaces"})
    assert (first.status_code, again.status_code, again.json()) == (200, 200, first.json())
    assert other_run.status_code == 200 and fresh.json()["results"] == 2
    assert bad.status_code == 400 and bad.json()["error"]["code"]
    assert [r["data"] for r in client.get_job(one.job)["results"]] == [1, 4]
    assert [r["data"] for r in client.get_job(two.job)["results"]] == [3]
    for worker in (one, two):
        worker.release()


def test_an_idempotency_key_reused_on_another_call_is_a_409_not_the_other_calls_answer(client, hold):
    worker = hold()
    assert worker.call("POST", "/v2/workers/start", json={}).status_code == 200
    upload = worker.call("POST", "/v2/workers/files?name=a.txt", data=b"abc",
                         headers={"Idempotency-Key": "k1", "Content-Type": "application/octet-stream"})
    reused = worker.call("POST", "/v2/worker/results", json={"data": 1}, headers={"Idempotency-Key": "k1"})
    assert upload.status_code == 201
    assert reused.status_code == 409 and "another call" in reused.json()["error"]["message"]
    assert client.get_job(worker.job)["results"] == []
    worker.release()
