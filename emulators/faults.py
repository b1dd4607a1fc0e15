"""Fault rules at the AWS layer: which calls fail (or wait, or are delivered twice), decided in one place.

A rule names a service and an operation (`dynamodb:UpdateItem`, `sqs:*`), what
happens (an AWS error code with its HTTP status, added latency, for SQS a
message delivered twice or late) and how often (a probability with a seed, the
first N matching calls, the Nth one, or only calls made as one participant).

`check(service, operation, participant)` is the decision. Two callers use it:
`wsgi(app)`, a WSGI wrapper in front of moto (the embedded target's loopback
server and `harness emulate`; put it around moto's app in an in-process
transport too), which answers the error in the caller's protocol; and the SQS
backend patch (`install()`), which copies or delays messages. Every fault that
fires is recorded as an observe event (a note over the AWS participant, with
`details["fault"]`), so it shows in the trace, the diagram and failure reports.
"""

import json
import random
import re
import threading
import time
from dataclasses import dataclass, field

from server import observe

from . import scope

PARTICIPANT_HEADER = observe.PARTICIPANT_HEADER
#: Names users may write for a service, besides boto3's own: the IAM prefix and LocalStack's names.
ALIASES = {"states": "stepfunctions", "elasticache": "redis"}
#: The status AWS sends with common error codes, when a rule names only the code.
STATUS_OF = {"ThrottlingException": 400, "Throttling": 400, "ThrottledException": 400, "RequestThrottled": 400,
             "ProvisionedThroughputExceededException": 400, "RequestLimitExceeded": 400, "SlowDown": 503,
             "TooManyRequestsException": 429, "InternalServerError": 500, "InternalFailure": 500,
             "InternalError": 500, "ServiceUnavailable": 503, "ServiceUnavailableException": 503}
SQS_EFFECTS = ("duplicate", "late")


class FaultError(ValueError):
    """A rule that cannot match or cannot be applied: says which field and why."""


@dataclass
class Rule:
    """One AWS-layer fault rule and its counters."""

    service: str = "*"
    operation: str = "*"
    error: str | None = None
    status: int | None = None
    message: str = ""
    latency_ms: int = 0
    probability: float = 1.0
    first: int | None = None
    nth: int | None = None
    participant: str | None = None
    region: str | None = None
    #: SQS only: "duplicate" (each received message delivered once more) or "late" (sent with a delay).
    sqs: str | None = None
    delay_seconds: int = 0
    seed: int | None = None
    name: str = ""
    calls: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)
    _random: random.Random = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self._random = random.Random(self.seed)
        self.name = self.name or describe(self)

    def matches(self, service: str, operation: str, participant: str | None = None,
                region: str | None = None) -> bool:
        """Whether a call is one this rule is about (before counting and chance)."""
        return (self.service in ("*", service) and self.operation in ("*", operation)
                and (self.participant is None or self.participant == participant)
                and (self.region is None or region is None or self.region == region))

    def fires(self) -> bool:
        """Count one matching call and say whether the fault applies to it (first N, Nth, probability)."""
        self.calls += 1
        if self.first is not None and self.calls > self.first:
            return False
        if self.nth is not None and self.calls != self.nth:
            return False
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_chaos(self) -> dict:
        """The rule in LocalStack's Chaos API shape."""
        out = {"service": self.service, "operation": self.operation, "probability": self.probability}
        if self.region:
            out["region"] = self.region
        if self.error:
            out["error"] = {"statusCode": self.status, "code": self.error}
        return out


@dataclass
class Fault:
    """What `check` decided for one call: an error to answer (or None) and a latency to add first."""

    rule: str
    error: str | None = None
    status: int = 400
    message: str = ""
    latency_ms: int = 0


def describe(rule: Rule) -> str:
    what = rule.error or (f"SQS {rule.sqs}" if rule.sqs else f"+{rule.latency_ms} ms")
    how = (f"{rule.probability:.0%} of calls" if rule.probability < 1 else
           f"call {rule.nth}" if rule.nth else f"first {rule.first} calls" if rule.first else "every call")
    who = f" by {rule.participant}" if rule.participant else ""
    return f"{what} on {rule.service}:{rule.operation}{who}, {how}"


