"""The embedded AWS as a boto3 user sees it: activities, long polls, task tokens, Batch jobs as processes."""

import json
import sys
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulators import EmbeddedAWS

ROLE = "arn:aws:iam::123456789012:role/states"


@pytest.fixture(scope="module")
def aws():
    with EmbeddedAWS() as emulated:
        yield emulated


@pytest.fixture
def client(aws):
    def make(service):
        return boto3.client(service, endpoint_url=aws.endpoint, region_name="us-east-1",
                            aws_access_key_id=aws.credentials.access_key_id,
                            aws_secret_access_key=aws.credentials.secret_access_key,
                            config=Config(read_timeout=70, retries={"max_attempts": 1}))

    return make


def machine(sfn, name, activity_arn, **task):
    asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity_arn, "End": True, **task}}}
    return sfn.create_state_machine(name=name, definition=json.dumps(asl), roleArn=ROLE)["stateMachineArn"]


def wait_status(sfn, arn, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.01)
    raise AssertionError(f"{arn} still RUNNING")


def test_create_activity_twice_returns_the_same_arn(client):
    sfn = client("stepfunctions")
    assert sfn.create_activity(name="twice")["activityArn"] == sfn.create_activity(name="twice")["activityArn"]


def test_get_activity_task_of_an_unknown_activity_is_activity_does_not_exist(client):
    with pytest.raises(ClientError) as raised:
        client("stepfunctions").get_activity_task(
            activityArn="arn:aws:states:us-east-1:123456789012:activity:none")
    assert raised.value.response["Error"]["Code"] == "ActivityDoesNotExist"


def test_a_waiting_poll_returns_as_soon_as_a_task_exists(client):
    sfn = client("stepfunctions")
    activity = sfn.create_activity(name="wake")["activityArn"]
    arn = machine(sfn, "wake", activity)
    got = {}
    poller = threading.Thread(target=lambda: got.update(sfn.get_activity_task(activityArn=activity,
                                                                              workerName="me")))
    poller.start()
    time.sleep(0.2)  # the poll is now waiting inside the emulator
    started = time.monotonic()
    execution = sfn.start_execution(stateMachineArn=arn, name="e", input='{"n": 1}')["executionArn"]
    poller.join(10)
    assert not poller.is_alive() and time.monotonic() - started < 2
    assert json.loads(got["input"]) == {"n": 1}
    sfn.send_task_success(taskToken=got["taskToken"], output='{"done": true}')
    described = wait_status(sfn, execution)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"done": True}
    history = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert history.index("ActivityScheduled") < history.index("ActivityStarted") < history.index(
        "ActivitySucceeded")
    with pytest.raises(ClientError) as raised:
        sfn.send_task_success(taskToken=got["taskToken"], output="{}")
    assert raised.value.response["Error"]["Code"] == "TaskTimedOut"


def test_unknown_task_token_is_invalid_token(client):
    with pytest.raises(ClientError) as raised:
        client("stepfunctions").send_task_success(taskToken="no-such-token", output="{}")
    assert raised.value.response["Error"]["Code"] == "InvalidToken"


def test_send_task_failure_keeps_error_and_cause(client):
    sfn = client("stepfunctions")
    activity = sfn.create_activity(name="fails")["activityArn"]
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "fails", activity), name="e")["executionArn"]
    task = sfn.get_activity_task(activityArn=activity)
    sfn.send_task_failure(taskToken=task["taskToken"], error="Boom", cause="the reason")
    described = wait_status(sfn, execution)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Boom", "the reason")


