"""The direct in-process path answers every call as the whole WSGI app does, faults and extensions included.

The same sequence of calls runs through `EmbeddedAWS.transport(direct=False)` (werkzeug's
EnvironBuilder, moto's domain dispatcher, Flask) and `transport(direct=True)` (what the service
uses), on one moto, each path on resources of its own name. Every answer is compared: the HTTP
status, the response headers (values too, except those that carry a request id, a date or a
checksum of such a body) and botocore's parsed answer or error, with request ids, generated ids
and timestamps written as placeholders.
"""

import datetime
import json
import re

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulators import EmbeddedAWS, faults, inprocess

#: Headers whose value is a request id, a date, or derived from a body that holds ids and times.
VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "x-amz-crc32", "content-length",
            "etag", "last-modified", "x-amz-checksum-crc32", "content-md5"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\bARO[A-Z0-9]{18}\b")
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
ROLE = "arn:aws:iam::123456789012:role/direct-test"


@pytest.fixture(scope="module")
def aws():
    with EmbeddedAWS() as embedded:
        yield embedded


def _clients(aws, direct: bool):
    """A boto3 client factory on one transport, and the list every answer is recorded in."""
    transport = aws.transport(direct=direct)
    assert transport.direct is direct
    answers = []

    def record(response_dict=None, parsed_response=None, exception=None, context=None, **_):
        if response_dict is None:
            answers.append({"exception": type(exception).__name__})
            return
        answers.append({"status": response_dict["status_code"],
                        "headers": dict(response_dict["headers"]), "parsed": parsed_response})

    def client(service, **kwargs):
        made = boto3.client(service, endpoint_url=aws.endpoint, region_name="us-east-1",
                            aws_access_key_id=aws.credentials.access_key_id,
                            aws_secret_access_key=aws.credentials.secret_access_key,
                            config=Config(retries={"mode": "standard", "max_attempts": 1}), **kwargs)
        transport.attach(made.meta.events)
        made.meta.events.register("response-received", record)
        return made

    return client, answers


def _call(function, **kwargs):
    try:
        return function(**kwargs)
    except ClientError as exc:
        return exc.response


def scenario(client, name: str) -> None:
    """A broad set of the calls the service makes, errors and a long poll included, on resources named `name`."""
    dynamodb, sqs, sfn = client("dynamodb"), client("sqs"), client("stepfunctions")
    batch, s3, iam = client("batch"), client("s3"), client("iam")
    table, key = f"table-{name}", {"urn": {"S": "urn:1"}}
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "urn", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "urn", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    dynamodb.put_item(TableName=table, Item={**key, "status": {"S": "RUNNING"}, "n": {"N": "1"}})
    dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
    dynamodb.get_item(TableName=table, Key={"urn": {"S": "urn:missing"}})
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET #s = :s ADD n :one",
                         ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":s": {"S": "DONE"}, ":one": {"N": "1"}}, ReturnValues="ALL_NEW")
    _call(dynamodb.update_item, TableName=table, Key=key, UpdateExpression="SET #s = :s",
          ConditionExpression="#s = :r", ExpressionAttributeNames={"#s": "status"},
          ExpressionAttributeValues={":s": {"S": "X"}, ":r": {"S": "RUNNING"}})  # ConditionalCheckFailed
    _call(dynamodb.update_item, TableName=table, Key=key, UpdateExpression="SET status = :s",
          ExpressionAttributeValues={":s": {"S": "X"}})  # ValidationException: a reserved word
    _call(dynamodb.get_item, TableName=f"missing-{name}", Key=key)  # ResourceNotFoundException
    dynamodb.query(TableName=table, KeyConditionExpression="urn = :u", ExpressionAttributeValues={":u": key["urn"]})
    dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"urn": {"S": "urn:2"}}}}])
    dynamodb.batch_get_item(RequestItems={table: {"Keys": [key, {"urn": {"S": "urn:2"}}]}})
    dynamodb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")

    queue = sqs.create_queue(QueueName=f"queue-{name}")["QueueUrl"]
    sqs.get_queue_url(QueueName=f"queue-{name}")
    _call(sqs.get_queue_url, QueueName=f"missing-{name}")  # QueueDoesNotExist
    sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)  # a long poll that ends empty
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"job": 1}), MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "job"}})
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MessageAttributeNames=["All"])
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=received["Messages"][0]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received["Messages"][0]["ReceiptHandle"])
    _call(sqs.delete_message, QueueUrl=queue, ReceiptHandle="not-a-handle")  # ReceiptHandleIsInvalid
    sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])

    activity = sfn.create_activity(name=f"activity-{name}")["activityArn"]
    sfn.create_activity(name=f"activity-{name}")  # idempotent
    machine = sfn.create_state_machine(name=f"machine-{name}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}}}))
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=f"run-{name}",
                                    input=json.dumps({"n": 1}))["executionArn"]
    _call(sfn.start_execution, stateMachineArn=machine["stateMachineArn"], input="not json")  # InvalidExecutionInput
    sfn.describe_execution(executionArn=execution)
    task = sfn.get_activity_task(activityArn=activity, workerName="w")  # the harness runs the execution
    sfn.list_executions(stateMachineArn=machine["stateMachineArn"])  # before the task ends: RUNNING
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"ok": True}))
    _call(sfn.send_task_success, taskToken="no-such-token", output="{}")  # an error of the harness's activities
    _call(sfn.describe_execution, executionArn=execution.replace(f"run-{name}", f"gone-{name}"))  # not found

    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch.create_compute_environment(computeEnvironmentName=f"env-{name}", type="UNMANAGED", state="ENABLED",
                                     serviceRole=role)
    batch.describe_compute_environments(computeEnvironments=[f"env-{name}"])
    _call(batch.create_job_queue, jobQueueName=f"jq-{name}", state="ENABLED", priority=1,
          computeEnvironmentOrder=[{"order": 1, "computeEnvironment": f"missing-{name}"}])  # ClientException
    batch.register_job_definition(jobDefinitionName=f"def-{name}", type="container",
                                  containerProperties={"image": "busybox", "vcpus": 1, "memory": 128,
                                                       "command": ["true"]})
    batch.describe_job_definitions(jobDefinitionName=f"def-{name}", status="ACTIVE")
    batch.describe_jobs(jobs=["no-such-job"])

    bucket = f"bucket-{name}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="results/out.json", Body=b'{"ok": true}', ContentType="application/json")
    s3.get_object(Bucket=bucket, Key="results/out.json")["Body"].read()
    _call(s3.head_object, Bucket=bucket, Key="missing")  # 404
    s3.list_objects_v2(Bucket=bucket, Prefix="results/")


