"""Create (and remove) the AWS resources the service needs, on any target, through boto3.

Every resource `provision` creates carries the tag TAG_KEY=TAG_VALUE; `teardown`
deletes a resource only when it carries that tag, so resources made by hand
(or by another tool) under the same names are reported and left alone.
Resources the running service registers itself (Batch job definitions, Step
Functions activities and state machines named `<prefix>-<name>`) are not
provision's, and teardown leaves them.
"""

import json
import time

from botocore.exceptions import ClientError

from server.clients import Clients
from server.dynamodb_connection import table_spec

from .errors import HarnessError

TAG_KEY, TAG_VALUE = "jobservice:provisioned-by", "harness"
TRUST = {
    "batch": "batch.amazonaws.com",
    "states": "states.amazonaws.com",
}
#: AWS managed policies a role needs on AWS (Step Functions' role needs none: it runs activity tasks only).
MANAGED_POLICIES = {"batch": "service-role/AWSBatchServiceRole"}
#: Resource groups: "batch" is where worker runs go (its role, compute environment, job queue),
#: "service" the rest. `--workers local` provisions "batch" on a local emulator instead.
GROUPS = ("service", "batch")


class ProvisionError(HarnessError):
    """A resource could not be created or removed."""


def clients_for(settings) -> Clients:
    """boto3 clients for the target of `settings`."""
    return Clients(settings)


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _missing(exc: ClientError, *codes: str) -> bool:
    return _code(exc) in codes or any(c in _code(exc) for c in codes)


def _wait(check, what: str, timeout: float = 300) -> None:
    """Poll `check()` until it is true, at most `timeout` seconds."""
    deadline, pause = time.monotonic() + timeout, 0.05
    while not check():
        if time.monotonic() > deadline:
            raise ProvisionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 5.0)


# -- one class per kind of resource: find (None, or whether it carries the tag), create, delete ----

class _Role:
    def __init__(self, clients, name: str, service: str):
        self.iam, self.name, self.service = clients.iam, name, service
        self.label = f"IAM role {name}"

    def find(self):
        try:
            self.iam.get_role(RoleName=self.name)
        except ClientError as exc:
            if _missing(exc, "NoSuchEntity"):
                return None
            raise
        tags = self.iam.list_role_tags(RoleName=self.name).get("Tags", [])
        return {"Key": TAG_KEY, "Value": TAG_VALUE} in tags

    def create(self):
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": TRUST[self.service]}, "Action": "sts:AssumeRole"}]}
        arn = self.iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=json.dumps(trust),
                                   Description="created by `harness provision`",
                                   Tags=[{"Key": TAG_KEY, "Value": TAG_VALUE}])["Role"]["Arn"]
        policy = MANAGED_POLICIES.get(self.service)
        if policy is None:
            return None
        partition = arn.split(":")[1]
        try:
            self.iam.attach_role_policy(RoleName=self.name, PolicyArn=f"arn:{partition}:iam::aws:policy/{policy}")
        except ClientError as exc:
            if not _missing(exc, "NoSuchEntity"):
                raise
            # Emulators (moto by default) do not carry AWS's managed policies; nothing checks them there.
            return f"without {policy.rsplit('/', 1)[-1]}: this endpoint does not have it"
        return f"with {policy.rsplit('/', 1)[-1]}"

    def delete(self):
        for page in self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=self.name):
            for policy in page["AttachedPolicies"]:
                self.iam.detach_role_policy(RoleName=self.name, PolicyArn=policy["PolicyArn"])
        for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=self.name):
            for policy in page["PolicyNames"]:
                self.iam.delete_role_policy(RoleName=self.name, PolicyName=policy)
        self.iam.delete_role(RoleName=self.name)