# -- validation against botocore's service models --------------------------------------------
_models: dict = {}
_models_lock = threading.Lock()


def _service_model(service: str):
    """A service's model as botocore ships it, from a loader of our own.

    Clients change their loader's models in place (S3's `requestUri` loses its `/{Bucket}`
    once a client has used it), and the process's loader is shared (emulators/shared_loader.py).
    """
    with _models_lock:
        if service not in _models:
            from botocore.exceptions import DataNotFoundError
            from botocore.loaders import Loader
            from botocore.model import ServiceModel

            try:
                _models[service] = ServiceModel(Loader().load_service_model(service, "service-2"), service)
            except DataNotFoundError:
                _models[service] = None
        return _models[service]


def known_services() -> list:
    import botocore.session

    return botocore.session.get_session().get_available_services()


def service_name(name: str) -> str:
    """boto3's name of a service as users write it (`states` is `stepfunctions`)."""
    return ALIASES.get(name.lower(), name.lower())


def validate(rule: Rule) -> Rule:
    """Refuse a rule that cannot match (an unknown service or operation) or cannot be applied."""
    import difflib

    if rule.service != "*":
        model = _service_model(rule.service)
        if model is None:
            close = difflib.get_close_matches(rule.service, known_services(), n=1)
            raise FaultError(f"unknown AWS service {rule.service!r}" +
                             (f" (did you mean {close[0]!r}?)" if close else "") + ": name it as boto3 does")
        if rule.operation != "*" and rule.operation not in model.operation_names:
            close = difflib.get_close_matches(rule.operation, model.operation_names, n=1)
            raise FaultError(f"{rule.service} has no operation {rule.operation!r}" +
                             (f" (did you mean {close[0]!r}?)" if close else ""))
    if not 0.0 <= rule.probability <= 1.0:
        raise FaultError(f"probability must be between 0 and 1, got {rule.probability!r}")
    for key in ("first", "nth"):
        value = getattr(rule, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise FaultError(f"{key!r} must be a positive integer, got {value!r}")
    if rule.status is not None and not (isinstance(rule.status, int) and 400 <= rule.status <= 599):
        raise FaultError(f"status must be an HTTP error status (400-599), got {rule.status!r}")
    if rule.error is not None and not re.match(r"^[A-Za-z][A-Za-z0-9.]{0,127}$", str(rule.error)):
        raise FaultError(f"error must be an AWS error code such as ThrottlingException, got {rule.error!r}")
    if not isinstance(rule.latency_ms, int) or not 0 <= rule.latency_ms <= 60_000:
        raise FaultError(f"latency_ms must be 0-60000, got {rule.latency_ms!r}")
    if rule.sqs is not None:
        if rule.sqs not in SQS_EFFECTS:
            raise FaultError(f"sqs must be one of {', '.join(SQS_EFFECTS)}, got {rule.sqs!r}")
        if rule.service not in ("sqs", "*"):
            raise FaultError(f"an SQS delivery fault applies to sqs, not {rule.service!r}")
        if not 0 <= rule.delay_seconds <= 900:
            raise FaultError(f"delay_seconds must be 0-900 (SQS's limit), got {rule.delay_seconds!r}")
    if rule.error is None and rule.latency_ms == 0 and rule.sqs is None:
        raise FaultError("a rule needs an error, a latency_ms, or an sqs effect")
    if rule.error is not None and rule.status is None:
        rule.status = STATUS_OF.get(rule.error, 400)
    return rule


def parse_target(text: str) -> tuple[str, str]:
    """`service:operation` (either may be `*`; no operation means every one) as (service, operation)."""
    if not isinstance(text, str) or not text.strip():
        raise FaultError(f"name the calls as 'service:Operation' (e.g. dynamodb:UpdateItem), got {text!r}")
    service, _, operation = text.strip().partition(":")
    return service_name(service), operation or "*"


def rule_from_chaos(item: dict) -> Rule:
    """A rule from LocalStack's Chaos API shape: service, region, operation, probability, error{statusCode, code}."""
    if not isinstance(item, dict):
        raise FaultError("each fault rule must be a JSON object")
    unknown = set(item) - {"service", "region", "operation", "probability", "error"}
    if unknown:
        raise FaultError(f"unknown field(s) in a fault rule: {', '.join(sorted(unknown))}")
    error = item.get("error") or {}
    if not isinstance(error, dict):
        raise FaultError("'error' must be an object with statusCode and code")
    return validate(Rule(service=service_name(item.get("service") or "*"), operation=item.get("operation") or "*",
                         region=item.get("region"), probability=float(item.get("probability", 1.0)),
                         error=error.get("code", "ServiceUnavailable"), status=error.get("statusCode", 503),
                         message=error.get("message", "")))


# -- the registry -----------------------------------------------------------------------------
_rules: list[Rule] = []
_lock = threading.Lock()
#: LocalStack's network effect: latency added to every call (ms).
effects = {"latency": 0}


def add(rule: Rule) -> Rule:
    validate(rule)
    with _lock:
        _rules.append(rule)
    return rule


def remove(rule: Rule) -> None:
    with _lock:
        _rules[:] = [r for r in _rules if r is not rule]


def replace_all(rules: list) -> None:
    with _lock:
        _rules[:] = list(rules)


def rules() -> list:
    with _lock:
        return list(_rules)


def clear() -> None:
    replace_all([])
    effects["latency"] = 0


def _fire(service, operation, participant, region, want_sqs=None):
    """Rules that fire for this call, counted under the lock (seeded chances stay repeatable)."""
    with _lock:
        return [r for r in _rules if r.sqs == want_sqs and r.matches(service, operation, participant, region)
                and r.fires()]


def check(service: str, operation: str, participant: str | None = None, region: str | None = None) -> Fault | None:
    """The fault for one AWS call, or None: the first firing rule's error, with every firing rule's latency."""
    service = service_name(service)
    fired = _fire(service, operation, participant, region)
    latency = effects.get("latency", 0) + sum(r.latency_ms for r in fired)
    if not fired and not latency:
        return None
    failing = next((r for r in fired if r.error), None)
    for rule in fired:
        _record(rule, service, operation, participant)
    if failing is None:
        return Fault(rule=fired[0].name if fired else "latency effect", latency_ms=latency)
    return Fault(rule=failing.name, error=failing.error, status=failing.status or 400,
                 message=failing.message or f"injected fault: {failing.name}", latency_ms=latency)


def _record(rule, service, operation, participant) -> None:
    target = observe.AWS_PARTICIPANTS.get(service, f"AWS {service}")
    what = rule.error or (f"+{rule.latency_ms} ms" if rule.latency_ms else f"message {rule.sqs}")
    observe.note(target, f"fault: {what} on {operation}" + (f" by {participant}" if participant else ""),
                 fault=rule.name)


# -- the WSGI wrapper -------------------------------------------------------------------------
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/")


def identify(environ) -> tuple[str | None, str | None, str | None]:
    """(service, operation, region) of a request to an AWS endpoint, as far as the request says."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region, signing = (match.group(1), match.group(2)) if match else (None, None)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target and "." in target:
        prefix, operation = target.rsplit(".", 1)
        return _by_target_prefix(prefix) or service_name(signing or ""), operation, region
    service = {"states": "stepfunctions"}.get(signing, signing)
    if service is None:
        return None, None, region
    if service in ("iam", "sts", "sqs"):  # query protocol: Action= in the query string or the form body
        action = re.search(r"(?:^|&)Action=([A-Za-z]+)", environ.get("QUERY_STRING", "") + "&" + _form(environ))
        return service, action.group(1) if action else None, region
    return service, _rest_operation(service, environ), region


def _form(environ) -> str:
    """A form body's text (put back for the app to read), or "" for any other body."""
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return ""
    import io

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return ""
    body = environ["wsgi.input"].read(length) if 0 < length <= 1 << 20 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body.decode("latin-1")


def _by_target_prefix(prefix: str) -> str | None:
    return {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AWSStepFunctions": "stepfunctions"}.get(prefix)


_rest_routes: dict = {}


def _uri_pattern(uri: str):
    """A regular expression of a REST path template (`/v1/jobs/{jobId}`, `/{Bucket}/{Key+}`)."""
    parts = re.split(r"(\{[^}]+\})", uri.rstrip("/") or "/")
    return re.compile("^" + "".join(".+" if p.endswith("+}") else "[^/]+" if p.startswith("{") else re.escape(p)
                                    for p in parts) + "/?$")


def _rest_operation(service: str, environ) -> str | None:
    """The operation of a REST request (Batch, S3) from the service model's methods and URI templates."""
    routes = _rest_routes.get(service)
    if routes is None:
        model = _service_model(service)
        routes = []
        for name in (model.operation_names if model else []):
            http = model.operation_model(name).http
            path, _, query = http.get("requestUri", "/").partition("?")
            literal = len(re.sub(r"\{[^}]+\}", "", path))
            routes.append((http.get("method"), _uri_pattern(path), query.split("=")[0], literal, name))
        # The most specific first: a query marker, then more literal characters.
        routes.sort(key=lambda r: (-bool(r[2]), -r[3]))
        _rest_routes[service] = routes
    method, path, query = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", "")
    keys = {item.split("=")[0] for item in query.split("&") if item}
    for verb, pattern, marker, _, name in routes:
        if verb == method and pattern.match(path) and (not marker or marker in keys):
            return name
    return None


def error_response(service: str, fault: Fault) -> tuple[str, list, bytes]:
    """(status line, headers, body) of an AWS error in the protocol of `service`."""
    model = _service_model(service)
    protocol = model.protocol if model else "json"
    reason = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(fault.status, "Error")
    status = f"{fault.status} {reason}"
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": fault.error, "message": fault.message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", fault.error),
                        ("x-amzn-query-error", f"{fault.error};Sender")], body
    if protocol == "rest-xml":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{fault.error}</Code>"
                f"<Message>{fault.message}</Message><RequestId>fault</RequestId></Error>").encode()
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.error}</Code><Message>{fault.message}"
                f"</Message></Error><RequestId>fault</RequestId></ErrorResponse>").encode()
    return status, [("Content-Type", "text/xml")], body


