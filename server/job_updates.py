"""Writes to a job's item: every "Update Job Resource" arrow of the diagram.

A job's results are not in its item: each is an item of its own,
`urn:jobservice:result:<job id>:<n>`, so a job takes any number of results and each stays
within DynamoDB's 400 KB item limit. A result's number is reserved first (`result_seq`); the
result's item and the job's `result_count` are then written in one transaction, so whoever sees
the count change (a long poll) finds the result.
"""

from .dynamodb_connection import JOBS_CREATED, ConditionFailed, Update, dumps, now
from .resources import JOB, RESULT, RUN_ATTR
from .worker_info import ACTIVE_STATUSES

LABEL = "Update Job Resource"


def runs_written(names) -> bool:
    """Whether a write of a job item's attributes `names` wrote one of its runs' entries."""
    return any(name.startswith(RUN_ATTR) for name in names)


def create_job(db, job_urn: str, request: dict, execution_arn: str) -> None:
    """Add Job Resource: idempotent, safe if a worker's entry was written first, a no-op once it ended.

    The common case is a job item not stored yet: one PutItem on its absence writes it whole. Where an
    item is there (a redelivered request, or a run's entry the poller wrote first), the UpdateItem
    below adds the job's fields to it, keeping its status and creation time, and only while it runs.
    """
    at = now()
    fields = {"kind": "job", "request": request["urn"], "definition": request["definition"],
              "input": request.get("input") or "{}", "execution_arn": execution_arn, "status": "RUNNING",
              "created_at": at, "updated_at": at, "active": "job", "workers": request.get("workers") or []}
    if not db.put_new({"urn": job_urn, **fields}, label="Add Job Resource"):
        update = Update()
        for name, value in fields.items():
            update.set(name, value, if_absent=name in ("status", "created_at"))
        update.names["#s"] = "status"
        update.values[":running"] = {"S": "RUNNING"}
        try:
            db.update(job_urn, update, condition="attribute_not_exists(#s) OR #s = :running",
                      label="Add Job Resource", returns="NONE")
        except ConditionFailed:
            return  # a redelivered request of a job that has ended
    db.changes.notify(JOBS_CREATED, {"workers": list(fields["workers"])})  # what the poller polls


#: A run's statuses in the order they move: a job's entry of a run never moves back.
RANK = {"SUBMITTED": 0, "RUNNING": 1, "SUCCEEDED": 2, "FAILED": 2}
#: What a run's entry in its job holds of the run (its results are items of their own).
ENTRY_FIELDS = ("worker", "definition", "status", "batch_job_id", "output", "error", "created_at")
#: Enough for every change an entry can see (written whole, Batch job, started, ended), plus one.
_ATTEMPTS = 6


class JobEnded(Exception):
    """A run's entry is not in its job and the job has ended: an unfinished run is not added to it."""


def plan_run(entry: dict | None, info: dict, job_status: str | None):
    """What brings a job's entry of a run (None: no entry) up to the run as `info` has it.

    ("whole", entry) to write the whole entry; ("fields", fields) for the fields the entry lacks or
    has behind (its status only forward, its Batch job id only once); None if it is there already.
    Raises JobEnded for an unfinished run with no entry in a job that has ended.
    """
    if entry is None:
        if info["status"] in ACTIVE_STATUSES and job_status not in (None, "RUNNING"):
            raise JobEnded(info["job"])
        return _whole(info)
    fields = {}
    if RANK[info["status"]] > RANK[entry["status"]]:
        fields.update({k: info[k] for k in ("status", "output", "error") if info.get(k) is not None})
    if info.get("batch_job_id") and not entry.get("batch_job_id"):
        fields["batch_job_id"] = info["batch_job_id"]
    return ("fields", fields) if fields else None


def _whole(info: dict):
    return "whole", {k: info[k] for k in ENTRY_FIELDS if info.get(k) is not None}


