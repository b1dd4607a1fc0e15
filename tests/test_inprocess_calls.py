"""A JSON-protocol client served in process without botocore's pipeline answers as botocore's pipeline does.

The service's DynamoDB, SQS and Step Functions clients take `_DirectCalls` (emulators/inprocess.py):
the same calls made through a client with it and through one without give the same answers and
the same errors (class, code, message), a fault rule sees each attempt once (an error's answer is
handed to botocore's first attempt, not asked again), a rule for one participant still finds the
participant, and the sequence's arrows are still recorded.
"""

import json
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulators import EmbeddedAWS, faults, inprocess
from server import observe
from test_inprocess_direct import ROLE, _normal


@pytest.fixture(scope="module")
def aws():
    with EmbeddedAWS() as embedded:
        yield embedded


def _client(aws, service, direct_calls: bool, attempts: int = 1):
    made = boto3.client(service, endpoint_url=aws.endpoint, region_name="us-east-1",
                        aws_access_key_id=aws.credentials.access_key_id,
                        aws_secret_access_key=aws.credentials.secret_access_key,
                        config=Config(retries={"mode": "standard", "max_attempts": attempts}))
    aws.transport().attach(made.meta.events, made if direct_calls else None)
    assert isinstance(made._make_api_call, inprocess._DirectCalls) is direct_calls
    return made


def _answer(call, **kwargs):
    try:
        return {"answer": call(**kwargs)}
    except ClientError as exc:
        return {"error": type(exc).__name__, "response": exc.response, "operation": exc.operation_name}


def scenario(aws, name: str, direct_calls: bool) -> list:
    """The calls the service makes through these clients, errors included; every answer, in order."""
    dynamodb, sqs, sfn = (_client(aws, s, direct_calls) for s in ("dynamodb", "sqs", "stepfunctions"))
    table, key = f"table-{name}", {"urn": {"S": "urn:1"}}
    answers = [_answer(dynamodb.create_table, TableName=table, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "urn", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "urn", "AttributeType": "S"}])]
    calls = [
        (dynamodb.put_item, dict(TableName=table, Item={**key, "status": {"S": "RUNNING"}, "b": {"B": b"\x00\xff"},
                                                       "n": {"N": "1.5"}, "l": {"L": [{"NULL": True}]}})),
        (dynamodb.put_item, dict(TableName=table, Item=key, ConditionExpression="attribute_not_exists(urn)")),
        (dynamodb.get_item, dict(TableName=table, Key=key, ConsistentRead=True)),
        (dynamodb.get_item, dict(TableName=table, Key={"urn": {"S": "urn:missing"}})),
        (dynamodb.update_item, dict(TableName=table, Key=key, UpdateExpression="SET #s = :s ADD n :one",
                                    ExpressionAttributeNames={"#s": "status"}, ReturnValues="ALL_NEW",
                                    ExpressionAttributeValues={":s": {"S": "DONE"}, ":one": {"N": "1"}})),
        (dynamodb.update_item, dict(TableName=table, Key=key, UpdateExpression="SET #s = :s",
                                    ConditionExpression="#s = :r", ExpressionAttributeNames={"#s": "status"},
                                    ExpressionAttributeValues={":s": {"S": "X"}, ":r": {"S": "RUNNING"}})),
        (dynamodb.update_item, dict(TableName=table, Key=key, UpdateExpression="SET status = :s",
                                    ExpressionAttributeValues={":s": {"S": "X"}})),
        (dynamodb.get_item, dict(TableName=f"missing-{name}", Key=key)),
        (dynamodb.query, dict(TableName=table, KeyConditionExpression="urn = :u",
                              ExpressionAttributeValues={":u": key["urn"]})),
        (dynamodb.transact_write_items, dict(TransactItems=[{"Put": {"TableName": table,
                                                                      "Item": {"urn": {"S": "urn:2"}}}}])),
        (dynamodb.batch_get_item, dict(RequestItems={table: {"Keys": [key, {"urn": {"S": "urn:2"}}]}})),
        (dynamodb.delete_item, dict(TableName=table, Key=key, ReturnValues="ALL_OLD")),
        (sqs.create_queue, dict(QueueName=f"queue-{name}")),
        (sqs.get_queue_url, dict(QueueName=f"missing-{name}")),
    ]
    answers += [_answer(call, **kwargs) for call, kwargs in calls]
    queue = sqs.get_queue_url(QueueName=f"queue-{name}")["QueueUrl"]
    answers.append(_answer(sqs.send_message, QueueUrl=queue, MessageBody=json.dumps({"job": 1}),
                           MessageAttributes={"kind": {"DataType": "String", "StringValue": "job"}}))
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MessageAttributeNames=["All"],
                                   AttributeNames=["ApproximateReceiveCount"])
    answers.append({"answer": received})
    answers.append(_answer(sqs.delete_message, QueueUrl=queue, ReceiptHandle=received["Messages"][0]["ReceiptHandle"]))
    answers.append(_answer(sqs.delete_message, QueueUrl=queue, ReceiptHandle="not-a-handle"))
    activity = sfn.create_activity(name=f"activity-{name}")["activityArn"]
    machine = sfn.create_state_machine(name=f"machine-{name}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}}))
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=f"run-{name}", input="{}")
    answers.append({"answer": execution})
    answers.append(_answer(sfn.start_execution, stateMachineArn=machine["stateMachineArn"], input="not json"))
    task = sfn.get_activity_task(activityArn=activity, workerName="w")
    answers.append({"answer": task})
    answers.append(_answer(sfn.send_task_success, taskToken=task["taskToken"], output=json.dumps({"ok": True})))
    answers.append(_answer(sfn.send_task_success, taskToken="no-such-token", output="{}"))
    deadline = time.monotonic() + 20
    while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.01)  # the interpreter ends it in its own thread: compare once it has
    answers.append(_answer(sfn.describe_execution, executionArn=execution["executionArn"]))
    answers.append(_answer(sfn.describe_execution, executionArn=execution["executionArn"] + "-gone"))
    return [_normal(answer, name) for answer in answers]


