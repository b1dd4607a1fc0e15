"""The same boto3 calls against stock moto (`mock_aws`, in process) and the harness's emulator.

Run as a script (tests/test_moto_regression.py does, in a child process, because `mock_aws`
resets every moto backend of its process): prints one JSON object, {"emulator": ..., "mock_aws": ...},
each mapping a probe's name to what a client sees (answers without dates and request ids,
or the error code).
"""

import datetime
import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/states"


def asl(states: dict, start: str = "A") -> str:
    return json.dumps({"StartAt": start, "States": states})


def clean(value):
    """What a client compares: no dates, no request metadata."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()
                if k != "ResponseMetadata" and not isinstance(v, datetime.datetime)}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def call(method, **kwargs):
    try:
        return clean(method(**kwargs))
    except ClientError as exc:
        return {"error": exc.response["Error"]["Code"]}


def ended(sfn, arn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.02)
    return clean(described)


# -- probes: each takes a client factory and returns what a client sees ----------------------------
def state_machine_lifecycle(make):
    sfn = make("stepfunctions")
    arn = sfn.create_state_machine(name="life", definition=asl({"A": {"Type": "Pass", "End": True}}),
                                   roleArn=ROLE, tags=[{"key": "k", "value": "v"}])["stateMachineArn"]
    seen = {"describe": call(sfn.describe_state_machine, stateMachineArn=arn),
            "same_again": call(sfn.create_state_machine, name="life",
                               definition=asl({"A": {"Type": "Pass", "End": True}}), roleArn=ROLE),
            "tags": call(sfn.list_tags_for_resource, resourceArn=arn)}
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "k2", "value": "v2"}])
    sfn.untag_resource(resourceArn=arn, tagKeys=["k"])
    seen["retagged"] = call(sfn.list_tags_for_resource, resourceArn=arn)
    sfn.update_state_machine(stateMachineArn=arn, definition=asl({"B": {"Type": "Pass", "End": True}}, "B"))
    seen["updated"] = call(sfn.describe_state_machine, stateMachineArn=arn)["definition"]
    seen["listed"] = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    sfn.delete_state_machine(stateMachineArn=arn)
    seen["after_delete"] = call(sfn.describe_state_machine, stateMachineArn=arn)
    seen["unknown"] = call(sfn.describe_state_machine,
                           stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:none")
    return seen


def activity_lifecycle(make):
    sfn = make("stepfunctions")
    arn = sfn.create_activity(name="act")["activityArn"]
    seen = {"describe": call(sfn.describe_activity, activityArn=arn),
            "listed": [a["name"] for a in sfn.list_activities()["activities"]]}
    sfn.delete_activity(activityArn=arn)
    seen["after_delete"] = call(sfn.describe_activity, activityArn=arn)
    return seen


def executions(make):
    sfn = make("stepfunctions")
    states = {
        "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.go", "StringEquals": "fail", "Next": "F"}],
              "Default": "C"},
        "C": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.n, $.pass.x)"}, "End": True},
        "F": {"Type": "Fail", "Error": "Told.To", "Cause": "the input said so"},
    }
    arn = sfn.create_state_machine(name="exec", definition=asl(states), roleArn=ROLE)["stateMachineArn"]
    ok = sfn.start_execution(stateMachineArn=arn, name="ok", input='{"n": 41, "go": "on"}')["executionArn"]
    bad = sfn.start_execution(stateMachineArn=arn, name="bad", input='{"n": 0, "go": "fail"}')["executionArn"]
    seen = {"ok": ended(sfn, ok), "bad": ended(sfn, bad)}
    seen["reused_name"] = call(sfn.start_execution, stateMachineArn=arn, name="ok", input='{"n": 41, "go": "on"}')
    seen["bad_input"] = call(sfn.start_execution, stateMachineArn=arn, name="x", input="{not json")
    seen["listed"] = sorted((e["name"], e["status"]) for e in sfn.list_executions(stateMachineArn=arn)["executions"])
    seen["succeeded_only"] = [e["name"] for e in sfn.list_executions(stateMachineArn=arn,
                                                                     statusFilter="SUCCEEDED")["executions"]]
    seen["history_ok"] = [e["type"] for e in sfn.get_execution_history(executionArn=ok)["events"]]
    seen["machine_for_execution"] = call(sfn.describe_state_machine_for_execution, executionArn=ok)["name"]
    seen["unknown_execution"] = call(sfn.describe_execution,
                                     executionArn="arn:aws:states:us-east-1:123456789012:execution:exec:none")
    return seen


def other_services(make):
    sqs, dynamodb, s3 = make("sqs"), make("dynamodb"), make("s3")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    dynamodb.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1"}})
    dynamodb.update_item(TableName="t", Key={"k": {"S": "a"}}, UpdateExpression="SET n = n + :one",
                         ExpressionAttributeValues={":one": {"N": "1"}})
    s3.create_bucket(Bucket="probe-bucket")
    s3.put_object(Bucket="probe-bucket", Key="k", Body=b"body")
    return {"sqs": [m["Body"] for m in messages],
            "dynamodb": call(dynamodb.get_item, TableName="t", Key={"k": {"S": "a"}}),
            "dynamodb_missing_table": call(dynamodb.get_item, TableName="none", Key={"k": {"S": "a"}}),
            "s3": s3.get_object(Bucket="probe-bucket", Key="k")["Body"].read().decode(),
            "s3_missing": call(s3.get_object, Bucket="probe-bucket", Key="none")}


def batch_setup(make):
    iam, batch = make("iam"), make("batch")
    role = iam.create_role(RoleName="batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch.create_compute_environment(computeEnvironmentName="compute", type="UNMANAGED", state="ENABLED",
                                     serviceRole=role)
    batch.create_job_queue(jobQueueName="queue", state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "compute"}])
    return {"queues": [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]],
            "unknown_queue": call(batch.submit_job, jobName="j", jobQueue="none", jobDefinition="none")}


def documented_differences(make):
    """Calls where the emulator follows AWS's documentation and stock moto does not."""
    sfn = make("stepfunctions")
    first = asl({"A": {"Type": "Pass", "End": True}})
    sfn.create_state_machine(name="taken", definition=first, roleArn=ROLE)
    sfn.create_activity(name="taken")
    return {
        "create_activity_twice": call(sfn.create_activity, name="taken").get("error", "same ARN"),
        "create_state_machine_other_definition": call(
            sfn.create_state_machine, name="taken", definition=asl({"B": {"Type": "Pass", "End": True}}, "B"),
            roleArn=ROLE).get("error", "the old machine"),
        "invalid_definition": call(sfn.create_state_machine, name="bad", definition='{"StartAt": 1}',
                                   roleArn=ROLE).get("error", "created"),
        "unknown_task_token": call(sfn.send_task_success, taskToken="none", output="{}").get("error", "accepted"),
    }


PROBES = [documented_differences, state_machine_lifecycle, activity_lifecycle, executions, other_services, batch_setup]


def run_all(make) -> dict:
    return {probe.__name__: probe(make) for probe in PROBES}


def main() -> None:
    from moto import mock_aws

    from emulators import EmbeddedAWS

    out = {}
    with EmbeddedAWS() as aws:
        out["emulator"] = run_all(lambda service: boto3.client(
            service, endpoint_url=aws.endpoint, region_name="us-east-1",
            aws_access_key_id=aws.credentials.access_key_id,
            aws_secret_access_key=aws.credentials.secret_access_key))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        out["mock_aws"] = run_all(lambda service: boto3.client(service, region_name="us-east-1"))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
