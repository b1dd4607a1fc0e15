"""Drop the oldest ended jobs from the embedded target, so a long session's memory stays bounded.

On the embedded target every item, execution and Batch job lives in this process's memory for as
long as the process runs. With a retention of N, once more than N jobs have ended the oldest
ended job is dropped from the emulated AWS:

- its DynamoDB items: the job and its request are replaced by a small tombstone
  (`{"urn", "kind": "dropped", "dropped": <why>}`) so that reading them answers 404 saying why;
  its runs and results are deleted;
- its Step Functions execution (history, output, task tokens) and its Batch jobs' records.

What it keeps: the job's files in S3 (a test may still read what a worker wrote), idempotency
keys of its workers' calls (a few hundred bytes each), and the tombstones.

It watches the writes of one table (whichever process makes them) as the service's data layout
has them: a job item (`kind` "job") whose `status` is no longer RUNNING has ended. Real AWS has no
such thing: only the harness installs it, for the embedded target (`harness/service.py`).
"""

import logging
import threading
from collections import OrderedDict

from boto3.dynamodb.types import TypeDeserializer
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

from . import dynamodb_atomic, scope

log = logging.getLogger(__name__)

_ENDED = frozenset({"COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"})
_RUN, _JOB, _RESULT, _RUN_ATTR = "urn:jobservice:run:", "urn:jobservice:job:", "urn:jobservice:result:", "run_"
_deserialize = TypeDeserializer().deserialize
_policies: dict[str, "Retention"] = {}  # table name -> its policy
_inner = {"update_item": None}  # the update_item that ours wraps (moto's, or another extension's)


class Retention:
    """Keep the data of the latest `keep` ended jobs of `table`; drop older ones as new jobs end."""

    def __init__(self, table: str, keep: int):
        if keep < 1:
            raise ValueError("the retention of ended jobs must be at least 1")
        self.table, self.keep = table, keep
        self._ended: "OrderedDict[str, None]" = OrderedDict()  # ended job URNs, oldest first
        self._lock = threading.Lock()
        #: How many jobs it dropped so far.
        self.dropped = 0

    def reason(self) -> str:
        return (f"dropped by the retention policy of the embedded target: only the latest {self.keep} "
                f"ended jobs are kept (--retain-ended-jobs)")

    def saw(self, backend, item) -> None:
        """A write of `item` in the table: note it if it ended a job, and drop what retention no longer keeps."""
        attrs = item.attrs
        kind, status = attrs.get("kind"), attrs.get("status")
        if kind is None or kind.value != "job" or status is None or status.value not in _ENDED:
            return
        urn = attrs["urn"].value
        with self._lock:
            if urn in self._ended:
                return
            self._ended[urn] = None
            old = [self._ended.popitem(last=False)[0] for _ in range(len(self._ended) - self.keep)]
        for job_urn in old:
            try:
                with dynamodb_atomic.lock:  # as every item call of the harness's requests
                    self._drop(backend, job_urn)
                self.dropped += 1
            except Exception:  # noqa: BLE001 - a sweep that fails must not fail the write that triggered it
                log.exception("could not drop ended job %s", job_urn)

    def _drop(self, backend, job_urn: str) -> None:
        table = backend.get_table(self.table)
        item = table.get_item(_key(job_urn))
        if item is None:
            return
        job = {k: _deserialize(v) for k, v in item.to_json()["Attributes"].items()}
        runs = [v for k, v in job.items() if k.startswith(_RUN_ATTR) and isinstance(v, dict)]
        keys = [_RUN + run["worker"] for run in runs if run.get("worker")]
        keys += [f"{_RESULT}{job_urn[len(_JOB):]}:{n}" for n in range(1, int(job.get("result_seq") or 0) + 1)]
        for key in keys:
            table.delete_item(_key(key), None)
        tombstone = {"kind": {"S": "dropped"}, "dropped": {"S": self.reason()}}
        for urn in (job_urn, job.get("request")):
            if urn:
                table.put_item({"urn": {"S": urn}, **tombstone}, overwrite=True)
        arn = job.get("execution_arn")
        if arn:
            _drop_execution(arn)
        _drop_batch_jobs(arn, [run["batch_job_id"] for run in runs if run.get("batch_job_id")])


def _key(urn: str) -> DynamoType:
    return DynamoType({"S": urn})


def _drop_execution(arn: str) -> None:
    from . import sfn_activities

    _, _, _, region, account = arn.split(":")[:5]
    backend = sfn_activities.backends[account][region]
    machine_arn = arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    machine = next((m for m in backend.state_machines if m.arn == machine_arn), None)
    if machine is not None:
        machine.executions[:] = [e for e in machine.executions if e.execution_arn != arn]
    for token in [t for t, e in backend.task_owners.items() if getattr(e, "exec_arn", None) == arn]:
        backend.task_owners.pop(token, None)


def _drop_batch_jobs(execution_arn: str | None, job_ids: list[str]) -> None:
    if not job_ids or not execution_arn:
        return
    from moto.batch import models as batch_models

    _, _, _, region, account = execution_arn.split(":")[:5]
    jobs = batch_models.batch_backends[account][region]._jobs
    for job_id in job_ids:
        job = jobs.pop(job_id, None)
        queue = getattr(job, "job_queue", None)
        if queue is not None:  # a queue lists every job ever submitted to it (ListJobs reads it)
            queue.jobs[:] = [j for j in queue.jobs if j is not job]


def _update_item(self, table_name, *args, **kwargs):
    item = _inner["update_item"](self, table_name, *args, **kwargs)
    policy = _policies.get(table_name)
    if policy is not None and item is not None and scope.active():  # a user's own mock_aws: stock moto
        policy.saw(self, item)
    return item


# It wraps the serialised update_item (dynamodb_atomic): marked so, it is not wrapped once more.
_update_item.__jobservice_atomic__ = True


def apply(policy: Retention) -> None:
    """Apply `policy` to its table's writes (until `remove(policy)`)."""
    _policies[policy.table] = policy
    if DynamoDBBackend.update_item is not _update_item:
        _inner["update_item"] = DynamoDBBackend.update_item
        DynamoDBBackend.update_item = _update_item


def remove(policy: Retention) -> None:
    if _policies.get(policy.table) is policy:
        del _policies[policy.table]
