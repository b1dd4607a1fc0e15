"""The Activity Poller: turns each activity task into a worker run on AWS Batch.

One long-polling thread per worker definition's activity. For each task it
creates the worker info (id, token), submits the Batch job with the worker's
environment, caches the info and records the run in its job. It also watches
the Batch jobs of unfinished runs: a worker that exits without finishing
fails its activity task at once, so no job waits for a timeout.
"""

import logging
import threading
import time
from datetime import datetime

from botocore.exceptions import ClientError

from . import asl, clock, job_updates, lifecycle, observe
from .dynamodb_connection import dumps, now
from .errors import Conflict
from .resources import JOB, RUN_ATTR, WORKER, aws_name
from .worker_info import new_token, token_hash, worker_id_for

log = logging.getLogger(__name__)
PARTICIPANT = "Activity Poller"
#: A run whose Batch job was never submitted (a poller died in between) fails after this long.
UNSUBMITTED_GRACE_SECONDS = 60


class ActivityPoller:
    """Polls every worker definition's activity and watches the Batch jobs it submitted."""

    def __init__(self, service):
        self.service = service
        self.settings = service.settings
        self.clients = service.clients
        self.db = service.db
        self.workers = service.worker_info
        self._stop = threading.Event()
        self._discover = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.identity = f"jobservice-poller-{id(self):x}"

    # -- activity tasks -----------------------------------------------------
    def definitions(self) -> dict[str, dict]:
        """Worker definitions by activity ARN."""
        return {d["activity_arn"]: d for d in self.db.by_kind("worker") if d.get("activity_arn")}

    def poll_once(self, activity_arn: str) -> bool:
        """Wait for one task of the activity (long poll) and handle it; True if there was one."""
        with observe.acting_as(PARTICIPANT):
            task = self.clients.sfn_poll.get_activity_task(activityArn=activity_arn, workerName=self.identity)
            if not task.get("taskToken"):
                return False
            observe.record("AWS SFN", PARTICIPANT, "Activity Task Received", kind="return")
            with clock.CLOCK.busy():  # mid-iteration: the clock waits for the run to be submitted
                self.handle(activity_arn, task)
            return True

    def handle(self, activity_arn: str, task: dict) -> None:
        effective_input, execution_arn, worker_urn = asl.unwrap(task.get("input") or "{}")
        if worker_urn is None:  # a task of a state machine this service did not bind
            worker_urn = (self.definitions().get(activity_arn) or {}).get("urn")
        if worker_urn is None or not execution_arn:
            self._fail_task(task["taskToken"], "Worker.Unknown",
                            f"no worker definition runs activity {activity_arn}")
            return
        worker_id = worker_id_for(task["taskToken"])
        token = new_token(worker_id)
        job_urn = JOB + execution_arn.rsplit(":", 1)[-1]
        at = now()
        observe.note(PARTICIPANT, "Create New Worker Info")
        info = {"worker": worker_id, "job": job_urn, "definition": worker_urn,
                "task_token": task["taskToken"], "input": dumps(effective_input),
                "token_hash": token_hash(token), "status": "SUBMITTED", "result_count": 0,
                "created_at": at, "updated_at": at}
        if not self.workers.create(info):
            return  # this task was handled already
        job_updates.add_run(self.db, job_urn, {
            "worker": worker_id, "definition": worker_urn, "status": "SUBMITTED",
            "results": [], "created_at": at, "updated_at": at})
        try:
            batch_job_id = self._submit(worker_urn[len(WORKER):], worker_id, job_urn, token)
        except ClientError as exc:
            self.fail_run(info, "Worker.SubmitFailed", f"AWS Batch refused the worker's job: {exc}")
            return
        self.workers.set(info, batch_job_id=batch_job_id)  # its worker may have started already
        observe.note(PARTICIPANT, "Update Parent Job Information")
        job_updates.set_run(self.db, job_urn, worker_id, batch_job_id=batch_job_id)
        lifecycle.say("run submitted", worker_id, f"{worker_urn} in job {job_urn}, Batch job {batch_job_id}")

    def _submit(self, name: str, worker_id: str, job_urn: str, token: str) -> str:
        """Submit Worker Job: the latest revision of the worker's Batch job definition."""
        env = {"JOBSERVICE_URL": self.settings.public_url, "JOBSERVICE_WORKER_TOKEN": token,
               "JOBSERVICE_WORKER_ID": worker_id, "JOBSERVICE_JOB_URN": job_urn}
        response = self.clients.batch.submit_job(
            jobName=f"{name}-{worker_id[:12]}",
            jobQueue=self.settings.names.job_queue,
            jobDefinition=aws_name(self.settings.names.prefix, name),
            containerOverrides={"environment": [{"name": k, "value": v} for k, v in env.items()]},
        )
        return response["jobId"]

    def _fail_task(self, task_token: str, error: str, cause: str) -> None:
        try:
            self.clients.sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32768])
        except ClientError as exc:  # the task ended already (timed out, or its execution stopped)
            log.info("activity task already ended: %s", exc)

    def fail_run(self, info: dict, error: str, cause: str) -> bool:
        """Fail an unfinished run and its activity task; False if it had finished meanwhile."""
        try:
            self.workers.transition(info, "FAILED", error=dumps({"error": error, "cause": cause}))
        except Conflict:
            return False
        self._fail_task(info["task_token"], error, cause)
        job_updates.set_run(self.db, info["job"], info["worker"], status="FAILED",
                            error=dumps({"error": error, "cause": cause}), updated_at=now())
        self.service.queue.send({"type": "update-job", "job": info["job"], "worker": info["worker"]},
                                "Send Update Job Message")
        return True

    def stop_runs(self, job: dict, error: str, cause: str) -> None:
        """End the unfinished runs of a job that has ended, terminating their Batch jobs."""
        failure = dumps({"error": error, "cause": cause})
        for key, run in job.items():
            if not key.startswith(RUN_ATTR) or run.get("status") not in ("SUBMITTED", "RUNNING"):
                continue
            info = self.workers.get(run["worker"])
            if info is not None:
                try:
                    self.workers.transition(info, "FAILED", error=failure)
                except Conflict:
                    continue
            job_updates.set_run(self.db, job["urn"], run["worker"], status="FAILED", error=failure,
                                updated_at=now())
            if run.get("batch_job_id"):
                self.clients.batch.terminate_job(jobId=run["batch_job_id"], reason=cause[:256])

    # -- Batch jobs of unfinished runs --------------------------------------
    def watch_once(self) -> int:
        """Fail the runs whose Batch job ended before the worker finished; return how many."""
        with observe.acting_as(PARTICIPANT):
            runs = self.workers.running()
            by_job = {r["batch_job_id"]: r for r in runs if r.get("batch_job_id")}
            failed = 0
            ids = list(by_job)
            for start in range(0, len(ids), 100):
                for job in self.clients.batch.describe_jobs(jobs=ids[start:start + 100])["jobs"]:
                    if job["status"] not in ("SUCCEEDED", "FAILED"):
                        continue
                    run = by_job[job["jobId"]]
                    failed += self.fail_run(run, "Worker.Exited", self._exit_cause(run, job))
            cutoff = clock.now() - clock.CLOCK.virtual_seconds(UNSUBMITTED_GRACE_SECONDS)  # a grace for real latency
            for run in runs:
                if not run.get("batch_job_id") and _epoch(run["created_at"]) < cutoff:
                    failed += self.fail_run(run, "Worker.NotSubmitted",
                                            "the worker's Batch job was never submitted")
            return failed

    @staticmethod
    def _exit_cause(run: dict, job: dict) -> str:
        code = (job.get("container") or {}).get("exitCode")
        reason = job.get("statusReason") or "no reason given"
        how = f"exited with code {code}" if code is not None else f"did not run ({reason})"
        return (f"worker {run['worker']} of {run['definition']} {how} without calling "
                f"/v2/worker/finish (Batch job {job['jobId']} {job['status']}: {reason})")

    # -- the loops -----------------------------------------------------------
    def work(self) -> None:
        """Poll every activity (a thread each) and watch Batch jobs until stopped.

        Tests drive one step at a time with `poll_once()` and `watch_once()`.
        """
        last_discovery = 0.0
        while not self._stop.is_set():
            try:
                if self._discover.is_set() or time.monotonic() - last_discovery >= self.settings.discover_seconds:
                    self._discover.clear()
                    last_discovery = time.monotonic()
                    self._ensure_threads()
                self.watch_once()
            except Exception:  # noqa: BLE001 - keep watching through a bad moment
                self.service.report_error()
                log.warning("activity poller error", exc_info=True)
            clock.wait(self._discover, self.settings.batch_watch_seconds, drive=False)

    def _ensure_threads(self) -> None:
        for arn in self.definitions():
            if arn not in self._threads or not self._threads[arn].is_alive():
                thread = threading.Thread(target=self._poll_forever, args=(arn,), daemon=True,
                                          name=f"poller-{arn.rsplit(':', 1)[-1]}")
                self._threads[arn] = thread
                thread.start()

    def _poll_forever(self, arn: str) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self.poll_once(arn)
                backoff = 0.1
            except Exception as exc:  # noqa: BLE001 - keep polling through a bad moment
                if self._stop.is_set() or (isinstance(exc, ClientError)
                                           and exc.response["Error"]["Code"] == "ActivityDoesNotExist"):
                    return
                if not isinstance(exc, ClientError):  # a backend's refusal is no bug of ours
                    self.service.report_error()
                log.warning("polling %s failed; retrying in %.1f s", arn, backoff, exc_info=True)
                clock.wait(self._stop, backoff, drive=False)
                backoff = min(backoff * 2, 5.0)

    def discover_soon(self) -> None:
        """Look for new worker definitions now (a registration in this process), not at the next period."""
        self._discover.set()

    def stop(self) -> None:
        self._stop.set()
        self._discover.set()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
