"""The pure logic of fault rules: matching, counting, seeded chance, validation, request identification."""

import pytest
from hypothesis import given, settings, strategies as st

from emulators import faults
from harness import diagram
from harness.faults import FaultSpecError, arrow_matches, parse
from server.observe import Event


def rule(**fields):
    return faults.validate(faults.Rule(**{"service": "dynamodb", "operation": "UpdateItem",
                                          "error": "ThrottlingException", **fields}))


@given(nth=st.integers(1, 50), calls=st.integers(0, 80))
def test_nth_fires_once_at_that_call(nth, calls):
    r = rule(nth=nth)
    fired = [i + 1 for i in range(calls) if r.fires()]
    assert fired == ([nth] if calls >= nth else [])


@given(first=st.integers(1, 50), calls=st.integers(0, 80))
def test_first_n_fires_on_the_first_n_calls(first, calls):
    r = rule(first=first)
    assert [r.fires() for _ in range(calls)] == [i < first for i in range(calls)]


@given(seed=st.integers(0, 2**32), probability=st.floats(0, 1), calls=st.integers(1, 60))
def test_a_seed_repeats_its_faults(seed, probability, calls):
    one, two = rule(seed=seed, probability=probability), rule(seed=seed, probability=probability)
    assert [one.fires() for _ in range(calls)] == [two.fires() for _ in range(calls)]


@given(calls=st.integers(1, 40))
def test_probability_zero_never_one_always(calls):
    never, always = rule(probability=0.0), rule(probability=1.0)
    assert not any(never.fires() for _ in range(calls))
    assert all(always.fires() for _ in range(calls))


@settings(max_examples=50)
@given(service=st.sampled_from(["dynamodb", "sqs", "s3"]), operation=st.sampled_from(["UpdateItem", "GetItem",
                                                                                      "SendMessage"]),
       participant=st.sampled_from([None, "Queue", "API Server"]))
def test_a_rule_matches_its_service_operation_and_participant_only(service, operation, participant):
    exact = faults.Rule(service="dynamodb", operation="UpdateItem", participant="Queue", error="X")
    anything = faults.Rule(service="*", operation="*", error="X")
    every_op = faults.Rule(service="sqs", error="X")
    assert exact.matches(service, operation, participant) == (
        (service, operation, participant) == ("dynamodb", "UpdateItem", "Queue"))
    assert anything.matches(service, operation, participant)
    assert every_op.matches(service, operation, participant) == (service == "sqs")


@pytest.mark.parametrize("service, operation, message", [
    ("dynamo", "UpdateItem", "unknown AWS service 'dynamo' (did you mean 'dynamodb'?)"),
    ("dynamodb", "UpdateItems", "dynamodb has no operation 'UpdateItems' (did you mean 'UpdateItem'?)"),
    ("sqs", "Receive", "sqs has no operation 'Receive'"),
])
def test_a_rule_that_cannot_match_is_refused(service, operation, message):
    with pytest.raises(faults.FaultError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        faults.validate(faults.Rule(service=service, operation=operation, error="ThrottlingException"))


def test_states_is_step_functions_and_a_code_alone_gets_its_status():
    assert faults.parse_target("states:SendTaskSuccess") == ("stepfunctions", "SendTaskSuccess")
    assert rule(error="InternalServerError").status == 500
    assert rule(error="ThrottlingException").status == 400


@pytest.mark.parametrize("environ, expected", [
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem", "HTTP_AUTHORIZATION":
      "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/dynamodb/aws4_request"}, ("dynamodb", "UpdateItem",
                                                                                   "eu-west-1")),
    ({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, ("sqs", "ReceiveMessage", None)),
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/describejobs", "HTTP_AUTHORIZATION":
      "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/batch/aws4_request"}, ("batch", "DescribeJobs",
                                                                                "us-east-1")),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/bucket-one/a/b.json", "QUERY_STRING": "", "HTTP_AUTHORIZATION":
      "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request"}, ("s3", "GetObject", "us-east-1")),
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket-one", "QUERY_STRING": "", "HTTP_AUTHORIZATION":
      "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request"}, ("s3", "CreateBucket", "us-east-1")),
])
def test_a_request_names_its_service_and_operation(environ, expected):
    assert faults.identify(environ) == expected


def test_a_query_protocol_action_is_read_from_the_form_and_put_back():
    import io

    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "HTTP_AUTHORIZATION":
               "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts/aws4_request"}
    assert faults.identify(environ) == ("sts", "GetCallerIdentity", "us-east-1")
    assert environ["wsgi.input"].read() == body


def test_errors_come_in_the_callers_protocol():
    fault = faults.Fault(rule="r", error="ThrottlingException", status=400, message="slow down")
    status, headers, body = faults.error_response("dynamodb", fault)
    assert status.startswith("400") and b'"__type": "ThrottlingException"' in body
    status, headers, body = faults.error_response("s3", faults.Fault(rule="r", error="SlowDown", status=503))
    assert status.startswith("503") and b"<Code>SlowDown</Code>" in body


