"""Writes to a job's item: every "Update Job Resource" arrow of the diagram."""

from .dynamodb_connection import ConditionFailed, Update, dumps, now
from .resources import RUN_ATTR

LABEL = "Update Job Resource"


def create_job(db, job_urn: str, request: dict, execution_arn: str) -> None:
    """Add Job Resource: idempotent, safe if a worker's entry was written first, a no-op once it ended."""
    at = now()
    update = (Update().set("kind", "job").set("request", request["urn"])
              .set("definition", request["definition"]).set("input", request.get("input") or "{}")
              .set("execution_arn", execution_arn).set("status", "RUNNING", if_absent=True)
              .set("created_at", at, if_absent=True).set("updated_at", at)
              .set("results", [], if_absent=True).set("active", "job"))
    update.names["#s"] = "status"
    update.values[":running"] = {"S": "RUNNING"}
    try:
        db.update(job_urn, update, condition="attribute_not_exists(#s) OR #s = :running",
                  label="Add Job Resource", returns="NONE")
    except ConditionFailed:
        pass  # a redelivered request of a job that has ended


def set_run(db, job_urn: str, worker_id: str, **fields) -> None:
    """Write fields of one worker run's entry in its job."""
    update = Update().set("updated_at", now())
    ref = RUN_ATTR + worker_id
    for key, value in fields.items():
        update.set((ref, key), value)
    db.update(job_urn, update, label=LABEL, returns="NONE")


def add_run(db, job_urn: str, entry: dict) -> None:
    """Record a new worker run in its job."""
    update = Update().set(RUN_ATTR + entry["worker"], entry, if_absent=True).set("updated_at", now())
    db.update(job_urn, update, label=LABEL, returns="NONE")


def append_result(db, job_urn: str, worker_id: str, result: dict) -> None:
    """Append one result to the job and to its worker run, in one atomic write."""
    text = dumps(result)
    update = (Update().append("results", [text]).append((RUN_ATTR + worker_id, "results"), [text])
              .set("updated_at", now()))
    db.update(job_urn, update, label=LABEL, returns="NONE")


def end_job(db, job_urn: str, status: str, output=None, error=None) -> bool:
    """Set a RUNNING job's final status; False if it had ended already."""
    update = Update().set("status", status).set("updated_at", now()).remove("active")
    if output is not None:
        update.set("output", output)
    if error is not None:
        update.set("error", dumps(error))
    update.names["#s"] = "status"
    update.values[":running"] = {"S": "RUNNING"}
    try:
        db.update(job_urn, update, condition="#s = :running", label=LABEL, returns="NONE")
        return True
    except ConditionFailed:
        return False


def touch(db, job_urn: str) -> None:
    db.update(job_urn, Update().set("updated_at", now()), label=LABEL, returns="NONE")


def clear_active(db, job_urn: str) -> None:
    """Drop the running-job marker of a job that has ended."""
    db.update(job_urn, Update().remove("active"), label=LABEL, returns="NONE")
