"""A backing service's failure is named by component, never by its exception text."""

import boto3
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from server.api_server import failing_component


@pytest.mark.parametrize("service, name", [("dynamodb", "DynamoDB"), ("sqs", "SQS"), ("stepfunctions", "Step Functions")])
def test_a_botocore_failure_names_the_service_it_came_from(service, name):
    client = boto3.client(service, endpoint_url="http://127.0.0.1:1", region_name="us-east-1",
                          aws_access_key_id="k", aws_secret_access_key="s",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    operation = {"dynamodb": "list_tables", "sqs": "list_queues", "stepfunctions": "list_activities"}[service]
    with pytest.raises(BotoCoreError) as raised:
        getattr(client, operation)()
    assert failing_component(raised.value) == name


def test_a_redis_failure_names_the_cache_and_anything_else_a_backing_service():
    assert failing_component(redis.ConnectionError("Error 111 connecting")) == "the cache (Redis)"
    assert failing_component(ValueError("boom")) == "a backing service"
