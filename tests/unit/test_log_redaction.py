"""Secrets never reach a log line, whatever logger and level: pure logic, no server."""

import io
import logging

import pytest

from harness.logs import MASK, RedactingFilter, redact, secret

TOKEN = "0123456789abcdef0123456789abcdef.Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4"
SECRET_PART = TOKEN.split(".", 1)[1]


@pytest.mark.parametrize("line", [
    f"Authorization: Bearer {TOKEN}",
    f"params: {{'environment': [{{'name': 'JOBSERVICE_WORKER_TOKEN', 'value': '{TOKEN}'}}]}}",
    'b\'{"containerOverrides": {"environment": [{"name": "JOBSERVICE_WORKER_TOKEN", "value": "opaque-secret-1"}]}}\'',
    "{'taskToken': 'AAAAKgAAAAIAAAAAAAAAA-opaque-secret-1'}",
    "Credential=AKIAOPAQUESECRET1/20261201/us-east-1/s3/aws4_request, Signature=0123abcdef",
    "https://bucket.s3/k?X-Amz-Credential=opaque-secret-1%2F2026&X-Amz-Signature=abcdef0123",
])
def test_every_shape_of_secret_is_masked(line):
    out = redact(line)
    assert SECRET_PART not in out and "opaque-secret-1" not in out and "AKIAOPAQUESECRET1" not in out
    assert "Signature=0123abcdef" not in out and "Signature=abcdef0123" not in out
    assert MASK in out


def test_a_registered_api_key_is_masked_and_the_run_id_stays():
    secret("k-registered-1234")
    assert redact("key k-registered-1234 used") == f"key {MASK} used"
    assert redact(TOKEN).startswith("0123456789abcdef0123456789abcdef.")


def test_the_filter_redacts_the_formatted_record_of_any_logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("botocore.test-redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Making request with params: %s", {"environment": [
            {"name": "JOBSERVICE_WORKER_TOKEN", "value": TOKEN}]})
    finally:
        logger.removeHandler(handler)
    assert SECRET_PART not in stream.getvalue() and "JOBSERVICE_WORKER_TOKEN" in stream.getvalue()


@pytest.mark.parametrize("verbose, shown", [
    (0, set()), (1, {"lifecycle"}), (2, {"lifecycle", "call"}), (3, {"lifecycle", "call", "botocore"})])
def test_each_v_adds_one_layer_of_detail(verbose, shown):
    from harness.logs import NOISY, configure_logging
    from server import observe

    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in NOISY}, list(observe._sinks)
    stream = io.StringIO()
    handler = configure_logging(verbose, stream)
    try:
        logging.getLogger("jobservice.lifecycle").info("job started: urn:jobservice:job:j1")
        observe.record("Activity Poller", "AWS Batch", "SubmitJob")
        logging.getLogger("botocore.endpoint").debug("Sending http request")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
        observe._sinks[:] = saved[2]
    text = stream.getvalue()
    found = {"lifecycle": "job started" in text, "call": "Activity Poller -> AWS Batch: SubmitJob" in text,
             "botocore": "Sending http request" in text}
    assert {name for name, there in found.items() if there} == shown
