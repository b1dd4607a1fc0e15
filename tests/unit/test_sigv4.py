"""The emulator's signature check: botocore's signatures pass, anything edited, expired or foreign is 403."""

import hashlib
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.config import Config
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, strategies as st

from emulators.sigv4 import Credentials, Refused, verify

KEYS = Credentials.generate()
HOST = "127.0.0.1:4566"


def presign(key="jobs/a/w/out.txt", expires=60, credentials=KEYS):
    s3 = boto3.client("s3", endpoint_url=f"http://{HOST}", region_name="us-east-1", config=Config(signature_version="s3v4"),
                      aws_access_key_id=credentials.access_key_id,
                      aws_secret_access_key=credentials.secret_access_key)
    return s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=expires)


def check(url, now=None, credentials=KEYS):
    return verify("GET", url, {"host": HOST}, b"", credentials, now=now)


def signed_call(body=b'{"TableName": "t"}', credentials=KEYS):
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": "DynamoDB_20120810.Scan"})
    SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key), "dynamodb",
              "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = HOST
    return headers


def test_a_presigned_url_is_accepted_until_it_expires():
    url = presign(expires=60)
    assert check(url) == "s3"
    assert check(url, now=datetime.now(timezone.utc) + timedelta(seconds=50)) == "s3"
    with pytest.raises(Refused, match="expired") as refused:
        check(url, now=datetime.now(timezone.utc) + timedelta(seconds=61))
    assert refused.value.status == 403 and refused.value.code == "AccessDenied"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20))
def test_a_presigned_url_with_another_key_is_signature_does_not_match(other):
    url = presign("jobs/a/w/out.txt")
    edited = url.replace("jobs/a/w/out.txt", f"jobs/{other}/w/out.txt" if other != "a" else "jobs/b/w/out.txt")
    with pytest.raises(Refused) as refused:
        check(edited)
    assert refused.value.code == "SignatureDoesNotMatch" and refused.value.status == 403


@pytest.mark.parametrize("edit", [
    lambda u: u[:-4] + ("0000" if not u.endswith("0000") else "1111"),  # a forged signature
    lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=600"),  # a longer life
    lambda u: u.replace("Bucket", "bucket").replace("/b/", "/c/"),  # another bucket
])
def test_an_edited_presigned_url_is_refused(edit):
    with pytest.raises(Refused) as refused:
        check(edit(presign()))
    assert refused.value.status == 403


def test_a_url_signed_with_other_credentials_or_none_is_refused():
    with pytest.raises(Refused, match="Access Key Id") as refused:
        check(presign(credentials=Credentials("AKIAMADEUP", "secret")))
    assert refused.value.code == "InvalidAccessKeyId"
    with pytest.raises(Refused, match="not signed"):
        check(f"http://{HOST}/b/jobs/a/w/out.txt")


def test_a_header_signed_call_passes_and_its_body_or_key_cannot_change():
    body = b'{"TableName": "t"}'
    assert verify("POST", f"http://{HOST}/", signed_call(body), body, KEYS) == "dynamodb"
    with pytest.raises(Refused, match="signature"):
        verify("POST", f"http://{HOST}/", signed_call(body), b'{"TableName": "other"}', KEYS)
    with pytest.raises(Refused) as refused:
        verify("POST", f"http://{HOST}/", signed_call(body, Credentials("AKIAMADEUP", "s")), body, KEYS)
    assert refused.value.code == "InvalidAccessKeyId"
    with pytest.raises(Refused) as refused:
        verify("POST", f"http://{HOST}/", signed_call(body, Credentials(KEYS.access_key_id, "wrong")), body, KEYS)
    assert refused.value.code == "SignatureDoesNotMatch"


def test_a_header_signed_call_from_long_ago_is_refused():
    later = datetime.now(timezone.utc) + timedelta(minutes=16)
    with pytest.raises(Refused) as refused:
        verify("POST", f"http://{HOST}/", signed_call(), b'{"TableName": "t"}', KEYS, now=later)
    assert refused.value.code == "RequestTimeTooSkewed"


def signed_put(body: bytes, credentials=KEYS) -> dict:
    request = AWSRequest(method="PUT", url=f"http://{HOST}/b/k", data=body)
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key), "s3",
                "us-east-1").add_auth(request)
    return {**{k.lower(): v for k, v in request.headers.items()}, "host": HOST}


def test_the_body_is_read_only_once_the_caller_may_send_it():
    reads = []

    def read(limit=None):
        reads.append(limit)
        return b"payload"

    with pytest.raises(Refused):  # a foreign key: refused before its body is read
        verify("PUT", f"http://{HOST}/b/k", signed_put(b"payload", Credentials("AKIAMADEUP", "s")), read, KEYS)
    with pytest.raises(Refused):  # no signature at all
        verify("PUT", f"http://{HOST}/b/k", {"host": HOST}, read, KEYS)
    assert reads == []
    assert verify("PUT", f"http://{HOST}/b/k", signed_put(b"payload"), read, KEYS) == "s3"
    assert reads == [None]  # S3's hash is signed: the body is read after the signature, to check it


def test_an_s3_body_that_is_not_the_signed_one_is_refused():
    with pytest.raises(Refused) as refused:
        verify("PUT", f"http://{HOST}/b/k", signed_put(b"payload"), b"another payload", KEYS)
    assert refused.value.code == "XAmzContentSHA256Mismatch"
