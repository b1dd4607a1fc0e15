"""The Queue: turns request messages into executions and jobs, update-job messages into job status.

Both kinds of message arrive on one SQS queue. A message is deleted only
after its effects are stored, and handling one twice changes nothing: the
execution's name is the request's id, and the job's item is written with
`if_not_exists`.
"""

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from . import clock, job_updates, lifecycle, observe
from .dynamodb_connection import JOBS_CREATED, Update, dumps, now
from .resources import EXECUTION_TO_JOB, JOB, REQUEST

log = logging.getLogger(__name__)
PARTICIPANT = "Queue"
#: Pauses before reading, then re-reading, an execution after a worker finished: the last task's
#: execution ends a few ms after SendTaskSuccess; a middle task's never does (the sweep covers the rest).
SETTLE_PAUSES = (0.01, 0.04)
#: A running job that keeps being written still has its execution read every this many reconcile periods.
RECONCILE_BUSY_PERIODS = 5
#: While no job runs, the sweep queries every this many periods (sooner once a job starts in this process).
RECONCILE_IDLE_PERIODS = 5
#: Execution ARNs of jobs this process started or read, kept while they run (at most this many).
KNOWN_EXECUTIONS = 4096


class MessageQueue:
    """The AWS Queue as its senders see it (the API Server, the Worker Manager, the Activity Poller)."""

    def __init__(self, clients, name: str):
        self.clients, self.name = clients, name
        self._url = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.clients.sqs.get_queue_url(QueueName=self.name)["QueueUrl"]
        return self._url

    def send(self, message: dict, label: str) -> None:
        """Send a message to the AWS Queue, recorded as `label` from the participant acting now."""
        observe.record(observe.current(), "AWS Queue", label)
        self.clients.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(message))


