"""The Worker Manager: a worker run's start, results and finish."""

from botocore.exceptions import ClientError
from flask import Blueprint, jsonify, request

from . import idempotency, lifecycle, observe
from .dynamodb_connection import now
from .errors import BadRequest, Conflict, Forbidden
from .files import file_info
from .resources import current_service, loads, parse_json_body
from .runs import TASK_ENDED
from .validation import check_file_keys, check_size

bp = Blueprint("worker_manager", __name__)
PARTICIPANT = "Worker Manager"



def authenticated():
    """The calling worker's info, from its bearer token."""
    service = current_service()
    return service, service.worker_info.authenticate(request.headers.get("Authorization"))


def job_prefix(info: dict) -> str:
    return f"jobs/{info['job'].rsplit(':', 1)[-1]}/"


@bp.post("/v2/workers/start")
def start():
    service, info = authenticated()
    info = service.runs.start(info)
    lifecycle.say("worker started", info["worker"], f"job {info['job']}")
    return jsonify({"worker": info["worker"], "job": info["job"], "definition": info["definition"],
                    "input": loads(info["input"])})


@bp.post("/v2/worker/results")
@bp.post("/v2/workers/results")
@idempotency.keyed
def results():
    service, info = authenticated()  # a missing token is 401 before the body is looked at
    body = parse_json_body(request, service.settings.max_json_bytes)
    if "data" not in body:
        raise BadRequest("results need 'data' (any JSON)")
    files = check_file_keys(body.get("files"))
    check_size(body["data"], "data")
    prefix = job_prefix(info)
    for key in files:
        if not key.startswith(prefix):
            raise Forbidden(f"file {key!r} does not belong to this worker's job")
    service.worker_info.require_writable(info)
    for key in files:
        file_info(service, key)
    observe.note(PARTICIPANT, "Update Worker Results")
    entry = {"worker": info["worker"], "data": body["data"], "files": files, "at": now()}
    count = service.runs.add_result(info, entry)
    lifecycle.say("result posted", info["worker"], f"{count} so far")
    return jsonify({"worker": info["worker"], "results": count})


@bp.post("/v2/worker/heartbeat")
@bp.post("/v2/workers/heartbeat")
def heartbeat():
    """Tell Step Functions the run is alive (for definitions with heartbeat_seconds); not in the contract."""
    service, info = authenticated()
    service.worker_info.require_writable(info)
    try:
        service.clients.sfn.send_task_heartbeat(taskToken=info["task_token"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] in TASK_ENDED:
            raise Conflict(f"the activity task of worker run {info['worker']} has already ended") from exc
        raise
    return jsonify({"worker": info["worker"], "status": info["status"]})


def parse_finish(body: dict) -> tuple[str, dict]:
    """('SUCCEEDED', {"output"}) or ('FAILED', {"error", "cause"}) from a finish body."""
    if "error" in body:
        if "output" in body:
            raise BadRequest("finish takes either 'output' or 'error', not both")
        error, cause = body["error"], body.get("cause", "")
        if not isinstance(error, str) or not error:
            raise BadRequest("'error' must be a non-empty string (an error code)")
        if cause is None:
            cause = ""
        if not isinstance(cause, str):
            raise BadRequest("'cause' must be a string")
        return "FAILED", {"error": error[:256], "cause": cause[:32768]}
    check_size(body.get("output"), "output")
    return "SUCCEEDED", {"output": body.get("output")}


@bp.post("/v2/worker/finish")
@bp.post("/v2/workers/finish")
@idempotency.keyed
def finish():
    service, info = authenticated()  # a missing token is 401 before the body is looked at
    status, outcome = parse_finish(parse_json_body(request, service.settings.max_json_bytes))
    observe.note(PARTICIPANT, "Update Worker Status")
    service.runs.finish(info, status, outcome)  # a second finish: 409
    lifecycle.say("worker finished", info["worker"], status)
    return jsonify({"worker": info["worker"], "status": status})

