"""No door open: the emulators' endpoint takes only the harness's credentials, presigned URLs are checked."""

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from procs import emulate

MADE_UP = {"aws_access_key_id": "AKIAMADEUP0000000000", "aws_secret_access_key": "made-up"}


def aws_client(service, endpoint, **credentials):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}), **(credentials or MADE_UP))


def refused(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return raised.value.response["Error"]["Code"]


def test_a_worker_that_edits_the_key_of_its_presigned_url_gets_403(hold):
    mine, theirs = hold(), hold()
    key = mine.call("POST", "/v2/workers/files?name=a.txt", data=b"mine").json()["key"]
    other = theirs.call("POST", "/v2/workers/files?name=a.txt", data=b"theirs").json()["key"]
    url = mine.call("GET", f"/v2/workers/files/{key}").json()["url"]
    assert requests.get(url, timeout=30).content == b"mine"
    edited = requests.get(url.replace(key, other), timeout=30)
    assert edited.status_code == 403 and b"SignatureDoesNotMatch" in edited.content
    forged = requests.get(url[:-8] + "00000000", timeout=30)
    assert forged.status_code == 403 and b"theirs" not in forged.content
    assert requests.get(url.split("?")[0], timeout=30).status_code == 403  # unsigned


def test_the_embedded_endpoint_refuses_made_up_credentials_and_echoes_no_origin(running, service):
    endpoint = running.aws.endpoint
    table, bucket = running.service.settings.names.table, running.service.settings.names.bucket
    # Each answers in its own protocol, with AWS's code for it.
    assert refused(lambda: aws_client("dynamodb", endpoint).scan(TableName=table)) == "UnrecognizedClientException"
    assert refused(lambda: aws_client("stepfunctions", endpoint).send_task_success(
        taskToken="t", output="{}")) == "UnrecognizedClientException"
    assert refused(lambda: aws_client("batch", endpoint).describe_jobs(jobs=["j"])) == "UnrecognizedClientException"
    assert refused(lambda: aws_client("iam", endpoint).list_roles()) == "InvalidClientTokenId"
    assert refused(lambda: aws_client("s3", endpoint).list_objects_v2(Bucket=bucket)) == "InvalidAccessKeyId"
    wrong_secret = {"aws_access_key_id": running.aws.credentials.access_key_id, "aws_secret_access_key": "guess"}
    assert refused(lambda: aws_client("dynamodb", endpoint, **wrong_secret).scan(TableName=table)) == \
        "InvalidSignatureException"
    assert refused(lambda: aws_client("s3", endpoint, **wrong_secret).list_objects_v2(Bucket=bucket)) == \
        "SignatureDoesNotMatch"
    assert requests.post(f"{endpoint}/moto-api/reset", timeout=30).status_code == 403
    response = requests.options(f"{endpoint}/", headers={"Origin": "http://evil.example",
                                                         "Access-Control-Request-Method": "POST"}, timeout=30)
    assert not any(h.lower().startswith("access-control-") for h in response.headers)
    # The service itself, with the generated pair, works.
    assert requests.get(f"{running.url}/v2/health", timeout=30).json()["status"] == "ok"


def test_emulate_prints_the_only_credentials_it_accepts_and_a_flag_turns_checking_off():
    with emulate(checked=True) as checked:
        values = checked.values()
        endpoint = values["HARNESS_ENDPOINT_URL"]
        assert refused(lambda: aws_client("sqs", endpoint).list_queues())
        printed = {"aws_access_key_id": values["AWS_ACCESS_KEY_ID"],
                   "aws_secret_access_key": values["AWS_SECRET_ACCESS_KEY"]}
        aws_client("sqs", endpoint, **printed).create_queue(QueueName="q")
        assert aws_client("sqs", endpoint, **printed).list_queues()["QueueUrls"]
        assert requests.get(f"{endpoint}/_localstack/health", timeout=30).status_code == 200
    with emulate() as unchecked:  # --no-credential-check
        values = unchecked.values()
        assert values["AWS_ACCESS_KEY_ID"]
        aws_client("sqs", values["HARNESS_ENDPOINT_URL"]).list_queues()


def test_serve_against_a_checked_emulate_without_its_credentials_says_which_to_use(tmp_path):
    from procs import HARNESS, Proc

    with emulate(checked=True) as checked:
        values = checked.values()
        env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        serve = Proc([*HARNESS, "serve", "--target", "localstack", "--endpoint-url", values["HARNESS_ENDPOINT_URL"],
                      "--redis-url", values["HARNESS_REDIS_URL"], "--port", "0", "--prefix", "refused"], env=env)
        with pytest.raises(RuntimeError):
            serve.start()
        try:
            assert "harness emulate` printed" in serve.stderr() and "Traceback" not in serve.stderr()
        finally:
            serve.close()
