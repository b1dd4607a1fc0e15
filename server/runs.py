"""A worker run's lifecycle, owned here: created, submitted, started, finished or failed, stopped.

A run's state is written in three places: its run item `urn:jobservice:run:<id>` (the source of
truth), its entry `run_<id>` in its job's item (what users read) and the Redis copy of the run
item (what worker calls read). Only this module writes them. Each transition writes the run item
on the condition that it is in the state the transition starts from, then brings the job's entry
up to the run item as that write returned it (`job_updates.write_run`), so the same transition
arriving twice (a redelivered message, a retried call, a second process) changes nothing the
second time.

    created (SUBMITTED, no Batch job) --submitted--> SUBMITTED (batch_job_id)
    SUBMITTED --started--> RUNNING --finished--> SUCCEEDED | FAILED
    SUBMITTED | RUNNING --failed or stopped--> FAILED

A run joins its job's item once, when its Batch job is submitted (`submitted`): creating a run
writes only its run item. Its worker may call start, or even finish, before that write lands;
whoever writes the entry first writes it whole, the others only what moves it forward (a status
never moves back), so the entry ends as the run item has it whatever the order. An unfinished
run never joins a job that has ended: its writer fails it instead (and `submitted` terminates
the Batch job it has just submitted). A run failed before it joined (SubmitJob refused, never
submitted) joins as FAILED.

"Fail this run" (`fail`) is written once: the worker's Batch job ended early, the job was never
submitted, the activity task had ended when the worker finished, the job had ended when the run
would join it, or the job ended (`stop_all`, through `end_job`).
"""

import json
import logging

from botocore.exceptions import BotoCoreError, ClientError

from . import job_updates, observe
from .dynamodb_connection import dumps, now
from .errors import Conflict, ServiceUnavailable
from .resources import RUN_ATTR
from .worker_info import ACTIVE_STATUSES, new_token, token_hash, worker_id_for

log = logging.getLogger(__name__)
#: What Step Functions (or an emulator of it) answers for a task token whose task has ended.
TASK_ENDED = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


