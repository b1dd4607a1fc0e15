"""The Worker Manager: a worker run's start, results and finish."""

import json

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, jsonify, request

from . import idempotency, job_updates, lifecycle, observe
from .dynamodb_connection import dumps, now
from .errors import BadRequest, Conflict, Forbidden, ServiceUnavailable
from .files import file_info
from .resources import current_service, loads, parse_json_body
from .validation import check_file_keys, check_size

bp = Blueprint("worker_manager", __name__)
PARTICIPANT = "Worker Manager"
#: What Step Functions (or an emulator of it) answers for a task token whose task has ended.
TASK_ENDED = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")



def authenticated():
    """The calling worker's info, from its bearer token."""
    service = current_service()
    return service, service.worker_info.authenticate(request.headers.get("Authorization"))


def job_prefix(info: dict) -> str:
    return f"jobs/{info['job'].rsplit(':', 1)[-1]}/"


@bp.post("/v2/workers/start")
def start():
    service, info = authenticated()
    if info["status"] == "SUBMITTED":
        try:
            info = service.worker_info.transition(info, "RUNNING", allowed=("SUBMITTED",))
            job_updates.set_run(service.db, info["job"], info["worker"], status="RUNNING", updated_at=now())
        except Conflict:  # a concurrent start won, or the cached copy was behind
            info = service.worker_info.get(info["worker"], fresh=True)
    if info["status"] != "RUNNING":
        raise Conflict(f"worker run {info['worker']} has finished ({info['status']})")
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
    count = service.worker_info.count_result(info)
    observe.note(PARTICIPANT, "Update Parent Job Information")
    entry = {"worker": info["worker"], "data": body["data"], "files": files, "at": now()}
    job_updates.append_result(service.db, info["job"], info["worker"], entry)
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
    fields = {"output": dumps(outcome["output"])} if status == "SUCCEEDED" else {"error": dumps(outcome)}
    observe.note(PARTICIPANT, "Update Worker Status")
    claimed = service.worker_info.transition(info, status, **fields)  # a second finish: 409
    try:
        if status == "SUCCEEDED":
            service.clients.sfn.send_task_success(taskToken=info["task_token"],
                                                  output=json.dumps(outcome["output"]))
        else:
            service.clients.sfn.send_task_failure(taskToken=info["task_token"], **outcome)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in TASK_ENDED:
            _reopen(service, claimed)
            raise
        error = dumps({"error": "States.Timeout", "cause": f"the activity task had ended: {code}"})
        service.worker_info.transition(claimed, "FAILED", allowed=(status,), error=error)
        job_updates.set_run(service.db, info["job"], info["worker"], status="FAILED", error=error,
                            updated_at=now())
        raise Conflict(f"the activity task of worker run {info['worker']} has already ended ({code})") from exc
    except BotoCoreError as exc:
        _reopen(service, claimed)
        raise ServiceUnavailable("Step Functions is unreachable") from exc
    observe.note(PARTICIPANT, "Update Parent Job Information")
    job_updates.set_run(service.db, info["job"], info["worker"], status=status, updated_at=now(), **fields)
    service.queue.send({"type": "update-job", "job": info["job"], "worker": info["worker"]},
                       "Send Update Job Message")
    lifecycle.say("worker finished", info["worker"], status)
    return jsonify({"worker": info["worker"], "status": status})


def _reopen(service, info: dict) -> None:
    """Undo a finish whose activity task could not be completed, so the worker can retry."""
    service.worker_info.transition(info, "RUNNING", allowed=(info["status"],))