def _normal(value, name: str):
    """`value` with this path's resource names, request ids, generated ids and times written as placeholders."""
    if isinstance(value, dict):
        return {_normal(k, name): _normal(v, name) for k, v in value.items()
                if k not in ("RequestId", "HostId", "RetryAttempts", "ResponseMetadata")}
    if isinstance(value, list):
        return [_normal(v, name) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return "<time>"
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        value = _ISO.sub("<time>", _UUID.sub("<id>", value.replace(name, "<name>")))
        if len(value) > 100 and " " not in value:
            return "<token>"  # a receipt handle, a task token
        return value
    if isinstance(value, (int, float)) and value > 1_000_000_000:  # epoch seconds or milliseconds
        return "<time>"
    if value is not None and not isinstance(value, (bool, int, float)):
        return type(value).__name__  # a streaming body (read in the scenario)
    return value


def _comparable(answer: dict, name: str) -> dict:
    if "headers" not in answer:
        return answer
    headers = {k.lower(): ("<volatile>" if k.lower() in VOLATILE else v) for k, v in answer["headers"].items()}
    return {"status": answer["status"], "headers": _normal(headers, name), "parsed": _normal(answer["parsed"], name)}


def differences(aws, names=("pathA", "pathB")) -> list:
    """Run the scenario through both paths and list the calls whose answers differ (empty: the same)."""
    results = []
    for direct, name in zip((False, True), names):
        client, answers = _clients(aws, direct)
        scenario(client, name)
        results.append([_comparable(answer, name) for answer in answers])
    wsgi, direct = results
    assert len(wsgi) == len(direct) > 40
    return [(index, a, b) for index, (a, b) in enumerate(zip(wsgi, direct)) if a != b]


def test_the_direct_path_answers_every_call_as_the_wsgi_app_does(aws):
    assert differences(aws) == []


def test_a_direct_path_that_skips_a_step_of_flask_is_seen(aws, monkeypatch):
    """The comparison is sharp enough: without Flask's after-request step (flask-cors) the headers differ."""
    monkeypatch.setattr(inprocess, "_after_request", lambda app, response: response)
    changed = differences(aws, names=("corsA", "corsB"))
    assert changed and all("access-control-allow-origin" in a["headers"] for _, a, _ in changed)
    assert all("access-control-allow-origin" not in b["headers"] for _, _, b in changed)


def test_a_wrong_handler_on_the_direct_path_is_seen(aws, monkeypatch):
    """A route resolved without its service (as if the cache were keyed by method and path only) breaks the run."""
    resolve, first = inprocess._route, {}

    def keyed_without_the_app(app, environ):
        return first.setdefault((environ["REQUEST_METHOD"], environ["PATH_INFO"]), resolve(app, environ))

    monkeypatch.setattr(inprocess, "_route", keyed_without_the_app)
    with pytest.raises(Exception, match="CreateQueue"):  # SQS's first call on POST / reaches DynamoDB's handler
        differences(aws, names=("wrongA", "wrongB"))


def test_a_fault_rule_hits_a_direct_in_process_call(aws):
    client, answers = _clients(aws, direct=True)
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName="faulted", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    rule = faults.add(faults.Rule(service="dynamodb", operation="GetItem", error="ThrottlingException"))
    try:
        with pytest.raises(ClientError) as raised:  # every attempt throttled, the client's retries too
            dynamodb.get_item(TableName="faulted", Key={"k": {"S": "x"}})
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert rule.fired >= 1 and answers[-1]["status"] == 400
    finally:
        faults.remove(rule)
    assert "Item" not in dynamodb.get_item(TableName="faulted", Key={"k": {"S": "x"}})  # served once it is gone


def test_the_environ_written_out_is_the_one_environbuilder_makes():
    """For the requests botocore sends (and some it does not), the direct path's environ is EnvironBuilder's."""
    from urllib.parse import urlsplit

    transport = inprocess.InProcessTransport(lambda environ, start: [], "http://127.0.0.1:4566", direct=True)
    cases = [
        ("POST", "/", [("X-Amz-Target", "DynamoDB_20120810.GetItem"), ("Content-Type", "application/x-amz-json-1.0"),
                       ("Content-Length", "2"), ("Authorization", "AWS4-HMAC-SHA256 Credential=a/b")], b"{}"),
        ("POST", "/123456789012/queue-a", [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         b"Action=SendMessage&MessageBody=x"),
        ("GET", "/bucket/results/out.json", [("User-Agent", "x"), ("X-Amz-Date", "20261201T000000Z")], b""),
        ("HEAD", "/bucket/k", [("Content-Length", "0"), ("x-amz-meta-a_b", "1"), ("X-Dup", "1"), ("x-dup", "2")], b""),
        ("GET", "/bucket", [("Content-Length", "nope")], b""),
        ("POST", "/", [("Content-Length", "5")], b""),
        ("PUT", "/bucket/k", [("Content-Type", "text/plain"), ("Content-Length", "99"), ("Host", "h:1")], b"abc"),
        ("POST", "/v1/describejobs", [("Content-Type", "application/json")], b'{"jobs": []}'),
    ]
    for method, path, headers, body in cases:
        for query in ("", "list-type=2&prefix=a%2Fb", "uploads"):
            url = urlsplit(f"http://127.0.0.1:4566{path}" + (f"?{query}" if query else ""))
            written = transport._environ(method, url, headers, body)
            built = inprocess._built(method, url, headers, body)
            if written is None:
                continue
            assert written.pop("wsgi.input").read() == built.pop("wsgi.input").read()
            assert written == built, (method, path, headers)
    # What it does not write out, EnvironBuilder does.
    assert transport._environ("GET", urlsplit("http://127.0.0.1:4566/b/a%20b"), [], b"") is None
    assert transport._environ("POST", urlsplit("http://127.0.0.1:4566/"), [("Content-Type", "x")], b"") is None


@pytest.mark.parametrize("content_type, body", [
    ("application/x-amz-json-1.0", b'{"TableName": "t"}'), ("application/json", b"[]"), (None, b"raw"),
    ("application/x-www-form-urlencoded; charset=utf-8", b"Action=SendMessage&MessageBody=a%20b"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--b--\r\n'),
    ("text/plain", b""), ("APPLICATION/X-WWW-FORM-URLENCODED", b"a=1"),
])
def test_the_direct_request_reads_as_moto_s_request_class(content_type, body):
    """Body, form, files, values and URLs of the direct path's request are those of moto's request class under Flask."""
    from flask import Flask
    from moto.moto_server.werkzeug_app import BackendRequest
    from urllib.parse import urlsplit

    headers = [("Content-Type", content_type)] if content_type else []
    url = urlsplit("http://127.0.0.1:4566/123456789012/q?x=1")
    app = Flask("moto")
    app.debug = True  # as moto's apps run

    def read(cls):
        with app.app_context():
            request = cls(inprocess._built("POST", url, headers, body))
            return (request.data, request.form.to_dict(flat=False), {k: v.read() for k, v in request.files.items()},
                    request.values.to_dict(flat=False), request.stream.read(), request.root_url, request.url_root,
                    request.host, request.raw_url)

    assert read(inprocess._DirectRequest) == read(BackendRequest)