class QueueProcessor:
    """The rq-shaped loop of the Queue participant; `work(burst=True)` runs it once."""

    def __init__(self, service):
        self.settings = service.settings
        self.clients = service.clients
        self.db = service.db
        self.messages = service.messages
        self.runs = service.runs
        self._report_error = service.report_error
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.settings.queue_threads, thread_name_prefix="queue")
        #: When `reconcile()` last read each running job's execution (virtual seconds); running jobs only.
        self._checked: dict[str, float] = {}
        self._idle = False  # the last sweep found no running job
        #: job URN -> its execution's ARN (fixed for a job's life): an update message of a job that goes
        #: on running costs a DescribeExecution, not a read of the job too. Dropped when the job ends.
        self._executions: dict[str, str] = {}
        self._executions_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.messages.url

    def send(self, message: dict, label: str) -> None:
        """Send a message to the AWS Queue (from the API Server)."""
        self.messages.send(message, label)

    # -- the loop -----------------------------------------------------------
    def run_once(self, wait: int | None = None) -> int:
        """Receive up to 10 messages (long poll), handle them, return how many."""
        with observe.acting_as(PARTICIPANT):
            messages = self.clients.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10,
                WaitTimeSeconds=self.settings.queue_wait_seconds if wait is None else wait,
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
        for future in [self._pool.submit(self._handle_safely, m) for m in messages]:
            future.result()
        return len(messages)

    def work(self, burst: bool = False) -> None:
        """Process messages until stopped (or, with burst, until the queue is empty)."""
        backoff = 0.1
        while not self._stop.is_set():
            try:
                count = self.run_once(wait=0 if burst else None)
                backoff = 0.1
                if burst and count == 0:
                    return
            except Exception:  # noqa: BLE001 - a loop must outlive a bad moment of its backends
                if self._stop.is_set():
                    return
                log.warning("queue loop error; retrying in %.1f s", backoff, exc_info=True)
                clock.wait(self._stop, backoff, drive=False)
                backoff = min(backoff * 2, 5.0)

    def reconcile_forever(self) -> None:
        """Run `reconcile()` every `reconcile_seconds` until stopped; while no job runs, every
        `RECONCILE_IDLE_PERIODS` periods, or at the next period after a job is created in this process."""
        created, skipped = threading.Event(), 0
        with self.db.changes.watch(JOBS_CREATED, event=created):
            while not clock.wait(self._stop, self.settings.reconcile_seconds, drive=False):
                if self._idle and not created.is_set() and skipped < RECONCILE_IDLE_PERIODS - 1:
                    skipped += 1  # nothing ran at the last sweep and nothing started here since
                    continue
                created.clear()
                skipped = 0
                try:
                    self.reconcile()
                except Exception:  # noqa: BLE001 - the next sweep retries
                    log.warning("reconciling running jobs failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _handle_safely(self, message: dict) -> None:
        with observe.acting_as(PARTICIPANT), clock.CLOCK.busy():
            try:
                self.handle(message)
            except Exception:  # noqa: BLE001 - left on the queue, redelivered later
                self._report_error()
                log.error("could not handle message %s; it will be redelivered",
                          message.get("MessageId"), exc_info=True)

    def handle(self, message: dict) -> None:
        """Handle one message and delete it once its effects are stored."""
        observe.record("AWS Queue", PARTICIPANT, "Receive Message")
        body = json.loads(message["Body"])
        kind = body.get("type")
        if kind == "job-request":
            observe.note(PARTICIPANT, "Process Job Request")
            done = self.process_request(body["request"])
            label = "Delete Request Message"
        elif kind == "update-job":
            done = self.refresh_job(body["job"], settle=True)
            label = "Delete Update Job Message"
        else:
            log.error("dropping a message of unknown type %r: %s", kind, message["Body"])
            done, label = True, "Delete Message"
        if done:
            observe.record(PARTICIPANT, "AWS Queue", label)
            self.clients.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    # -- job requests -------------------------------------------------------
    def process_request(self, request_urn: str) -> bool:
        request = self.db.get(request_urn)
        if request is None or request["status"] != "PENDING":
            return True  # unknown, or handled already: a redelivery
        request_id = request_urn[len(REQUEST):]
        try:
            execution_arn = self._start_execution(request["state_machine_arn"], request_id,
                                                  request.get("input") or "{}")
        except ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] in ("StateMachineDoesNotExist", "InvalidExecutionInput", "InvalidName"):
                return self._fail_request(request_urn, error["Code"], error.get("Message", ""))
            raise
        observe.note(PARTICIPANT, "Create Job Resource")
        job_urn = JOB + request_id
        job_updates.create_job(self.db, job_urn, request, execution_arn)
        self._know(job_urn, execution_arn)
        update = Update().set("status", "FULFILLED").set("job", job_urn).set("updated_at", now())
        self.db.update(request_urn, update, label="Update Request Resource With Job URN", returns="NONE")
        lifecycle.say("job started", job_urn, f"request {request_urn}")
        return True

    def _start_execution(self, state_machine_arn: str, name: str, input_text: str) -> str:
        sfn = self.clients.sfn
        try:
            return sfn.start_execution(stateMachineArn=state_machine_arn, name=name,
                                       input=input_text)["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
        # A redelivered request: the execution named after it exists already.
        arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
        return sfn.describe_execution(executionArn=arn)["executionArn"]

    def _fail_request(self, request_urn: str, code: str, message: str) -> bool:
        update = (Update().set("status", "FAILED").set("error", dumps({"code": code, "message": message}))
                  .set("updated_at", now()))
        self.db.update(request_urn, update, label="Update Request Resource", returns="NONE")
        return True

    # -- job status ---------------------------------------------------------
    def refresh_job(self, job_urn: str, settle: bool = False) -> bool:
        """Read the execution's status into the job; False if the job is not stored yet.

        The job is read only when its execution's ARN is not known here or the execution has ended.
        """
        known = self._executions.get(job_urn)
        execution = None if known is None else self._settled(known, settle, job_urn)
        if execution is not None and execution["status"] == "RUNNING":
            return True  # nothing changed: nothing read, nothing written
        job = self.db.get(job_urn)
        if job is None or "execution_arn" not in job:
            return False
        if job.get("status") != "RUNNING":
            self._forget(job_urn)
            return True
        if execution is None or job["execution_arn"] != known:
            execution = self._settled(job["execution_arn"], settle, job_urn)
        status = EXECUTION_TO_JOB.get(execution["status"], "FAILED")
        if status == "RUNNING":
            self._know(job_urn, job["execution_arn"])
            return True  # nothing changed: nothing written
        self._forget(job_urn)
        observe.note(PARTICIPANT, f"Job Status {status}")
        error = None
        if status != "COMPLETED":
            error = {"error": execution.get("error"), "cause": execution.get("cause")}
        # A worker still running (its task timed out, or a sibling branch failed) is not left behind.
        self.runs.end_job(job, status, "Job.Ended", f"the job ended {status} while this worker ran",
                          output=execution.get("output") if status == "COMPLETED" else None, error=error)
        lifecycle.say("job ended", job_urn, f"{status} after {lifecycle.since(job.get('created_at'))}")
        return True

    def _execution(self, arn: str) -> dict:
        return self.clients.sfn.describe_execution(executionArn=arn)

    def _settled(self, arn: str, settle: bool, job_urn: str) -> dict:
        """The execution; with `settle` (a worker has just finished), read after a short pause, and again
        after another while it runs: the interpreter ends the execution right after its last task.

        A write of one of the job's runs in this process ends a pause: a run created or started means
        a task of the execution is open, so it has not ended; a run finished sends a message of its
        own, whose handling reads the execution again. So each update message reads the execution
        once, mostly: a middle task's once the next task's run is written, the last task's once it
        has ended.
        """
        if not settle:
            return self._execution(arn)
        with self.db.changes.watch(job_urn, event=threading.Event(), cares=job_updates.runs_written) as moved_on:
            clock.wait(moved_on, SETTLE_PAUSES[0])
            execution = self._execution(arn)
            for pause in SETTLE_PAUSES[1:]:
                if execution["status"] != "RUNNING" or moved_on.is_set() or clock.wait(moved_on, pause):
                    break
                execution = self._execution(arn)
        return execution

    def _know(self, job_urn: str, execution_arn: str) -> None:
        with self._executions_lock:
            if job_urn not in self._executions and len(self._executions) >= KNOWN_EXECUTIONS:
                self._executions.pop(next(iter(self._executions)))  # the oldest; it is read again if needed
            self._executions[job_urn] = execution_arn

    def _forget(self, job_urn: str) -> None:
        with self._executions_lock:
            self._executions.pop(job_urn, None)

    def reconcile(self) -> None:
        """Read the executions of running jobs: ends that no message announced (timeouts) are seen too.

        A job written within the last `reconcile_seconds` is being driven by messages: its execution
        is read only once it has been quiet that long, or every `RECONCILE_BUSY_PERIODS` periods (a
        job first seen busy counts as read then: most jobs end, by their messages, before either).
        """
        period = clock.CLOCK.virtual_seconds(self.settings.reconcile_seconds)
        checked, self._checked = self._checked, {}
        with observe.acting_as(PARTICIPANT):
            jobs = self.db.active("job", attributes=("urn", "status", "execution_arn", "updated_at"))
            self._idle = not jobs
            for job in jobs:
                if job.get("status") != "RUNNING":
                    job_updates.clear_active(self.db, job["urn"])
                    continue
                at, last = clock.now(), checked.get(job["urn"])
                quiet = "updated_at" not in job or at - clock.epoch(job["updated_at"]) >= period
                if not quiet and (last is None or at - last < RECONCILE_BUSY_PERIODS * period):
                    self._checked[job["urn"]] = at if last is None else last
                    continue
                self._checked[job["urn"]] = at
                try:
                    if job.get("execution_arn") and self._execution(job["execution_arn"])["status"] == "RUNNING":
                        continue  # nothing changed: nothing more read, nothing written
                    self.refresh_job(job["urn"])
                except ClientError:
                    log.warning("could not read the execution of %s", job["urn"], exc_info=True)