def test_calls_without_botocore_s_pipeline_answer_as_with_it(aws):
    full, direct = scenario(aws, "fullA", direct_calls=False), scenario(aws, "fullB", direct_calls=True)
    assert len(full) == len(direct) > 25
    assert sum("error" in a for a in direct) >= 8  # errors are compared too
    assert [(i, a) for i, (a, b) in enumerate(zip(full, direct)) if a != b] == \
        [(i, b) for i, (a, b) in enumerate(zip(full, direct)) if a != b]  # shows both sides on failure
    assert full == direct


def test_an_error_answer_is_modeled_and_moto_is_asked_once_per_attempt(aws):
    seen = {}
    for direct_calls in (False, True):
        dynamodb = _client(aws, "dynamodb", direct_calls=direct_calls, attempts=3)
        table = f"once-{direct_calls}"
        dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        dynamodb.put_item(TableName=table, Item={"k": {"S": "x"}})
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.put_item(TableName=table, Item={"k": {"S": "x"}}, ConditionExpression="attribute_not_exists(k)")
        rule = faults.add(faults.Rule(service="dynamodb", operation="GetItem", error="ThrottlingException"))
        try:
            with pytest.raises(ClientError) as raised:
                dynamodb.get_item(TableName=table, Key={"k": {"S": "x"}})
        finally:
            faults.remove(rule)
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        seen[direct_calls] = (rule.fired, raised.value.response["ResponseMetadata"]["RetryAttempts"])
    # botocore's attempts, the first of them answered directly: moto was asked as often as without it
    assert seen[True] == seen[False] and seen[True][0] > 1


def test_a_rule_for_one_participant_and_the_sequence_s_arrows_see_direct_calls(aws):
    dynamodb = _client(aws, "dynamodb", direct_calls=True)
    dynamodb.create_table(TableName="who", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    observe.hook_boto3(dynamodb)
    seen = []
    observe.subscribe(seen.append)
    rule = faults.add(faults.Rule(service="dynamodb", operation="GetItem", error="InternalServerError",
                                  participant="Queue"))
    try:
        with observe.acting_as("API Server"):
            dynamodb.get_item(TableName="who", Key={"k": {"S": "x"}})  # not the rule's participant
        with observe.acting_as("Queue"), pytest.raises(ClientError):
            dynamodb.get_item(TableName="who", Key={"k": {"S": "x"}})
        assert rule.fired == rule.calls > 0  # the Queue's attempts only: the API Server's call was served
    finally:
        faults.remove(rule)
        observe.unsubscribe(seen.append)
    arrows = [(e.source, e.target, e.label) for e in seen if e.kind == "call"]
    assert ("API Server", "AWS DynamoDB", "GetItem") in arrows