class _Table:
    def __init__(self, clients, name: str):
        self.ddb, self.name = clients.dynamodb, name
        self.label = f"DynamoDB table {name}"

    def find(self):
        try:
            arn = self.ddb.describe_table(TableName=self.name)["Table"]["TableArn"]
        except ClientError as exc:
            if _missing(exc, "ResourceNotFoundException"):
                return None
            raise
        tags = self.ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
        return {"Key": TAG_KEY, "Value": TAG_VALUE} in tags

    def create(self):
        self.ddb.create_table(**table_spec(self.name), Tags=[{"Key": TAG_KEY, "Value": TAG_VALUE}])
        self.ddb.get_waiter("table_exists").wait(TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    def delete(self):
        self.ddb.delete_table(TableName=self.name)
        self.ddb.get_waiter("table_not_exists").wait(TableName=self.name,
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 120})


class _Queue:
    def __init__(self, clients, name: str):
        self.sqs, self.name = clients.sqs, name
        self.label = f"SQS queue {name}"

    def _url(self):
        try:
            return self.sqs.get_queue_url(QueueName=self.name)["QueueUrl"]
        except ClientError as exc:
            if _missing(exc, "NonExistentQueue", "QueueDoesNotExist"):
                return None
            raise

    def find(self):
        url = self._url()
        if url is None:
            return None
        return self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}).get(TAG_KEY) == TAG_VALUE

    def create(self):
        self.sqs.create_queue(QueueName=self.name, Attributes={"VisibilityTimeout": "30"},
                              tags={TAG_KEY: TAG_VALUE})

    def delete(self):
        self.sqs.delete_queue(QueueUrl=self._url())


class _Bucket:
    def __init__(self, clients, name: str):
        self.s3, self.name = clients.s3, name
        self.label = f"S3 bucket {name}"

    def find(self):
        try:
            self.s3.head_bucket(Bucket=self.name)
        except ClientError as exc:
            if _missing(exc, "404", "NoSuchBucket", "NotFound"):
                return None
            raise
        try:
            tags = self.s3.get_bucket_tagging(Bucket=self.name).get("TagSet", [])
        except ClientError as exc:
            if _missing(exc, "NoSuchTagSet", "NoSuchTagSetError"):
                return False
            raise
        return {"Key": TAG_KEY, "Value": TAG_VALUE} in tags

    def create(self):
        kwargs = {}
        region = self.s3.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self.s3.create_bucket(Bucket=self.name, **kwargs)
        self.s3.put_bucket_tagging(Bucket=self.name, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": TAG_VALUE}]})

    def delete(self):
        # The objects are the service's files of jobs in this bucket: they go with it.
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.name, Delete={"Objects": keys, "Quiet": True})
        self.s3.delete_bucket(Bucket=self.name)


class _ComputeEnvironment:
    def __init__(self, clients, name: str, role: str):
        self.batch, self.iam, self.name, self.role = clients.batch, clients.iam, name, role
        self.label = f"Batch compute environment {name}"

    def _describe(self):
        envs = self.batch.describe_compute_environments(computeEnvironments=[self.name])["computeEnvironments"]
        return next((e for e in envs if e.get("status") != "DELETED"), None)

    def find(self):
        env = self._describe()
        return None if env is None else (env.get("tags") or {}).get(TAG_KEY) == TAG_VALUE

    def create(self):
        role = self.iam.get_role(RoleName=self.role)["Role"]["Arn"]
        self.batch.create_compute_environment(computeEnvironmentName=self.name, type="UNMANAGED",
                                              state="ENABLED", serviceRole=role, tags={TAG_KEY: TAG_VALUE})
        _wait(lambda: (self._describe() or {}).get("status", "VALID") == "VALID", f"{self.label} VALID")

    def delete(self):
        self.batch.update_compute_environment(computeEnvironment=self.name, state="DISABLED")
        _wait(lambda: (self._describe() or {}).get("status", "VALID") in ("VALID", "INVALID"),
              f"{self.label} disabled")
        self.batch.delete_compute_environment(computeEnvironment=self.name)
        _wait(lambda: self._describe() is None, f"{self.label} deleted")


