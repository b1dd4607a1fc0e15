"""The API Server's definitions: workers become Batch job definitions and activities, jobs state machines."""

import json

from botocore.exceptions import ClientError
from flask import Blueprint, jsonify, request

from . import asl
from .dynamodb_connection import Update, dumps, now
from .errors import BadRequest, Invalid, NotFound
from .resources import JOB_DEFINITION, WORKER, aws_name, current_service, parse_json_body, render_definition
from .validation import (MAX_ENVIRONMENT_BYTES, MAX_IMAGE_CHARS, MAX_MEMORY_MIB, MAX_SECONDS, MIN_MEMORY_MIB,
                         check_count, check_name, check_process_fields, check_size, check_vcpus)

bp = Blueprint("definitions", __name__)
#: Batch needs an image; a locally run worker has none.
LOCAL_IMAGE = "jobservice/local-worker"



def _optional(body: dict, key: str, kinds, check=None, what: str = ""):
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds) or (check and not check(value)):
        raise BadRequest(f"'{key}' must be {what}")
    return value


def parse_worker(body: dict) -> dict:
    """The fields of a worker definition, type-checked."""
    fields = {
        "name": check_name(body.get("name")),
        "image": _optional(body, "image", str, lambda v: v.strip() != "", "a non-empty string"),
        "command": _optional(body, "command", list,
                             lambda v: v and all(isinstance(a, str) for a in v), "a non-empty list of strings"),
        "environment": _optional(body, "environment", dict,
                                 lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
                                 "an object of string values"),
        "vcpus": check_vcpus(body.get("vcpus")),
        "memory_mib": check_count(body.get("memory_mib"), "memory_mib", MAX_MEMORY_MIB, MIN_MEMORY_MIB),
        "timeout_seconds": check_count(body.get("timeout_seconds"), "timeout_seconds", MAX_SECONDS),
        "heartbeat_seconds": check_count(body.get("heartbeat_seconds"), "heartbeat_seconds", MAX_SECONDS),
    }
    check_process_fields(fields["image"], fields["command"], fields["environment"])
    for key in ("command", "environment"):  # Batch's job definition holds both, DynamoDB's item too
        if fields[key]:
            check_size(fields[key], key, MAX_ENVIRONMENT_BYTES)
    if fields["image"] and len(fields["image"]) > MAX_IMAGE_CHARS:
        raise BadRequest(f"'image' must be at most {MAX_IMAGE_CHARS} characters")
    if fields["timeout_seconds"] and fields["heartbeat_seconds"] and \
            fields["heartbeat_seconds"] >= fields["timeout_seconds"]:
        raise Invalid("'heartbeat_seconds' must be smaller than 'timeout_seconds'")
    return fields


def register_worker(service, fields: dict) -> dict:
    """Register Worker Batch Job Definition and its activity; store the resource (a new revision)."""
    name, names = fields["name"], service.settings.names
    container = {
        "image": fields["image"] or LOCAL_IMAGE,
        "command": fields["command"] or [],
        "environment": [{"name": k, "value": v} for k, v in (fields["environment"] or {}).items()],
        "resourceRequirements": [{"type": "VCPU", "value": str(fields["vcpus"] or 1)},
                                 {"type": "MEMORY", "value": str(fields["memory_mib"] or 2048)}],
    }
    extra = {}
    if fields["timeout_seconds"]:  # Batch's floor is 60 s; the Task state enforces the exact timeout
        extra["timeout"] = {"attemptDurationSeconds": max(60, fields["timeout_seconds"])}
    batch_def = service.clients.batch.register_job_definition(
        jobDefinitionName=aws_name(names.prefix, name), type="container", containerProperties=container, **extra)
    activity_arn = ensure_activity(service.clients.sfn, aws_name(names.prefix, name))
    at = now()
    update = Update().add("revision", 1)
    update.set("kind", "worker").set("name", name).set("job_definition_arn", batch_def["jobDefinitionArn"])
    update.set("activity_arn", activity_arn).set("created_at", at, if_absent=True).set("updated_at", at)
    for key in ("image", "vcpus", "memory_mib", "timeout_seconds", "heartbeat_seconds"):
        update.set(key, fields[key])
    update.set("command", dumps(fields["command"])).set("environment", dumps(fields["environment"]))
    return service.db.update(WORKER + name, update, label="Add Resource")