def _run_update(worker_id: str, plan) -> tuple[Update, str]:
    """The UpdateItem (and its condition) of a plan: each holds only on the entry the plan was made for."""
    kind, fields = plan
    ref, at = RUN_ATTR + worker_id, now()
    update = Update().set("updated_at", at)
    update.names["#run"] = ref
    if kind == "whole":
        update.set(ref, {**fields, "updated_at": at})
        condition = "attribute_not_exists(#run)"
        if fields["status"] in ACTIVE_STATUSES:  # an unfinished run joins only a job that runs (or is not stored yet)
            update.names["#js"] = "status"
            update.values[":running"] = {"S": "RUNNING"}
            condition += " AND (attribute_not_exists(#js) OR #js = :running)"
        return update, condition
    for key, value in {**fields, "updated_at": at}.items():
        update.set((ref, key), value)
    update.names["#rst"] = "status"
    conditions = ["attribute_exists(#run.#rst)"]
    if "status" in fields:
        lower = [s for s, rank in RANK.items() if rank < RANK[fields["status"]]]
        update.values.update({f":r{i}": {"S": s} for i, s in enumerate(lower)})
        conditions.append("#run.#rst IN (" + ", ".join(f":r{i}" for i in range(len(lower))) + ")")
    if "batch_job_id" in fields:
        update.names["#rbj"] = "batch_job_id"
        conditions.append("attribute_not_exists(#run.#rbj)")
    return update, " AND ".join(conditions)


def write_run(db, info: dict, submitted: bool = False, batch_job: bool = False) -> bool:
    """Bring a run's entry in its job up to `info` (the run as its writer has just stored or read it).

    Every run's entry is written here: the first write of an entry writes it whole (DynamoDB takes no
    nested path in a map that is not there), later ones only what moves forward. Each write holds only
    on the entry it was made for; one that finds the entry otherwise is answered with the job item as
    it is (no extra read) and made again from it, so writes arriving in any order, twice, or from two
    processes leave the entry as the run's latest state. The first try is the common case: the whole
    entry for the poller's write after SubmitJob (`submitted`), the new status for the others.

    Each writer writes its own transition, so what a user sees comes after the arrow that did it, in
    the sequence diagram's order, whatever order the writes land in. Only the poller's write records
    the run's Batch job id (`submitted`, or `batch_job` for a run the poller fails right after
    submitting it: Submit Worker Job, then Update Job Resource), and it writes the run as submitted
    even when its worker has gone further meanwhile: a fast worker's start or finish writes its own
    status and outcome (and leaves the Batch job id out).

    True if something was written, False if the entry was there already. Raises JobEnded for an
    unfinished run not in a job that has ended (its caller fails the run).
    """
    if not (submitted or batch_job):
        info = {k: v for k, v in info.items() if k != "batch_job_id"}
    if submitted:
        info = {**{k: v for k, v in info.items() if k not in ("output", "error")}, "status": "SUBMITTED"}
        plan = _whole(info)
    else:
        plan = "fields", {k: info[k] for k in ("status", "output", "error") if info.get(k) is not None}
    for _ in range(_ATTEMPTS):
        update, condition = _run_update(info["worker"], plan)
        try:
            db.update(info["job"], update, condition=condition, label=LABEL, returns="NONE", old_on_failure=True)
            return True
        except ConditionFailed as failed:
            # An endpoint that does not return the item a condition failed on (not every emulator
            # knows ReturnValuesOnConditionCheckFailure) costs a read here.
            job = failed.item if failed.item is not None else db.get(info["job"], label="Get Resource")
            job = job or {}
            plan = plan_run(job.get(RUN_ATTR + info["worker"]), info, job.get("status"))
            if plan is None:
                return False
    raise ConditionFailed(info["job"])  # the entry changed under every write: not a state it can reach


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


def end_job(db, job_urn: str, status: str, output=None, error=None) -> dict | None:
    """Set a RUNNING job's final status; the job as it is now ended, or None if it had ended already."""
    update = Update().set("status", status).set("updated_at", now()).remove("active")
    if output is not None:
        update.set("output", output)
    if error is not None:
        update.set("error", dumps(error))
    update.names["#s"] = "status"
    update.values[":running"] = {"S": "RUNNING"}
    try:
        return db.update(job_urn, update, condition="#s = :running", label=LABEL, returns="ALL_NEW")
    except ConditionFailed:
        return None


def clear_active(db, job_urn: str) -> None:
    """Drop the running-job marker of a job that has ended."""
    db.update(job_urn, Update().remove("active"), label=LABEL, returns="NONE")
