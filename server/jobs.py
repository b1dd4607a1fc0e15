"""The API Server's jobs: requests are queued, jobs are read, listed and cancelled."""

from botocore.exceptions import ClientError
from flask import Blueprint, jsonify, request

from . import job_updates, lifecycle, waits
from .dynamodb_connection import dumps, now
from .errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from .resources import (JOB, JOB_DEFINITION, JOB_STATUSES, REQUEST, current_service, id_of, new_id,
                        parse_json_body, render_job, render_request)
from .validation import check_size

bp = Blueprint("jobs", __name__)



def _get(urn: str, prefix: str, watch=None, changes=None) -> dict:
    """The stored resource; with `watch` (what a long poll watches, from the query), as soon as that
    changes within the request's `?wait=` seconds. `changes(item)` is what its ETag stands for: a
    plain long poll whose `?seen=` names another ETag than the resource's now is answered at once."""
    id_of(urn, prefix)
    service = current_service()
    db = service.db
    seconds = waits.wait_seconds(request.args) if watch is not None else 0
    state, cares = watch(request.args) if watch is not None else (None, None)
    known = request.args.get("seen")
    seen = None
    if known and changes is not None and "until" not in request.args:  # `until` waits for a status, not a change
        seen = lambda item: waits.tag(changes(item)) == known  # noqa: E731

    def shown(item):
        if item is None:
            raise NotFound(f"no resource {urn!r}")
        if "dropped" in item:  # a tombstone: the target no longer keeps this ended job (a retention policy)
            raise NotFound(f"{urn} was {item['dropped']}")
        return item

    return waits.read(db, urn, seconds, state, shown, service.settings.wait_recheck_seconds, seen, cares)


def _tagged(body, item, changes):
    response = jsonify(body)
    response.headers["ETag"] = f'"{waits.tag(changes(item))}"'
    return response


@bp.post("/v2/jobs/requests")
def create_request():
    service = current_service()
    body = parse_json_body(request, service.settings.max_json_bytes)
    definition = body.get("definition")
    if not isinstance(definition, str) or not definition:
        raise BadRequest("'definition' must be a job definition URN")
    job_input = body.get("input", {})
    check_size(job_input, "input")
    stored = service.db.get(definition) if definition.startswith(JOB_DEFINITION) else None
    if stored is None:
        raise NotFound(f"no job definition {definition!r}")
    urn, at = REQUEST + new_id(), now()
    item = {"urn": urn, "kind": "request", "definition": definition, "input": dumps(job_input),
            "state_machine_arn": stored["state_machine_arn"], "workers": stored.get("workers") or [],
            "status": "PENDING",
            "created_at": at, "updated_at": at}
    service.db.put_new(item, label="Add Resource")
    try:
        service.messages.send({"type": "job-request", "request": urn}, "Send Request Message")
    except ClientError as exc:
        service.db.delete(urn)  # nothing changes when the request cannot be queued
        raise ServiceUnavailable("the queue (SQS) is unreachable") from exc
    lifecycle.say("request accepted", urn, definition)
    return jsonify({"urn": urn, "status": "PENDING"}), 202


@bp.get("/v2/jobs/requests/<urn>")
def get_request(urn):
    item = _get(urn, REQUEST, waits.request_watch, waits.request_state)
    return _tagged(render_request(item), item, waits.request_state)


@bp.get("/v2/jobs/<urn>")
def get_job(urn):
    item = _get(urn, JOB, waits.job_watch, waits.job_state)
    return _tagged(render_job(item, job_updates.results_of(current_service().db, item)), item, waits.job_state)


@bp.get("/v2/jobs")
def list_jobs():
    status, definition = request.args.get("status"), request.args.get("definition")
    if status is not None and status not in JOB_STATUSES:
        raise BadRequest(f"'status' must be one of {', '.join(JOB_STATUSES)}")
    jobs = [j for j in current_service().db.by_kind("job")
            if (status is None or j.get("status") == status)
            and (definition is None or j.get("definition") == definition)]
    db = current_service().db
    return jsonify({"jobs": [render_job(j, job_updates.results_of(db, j)) for j in jobs]})


@bp.post("/v2/jobs/<urn>/cancel")
def cancel_job(urn):
    service = current_service()
    job = _get(urn, JOB)
    if job.get("status") != "RUNNING":
        raise Conflict(f"job {urn} has already ended ({job.get('status')})")
    try:
        service.clients.sfn.stop_execution(executionArn=job["execution_arn"], error="Cancelled",
                                           cause="cancelled by a user through the API")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
    service.runs.end_job(job, "CANCELLED", "Cancelled", "the job was cancelled",
                         error={"error": "Cancelled", "cause": "cancelled by a user through the API"})
    job = service.db.get(urn)
    if job["status"] != "CANCELLED":  # the Queue saw the execution end on its own first
        raise Conflict(f"job {urn} ended {job['status']} before it could be cancelled")
    return jsonify(render_job(job, job_updates.results_of(service.db, job)))
