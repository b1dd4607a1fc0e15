"""`harness provision` and `harness teardown` against `harness emulate` in another process."""

import uuid

import boto3
import pytest
from click.testing import CliRunner

from harness.cli import main
from procs import emulate, free_port

SERVICE_RESOURCES = ["IAM role {p}-batch-service", "IAM role {p}-states", "DynamoDB table {p}-resources",
                     "SQS queue {p}-queue", "S3 bucket {p}-files", "Batch compute environment {p}-local",
                     "Batch job queue {p}-workers"]


@pytest.fixture(scope="module")
def endpoint():
    with emulate() as proc:
        yield proc.values()["HARNESS_ENDPOINT_URL"]


def harness(endpoint: str, *args: str) -> list[str]:
    """Run a harness command on the localstack target at `endpoint`; return its output lines."""
    result = CliRunner().invoke(main, [*args, "--target", "localstack", "--endpoint-url", endpoint],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def aws(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def test_provision_creates_every_resource_once_and_prints_each(endpoint):
    prefix = f"p{uuid.uuid4().hex[:8]}"
    first = harness(endpoint, "provision", "--prefix", prefix)
    assert [line.split(" (")[0] for line in first] == [f"created {r.format(p=prefix)}" for r in SERVICE_RESOURCES]
    # moto carries no AWS managed policies: provision says the Batch role goes without AWS's policy for Batch.
    assert first[0].endswith("(without AWSBatchServiceRole: this endpoint does not have it)")
    assert harness(endpoint, "provision", "--prefix", prefix) == [
        f"nothing to create: every resource of prefix '{prefix}' exists"]
    assert aws(endpoint, "dynamodb").describe_table(TableName=f"{prefix}-resources")["Table"]["TableStatus"] == "ACTIVE"
    queues = aws(endpoint, "batch").describe_job_queues(jobQueues=[f"{prefix}-workers"])["jobQueues"]
    assert [q["state"] for q in queues] == ["ENABLED"]


def test_teardown_deletes_what_provision_created_and_keeps_what_it_did_not(endpoint):
    prefix = f"p{uuid.uuid4().hex[:8]}"
    s3 = aws(endpoint, "s3")
    s3.create_bucket(Bucket=f"{prefix}-files")  # made by hand: provision finds it, teardown keeps it
    s3.put_object(Bucket=f"{prefix}-files", Key="mine.txt", Body=b"keep me")
    created = harness(endpoint, "provision", "--prefix", prefix)
    assert f"created S3 bucket {prefix}-files" not in created
    assert len(created) == len(SERVICE_RESOURCES) - 1

    removed = harness(endpoint, "teardown", "--prefix", prefix)
    expected = [f"deleted {r.format(p=prefix)}" for r in reversed(SERVICE_RESOURCES)]
    kept = f"kept S3 bucket {prefix}-files: not created by `harness provision` (no jobservice:provisioned-by tag)"
    assert removed == [kept if line.endswith(f"S3 bucket {prefix}-files") else line for line in expected]
    assert s3.get_object(Bucket=f"{prefix}-files", Key="mine.txt")["Body"].read() == b"keep me"
    assert aws(endpoint, "sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []
    assert aws(endpoint, "batch").describe_compute_environments(
        computeEnvironments=[f"{prefix}-local"])["computeEnvironments"] == []
    assert harness(endpoint, "teardown", "--prefix", prefix) == [kept, "nothing deleted: no resource of prefix "
                                                                 f"'{prefix}' that carries the provision tag "
                                                                 "could be deleted"]


def test_teardown_empties_a_provisioned_bucket_of_job_files(endpoint):
    prefix = f"p{uuid.uuid4().hex[:8]}"
    harness(endpoint, "provision", "--prefix", prefix)
    aws(endpoint, "s3").put_object(Bucket=f"{prefix}-files", Key="jobs/j/w/out.txt", Body=b"x")
    assert f"deleted S3 bucket {prefix}-files" in harness(endpoint, "teardown", "--prefix", prefix)
    assert f"{prefix}-files" not in [b["Name"] for b in aws(endpoint, "s3").list_buckets()["Buckets"]]


def test_provision_refuses_the_embedded_target():
    result = CliRunner().invoke(main, ["provision"])
    assert result.exit_code == 2
    assert "choose --target localstack or aws" in result.output


def test_a_name_set_by_its_variable_replaces_the_prefixed_name(endpoint):
    prefix, bucket = f"p{uuid.uuid4().hex[:8]}", f"own-{uuid.uuid4().hex[:8]}"
    result = CliRunner(env={"HARNESS_BUCKET": bucket}).invoke(
        main, ["provision", "--target", "localstack", "--endpoint-url", endpoint, "--prefix", prefix])
    assert result.exit_code == 0, result.output
    assert f"created S3 bucket {bucket}" in result.output.splitlines()
    assert f"created DynamoDB table {prefix}-resources" in result.output.splitlines()


def test_provision_says_in_one_line_when_the_endpoint_is_unreachable():
    port = free_port()
    result = CliRunner().invoke(main, ["provision", "--target", "localstack", "--endpoint-url",
                                       f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot provision on http://127.0.0.1:{port}: Could not connect")
