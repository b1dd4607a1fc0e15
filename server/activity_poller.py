"""The Activity Poller: turns each activity task into a worker run on AWS Batch.

It long-polls the activities of the worker definitions that running jobs use, one thread per
such activity; a thread ends after a poll that found no task once no running job uses its
activity, so threads follow the work in flight, not the definitions ever registered. For each
task it creates the run (`runs.Runs`), submits the Batch job with the worker's environment and
records the submission. It also watches the Batch jobs of unfinished runs: a worker that exits
without finishing fails its run at once, and a run whose Batch job was never submitted (its
poller died) fails after `unsubmitted_grace_seconds`, so no job waits for ever.
"""

import logging
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from . import asl, clock, lifecycle, observe
from .dynamodb_connection import JOBS_CREATED, Written
from .errors import ServiceUnavailable
from .resources import JOB, WORKER, aws_name

log = logging.getLogger(__name__)
PARTICIPANT = "Activity Poller"
#: While no job runs, Batch jobs are watched every this many `batch_watch_seconds` (a run belongs to a running job).
WATCH_IDLE_PERIODS = 5


class ActivityPoller:
    """Polls the activities that running jobs use and watches the Batch jobs it submitted."""

    def __init__(self, service):
        self.settings = service.settings
        self.clients = service.clients
        self.db = service.db
        self.workers = service.worker_info
        self.runs = service.runs
        self._report_error = service.report_error
        self._stop = threading.Event()
        #: Set by each job created in this process (with its workers) and by stop().
        self._wake = Written()
        self._lock = threading.Lock()
        #: The activities running jobs use now, and the thread polling each.
        self._wanted: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        #: Worker URN -> activity ARN (an activity's ARN never changes for a worker name).
        self._activity_of: dict[str, str] = {}
        self.identity = f"jobservice-poller-{id(self):x}"

    # -- which activities to poll --------------------------------------------
    def definitions(self) -> dict[str, dict]:
        """Worker definitions by activity ARN."""
        return {d["activity_arn"]: d for d in self.db.by_kind("worker") if d.get("activity_arn")}

    def wanted(self) -> set[str]:
        """The activity ARNs of the workers that running jobs' definitions use."""
        workers: set[str] = set()
        unknown = set()  # jobs that do not carry their workers: their definitions say
        for job in self.db.active("job", attributes=("urn", "status", "workers", "definition")):
            if job.get("status") != "RUNNING":
                continue
            if "workers" in job:
                workers.update(job["workers"])
            elif job.get("definition"):
                unknown.add(job["definition"])
        for urn in unknown:
            workers.update((self.db.get(urn, label="Get Job Definition") or {}).get("workers") or ())
        return self._activities(workers)

    def _activities(self, workers) -> set[str]:
        """The activity ARNs of these worker URNs."""
        missing = [w for w in workers if w not in self._activity_of]
        if missing:
            if len(self._activity_of) > 10_000:  # a bound, not an expiry: the entries are tiny
                self._activity_of.clear()
            for urn, item in self.db.get_many(missing, label="Get Worker Definitions").items():
                if item.get("activity_arn"):
                    self._activity_of[urn] = item["activity_arn"]
        return {self._activity_of[w] for w in workers if w in self._activity_of}

    def discover_once(self, workers=None) -> set[str]:
        """Poll each activity running jobs use (a thread each, started if missing); return them.

        With `workers` (the worker URNs of jobs just created in this process), poll their activities
        too, without reading the running jobs: the next full discovery drops what no job uses.
        """
        if workers is None:
            wanted = self.wanted()
        else:
            added = self._activities(workers)
            with self._lock:
                wanted = self._wanted | added
        with self._lock:
            self._wanted = wanted
            for arn in wanted:
                if arn not in self._threads:
                    thread = threading.Thread(target=self._poll_while_wanted, args=(arn,), daemon=True,
                                              name=f"poller-{arn.rsplit(':', 1)[-1]}")
                    self._threads[arn] = thread
                    thread.start()
        return wanted

    def polling(self) -> list[str]:
        """The activities a thread polls now."""
        with self._lock:
            return sorted(self._threads)

    # -- activity tasks -----------------------------------------------------
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
        """Create the task's run and submit its Batch job; a task taken but not recorded is failed at once."""
        task_token = task["taskToken"]
        try:
            effective_input, execution_arn, worker_urn = asl.unwrap(task.get("input") or "{}")
            if worker_urn is None:  # a task of a state machine this service did not bind
                worker_urn = (self.definitions().get(activity_arn) or {}).get("urn")
            if worker_urn is None or not execution_arn:
                self.runs.fail_task(task_token, "Worker.Unknown", f"no worker definition runs activity {activity_arn}")
                return
            observe.note(PARTICIPANT, "Create New Worker Info")
            created = self.runs.create(task_token, JOB + execution_arn.rsplit(":", 1)[-1], worker_urn,
                                       effective_input)
        except Exception:
            # Nothing records this task: end it now (a Retry in the ASL may run it again), never leave it held.
            self._end_untracked(task_token)
            raise
        if created is None:
            return  # this task was handled already
        info, token = created
        try:
            batch_job_id = self._submit(worker_urn[len(WORKER):], info["worker"], info["job"], token)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "an error")
            log.warning("AWS Batch refused the job of worker run %s", info["worker"], exc_info=True)
            self.runs.fail(info, "Worker.SubmitFailed", f"AWS Batch refused the worker's job ({code})")
            return
        except Exception:
            self.runs.fail(info, "Worker.SubmitFailed", "the worker's Batch job could not be submitted")
            raise
        self._record_submitted(info, batch_job_id)
        lifecycle.say("run submitted", info["worker"], f"{worker_urn} in job {info['job']}, Batch job {batch_job_id}")

    def _record_submitted(self, info: dict, batch_job_id: str, patience: float = 30.0) -> None:
        """Record the submission, retrying while a store is out: the Batch job runs already.

        Given up only after `patience` seconds; the run then fails as never submitted.
        """
        deadline, delay = time.monotonic() + patience, 0.1
        while True:
            try:
                self.runs.submitted(info, batch_job_id)  # applied twice, it changes nothing
                return
            except (ServiceUnavailable, BotoCoreError, ClientError):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                log.warning("recording the Batch job of run %s failed; retrying in %.1f s", info["worker"], delay)
                clock.wait(self._stop, delay, drive=False)
                delay = min(delay * 2, 2.0)

    def _end_untracked(self, task_token: str) -> None:
        try:
            self.runs.fail_task(task_token, "Worker.NotSubmitted", "the service could not record the worker run")
        except Exception:  # noqa: BLE001 - Step Functions unreachable too: the task's own timeout ends it
            log.warning("could not fail an activity task that has no run", exc_info=True)

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

    # -- Batch jobs of unfinished runs --------------------------------------
    def watch_once(self) -> int:
        """Fail the runs whose Batch job ended before the worker finished, or never was submitted; how many."""
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
                    failed += self.runs.fail(run, "Worker.Exited", self._exit_cause(run, job))
            cutoff = clock.now() - clock.CLOCK.virtual_seconds(self.settings.unsubmitted_grace_seconds)
            for run in runs:
                if not run.get("batch_job_id") and clock.epoch(run["created_at"]) <= cutoff:
                    failed += self.runs.fail(run, "Worker.NotSubmitted", "the worker's Batch job was never submitted")
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
        """Find the activities to poll (on each new job in this process, else every `discover_seconds`)
        and watch Batch jobs until stopped. Tests step it with `discover_once()`, `poll_once()`, `watch_once()`."""
        last_discovery = last_watch = float("-inf")
        with self.db.changes.watch(JOBS_CREATED, event=self._wake):  # a job created in this process wakes it
            while not self._stop.is_set():
                try:
                    due = time.monotonic() - last_discovery >= self.settings.discover_seconds
                    if self._wake.is_set() or due:
                        created = self._wake.take()  # the workers of each job created here since
                        known = [item.get("workers") if item else None for item in created]
                        if known and all(known) and not due:
                            self.discover_once({urn for workers in known for urn in workers})
                        else:
                            last_discovery = time.monotonic()
                            self.discover_once()
                    # Batch jobs are watched every `batch_watch_seconds` of the clock, not on each new job;
                    # while no job runs (none was found at the last discovery), every WATCH_IDLE_PERIODS of them.
                    every = self.settings.batch_watch_seconds * (1 if self._wanted else WATCH_IDLE_PERIODS)
                    if clock.now() - last_watch >= clock.CLOCK.virtual_seconds(every):
                        last_watch = clock.now()
                        self.watch_once()
                except Exception:  # noqa: BLE001 - keep watching through a bad moment
                    self._report_error()
                    log.warning("activity poller error", exc_info=True)
                clock.wait(self._wake, self.settings.batch_watch_seconds, drive=False)

    def _poll_while_wanted(self, arn: str) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                found = self.poll_once(arn)
                backoff = 0.1
            except Exception as exc:  # noqa: BLE001 - keep polling through a bad moment
                gone = isinstance(exc, ClientError) and exc.response["Error"]["Code"] == "ActivityDoesNotExist"
                if self._stop.is_set() or gone:
                    break
                if not isinstance(exc, ClientError):  # a backend's refusal is no bug of ours
                    self._report_error()
                log.warning("polling %s failed; retrying in %.1f s", arn, backoff, exc_info=True)
                clock.wait(self._stop, backoff, drive=False)
                backoff = min(backoff * 2, 5.0)
                continue
            if not found:
                with self._lock:
                    if arn not in self._wanted:  # idle, and no running job uses it: end this thread
                        self._threads.pop(arn, None)
                        return
        with self._lock:
            self._threads.pop(arn, None)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

