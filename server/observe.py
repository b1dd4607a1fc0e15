"""Record every interaction between participants, in the sequence diagram's vocabulary.

Each component says who it is (`acting_as("Queue")`); calls through boto3 and
the cache are then recorded as arrows from that participant to the AWS
service. Sinks (a trace, a live diagram) subscribe with `subscribe()`; with
none, recording costs one list check.
"""

import contextlib
import contextvars
import threading
from dataclasses import asdict, dataclass, field

from . import clock

AWS_PARTICIPANTS = {
    "stepfunctions": "AWS SFN",
    "batch": "AWS Batch",
    "dynamodb": "AWS DynamoDB",
    "sqs": "AWS Queue",
    "s3": "AWS S3",
    "redis": "AWS ElastiCache",
}

#: The header a boto3 call names its participant in: emulators that inject faults read it, AWS ignores it.
PARTICIPANT_HEADER = "X-Harness-Participant"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("participant", default=None)
_sinks: list = []
_lock = threading.Lock()
_seq = iter(range(1, 1 << 62))


@dataclass
class Event:
    """One arrow: `source` did `label` to `target` (kind "call", "return" or "note")."""

    source: str
    target: str
    label: str
    kind: str = "call"
    at: float = field(default_factory=clock.now)
    seq: int = 0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def current() -> str | None:
    """Return the participant the running code acts as."""
    return _current.get()


@contextlib.contextmanager
def acting_as(participant: str):
    """Run the block as `participant`."""
    token = _current.set(participant)
    try:
        yield
    finally:
        _current.reset(token)


def record(source: str | None, target: str, label: str, kind: str = "call", **details) -> None:
    """Send one event to every sink (nothing to do when nobody listens)."""
    if not _sinks:
        return
    with _lock:
        # The thread tells one request's arrows from another's (a failure report leaves out the polling).
        event = Event(source or "?", target, label, kind, seq=next(_seq),
                      details={**details, "thread": threading.get_ident()})
        sinks = list(_sinks)
    for sink in sinks:
        sink(event)


def note(participant: str, text: str, **details) -> None:
    """Record a note over one participant (the diagram's `Note over`)."""
    record(participant, participant, text, kind="note", **details)


def subscribe(sink) -> None:
    with _lock:
        _sinks.append(sink)


def unsubscribe(sink) -> None:
    with _lock:
        if sink in _sinks:
            _sinks.remove(sink)


def _skip(operation: str, parsed: dict) -> bool:
    """Polls that returned nothing are not interactions."""
    if operation == "ReceiveMessage":
        return not parsed.get("Messages")
    if operation == "GetActivityTask":
        return not parsed.get("taskToken")
    return False


def hook_boto3(client) -> None:
    """Record each call of a boto3 client as an arrow to its AWS participant."""
    service = client.meta.service_model.service_name
    target = AWS_PARTICIPANTS.get(service, f"AWS {service}")

    def after_call(http_response=None, parsed=None, model=None, **_):
        if _sinks and not _skip(model.name, parsed or {}):
            record(current(), target, model.name, service=service)

    client.meta.events.register("after-call.*.*", after_call)
    client.meta.events.register("before-sign.*.*", _name_participant)


def _name_participant(request=None, signature_version="", **_) -> None:
    """Say which participant makes a call (a fault rule may apply to one participant's calls only).

    Not in presigned URLs: whoever fetches one would have to send the header too.
    """
    participant = current()
    if participant and request is not None and not str(signature_version).endswith("-query"):
        request.headers[PARTICIPANT_HEADER] = participant
