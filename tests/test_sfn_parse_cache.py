"""Executions that share one parse of their definition keep their own state: concurrent runs of one
state machine each retry as often as their Retrier says and end with their own output."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from emulators import EmbeddedAWS

ROLE = "arn:aws:iam::123456789012:role/parse-cache"
DEFINITION = {"StartAt": "Try", "States": {
    "Try": {"Type": "Parallel", "Branches": [{"StartAt": "Echo", "States": {
        "Echo": {"Type": "Pass", "Parameters": {"n.$": "$.n", "twice.$": "States.MathAdd($.n, $.n)"},
                 "Next": "Check"},
        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": "Fail"}]},
        "Fail": {"Type": "Fail", "Error": "Again", "Cause": "always"}}}],
            "Retry": [{"ErrorEquals": ["Again"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}]},
    "Done": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def sfn():
    with EmbeddedAWS() as aws:
        client = boto3.client("stepfunctions", endpoint_url=aws.endpoint, region_name="us-east-1",
                              aws_access_key_id=aws.credentials.access_key_id,
                              aws_secret_access_key=aws.credentials.secret_access_key,
                              config=Config(retries={"mode": "standard", "max_attempts": 1}))
        aws.transport().attach(client.meta.events)
        yield client


def test_concurrent_executions_of_one_definition_each_retry_as_told_and_keep_their_own_output(sfn):
    machine = sfn.create_state_machine(name="shared-parse", roleArn=ROLE,
                                       definition=json.dumps(DEFINITION))["stateMachineArn"]

    def run(n):
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))["executionArn"]
        deadline = time.monotonic() + 60
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"execution {n} did not end"
            time.sleep(0.05)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return described, [e["type"] for e in events]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(run, range(6)))
    for n, (described, types) in enumerate(results):
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"])["n"] == n
        assert json.loads(described["output"])["caught"]["Error"] == "Again"
        assert types.count("ParallelStateStarted") == 3  # the first try and its two retries, its own