@pytest.mark.parametrize("item, message", [
    ({"aws": "dynamodb:UpdateItems", "error": "ThrottlingException"}, "did you mean 'UpdateItem'"),
    ({"redis": "sleepy"}, "must be one of down, slow, flush"),
    ({"api": "POST /v2/worker/results", "nth": 0}, "'nth'"),
    ({"sqs": "duplicate", "color": "red"}, "unknown key 'color'"),
    ({"api": "results"}, "METHOD /v2/path"),
    ({"redis": "down", "when": "the worker starts"}, "Source -> Target: label"),
    ({"sqs": "late", "delay_seconds": 1000}, "delay_seconds must be 0-900"),
    ({"aws": "s3:GetObject", "error": "NoSuchKey", "status": 200}, "status must be an HTTP error status"),
    ({"aws": "dynamodb:GetItem", "first": 0}, "'first' of a fault must be a positive integer"),
])
def test_a_bad_fault_says_what_is_wrong(item, message):
    with pytest.raises(FaultSpecError, match=message):
        parse(item)


def test_a_trigger_names_an_arrow_and_its_nth_time():
    spec = parse({"redis": "down", "for": 1,
                  "when": {"arrow": "Worker ->  Worker Manager: POST /v2/worker/results", "time": "2nd time"}})
    assert spec.when == {"arrow": "Worker -> Worker Manager: POST /v2/worker/results", "time": 2}
    assert spec.heal_after == 1.0


def test_the_diagram_highlights_fault_notes():
    events = [Event("AWS DynamoDB", "AWS DynamoDB", "fault: ThrottlingException on UpdateItem", kind="note",
                    details={"fault": "throttle"}),
              Event("Queue", "Queue", "Process Job Request", kind="note")]
    text = diagram.to_mermaid(events)
    assert "rect rgb(255, 215, 215)\n  Note over p11: ⚡ fault: ThrottlingException on UpdateItem\n  end" in text
    assert "Note over p3: Process Job Request" in text


def test_a_trigger_may_name_an_arrow_in_the_diagrams_words_or_the_traces():
    update = Event("DynamoDB Connection", "AWS DynamoDB", "UpdateItem")
    assert arrow_matches("DynamoDB Connection -> AWS DynamoDB: Update DB Resource", update)   # the diagram's
    assert arrow_matches("DynamoDB Connection -> AWS DynamoDB: UpdateItem", update)           # the trace's
    assert not arrow_matches("DynamoDB Connection -> AWS DynamoDB: Update DB Resource",
                             Event("DynamoDB Connection", "AWS DynamoDB", "GetItem"))
    download = Event("Worker", "Worker Helper", "GET /v2/workers/files/jobs/ab12/w/input.json")
    assert arrow_matches("Worker -> Worker Helper: GET /v2/workers/files/{key}", download)


def test_check_adds_latency_without_an_error_and_effects_to_every_call():
    try:
        slow = faults.add(faults.Rule(service="sqs", operation="SendMessage", latency_ms=40))
        assert faults.check("sqs", "SendMessage") == faults.Fault(rule=slow.name, latency_ms=40)
        assert faults.check("sqs", "ReceiveMessage") is None
        faults.effects["latency"] = 5
        assert faults.check("s3", "GetObject").latency_ms == 5
        faults.add(faults.Rule(service="sqs", operation="*", error="ThrottlingException", nth=2))
        assert faults.check("sqs", "SendMessage").error is None  # the 1st matching call
        fault = faults.check("sqs", "SendMessage")
        assert (fault.error, fault.status, fault.latency_ms) == ("ThrottlingException", 400, 45)
    finally:
        faults.clear()


def test_a_rest_request_is_named_right_after_an_s3_client_has_run():
    """botocore's S3 clients strip `/{Bucket}` from their model's paths in place, and the process
    shares one loader (emulators/shared_loader.py): fault matching must read models of its own."""
    import botocore.session
    from botocore.config import Config

    from emulators import shared_loader

    shared_loader.install()
    s3 = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", aws_access_key_id="a",
        aws_secret_access_key="b", config=Config(retries={"max_attempts": 0}, connect_timeout=1))
    for call in (lambda: s3.create_bucket(Bucket="b"), lambda: s3.put_object(Bucket="b", Key="k", Body=b"x")):
        with pytest.raises(Exception):
            call()  # nothing listens: the operations' models have been changed all the same
    faults._models.clear()
    faults._rest_routes.clear()  # as if no request had been matched before the client ran
    signed = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request"
    put_bucket = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket-two", "QUERY_STRING": "", "HTTP_AUTHORIZATION": signed}
    assert faults.identify(put_bucket) == ("s3", "CreateBucket", "us-east-1")