def test_heartbeats_keep_a_task_alive_and_their_absence_times_it_out(client):
    sfn = client("stepfunctions")
    activity = sfn.create_activity(name="beats")["activityArn"]
    arn = machine(sfn, "beats", activity, HeartbeatSeconds=1, TimeoutSeconds=30)
    alive = sfn.start_execution(stateMachineArn=arn, name="alive")["executionArn"]
    task = sfn.get_activity_task(activityArn=activity)
    for _ in range(3):
        time.sleep(0.5)
        sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert wait_status(sfn, alive)["status"] == "SUCCEEDED"
    silent = sfn.start_execution(stateMachineArn=arn, name="silent")["executionArn"]
    sfn.get_activity_task(activityArn=activity)
    described = wait_status(sfn, silent, timeout=10)
    assert described["status"] == "FAILED" and described["error"] == "States.Timeout"


def test_invalid_definition_has_its_error_code(client):
    with pytest.raises(ClientError) as raised:
        client("stepfunctions").create_state_machine(name="bad", definition='{"StartAt": 1}', roleArn=ROLE)
    assert raised.value.response["Error"]["Code"] == "InvalidDefinition"


@pytest.fixture
def batch_queue(client):
    iam, batch = client("iam"), client("batch")
    role = iam.create_role(RoleName=f"batch-{time.monotonic_ns()}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    name = f"ce-{time.monotonic_ns()}"
    batch.create_compute_environment(computeEnvironmentName=name, type="UNMANAGED", state="ENABLED",
                                     serviceRole=role)
    batch.create_job_queue(jobQueueName=name, state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}])
    return batch, name


def run_batch(batch, queue, code: str, env=None):
    definition = batch.register_job_definition(
        jobDefinitionName=f"jd-{time.monotonic_ns()}", type="container",
        containerProperties={"image": "local", "command": [sys.executable, "-c", code],
                             "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                      {"type": "MEMORY", "value": "128"}]})
    return batch.submit_job(jobName="job-x", jobQueue=queue, jobDefinition=definition["jobDefinitionArn"],
                            containerOverrides={"environment": [{"name": k, "value": v}
                                                                for k, v in (env or {}).items()]})["jobId"]


def wait_batch(batch, job_id, statuses=("SUCCEEDED", "FAILED"), timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in statuses:
            return job
        time.sleep(0.01)
    raise AssertionError(f"Batch job {job_id} never reached {statuses}")


def test_a_batch_job_runs_its_command_with_its_environment(batch_queue, tmp_path):
    batch, queue = batch_queue
    out = tmp_path / "out.txt"
    code = f"import os; open({str(out)!r}, 'w').write(os.environ['GREETING'])"
    job = wait_batch(batch, run_batch(batch, queue, code, {"GREETING": "hi"}))
    assert job["status"] == "SUCCEEDED" and job["container"]["exitCode"] == 0
    assert out.read_text() == "hi"


def test_a_batch_job_fails_with_its_exit_code(batch_queue):
    batch, queue = batch_queue
    job = wait_batch(batch, run_batch(batch, queue, "import sys; sys.exit(7)"))
    assert job["status"] == "FAILED" and job["container"]["exitCode"] == 7


def test_a_running_batch_job_is_running_and_terminate_ends_its_process(batch_queue):
    batch, queue = batch_queue
    job_id = run_batch(batch, queue, "import time; time.sleep(60)")
    assert wait_batch(batch, job_id, statuses=("RUNNING",))["status"] == "RUNNING"
    batch.terminate_job(jobId=job_id, reason="enough")
    job = wait_batch(batch, job_id)
    assert job["status"] == "FAILED" and job["statusReason"] == "enough"


def test_create_state_machine_with_a_taken_name_and_another_definition_is_refused(client):
    sfn = client("stepfunctions")
    first = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    arn = sfn.create_state_machine(name="taken", definition=first, roleArn=ROLE)["stateMachineArn"]
    assert sfn.create_state_machine(name="taken", definition=first, roleArn=ROLE)["stateMachineArn"] == arn
    with pytest.raises(ClientError) as raised:
        sfn.create_state_machine(name="taken", definition=first.replace('"A"', '"B"'), roleArn=ROLE)
    assert raised.value.response["Error"]["Code"] == "StateMachineAlreadyExists"