def _create_or_find(create, exists_code: str, sfn, operation: str, items: str, arn_key: str, name: str) -> str:
    """Call `create`; where the endpoint says the name exists already, find that resource's ARN."""
    try:
        return create()
    except ClientError as exc:
        if exc.response["Error"]["Code"] != exists_code:
            raise
        for page in sfn.get_paginator(operation).paginate():
            for item in page[items]:
                if item["name"] == name:
                    return item[arn_key]
        raise


def ensure_activity(sfn, name: str) -> str:
    """Create the activity, or find it where the endpoint refuses a second CreateActivity."""
    return _create_or_find(lambda: sfn.create_activity(name=name)["activityArn"], "ActivityAlreadyExists",
                           sfn, "list_activities", "activities", "activityArn", name)


def register_job(service, name: str, definition) -> dict:
    """Validate the ASL, bind its workers, create or update the state machine; store the resource."""
    doc = asl.parse(definition)
    asl.validate(doc)
    workers = {}
    for urn in sorted(asl.worker_urns(doc)):
        worker = service.db.get(urn)
        if worker is None:
            raise Invalid(f"the definition runs an unknown worker {urn}", code="UnknownWorker")
        workers[urn] = worker
    bound = json.dumps(asl.bind(doc, workers))
    urn = JOB_DEFINITION + name
    existing = service.db.get(urn)
    sfn, sm_name = service.clients.sfn, aws_name(service.settings.names.prefix, name)
    try:
        if existing:
            arn = existing["state_machine_arn"]
            sfn.update_state_machine(stateMachineArn=arn, definition=bound)
        else:
            arn = _create_state_machine(service, sm_name, bound)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("InvalidDefinition", "ValidationException"):
            raise Invalid(f"Step Functions rejected the definition: {exc.response['Error'].get('Message')}")
        raise
    at = now()
    update = (Update().set("kind", "job-definition").set("name", name).set("state_machine_arn", arn)
              .set("definition_doc", dumps(doc)).set("workers", sorted(workers))
              .set("created_at", at, if_absent=True).set("updated_at", at))
    return service.db.update(urn, update, label="Add Resource")


def _create_state_machine(service, name: str, definition: str) -> str:
    """Create the state machine; one left by an earlier deployment with the same names is taken over."""
    sfn, created = service.clients.sfn, []

    def create() -> str:
        created.append(sfn.create_state_machine(name=name, definition=definition,
                                                roleArn=service.states_role_arn())["stateMachineArn"])
        return created[0]

    arn = _create_or_find(create, "StateMachineAlreadyExists", sfn, "list_state_machines", "stateMachines",
                          "stateMachineArn", name)
    if not created:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    return arn


@bp.post("/v2/definitions")
def create_definition():
    service = current_service()
    body = parse_json_body(request, service.settings.max_json_bytes)
    kind = body.get("type")
    if kind == "worker":
        item = register_worker(service, parse_worker(body))
    elif kind == "job":
        name = check_name(body.get("name"))
        if "definition" not in body:
            raise BadRequest("a job definition needs 'definition' (the ASL)")
        if not isinstance(body["definition"], (dict, str)):
            raise BadRequest("'definition' must be an ASL object or a string holding one")
        item = register_job(service, name, body["definition"])
    else:
        raise BadRequest(f"'type' must be 'worker' or 'job', got {kind!r}")
    return jsonify(render_definition(item)), 201


@bp.get("/v2/definitions/<urn>")
def get_definition(urn):
    if not urn.startswith((WORKER, JOB_DEFINITION)):
        raise NotFound(f"no definition {urn!r}")
    item = current_service().db.get(urn)
    if item is None:
        raise NotFound(f"no definition {urn!r}")
    return jsonify(render_definition(item))


@bp.get("/v2/definitions")
def list_definitions():
    kind = request.args.get("type")
    kinds = {"worker": ["worker"], "job": ["job-definition"], None: ["worker", "job-definition"]}
    if kind not in kinds:
        raise BadRequest(f"'type' must be 'worker' or 'job', got {kind!r}")
    db = current_service().db
    items = [i for k in kinds[kind] for i in db.by_kind(k)]
    return jsonify({"definitions": [render_definition(i) for i in items]})
