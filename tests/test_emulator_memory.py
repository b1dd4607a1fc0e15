"""Ended executions of the embedded Step Functions keep their history and output, not their interpreter."""

import gc
import json
import time
import uuid

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

ASL = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"x": 1}, "Next": "B"},
                                  "B": {"Type": "Pass", "End": True}}}


def interpreters() -> int:
    gc.collect()
    return sum(isinstance(o, ExecutionWorker) for o in gc.get_objects())


def test_ended_executions_keep_history_and_output_and_release_their_interpreter(emulated_aws):
    sfn = emulated_aws[1]("stepfunctions")
    machine = sfn.create_state_machine(name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(ASL),
                                       roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
    for i in range(5):
        arn = sfn.start_execution(stateMachineArn=machine, name=f"e{i}")["executionArn"]
        deadline = time.monotonic() + 20
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"x": 1}
        events = sfn.get_execution_history(executionArn=arn)["events"]
        assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    deadline = time.monotonic() + 20
    while interpreters():  # an interpreter's thread ends a moment after its execution's status
        assert time.monotonic() < deadline, "an ended execution still holds its interpreter"
        time.sleep(0.01)
    assert len(TMP_THREADS) < 5  # moto keeps each execution's threads in a list: not for ever
