"""Writes to a job's item: every "Update Job Resource" arrow of the diagram.

A job's results are not in its item: each is an item of its own,
`urn:jobservice:result:<job id>:<n>`, so a job takes any number of results and each stays
within DynamoDB's 400 KB item limit. A result's number is reserved first (`result_seq`); the
result's item and the job's `result_count` are then written in one transaction, so whoever sees
the count change (a long poll) finds the result.
"""

from .dynamodb_connection import JOBS_CREATED, ConditionFailed, Update, dumps, now
from .resources import JOB, RESULT, RUN_ATTR

LABEL = "Update Job Resource"


def create_job(db, job_urn: str, request: dict, execution_arn: str) -> None:
    """Add Job Resource: idempotent, safe if a worker's entry was written first, a no-op once it ended."""
    at = now()
    update = (Update().set("kind", "job").set("request", request["urn"])
              .set("definition", request["definition"]).set("input", request.get("input") or "{}")
              .set("execution_arn", execution_arn).set("status", "RUNNING", if_absent=True)
              .set("created_at", at, if_absent=True).set("updated_at", at).set("active", "job")
              .set("workers", request.get("workers") or []))
    update.names["#s"] = "status"
    update.values[":running"] = {"S": "RUNNING"}
    try:
        db.update(job_urn, update, condition="attribute_not_exists(#s) OR #s = :running",
                  label="Add Job Resource", returns="NONE")
    except ConditionFailed:
        return  # a redelivered request of a job that has ended
    db.changes.notify(JOBS_CREATED, {"workers": list(request.get("workers") or [])})  # what the poller polls


def set_run(db, job_urn: str, worker_id: str, allowed=None, **fields) -> bool:
    """Write fields of one worker run's entry in its job; with `allowed`, only while its status is one of
    them (and its `batch_job_id` unset when that is written). False if the condition did not hold."""
    update = Update().set("updated_at", now())
    ref = RUN_ATTR + worker_id
    for key, value in fields.items():
        update.set((ref, key), value)
    condition = None
    if allowed is not None:
        update.names.update({"#run": ref, "#rst": "status"})
        update.values.update({f":a{i}": {"S": s} for i, s in enumerate(allowed)})
        condition = "#run.#rst IN (" + ", ".join(f":a{i}" for i in range(len(allowed))) + ")"
        if "batch_job_id" in fields:
            update.names["#rbj"] = "batch_job_id"
            condition += " AND attribute_not_exists(#run.#rbj)"
    try:
        db.update(job_urn, update, condition=condition, label=LABEL, returns="NONE")
        return True
    except ConditionFailed:
        return False


def add_run(db, job_urn: str, entry: dict) -> None:
    """Record a new worker run in its job."""
    update = Update().set(RUN_ATTR + entry["worker"], entry, if_absent=True).set("updated_at", now())
    db.update(job_urn, update, label=LABEL, returns="NONE")


def result_urn(job_urn: str, number: int) -> str:
    return f"{RESULT}{job_urn[len(JOB):]}:{number}"


def append_result(db, job_urn: str, worker_id: str, result: dict) -> int:
    """Store one more result of the job (its own item); return its number (1, 2, ...)."""
    number = int(db.update(job_urn, Update().add("result_seq", 1), label="Reserve Result Number",
                           returns="UPDATED_NEW")["result_seq"])
    db.put_and_update({"urn": result_urn(job_urn, number), "job": job_urn, "worker": worker_id,
                       "number": number, "entry": dumps(result)},
                      job_urn, Update().add("result_count", 1).set("updated_at", now()), label=LABEL)
    return number


def results_of(db, job: dict) -> list[str]:
    """The job's results (JSON text each), in the order they were numbered.

    A number whose item is missing (its writer died after reserving it, or is writing it now) is skipped.
    """
    count = int(job.get("result_seq") or 0)
    if not count:
        return []
    urns = [result_urn(job["urn"], n) for n in range(1, count + 1)]
    found = db.get_many(urns, label="Get Job Results")
    return [found[u]["entry"] for u in urns if u in found]


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


def clear_active(db, job_urn: str) -> None:
    """Drop the running-job marker of a job that has ended."""
    db.update(job_urn, Update().remove("active"), label=LABEL, returns="NONE")
