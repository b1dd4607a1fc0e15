"""`harness emulate` as Step Functions clients rely on it: each test quotes the AWS rule it checks.

Every test runs against the server `harness emulate` runs (emulators.gateway.Gateway),
on a free port (never moto's default 5000).
"""

import json
import re
import socket
import threading
import time
import uuid

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulators.gateway import Gateway

import procs

ROLE = "arn:aws:iam::123456789012:role/states"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def emulate():
    with Gateway() as gateway:
        yield gateway


@pytest.fixture
def client(emulate):
    def make(service, read_timeout=70):
        return boto3.client(service, endpoint_url=emulate.endpoint, region_name="us-east-1",
                            aws_access_key_id=emulate.credentials.access_key_id,
                            aws_secret_access_key=emulate.credentials.secret_access_key,
                            config=Config(read_timeout=read_timeout, retries={"max_attempts": 1}))

    return make


@pytest.fixture
def sfn(client):
    return client("stepfunctions")


def name(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


def machine(sfn, states: dict, start: str = "A") -> str:
    asl = {"StartAt": start, "States": states}
    return sfn.create_state_machine(name=name("m"), definition=json.dumps(asl), roleArn=ROLE)["stateMachineArn"]


def wait_status(sfn, arn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{arn} still RUNNING after {timeout} s")


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]


PASS = {"A": {"Type": "Pass", "End": True}}


# -- item 1 -------------------------------------------------------------------------------------
def test_start_execution_without_a_name_gets_a_uuid_name(sfn):
    """StartExecution `name`: "If you don't provide a name for the execution, Step Functions
    automatically generates a universally unique identifier (UUID) as the execution name."
    """
    arn = machine(sfn, PASS)
    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert first != second
    names = {sfn.describe_execution(executionArn=e)["name"] for e in (first, second)}
    assert len(names) == 2 and all(UUID.match(n) for n in names)
    assert {e["executionArn"].rsplit(":", 1)[1] for e in sfn.list_executions(stateMachineArn=arn)["executions"]} \
        == names
    assert {e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]} == names


