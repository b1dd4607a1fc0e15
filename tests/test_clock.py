"""The clock on the embedded target: hours of Step Functions timers in seconds, with the outcome of real time."""

import pathlib
from datetime import datetime, timedelta

import pytest
import requests
from click.testing import CliRunner

from harness.cli import main
from harness.client import Client, WorkerClient
from harness.runner import run_scenario
from harness.scenario import ScenarioError, load, loads

SCENARIOS = pathlib.Path(__file__).resolve().parent.parent / "scenarios"


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b.replace("Z", "+00:00")) - datetime.fromisoformat(a.replace("Z", "+00:00"))
            ).total_seconds()


def run_job(service, path, clock=None):
    """Run the scenario and return (its result, the job it ran, as the API shows it)."""
    scenario = load(str(path))[0]
    lines = []
    result = run_scenario(scenario, service, say=lines.append, clock=clock)
    assert result.passed, result.format_failure() + "\n" + "\n".join(lines)
    return result, Client(service.url).get_job(result.variables["job"])


def test_long_waits_under_skip_retry_60_then_120_and_last_over_4080_virtual_seconds(service):
    result, job = run_job(service, SCENARIOS / "long_waits.scenario.yaml")
    assert job["status"] == "COMPLETED"
    assert job["output"]["flaky"] == {"attempts": 3}
    assert job["output"]["silent"]["Error"] == job["output"]["slow"]["Error"] == "States.Timeout"
    runs = job["workers"]
    assert [r["status"] for r in runs[:3]] == ["FAILED", "FAILED", "SUCCEEDED"]
    # Each retry starts 60 s, then 120 s after the attempt before it failed (its run is marked
    # FAILED just after Step Functions hears of the failure, hence the half second).
    assert 60 <= seconds(runs[0]["created_at"], runs[1]["created_at"]) < 90
    assert 120 <= seconds(runs[1]["created_at"], runs[2]["created_at"]) < 150
    assert 59.5 <= seconds(runs[0]["updated_at"], runs[1]["created_at"]) < 90
    assert 119.5 <= seconds(runs[1]["updated_at"], runs[2]["created_at"]) < 150
    assert 3600 <= seconds(runs[2]["updated_at"], runs[3]["created_at"])  # the Wait
    assert seconds(job["created_at"], job["updated_at"]) >= 4080
    # The heartbeat timeout came 300 s after the last of the heartbeats at 0, 100, 200 s; then the 600 s Task timeout.
    assert 500 <= seconds(runs[3]["created_at"], runs[4]["created_at"]) < 530
    assert 599 <= seconds(runs[4]["created_at"], job["updated_at"]) < 630
    # What the run reports: the clock and the virtual time, and the trace's event times in it.
    assert result.clock == "skip" and result.virtual_seconds >= 4080
    assert "s virtual, clock skip" in result.timing()
    assert result.events[-1].at - result.events[0].at >= 4080


def test_a_worker_that_crashes_under_skip_fails_its_job_naming_the_exit_not_a_timeout(service):
    # Nothing holds the clock between the crash and the Batch watch that sees it: skip mode must
    # jump to that sweep, not to the task's default timeout (99999999 s) that the failure prevents.
    result, job = run_job(service, SCENARIOS / "crash.scenario.yaml", clock="skip")
    assert job["status"] == "FAILED" and job["error"]["error"] == "Worker.Exited"
    assert result.virtual_seconds < 600


def shape(job):
    """What must not depend on the clock: statuses, errors, output, and the order of the runs."""
    return {"status": job["status"], "output": job["output"],
            "runs": [(r["definition"].rsplit(":", 1)[-1].rsplit("-", 1)[0], r["status"],
                      (r.get("error") or {}).get("error")) for r in job["workers"]]}


def steps(job):
    """Virtual seconds of each step: every run's start and end, from the job's start."""
    times = [t for r in job["workers"] for t in (r["created_at"], r["updated_at"])] + [job["updated_at"]]
    return [seconds(job["created_at"], t) for t in times]


def test_short_waits_have_the_same_outcome_and_durations_under_real_and_skip(service):
    _, real = run_job(service, SCENARIOS / "short_waits.yaml", clock="real")
    _, skip = run_job(service, SCENARIOS / "short_waits.yaml", clock="skip")
    assert shape(skip) == shape(real)
    assert len(steps(real)) == len(steps(skip))
    for i, (r, s) in enumerate(zip(steps(real), steps(skip))):
        assert abs(r - s) < 2.5, f"step {i}: {r:.2f}s in real time, {s:.2f}s in virtual time"
    runs = skip["workers"]
    assert seconds(runs[0]["updated_at"], runs[1]["created_at"]) >= 1  # IntervalSeconds
    assert seconds(runs[1]["updated_at"], runs[2]["created_at"]) >= 2  # times BackoffRate


def test_health_reports_the_mode_and_the_virtual_now(service):
    body = requests.get(service.url + "/v2/health", timeout=10).json()
    assert body["clock"]["mode"] == "real"
    with service.clock.use("skip"):
        before = service.clock.now()
        service.clock.advance(7200)
        body = requests.get(service.url + "/v2/health", timeout=10).json()
        assert body["clock"]["mode"] == "skip"
        assert (datetime.fromisoformat(body["clock"]["now"].replace("Z", "+00:00")) - before).total_seconds() >= 7200
    assert service.clock.mode == "real"


def test_advance_step_moves_the_clock_and_real_refuses_it(service):
    text = """
name: advance
clock: scale=1
steps:
  - advance: 86400
"""
    before = service.clock.now()
    result = run_scenario(loads(text)[0], service)
    assert result.passed, result.format_failure()
    assert (service.clock.now() - before).total_seconds() >= 86400
    refused = run_scenario(loads(text.replace("clock: scale=1", "clock: real"))[0], service)
    assert not refused.passed
    assert "advance needs --clock skip or scale=N" in refused.format_failure()