class _JobQueue:
    def __init__(self, clients, name: str, environment: str):
        self.batch, self.name, self.environment = clients.batch, name, environment
        self.label = f"Batch job queue {name}"

    def _describe(self):
        queues = self.batch.describe_job_queues(jobQueues=[self.name])["jobQueues"]
        return next((q for q in queues if q.get("status") != "DELETED"), None)

    def find(self):
        queue = self._describe()
        return None if queue is None else (queue.get("tags") or {}).get(TAG_KEY) == TAG_VALUE

    def create(self):
        env = self.batch.describe_compute_environments(
            computeEnvironments=[self.environment])["computeEnvironments"][0]["computeEnvironmentArn"]
        self.batch.create_job_queue(jobQueueName=self.name, state="ENABLED", priority=1,
                                    computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
                                    tags={TAG_KEY: TAG_VALUE})
        _wait(lambda: (self._describe() or {}).get("status", "VALID") == "VALID", f"{self.label} VALID")

    def delete(self):
        self.batch.update_job_queue(jobQueue=self.name, state="DISABLED")
        _wait(lambda: (self._describe() or {}).get("status", "VALID") in ("VALID", "INVALID"),
              f"{self.label} disabled")
        self.batch.delete_job_queue(jobQueue=self.name)
        _wait(lambda: self._describe() is None, f"{self.label} deleted")


def resources(clients, names, groups=GROUPS) -> list:
    """The resources of `groups` in the order they are created (teardown goes backwards)."""
    # Built only when their group is asked for: each client costs a few hundred ms to make.
    made = [
        ("batch", lambda: _Role(clients, names.batch_service_role, "batch")),
        ("service", lambda: _Role(clients, names.states_role, "states")),
        ("service", lambda: _Table(clients, names.table)),
        ("service", lambda: _Queue(clients, names.queue)),
        ("service", lambda: _Bucket(clients, names.bucket)),
        ("batch", lambda: _ComputeEnvironment(clients, names.compute_environment, names.batch_service_role)),
        ("batch", lambda: _JobQueue(clients, names.job_queue, names.compute_environment)),
    ]
    return [make() for group, make in made if group in groups]


def _created_meanwhile(exc: ClientError) -> bool:
    """Whether a create failed because another process created the same resource first."""
    message = exc.response["Error"].get("Message", "")
    return _code(exc) in _EXISTS or "already exists" in message.lower()


_EXISTS = ("EntityAlreadyExists", "ResourceInUseException", "QueueAlreadyExists", "QueueNameExists",
           "BucketAlreadyOwnedByYou")


def _unsupported(exc: ClientError) -> bool:
    """Whether an emulator lacks the operation (MiniStack has no UpdateJobQueue or DeleteJobQueue)."""
    message = exc.response["Error"].get("Message", "").lower()
    return _code(exc) in ("InvalidAction", "NotImplemented", "UnknownOperationException") or \
        "unsupported" in message or "not implemented" in message


def provision(clients, names, log=print, groups=GROUPS) -> list[str]:
    """Create whatever of the service's resources is missing; return (and log) what was created.

    Several processes may provision one target at once (one per role): a
    resource that another one created first counts as found, not created.
    """
    created = []
    for resource in resources(clients, names, groups):
        if resource.find() is not None:
            continue
        try:
            note = resource.create()
        except ClientError as exc:
            if not _created_meanwhile(exc):
                raise
            continue
        created.append(resource.label)
        log(f"created {resource.label}" + (f" ({note})" if note else ""))
    return created


def teardown(clients, names, log=print, groups=GROUPS) -> list[str]:
    """Delete the resources that carry provision's tag; return (and log) what was deleted."""
    removed = []
    for resource in reversed(resources(clients, names, groups)):
        tagged = resource.find()
        if tagged is None:
            continue
        if not tagged:
            log(f"kept {resource.label}: not created by `harness provision` (no {TAG_KEY} tag)")
            continue
        try:
            resource.delete()
        except ClientError as exc:
            if not _unsupported(exc):
                raise
            log(f"left {resource.label}: the endpoint cannot delete it ({_code(exc)}: "
                f"{exc.response['Error'].get('Message', '')})")
            continue
        removed.append(resource.label)
        log(f"deleted {resource.label}")
    return removed