def wsgi(app):
    """Wrap moto's WSGI app so that fault rules apply to the requests it answers."""

    def faulty(environ, start_response):
        if not _rules and not effects.get("latency"):
            return app(environ, start_response)
        service, operation, region = identify(environ)
        if service is None or operation is None:
            return app(environ, start_response)
        participant = environ.get("HTTP_" + PARTICIPANT_HEADER.upper().replace("-", "_")) or observe.current()
        fault = check(service, operation, participant, region)
        if fault is not None and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault is None or fault.error is None:
            return app(environ, start_response)
        status, headers, body = error_response(service, fault)
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    faulty.wrapped = app
    return faulty


# -- SQS delivery: duplicates and late messages (a patch of moto's SQS backend) ---------------
_installed = False


def install() -> None:
    """Patch moto's SQS backend so that `sqs:` rules copy or delay messages (idempotent, scoped)."""
    global _installed
    if _installed:
        return
    from moto.sqs.models import SQSBackend

    receive, send = SQSBackend.receive_message, SQSBackend.send_message

    def receive_message(self, queue_name, *args, **kwargs):
        messages = receive(self, queue_name, *args, **kwargs)
        if scope.active() and _rules:
            for message in messages:
                fired = [] if getattr(message, "_harness_copy", False) else \
                    _fire("sqs", "ReceiveMessage", None, None, want_sqs="duplicate")
                if not fired:
                    continue
                rule = fired[0]
                _record(rule, "sqs", "ReceiveMessage", None)
                again = send(self, queue_name, message.body, delay_seconds=rule.delay_seconds)
                again.id, again._harness_copy = message.id, True  # the same message, delivered once more
        return messages

    def send_message(self, queue_name, message_body, *args, **kwargs):
        if scope.active() and _rules:
            late = _fire("sqs", "SendMessage", None, None, want_sqs="late")
            if late:
                _record(late[0], "sqs", "SendMessage", None)
                kwargs["delay_seconds"] = max(late[0].delay_seconds, 1)
        return send(self, queue_name, message_body, *args, **kwargs)

    SQSBackend.receive_message, SQSBackend.send_message = receive_message, send_message
    _installed = True


__all__ = ["Fault", "FaultError", "Rule", "add", "check", "clear", "install", "remove", "replace_all",
           "rules", "validate", "wsgi"]