# -- item 2 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, code", [
    ("x" * 81, "ValidationException"),
    ("abc\n", "InvalidName"),
    ("a b", "InvalidName"),
    ("a/b", "InvalidName"),
    ("a*", "InvalidName"),
    ("<a>", "InvalidName"),
])
def test_execution_state_machine_and_activity_names_are_validated(sfn, bad, code):
    """StartExecution, CreateStateMachine and CreateActivity `name`: "Length Constraints: Minimum
    length of 1. Maximum length of 80." and "A name must not contain: white space, brackets
    < > { } [ ], wildcard characters ? *, special characters " # % \\ ^ | ~ ` $ & , ; : /,
    control characters (U+0000-001F, U+007F-009F)". Nothing is created.
    """
    arn = machine(sfn, PASS)
    assert error_of(sfn.start_execution, stateMachineArn=arn, name=bad)["Code"] == code
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
    assert error_of(sfn.create_state_machine, name=bad, definition=json.dumps({"StartAt": "A", "States": PASS}),
                    roleArn=ROLE)["Code"] == code
    assert error_of(sfn.create_activity, name=bad)["Code"] == code
    assert bad not in {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert bad not in {a["name"] for a in sfn.list_activities()["activities"]}


def test_an_80_character_execution_name_is_accepted(sfn):
    """StartExecution `name`: "Maximum length of 80"."""
    arn = machine(sfn, PASS)
    execution = sfn.start_execution(stateMachineArn=arn, name="n" * 80)["executionArn"]
    assert wait_status(sfn, execution)["name"] == "n" * 80


# -- items 3 and 4 ------------------------------------------------------------------------------
def test_wait_for_task_token_callback_from_sqs_completes_with_send_task_success(sfn, client):
    """SendTaskSuccess: "Used by activity workers, Task states using the callback pattern, and
    optionally Task states using the job run pattern to report that the task identified by the
    taskToken completed successfully." The SQS Task reaches this emulator, on its own port.
    """
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=name("callbacks"))["QueueUrl"]
    arn = machine(sfn, {"A": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token", "n.$": "$.n"}}}})
    execution = sfn.start_execution(stateMachineArn=arn, input='{"n": 7}')["executionArn"]
    deadline, messages = time.monotonic() + 30, []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    body = json.loads(messages[0]["Body"])
    assert body["n"] == 7
    sfn.send_task_success(taskToken=body["token"], output='{"called": "back"}')
    described = wait_status(sfn, execution)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"called": "back"}
    # The token is closed once its task has ended.
    assert error_of(sfn.send_task_success, taskToken=body["token"], output="{}")["Code"] in (
        "TaskTimedOut", "InvalidToken")


def test_wait_for_task_token_callback_failure_keeps_error_and_cause(sfn, client):
    """SendTaskFailure: "Used by activity workers, Task states using the callback pattern ... to
    report that the task identified by the taskToken failed." (error: "The error code of the
    failure."; cause: "A more detailed explanation of the cause of the failure.")
    """
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName=name("callbacks"))["QueueUrl"]
    arn = machine(sfn, {"A": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": queue, "MessageBody.$": "$$.Task.Token"}}})
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    deadline, messages = time.monotonic() + 30, []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    sfn.send_task_failure(taskToken=messages[0]["Body"], error="Worker.Broke", cause="the disk was full")
    described = wait_status(sfn, execution)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED", "Worker.Broke", "the disk was full")


def test_dynamodb_integration_writes_to_this_emulator(sfn, client):
    """DynamoDB service integration (`arn:aws:states:::dynamodb:putItem`): the item is put in the
    table of the account and Region the execution runs in, which is this emulator's, whatever
    port it listens on.
    """
    dynamodb = client("dynamodb")
    table = name("integration")
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    arn = machine(sfn, {"A": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True,
                              "Parameters": {"TableName": table, "Item": {"k": {"S.$": "$.key"}}}}})
    described = wait_status(sfn, sfn.start_execution(stateMachineArn=arn, input='{"key": "here"}')["executionArn"])
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert dynamodb.get_item(TableName=table, Key={"k": {"S": "here"}})["Item"] == {"k": {"S": "here"}}


def test_an_unknown_token_is_invalid_token_with_aws_message(sfn):
    """SendTaskSuccess errors: "InvalidToken: The provided token is not valid." AWS's message
    for it is "Invalid Token: 'Invalid token'".
    """
    error = error_of(sfn.send_task_success, taskToken="no-such-token", output="{}")
    assert (error["Code"], error["Message"]) == ("InvalidToken", "Invalid Token: 'Invalid token'")


# -- item 5 -------------------------------------------------------------------------------------
def test_stop_execution_during_an_activity_task_aborts_at_once_and_closes_the_token(sfn):
    """StopExecution "Stops an execution." and answers its `stopDate`, "The date the execution is
    stopped."; SendTaskSuccess then answers TaskTimedOut: "The task token has either expired or
    the task associated with the token has already been closed."
    """
    activity = sfn.create_activity(name=name("stoppable"))["activityArn"]
    arn = machine(sfn, {"A": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 600, "End": True}})
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="w")
    stopped = sfn.stop_execution(executionArn=execution, error="Cancel", cause="the user cancelled")
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "ABORTED" and described["stopDate"] == stopped["stopDate"]
    for call, kwargs in ((sfn.send_task_success, {"output": "{}"}), (sfn.send_task_heartbeat, {}),
                         (sfn.send_task_failure, {"error": "E"})):
        assert error_of(call, taskToken=task["taskToken"], **kwargs)["Code"] == "TaskTimedOut"
    # The history ends with the abort, and nothing after it (the interpreter ends its waits too).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        types = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
        if types[-1] == "ExecutionAborted":
            break
        time.sleep(0.02)
    assert types[-1] == "ExecutionAborted" and "ExecutionFailed" not in types
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_a_stopped_executions_queued_task_goes_to_no_worker(sfn):
    """StopExecution: the execution's pending activity task is closed, so the next poll gets no
    task from it (GetActivityTask: "If no task is available within 60 seconds, the poll returns a
    taskToken with a null string" - here the poll gets the next execution's task instead).
    """
    activity = sfn.create_activity(name=name("queued"))["activityArn"]
    arn = machine(sfn, {"A": {"Type": "Task", "Resource": activity, "End": True}})
    stopped = sfn.start_execution(stateMachineArn=arn, input='{"which": "stopped"}')["executionArn"]
    sfn.stop_execution(executionArn=stopped)
    sfn.start_execution(stateMachineArn=arn, input='{"which": "live"}')
    task = sfn.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {"which": "live"}


