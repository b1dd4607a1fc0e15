"""Signature Version 4 checks in front of moto, which checks neither signatures nor presigned URLs' expiry.

Every request must be signed with the one credential pair this endpoint was started with:
in an `Authorization` header, or as a presigned URL (`X-Amz-Signature` in the query) that
has not expired. The signature is recomputed with botocore's own signers and compared in
constant time. Anything else is answered as AWS answers it (403), and never reaches moto.
"""

import hashlib
import hmac
import io
import json
import re
import logging
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, unquote

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

log = logging.getLogger(__name__)
#: Largest body read before its signature is known to be good (AWS's JSON and query APIs take far less).
MAX_UNVERIFIED_BODY = 16 * 1024 * 1024
SKEW = timedelta(minutes=15)  # AWS refuses a header-signed request whose time is further off (RequestTimeTooSkewed)
MAX_EXPIRES = 7 * 24 * 3600  # a presigned URL lives at most 7 days
TIME_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Credentials:
    """An access key pair; `generate()` makes a fresh one for one endpoint."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> "Credentials":
        alphabet = string.ascii_uppercase + string.digits
        return cls("AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)), secrets.token_urlsafe(30))


class Refused(Exception):
    """A request this endpoint does not serve: AWS's status, error code and message."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _parse_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise Refused("AccessDenied", "X-Amz-Date must be a time like 20260101T000000Z") from None


def _scope(credential: str, access_key_id: str) -> tuple[str, str, str]:
    """(date, region, service) of a credential `AKID/date/region/service/aws4_request` with our key."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Refused("AuthorizationHeaderMalformed", "the credential scope is malformed")
    if not hmac.compare_digest(parts[0].encode(), access_key_id.encode()):
        raise Refused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    return parts[1], parts[2], parts[3]


def _header_fields(header: str) -> dict[str, str]:
    algorithm, _, rest = header.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise Refused("AccessDenied", "only AWS4-HMAC-SHA256 signatures are accepted")
    fields = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
        raise Refused("AuthorizationHeaderMalformed", "the Authorization header is malformed")
    return fields


def verify(method: str, url: str, headers: dict[str, str], body, credentials: Credentials,
           now: datetime | None = None) -> str:
    """Check one request's signature; return the signed service's name, or raise Refused.

    `url` is the URL as sent (scheme, Host, the raw path and query); `headers` has lower-case names;
    `body` is the body's bytes, or a function `read(limit=None)` that reads them (called only when the
    signature needs them: not at all for an unsigned caller or a foreign key, after the signature for
    S3, whose payload hash is a signed header).
    """
    read = body if callable(body) else (lambda limit=None: body)
    now = now or datetime.now(timezone.utc)
    payload_hash = None
    boto_credentials = BotoCredentials(credentials.access_key_id, credentials.secret_access_key)
    query = url.partition("?")[2]
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "authorization" in headers:
        fields = _header_fields(headers["authorization"])
        date, region, service = _scope(fields["Credential"], credentials.access_key_id)
        timestamp = headers.get("x-amz-date", "")
        if abs(now - _parse_time(timestamp)) > SKEW:
            raise Refused("RequestTimeTooSkewed", "The difference between the request time and the current time "
                                                  "is too large.")
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed or any(name not in headers for name in signed):
            raise Refused("AccessDenied", "a signed header is missing from the request")
        if service == "s3" and "x-amz-content-sha256" in signed:  # the signature covers the declared hash
            data, claimed = b"", headers["x-amz-content-sha256"]
            payload_hash = claimed if re.fullmatch(r"[0-9a-f]{64}", claimed) else None
        else:
            data = read(MAX_UNVERIFIED_BODY)
        request = AWSRequest(method=method, url=url, headers={name: headers[name] for name in signed}, data=data)
        signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(boto_credentials, service, region)
        given = fields["Signature"]
    elif "X-Amz-Signature" in params:
        date, region, service = _scope(params.get("X-Amz-Credential", ""), credentials.access_key_id)
        timestamp = params.get("X-Amz-Date", "")
        try:
            expires = int(params.get("X-Amz-Expires", ""))
        except ValueError:
            raise Refused("AuthorizationQueryParametersError", "X-Amz-Expires must be a number of seconds") from None
        if not 1 <= expires <= MAX_EXPIRES:
            raise Refused("AuthorizationQueryParametersError", "X-Amz-Expires must be from 1 to 604800 seconds")
        start = _parse_time(timestamp)
        if now > start + timedelta(seconds=expires):
            raise Refused("AccessDenied", "Request has expired")
        if now < start - SKEW:
            raise Refused("AccessDenied", "Request is not valid yet")
        signed = unquote(params.get("X-Amz-SignedHeaders", "")).split(";")
        if "host" not in signed or any(name not in headers for name in signed):
            raise Refused("AccessDenied", "a signed header is missing from the request")
        # The signature covers the query without itself, in the order and encoding sent.
        rest = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
        request = AWSRequest(method=method, url=url.partition("?")[0] + "?" + rest,
                             headers={name: headers[name] for name in signed})
        signer = S3SigV4QueryAuth(boto_credentials, service, region, expires=expires)
        given = params["X-Amz-Signature"]
    elif "Signature" in params:
        raise Refused("AccessDenied", "only Signature Version 4 is accepted (X-Amz-Signature)")
    else:
        raise Refused("AccessDenied", "Access Denied: the request is not signed")
    if timestamp[:8] != date:
        raise Refused("SignatureDoesNotMatch", "the credential scope's date is not the request's date")
    request.context["timestamp"] = timestamp
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                                               "you provided. Check your key and signing method.")
    if payload_hash is not None and not hmac.compare_digest(hashlib.sha256(read()).hexdigest(), payload_hash):
        raise Refused("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match "
                                                   "what was computed.", 400)
    return service


#: AWS's codes for an unknown key and a wrong signature, by protocol (S3's are the ones raised above).
_CODES = {"json": {"InvalidAccessKeyId": "UnrecognizedClientException",
                   "SignatureDoesNotMatch": "InvalidSignatureException"},
          "query": {"InvalidAccessKeyId": "InvalidClientTokenId"}}


def _protocol(environ) -> str:
    """How the caller reads errors: S3's XML, the query protocol's XML (IAM, STS), or JSON."""
    content_type = environ.get("CONTENT_TYPE", "")
    scope = environ.get("HTTP_AUTHORIZATION", "") or environ.get("QUERY_STRING", "")
    if "/s3/aws4_request" in scope or "%2Fs3%2Faws4_request" in scope:
        return "s3"
    if "json" in content_type:
        return "json"
    return "query" if "x-www-form-urlencoded" in content_type else "s3"


def _refusal(environ, exc: Refused) -> tuple[str, list, bytes]:
    """AWS's error answer in the caller's protocol."""
    status = {403: "403 Forbidden", 413: "413 Request Entity Too Large"}.get(exc.status, f"{exc.status} Bad Request")
    protocol = _protocol(environ)
    code = _CODES.get(protocol, {}).get(exc.code, exc.code)
    if protocol == "json":
        body = json.dumps({"__type": code, "message": exc.message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)], body
    error = f"<Code>{code}</Code><Message>{exc.message}</Message>"
    if protocol == "query":
        body = f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error><RequestId>0</RequestId></ErrorResponse>"
    else:
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>{error}</Error>"
    return status, [("Content-Type", "text/xml" if protocol == "query" else "application/xml")], body.encode()


def _no_cors(start_response):
    """Drop moto's CORS headers: no browser page may read this endpoint, whatever Origin it sends."""

    def start(status, headers, exc_info=None):
        return start_response(status, [(k, v) for k, v in headers if not k.lower().startswith("access-control-")],
                              exc_info)

    return start