def test_a_worker_sleeps_and_reads_the_service_clock(service, hold):
    held = hold()  # its process runs (and so holds the clock still) until released
    worker = WorkerClient(service.url, held.token)
    with service.clock.use("skip"):
        start = worker.now()
        worker.sleep(3600)
        assert (worker.now() - start).total_seconds() >= 3600
    for bad in (-1, "10", None, 1e12):
        answer = held.call("POST", "/v2/worker/sleep", json={"seconds": bad})
        assert answer.status_code == 400 and "'seconds' must be a number" in answer.json()["error"]["message"]
    assert held.call("POST", "/v2/worker/sleep", token="not-a-token", json={"seconds": 1}).status_code == 401
    held.release()


@pytest.mark.parametrize("text, message", [
    ("clock: fast\nsteps: [{sleep: 0}]", "clock mode 'fast' is not one of real, skip, scale=N"),
    ("clock: scale=0\nsteps: [{sleep: 0}]", "clock mode 'scale=0': N must be a positive number"),
    ("steps: [{advance: -5}]", "takes a number of seconds to move the clock forward"),
    ("steps: [{expect: {job: urn:jobservice:job:x, durations: [{from: created_at, to: updated_at}]}}]",
     "needs at_least or at_most"),
])
def test_bad_clock_settings_in_a_scenario_are_refused_at_load(text, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loads(text)


def test_a_virtual_clock_off_the_embedded_target_is_an_error_before_anything_runs(tmp_path):
    result = CliRunner().invoke(main, ["run", str(SCENARIOS / "long_waits.scenario.yaml"), "--target", "aws"])
    assert result.exit_code == 2, result.output
    assert "clock skip needs the embedded target" in result.output
    result = CliRunner().invoke(main, ["run", str(SCENARIOS / "long_waits.scenario.yaml"), "--clock", "sometimes"])
    assert result.exit_code == 2
    assert "is not one of real, skip, scale=N" in result.output


def test_cache_ttls_follow_the_clock(service):
    redis = service.service.clients.redis
    redis.set("clock-test-key", "v", ex=3600)
    with service.clock.use("skip"):
        service.clock.advance(3599)
        assert redis.get("clock-test-key") == b"v"
        service.clock.advance(2)
        assert redis.get("clock-test-key") is None


@pytest.mark.parametrize("args", [
    ["serve", "--clock", "skip", "--target", "aws"],
    ["serve", "--clock", "scale=10", "--target", "localstack", "--endpoint-url", "http://127.0.0.1:9"],
])
def test_serve_refuses_a_virtual_clock_off_the_embedded_target(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "needs the embedded target" in result.output


@pytest.mark.parametrize("command", ["serve", "emulate", "run"])
def test_a_malformed_clock_option_is_a_usage_error(command):
    extra = [str(SCENARIOS / "long_waits.scenario.yaml")] if command == "run" else []
    result = CliRunner().invoke(main, [command, "--clock", "scale=fast", *extra])
    assert result.exit_code == 2, result.output
    assert "not one of real, skip, scale=N" in result.output


def test_a_message_whose_handler_died_comes_back_after_its_visibility_timeout_under_skip(service, unique):
    sqs = service.service.clients.sqs
    url = sqs.create_queue(QueueName=unique("clock"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="work")
    with service.clock.use("skip"):
        taken = sqs.receive_message(QueueUrl=url, VisibilityTimeout=3600)["Messages"]  # its handler dies
        start = service.clock.now()
        again = []
        for _ in range(20):
            again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
            if again:
                break
        assert [m["Body"] for m in again] == ["work"]
        assert again[0]["ReceiptHandle"] != taken[0]["ReceiptHandle"]
        assert (service.clock.now() - start).total_seconds() >= 3600
    sqs.delete_queue(QueueUrl=url)


def test_wait_timestamp_and_seconds_paths_and_the_execution_timeout_follow_a_skipping_clock(service, client, unique):
    waits = client.register_job(unique("waits"), {"StartAt": "Until", "States": {
        "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "For"},
        "For": {"Type": "Wait", "SecondsPath": "$.seconds", "End": True}}})
    bounded = client.register_job(unique("bounded"), {"TimeoutSeconds": 600, "StartAt": "Day", "States": {
        "Day": {"Type": "Wait", "Seconds": 86400, "End": True}}})
    with service.clock.use("skip"):
        until = (service.clock.now() + timedelta(seconds=7200)).strftime("%Y-%m-%dT%H:%M:%SZ")
        job = client.run_job(waits["urn"], {"until": until, "seconds": 1800}, timeout=60, expect="COMPLETED")
        assert seconds(job["created_at"], job["updated_at"]) >= 7200 + 1800 - 2  # the timestamp drops its millis
        timed_out = client.run_job(bounded["urn"], {}, timeout=60)
        assert timed_out["status"] == "TIMED_OUT"
        assert 600 <= seconds(timed_out["created_at"], timed_out["updated_at"]) < 86400


def test_a_queue_nobody_receives_from_does_not_hold_a_skipping_clock(emulated_aws):
    """A stopped service's queue (or a stepped test's) keeps its messages: they wait for nobody."""
    import uuid as _uuid

    from emulators.clocked import queues_with_work

    sqs = emulated_aws[1]("sqs")
    name = f"abandoned-{_uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left behind")
    assert name not in queues_with_work()  # never received from: nobody consumes it
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=0)
    assert name in queues_with_work()  # consumed now, and the message is visible again at once
    sqs.purge_queue(QueueUrl=url)
    assert name not in queues_with_work()