# -- item 6 -------------------------------------------------------------------------------------
def test_a_state_machine_created_by_cloudformation_is_described_and_runs(sfn, client):
    """CloudFormation AWS::StepFunctions::StateMachine creates a state machine: DescribeStateMachine
    "Provides information about a state machine's definition, its IAM role Amazon Resource Name
    (ARN), and configuration." It is the same state machine for every API.
    """
    machine_name = name("cfn")
    template = {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": machine_name, "RoleArn": ROLE,
        "DefinitionString": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1,
                                                                         "End": True}}})}}}}
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName=name("stack"), TemplateBody=json.dumps(template))
    arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{machine_name}"
    assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == machine_name
    listed = {m["name"] for page in sfn.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]}
    assert machine_name in listed  # every page: a session's backend holds many machines
    described = wait_status(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert (described["status"], described["output"]) == ("SUCCEEDED", "1")


# -- item 7 (and issue 9, item 6) ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["done", 3, None, [1, "a"], {"k": "v"}])
def test_output_and_input_are_json_text(sfn, value):
    """DescribeExecution `output`: "The JSON output data of the execution."; `input`: "The string
    that contains the JSON input data of the execution." A JSON string keeps its quotes.
    """
    arn = machine(sfn, {"A": {"Type": "Pass", "End": True}})
    text = json.dumps(value)
    described = wait_status(sfn, sfn.start_execution(stateMachineArn=arn, input=text)["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == value and json.loads(described["input"]) == value
    if value == "done":
        assert described["output"] == '"done"'


# -- issue 9, item 9 ----------------------------------------------------------------------------
def test_a_pass_state_looping_to_itself_fails_at_the_history_quota(sfn):
    """Step Functions quotas: "AWS Step Functions has a hard quota of 25,000 entries in the
    execution event history. ... If the event number 25,000 isn't ExecutionSucceeded, the
    ExecutionFailed event is logged and the state machine execution fails because of reaching
    the history limit."
    """
    arn = machine(sfn, {"Loop": {"Type": "Pass", "Next": "Loop"}}, start="Loop")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    described = wait_status(sfn, execution, timeout=300)
    assert described["status"] == "FAILED" and described["error"] == "States.Runtime"
    assert "25000" in described["cause"]
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert len(events) == 25_000 and events[-1]["type"] == "ExecutionFailed" and events[-1]["id"] == 25_000


# -- issue 9, item 10 ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulate_process():
    """`harness emulate` itself, in its own process: its AWS endpoint URL."""
    with procs.emulate() as proc:
        yield proc.values()["HARNESS_ENDPOINT_URL"]


def open_long_poll(endpoint: str, activity: str) -> socket.socket:
    """Send a signed GetActivityTask on a raw socket, and leave it waiting."""
    body = json.dumps({"activityArn": activity, "workerName": "gone"})
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.GetActivityTask"})
    SigV4Auth(Credentials("testing", "testing"), "states", "us-east-1").add_auth(request)
    prepared = request.prepare()
    host, port = endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = "".join(f"{k}: {v}\r\n" for k, v in prepared.headers.items())
    sock.sendall(f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
                 + body.encode())
    return sock


def test_a_long_poll_whose_client_has_gone_is_not_handed_the_task(emulate_process):
    """GetActivityTask: "Workers should set their client side socket timeout to at least 65
    seconds"; a task is handed to a worker that is polling. A poll whose connection is closed
    gets nothing: the task goes to the next poller. Checked on `harness emulate` itself.
    """
    def client(service, read_timeout=70):
        return boto3.client(service, endpoint_url=emulate_process, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(read_timeout=read_timeout, retries={"max_attempts": 1}))

    sfn = client("stepfunctions")
    activity = sfn.create_activity(name=name("restart"))["activityArn"]
    arn = machine(sfn, {"A": {"Type": "Task", "Resource": activity, "End": True}})
    dead = open_long_poll(emulate_process, activity)
    time.sleep(0.5)  # let the server start waiting on it; the outcome below holds either way
    dead.shutdown(socket.SHUT_RDWR)
    dead.close()
    execution = sfn.start_execution(stateMachineArn=arn, input='{"for": "the living"}')["executionArn"]
    got = {}
    poller = threading.Thread(target=lambda: got.update(
        client("stepfunctions", read_timeout=20).get_activity_task(activityArn=activity, workerName="alive")))
    poller.start()
    poller.join(30)
    assert got.get("taskToken"), "the task went to the closed poll"
    assert json.loads(got["input"]) == {"for": "the living"}
    sfn.send_task_success(taskToken=got["taskToken"], output="{}")
    assert wait_status(sfn, execution)["status"] == "SUCCEEDED"
    started = [e for e in sfn.get_execution_history(executionArn=execution)["events"]
               if e["type"] == "ActivityStarted"]
    assert [e["activityStartedEventDetails"].get("workerName") for e in started] == ["alive"]
