"""URNs, ids, and the contract's JSON shape of each stored resource."""

import json
import logging
import uuid

from flask import current_app

from .errors import BadRequest, NotFound, PayloadTooLarge
from .validation import parse_json

log = logging.getLogger(__name__)
WORKER = "urn:jobservice:worker:"
JOB_DEFINITION = "urn:jobservice:job-definition:"
REQUEST = "urn:jobservice:request:"
JOB = "urn:jobservice:job:"
RUN = "urn:jobservice:run:"
#: One result of a job: `<RESULT><job id>:<number>`.
RESULT = "urn:jobservice:result:"
RUN_ATTR = "run_"
JOB_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
#: Step Functions execution status -> job status.
EXECUTION_TO_JOB = {"RUNNING": "RUNNING", "SUCCEEDED": "COMPLETED", "FAILED": "FAILED",
                    "TIMED_OUT": "TIMED_OUT", "ABORTED": "CANCELLED", "PENDING_REDRIVE": "FAILED"}


def current_service():
    """The Service that the Flask app handling this request belongs to."""
    return current_app.extensions["jobservice"]


def aws_name(prefix: str, name: str) -> str:
    """The name of a definition's Batch job definition, activity and state machine."""
    return f"{prefix}-{name}"


def new_id() -> str:
    return uuid.uuid4().hex


def id_of(urn: str, prefix: str) -> str:
    """The id part of a URN of the given kind; NotFound for any other string."""
    if not isinstance(urn, str) or not urn.startswith(prefix) or not urn[len(prefix):]:
        raise NotFound(f"no resource {urn!r}: expected a URN starting with {prefix!r}")
    return urn[len(prefix):]


def loads(text):
    """A stored JSON text as its value; text that is not JSON (an endpoint's raw output) as the string it is."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        log.warning("a stored value is not JSON text; returned as a string")
        return text


def render_definition(item: dict) -> dict:
    out = {k: v for k, v in item.items() if k not in ("kind", "definition_doc", "bound_definition")}
    out["type"] = "worker" if item["kind"] == "worker" else "job"
    for key in ("command", "environment"):
        if key in out:
            out[key] = loads(out[key])
    if item["kind"] == "job-definition":
        out["definition"] = loads(item["definition_doc"])
    return out


def render_request(item: dict) -> dict:
    return {
        "urn": item["urn"], "definition": item["definition"], "input": loads(item.get("input")),
        "status": item["status"], "job": item.get("job"), "error": loads(item.get("error")),
        "created_at": item["created_at"], "updated_at": item["updated_at"],
    }


def render_run(entry: dict, results: list | None = None) -> dict:
    """A worker run's entry; `results` are the job's results (parsed), of which its own are shown."""
    return {
        "worker": entry["worker"], "definition": entry["definition"], "status": entry["status"],
        "batch_job_id": entry.get("batch_job_id"),
        "results": [r for r in results or () if isinstance(r, dict) and r.get("worker") == entry["worker"]],
        "output": loads(entry.get("output")), "error": loads(entry.get("error")),
        "created_at": entry["created_at"], "updated_at": entry["updated_at"],
    }


def render_job(item: dict, results: list[str] = ()) -> dict:
    """The job as the contract shows it; `results` are its result entries as stored (JSON text)."""
    runs = sorted((v for k, v in item.items() if k.startswith(RUN_ATTR)), key=lambda r: r["created_at"])
    parsed = [loads(r) for r in results]
    return {
        "urn": item["urn"], "request": item.get("request"), "definition": item.get("definition"),
        "input": loads(item.get("input")), "status": item.get("status"),
        "execution_arn": item.get("execution_arn"), "output": loads(item.get("output")),
        "error": loads(item.get("error")), "workers": [render_run(r, parsed) for r in runs],
        "results": parsed,
        "created_at": item.get("created_at"), "updated_at": item.get("updated_at"),
    }


def parse_json_body(request, max_bytes: int) -> dict:
    """The request's JSON object body; BadRequest for anything else."""
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is {len(raw)} bytes, over the limit of {max_bytes}")
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
