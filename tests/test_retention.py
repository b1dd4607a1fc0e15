"""The embedded target's retention of ended jobs: past N, the oldest ended job is dropped, and says so."""

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import BEHAVE
from harness.client import Client, JobServiceError
from harness.service import RunningService


@pytest.fixture(scope="module")
def kept_five():
    service = RunningService(prefix="retention", retain_ended_jobs=5).start()
    yield service
    service.stop()


def _aws(service, name):
    creds = service.aws.credentials
    return boto3.client(name, endpoint_url=service.aws.endpoint, region_name="us-east-1",
                        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key)


def test_with_retention_5_after_8_jobs_the_first_3_are_gone_and_the_last_5_are_whole(kept_five):
    client = Client(kept_five.url)
    worker = client.register_worker("keep", command=BEHAVE)
    job_def = client.register_job("keep", {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": worker["urn"], "End": True}}})
    jobs = [client.run_job(job_def["urn"], {"mode": "results", "count": 2, "n": i}, timeout=120) for i in range(8)]
    assert [j["status"] for j in jobs] == ["COMPLETED"] * 8

    for job in jobs[:3]:
        for read in (lambda: client.get_job(job["urn"]), lambda: client.get_request(job["request"])):
            with pytest.raises(JobServiceError) as caught:
                read()
            assert caught.value.status == 404
            assert "retention" in str(caught.value) and "--retain-ended-jobs" in str(caught.value)
    for job in jobs[3:]:
        again = client.get_job(job["urn"])
        assert again["status"] == "COMPLETED" and len(again["results"]) == 2
        assert again["workers"][0]["batch_job_id"] == job["workers"][0]["batch_job_id"]
        assert client.get_request(job["request"])["job"] == job["urn"]
    listed = {j["urn"] for j in client.list_jobs(definition=job_def["urn"])}
    assert listed == {j["urn"] for j in jobs[3:]}

    # The emulated AWS no longer holds the dropped jobs' execution, Batch job, run or result items.
    sfn, batch, dynamodb = _aws(kept_five, "stepfunctions"), _aws(kept_five, "batch"), _aws(kept_five, "dynamodb")
    table = kept_five.service.settings.names.table
    for job in jobs[:3]:
        with pytest.raises(ClientError) as caught:
            sfn.describe_execution(executionArn=job["execution_arn"])
        assert caught.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
        assert batch.describe_jobs(jobs=[job["workers"][0]["batch_job_id"]])["jobs"] == []
        job_id = job["urn"].rsplit(":", 1)[1]
        for urn in ("urn:jobservice:run:" + job["workers"][0]["worker"], f"urn:jobservice:result:{job_id}:1"):
            assert "Item" not in dynamodb.get_item(TableName=table, Key={"urn": {"S": urn}})
    queue = kept_five.service.settings.names.job_queue
    listed = {j["jobId"] for status in ("SUCCEEDED", "FAILED")
              for j in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]}
    assert listed == {j["workers"][0]["batch_job_id"] for j in jobs[3:]}
    for job in jobs[3:]:
        assert sfn.describe_execution(executionArn=job["execution_arn"])["status"] == "SUCCEEDED"
        assert batch.describe_jobs(jobs=[job["workers"][0]["batch_job_id"]])["jobs"][0]["status"] == "SUCCEEDED"
