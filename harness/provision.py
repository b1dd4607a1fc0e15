"""Create (and remove) the AWS resources the service needs, on any target, through boto3."""

import json
import time

from botocore.exceptions import ClientError

from server.dynamodb_connection import table_spec

TRUST = {
    "batch": "batch.amazonaws.com",
    "states": "states.amazonaws.com",
}


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _role(iam, name: str, service: str) -> tuple[str, bool]:
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"], False
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy),
                          Description="created by `harness provision`")["Role"]["Arn"]
    return arn, True


def provision(clients, names, log=print) -> list[str]:
    """Create whatever of the service's resources is missing; return what was created."""
    created = []

    def made(what: str) -> None:
        created.append(what)
        log(f"created {what}")

    batch_role, new = _role(clients.iam, names.batch_service_role, TRUST["batch"])
    if new:
        made(f"IAM role {names.batch_service_role}")
    _, new = _role(clients.iam, names.states_role, TRUST["states"])
    if new:
        made(f"IAM role {names.states_role}")

    ddb = clients.dynamodb
    try:
        ddb.describe_table(TableName=names.table)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        ddb.create_table(**table_spec(names.table))
        ddb.get_waiter("table_exists").wait(TableName=names.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        made(f"DynamoDB table {names.table}")

    sqs = clients.sqs
    try:
        sqs.get_queue_url(QueueName=names.queue)
    except ClientError as exc:
        if "NonExistentQueue" not in _code(exc) and _code(exc) != "QueueDoesNotExist":
            raise
        sqs.create_queue(QueueName=names.queue, Attributes={"VisibilityTimeout": "30"})
        made(f"SQS queue {names.queue}")

    s3 = clients.s3
    try:
        s3.head_bucket(Bucket=names.bucket)
    except ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        kwargs = {}
        region = s3.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(Bucket=names.bucket, **kwargs)
        made(f"S3 bucket {names.bucket}")

    batch = clients.batch
    envs = batch.describe_compute_environments(computeEnvironments=[names.compute_environment])
    if not envs["computeEnvironments"]:
        batch.create_compute_environment(computeEnvironmentName=names.compute_environment, type="UNMANAGED",
                                         state="ENABLED", serviceRole=batch_role)
        made(f"Batch compute environment {names.compute_environment}")
    queues = batch.describe_job_queues(jobQueues=[names.job_queue])
    if not queues["jobQueues"]:
        _wait_valid(batch, names.compute_environment)
        batch.create_job_queue(jobQueueName=names.job_queue, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1,
                                                         "computeEnvironment": names.compute_environment}])
        made(f"Batch job queue {names.job_queue}")
    return created


def _wait_valid(batch, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        envs = batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
        if envs and envs[0].get("status", "VALID") == "VALID":
            return
        time.sleep(1)
    raise TimeoutError(f"Batch compute environment {name} did not become VALID in {timeout} s")