class _BodyReader:
    """Read a WSGI request's body once, when first needed, at most `limit` bytes (413 beyond)."""

    def __init__(self, environ):
        self.environ, self.data = environ, None

    def __call__(self, limit: int | None = None) -> bytes:
        if self.data is None:
            stream, chunked = self.environ["wsgi.input"], self.environ.get("wsgi.input_terminated")
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
            if limit is not None and length > limit:
                raise Refused("RequestEntityTooLarge", f"a request body is at most {limit} bytes", 413)
            if chunked:
                self.data = stream.read() if limit is None else stream.read(limit + 1)
                if limit is not None and len(self.data) > limit:
                    raise Refused("RequestEntityTooLarge", f"a request body is at most {limit} bytes", 413)
            else:
                self.data = stream.read(length) if length else b""
        return self.data


def guard(app, credentials: Credentials | None):
    """Wrap moto's WSGI app: refuse requests not signed with `credentials` (None: check nothing); never CORS."""

    def guarded(environ, start_response):
        start_response = _no_cors(start_response)
        if credentials is None:
            return app(environ, start_response)
        read = _BodyReader(environ)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw:
            raw = environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        url = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}{raw}"
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        try:
            if environ.get("PATH_INFO", "").startswith("/moto-api"):
                raise Refused("AccessDenied", "moto's own API is closed while credentials are checked")
            verify(environ["REQUEST_METHOD"], url, headers, read, credentials)
        except Refused as exc:
            log.info("refused %s %s: %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"), exc.code)
            status, response_headers, payload = _refusal(environ, exc)
            start_response(status, response_headers + [("Content-Length", str(len(payload)))])
            return [payload]
        if read.data is not None:  # what was read is moto's to read again; else moto reads the stream itself
            environ["wsgi.input"] = io.BytesIO(read.data)
        return app(environ, start_response)

    return guarded