class Runs:
    """Every transition of a worker run; `send` puts a message on the queue (an update-job message)."""

    def __init__(self, db, worker_info, clients, send):
        self.db, self.workers, self.clients, self._send = db, worker_info, clients, send

    def create(self, task_token: str, job_urn: str, worker_urn: str, effective_input) -> tuple[dict, str] | None:
        """Create the run of an activity task: (info, its worker token), or None if the task has a run already."""
        worker_id = worker_id_for(task_token)
        token = new_token(worker_id)
        at = now()
        info = {"worker": worker_id, "job": job_urn, "definition": worker_urn, "task_token": task_token,
                "input": dumps(effective_input), "token_hash": token_hash(token), "status": "SUBMITTED",
                "result_count": 0, "created_at": at, "updated_at": at}
        if not self.workers.create(info):
            return None
        return info, token  # its job shows it once its Batch job is submitted (`submitted`)

    def submitted(self, info: dict, batch_job_id: str) -> dict:
        """The run's Batch job was submitted: the run joins its job (its worker may have started, or
        finished, already). A job that has ended meanwhile gets no unfinished run: the run is failed
        and the Batch job just submitted is terminated."""
        info = self.workers.set_once(info, "batch_job_id", batch_job_id)
        observe.note(observe.current(), "Update Parent Job Information")
        try:
            job_updates.write_run(self.db, info, submitted=True)
        except job_updates.JobEnded:
            self.fail(info, "Job.Ended", "the job had ended when its worker's Batch job was submitted",
                      notify=False, batch_job_id=info.get("batch_job_id") or batch_job_id)
        return info

    def start(self, info: dict) -> dict:
        """SUBMITTED -> RUNNING; the run as it is now (Conflict if it has finished)."""
        if info["status"] == "SUBMITTED":
            try:
                info = self.workers.transition(info, "RUNNING", allowed=("SUBMITTED",), explain=False)
            except Conflict:  # a concurrent start won, or the cached copy was behind
                info = self.workers.get(info["worker"], fresh=True)
        if info["status"] != "RUNNING":
            raise Conflict(f"worker run {info['worker']} has finished ({info['status']})")
        # Also when the run item was RUNNING already: a start that died before this write is completed.
        try:
            job_updates.write_run(self.db, info)
        except job_updates.JobEnded:  # started before its poller's write, in a job that has ended since
            self.fail(info, "Job.Ended", "the job had ended when its worker started", notify=False,
                      batch_job_id=info.get("batch_job_id"))
            raise Conflict(f"the job {info['job']} of worker run {info['worker']} has ended") from None
        return info

    def add_result(self, info: dict, entry: dict) -> int:
        """Count one more result of the run and store it in its job; the run's count so far."""
        count = self.workers.count_result(info)
        observe.note(observe.current(), "Update Parent Job Information")
        job_updates.append_result(self.db, info["job"], info["worker"], entry)
        return count

    def finish(self, info: dict, status: str, outcome: dict) -> dict:
        """RUNNING -> SUCCEEDED | FAILED as the worker says, and complete its activity task.

        A second finish is a Conflict and changes nothing. A task that ended meanwhile fails the run
        (Conflict); a Step Functions that cannot be reached leaves the run RUNNING, for the worker to retry.
        """
        fields = {"output": dumps(outcome["output"])} if status == "SUCCEEDED" else {"error": dumps(outcome)}
        claimed = self.workers.transition(info, status, **fields)
        try:
            if status == "SUCCEEDED":
                self.clients.sfn.send_task_success(taskToken=info["task_token"],
                                                   output=json.dumps(outcome["output"]))
            else:
                self.clients.sfn.send_task_failure(taskToken=info["task_token"], **outcome)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in TASK_ENDED:
                self._reopen(claimed)
                raise
            self.fail(claimed, "States.Timeout", f"the activity task had ended: {code}", allowed=(status,),
                      end_task=False)
            raise Conflict(f"the activity task of worker run {info['worker']} has already ended ({code})") from exc
        except BotoCoreError as exc:
            self._reopen(claimed)
            raise ServiceUnavailable(f"Step Functions is unreachable: {exc}") from exc
        observe.note(observe.current(), "Update Parent Job Information")
        job_updates.write_run(self.db, claimed)
        self._notify(info)
        return claimed

    def _reopen(self, info: dict) -> None:
        """Undo a finish whose activity task could not be completed, so the worker can retry."""
        self.workers.transition(info, "RUNNING", allowed=(info["status"],))

    def fail(self, info: dict, error: str, cause: str, allowed=ACTIVE_STATUSES, end_task: bool = True,
             notify: bool = True, batch_job_id: str | None = None) -> bool:
        """Fail an unfinished run: its item, its activity task, its job's entry, its Batch job; tell the queue.

        False, and nothing written, if the run is no longer in `allowed` (it finished, or was failed already).
        """
        failure = dumps({"error": error, "cause": cause})
        try:
            failed = self.workers.transition(info, "FAILED", allowed=allowed, explain=False, error=failure)
        except Conflict:
            return False
        if end_task:
            self.fail_task(info["task_token"], error, cause)
        # A run failed before it joined its job joins it FAILED (with the Batch job its caller names).
        job_updates.write_run(self.db, failed, batch_job=batch_job_id is not None)
        if batch_job_id:
            self.clients.batch.terminate_job(jobId=batch_job_id, reason=cause[:256])
        if notify:
            self._notify(info)
        return True

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        """End an activity task as failed; one that has ended already is fine."""
        try:
            self.clients.sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32768])
        except ClientError as exc:  # the task ended already (timed out, or its execution stopped)
            log.info("activity task already ended: %s", exc)

    def stop_all(self, job: dict, error: str, cause: str) -> None:
        """Fail the unfinished runs of a job that has ended and terminate their Batch jobs; a run that has
        finished but whose entry in the job does not say so yet gets its end written there."""
        for key, run in job.items():
            if not key.startswith(RUN_ATTR) or run.get("status") not in ACTIVE_STATUSES:
                continue
            info = self.workers.get(run["worker"])
            if info is None:  # no run item (lost): its job's entry and Batch job are all there is to end
                job_updates.write_run(self.db, {**run, "job": job["urn"], "status": "FAILED",
                                                "error": dumps({"error": error, "cause": cause})})
                if run.get("batch_job_id"):
                    self.clients.batch.terminate_job(jobId=run["batch_job_id"], reason=cause[:256])
                continue
            if self.fail(info, error, cause, end_task=False, notify=False, batch_job_id=run.get("batch_job_id")):
                continue
            # The run had finished: its finisher's write to the job is in flight (retried) or was lost.
            # The job's entry takes the run's end now, so a job seen ended has no run left running.
            ended = self.workers.get(run["worker"], fresh=True)
            if ended is not None and ended["status"] not in ACTIVE_STATUSES:
                job_updates.write_run(self.db, ended)

    def end_job(self, job: dict, status: str, code: str, cause: str, output=None, error=None) -> bool:
        """End a RUNNING job (with its `output` or `error`) and fail its unfinished runs (with `code` and
        `cause`); False if it had ended already.

        Its runs are stopped first, so that a job seen ended has no run left running. A run that joined
        the job after `job` was read is in the ended job as `end_job` returns it, and is stopped then; a
        run that joins later finds the job ended and is failed by its own writer (`submitted`, `start`).
        """
        self.stop_all(job, code, cause)
        ended = job_updates.end_job(self.db, job["urn"], status, output=output, error=error)
        if ended is not None:
            self.stop_all(ended, code, cause)
        return ended is not None

    def _notify(self, info: dict) -> None:
        self._send({"type": "update-job", "job": info["job"], "worker": info["worker"]}, "Send Update Job Message")
