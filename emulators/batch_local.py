"""Run moto's AWS Batch jobs as local processes.

moto runs a Batch job in Docker, or (batch_simple) marks it SUCCEEDED without
running anything. Here a job's container `command` starts as a local process
with the container's environment (job definition plus overrides), and the job
follows it: RUNNING while it runs, SUCCEEDED or FAILED by its exit code,
FAILED when it cannot start, exceeds its attempt duration or is terminated.

Only jobs submitted through the harness's own server run so (emulators.scope): a
`mock_aws` of the same process keeps stock moto's Batch.
"""

import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from datetime import datetime

from moto.batch import models as batch_models
from moto.batch import responses as batch_responses

from server import clock

from . import scope
from .unread import Unread

log = logging.getLogger(__name__)

_processes: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()
#: Where workers' stdout and stderr go: None inherits the server's; a folder gets `<job id>.log`.
output_dir: str | None = None
#: Variables every local worker gets before its job's own (set by the embedded service).
base_environment: dict[str, str] = {}
#: Lines of a worker's stderr kept after it exits, and how many ended jobs keep theirs.
TAIL_LINES, KEPT_JOBS = 20, 1000
#: batch job id -> (exit code, last lines of stderr) of ended processes, oldest first.
_ended: "OrderedDict[str, tuple[int | None, list[str]]]" = OrderedDict()
#: Fault hooks (harness/faults.py): each `hook(job)` may return why the job's container cannot start.
start_faults: list = []
#: batch job id -> why its process was killed from outside (a host that went away), for its status reason.
_killed: dict[str, str] = {}


#: Wall seconds that a failed job nobody describes holds a skipping clock to the service's sweeps.
UNREAD_FAILURE_SECONDS = 2.0
#: The idle check: True when every Batch job that failed on its own has been described since (or failed a while ago).
no_failure_unread = Unread(UNREAD_FAILURE_SECONDS, "a failed Batch job is not described yet")


def _failed(job) -> None:
    """Mark `job` stopped, unsuccessful. One that failed on its own (its process exited non-zero or
    could not start; not terminated by a caller, who knows) is news for the service's Batch watch
    until a DescribeJobs shows it (emulators/unread.py)."""
    if not job.stop:
        no_failure_unread.ended(job.job_id)
    job._mark_stopped(success=False)


def _describe_jobs(self, jobs):
    described = _stock_describe_jobs(self, jobs)
    no_failure_unread.read(job.get("jobId") for job in described if job.get("status") in ("SUCCEEDED", "FAILED"))
    return described


def ended(job_id: str) -> tuple[int | None, list[str]] | None:
    """The exit code and last stderr lines of a worker process that ended, or None if unknown here."""
    with _lock:
        return _ended.get(job_id)


def _keep(job_id: str, exit_code, tail) -> None:
    try:
        lines = list(tail)
    except RuntimeError:  # still written by a grandchild that outlived the worker
        lines = []
    with _lock:
        _ended[job_id] = (exit_code, lines)
        while len(_ended) > KEPT_JOBS:
            _ended.popitem(last=False)


class _StderrPump:
    """Copies every running worker's stderr to this process's stderr, line by line, keeping each one's last
    lines: one thread for all of them (a thread per worker was a third of the threads of 8 jobs at once).

    `add(stream, tail)` gives an Event set once the stream has ended (the worker and whatever it left
    running closed it). The thread ends when no stream is left, and starts again with the next one.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._streams: dict[int, tuple] = {}  # fd -> (stream, tail, partial line, ended event)
        self._thread = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def add(self, stream, tail: deque) -> threading.Event:
        ended = threading.Event()
        with self._lock:
            self._streams[stream.fileno()] = (stream, tail, bytearray(), ended)
            if self._thread is None:
                self._thread = threading.Thread(target=self._pump, daemon=True, name="worker-stderr")
                self._thread.start()
        try:
            os.write(self._wake_w, b"x")  # the thread picks the new stream up now
        except BlockingIOError:
            pass  # it is woken already
        return ended

    def _pump(self) -> None:
        while True:
            with self._lock:
                if not self._streams:
                    self._thread = None
                    return
                fds = list(self._streams)
            poll = select.poll()  # not select.select: a long session's descriptors may pass 1024
            for fd in (self._wake_r, *fds):
                poll.register(fd, select.POLLIN)
            for fd, _ in poll.poll(1000):
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                else:
                    self._read(fd)

    def _read(self, fd: int) -> None:
        stream, tail, partial, ended = self._streams[fd]
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        partial += data
        lines = partial.split(b"\n")
        if data:
            partial[:] = lines.pop()  # an unfinished line waits for its end
        else:
            partial.clear()
            if lines and not lines[-1]:
                lines.pop()
        for line in lines:
            tail.append(line.decode("utf-8", "replace"))
            try:
                os.write(2, bytes(line) + b"\n")
            except OSError:
                pass
        if not data:  # the end of the stream
            with self._lock:
                del self._streams[fd]
            stream.close()
            ended.set()


_stderr = _StderrPump()


def _file_tail(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - 8192))
            return fh.read().decode("utf-8", "replace").splitlines()[-TAIL_LINES:]
    except OSError:
        return []


def local_command(command: list[str]) -> list[str]:
    """Run `python`/`python3` as the interpreter that runs the service."""
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return list(command)


def _run(job) -> None:
    """Replace Job.run: start the command, wait for it, record the outcome."""
    try:
        job.advance()
        if job.depends_on and not job._wait_for_dependencies():
            return
        for fault in list(start_faults):
            reason = fault(job)
            if reason:
                job.job_stopped_reason, job.exit_code = reason, None
                _keep(job.job_id, None, [reason])
                _failed(job)
                return
        command = local_command(job._add_parameters_to_command(job._get_container_property("command", [])))
        if not command:
            raise ValueError("the job definition has no command to run")
        env = dict(os.environ)
        env.update(base_environment)
        env.update({e["name"]: str(e["value"]) for e in job._get_container_property("environment", [])})
        out = log_path = None
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
            log_path = os.path.join(output_dir, f"{job.job_id}.log")
            out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT if out else subprocess.PIPE, start_new_session=True,
            )
        finally:
            if out:
                out.close()
    except Exception as exc:  # noqa: BLE001 - any start failure is the job's failure
        job.job_stopped_reason = f"CannotStartContainerError: {exc}"
        job.exit_code = None
        _keep(job.job_id, None, [str(exc)])
        _failed(job)
        return
    tail: deque = deque(maxlen=TAIL_LINES)
    copied = _stderr.add(proc.stderr, tail) if proc.stderr is not None else None
    with _lock:
        _processes[job.job_id] = proc
        stopped = job.stop  # TerminateJob set it before it looked for a process (a job not started yet)
    log.info("worker process started: pid %s (Batch job %s)", proc.pid, job.job_id)
    if stopped:  # as AWS cancels a job terminated before it ran: it ends at once, FAILED
        _kill(proc)
    job.job_started_at = datetime.fromtimestamp(clock.now())
    job.log_stream_name = job._stream_name
    job._start_attempt()
    job.status = "RUNNING"
    limit = (job.timeout or {}).get("attemptDurationSeconds")
    # A running worker holds the clock still (skip mode) unless it sleeps on it (/v2/worker/sleep).
    key = clock.worker_key(env.get("JOBSERVICE_WORKER_ID") or job.job_id)
    clock.CLOCK.hold(key)
    _release_submitted(job)
    try:
        if limit is not None:  # the attempt timeout, in the clock's seconds
            if not clock.wait(_exited(proc), limit):
                job.job_stopped_reason = f"Job attempt duration exceeded timeout ({limit} s)"
                _kill(proc)
        else:  # none: waited on directly, no thread more; happening (skip mode) from the exit to its record
            proc.jobservice_waiter = threading.current_thread()
            proc.wait()
            clock.CLOCK.wake()
        proc.wait()
    finally:
        clock.CLOCK.release(key)
        with _lock:
            _processes.pop(job.job_id, None)
    job.exit_code = proc.returncode
    if copied is not None:
        copied.wait(5)  # a grandchild holding the pipe open must not hold the job
    _keep(job.job_id, proc.returncode, _file_tail(log_path) if log_path else tail)
    log.info("worker exited: code %s (Batch job %s)", proc.returncode, job.job_id)
    with _lock:
        killed = _killed.pop(job.job_id, None)
    if job.job_stopped_reason is None:
        job.job_stopped_reason = killed or "Essential container in task exited"
    if proc.returncode == 0 and not job.stop:
        job._mark_stopped(success=True)
    else:
        _failed(job)


def _exited(proc: subprocess.Popen) -> threading.Event:
    """An event set once `proc` has exited."""
    exited = threading.Event()
    proc.jobservice_exited = exited  # `_kill` sets it too, before the call that killed the process returns
    threading.Thread(target=lambda: (proc.wait(), exited.set()), daemon=True, name=f"wait-{proc.pid}").start()
    return exited


def _terminate(job, reason: str) -> None:
    """Replace Job.terminate: also end the process."""
    if not job.stop:
        job.stop = True
        job.job_stopped_reason = reason
    with _lock:
        proc = _processes.get(job.job_id)
    if proc is not None:
        _kill(proc)


def _kill(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """End a worker's process group: SIGTERM, then SIGKILL after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # Set while the caller (TerminateJob) still holds the clock: its waiter is woken before skip mode looks.
        exited = getattr(proc, "jobservice_exited", None)
        if exited is not None:
            exited.set()
        waiter = getattr(proc, "jobservice_waiter", None)
        if waiter is not None:  # one that waits on the process directly counts as happening from now
            clock.CLOCK.wake(waiter)
        return


def running_pids() -> list[int]:
    """Pids of the worker processes alive now."""
    with _lock:
        return [p.pid for p in _processes.values()]


def kill_running(reason: str) -> list[str]:
    """SIGKILL every running worker process, as a host that goes away does; `reason` becomes its status reason."""
    with _lock:
        running = list(_processes.items())
        for job_id, _ in running:
            _killed[job_id] = reason
    for _, proc in running:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [job_id for job_id, _ in running]


def pid_of(job_id: str) -> int | None:
    """The pid of a running worker process of this Batch job, or None."""
    with _lock:
        proc = _processes.get(job_id)
    return proc.pid if proc is not None else None


def kill_all() -> None:
    """End every worker process this emulator started."""
    with _lock:
        procs = list(_processes.values())
    threads = [threading.Thread(target=_kill, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


_stock_init = batch_models.Job.__init__
_stock_run = batch_models.Job.run
_stock_terminate = batch_models.Job.terminate
_container_details = batch_models.Job._container_details
_stock_batch_backend = batch_responses.BatchResponse.batch_backend
_stock_describe_jobs = batch_models.BatchBackend.describe_jobs


def _local(job) -> bool:
    return getattr(job, "jobservice_local", False)


def _init(job, *args, **kwargs) -> None:
    """Replace Job.__init__: remember whether the harness's server submitted the job."""
    _stock_init(job, *args, **kwargs)
    job.jobservice_local = scope.active()
    if job.jobservice_local:  # submitted: happening from now until its process holds the clock itself
        clock.CLOCK.hold(_submitted(job))


def _submitted(job) -> tuple:
    return ("batch job", job.job_id)


def _release_submitted(job) -> None:
    if getattr(job, "jobservice_holds", True) and _local(job):
        job.jobservice_holds = False
        clock.CLOCK.release(_submitted(job))


def _dispatch_run(job) -> None:
    if not _local(job):
        return _stock_run(job)
    try:
        _run(job)
    finally:
        _release_submitted(job)


def _dispatch_terminate(job, reason: str) -> None:
    (_terminate if _local(job) else _stock_terminate)(job, reason)


def _container_details_with_exit_code(job) -> dict:
    """Report the process's exit code as the container's, as DescribeJobs does on AWS."""
    details = _container_details(job)
    if _local(job) and job.exit_code is not None:
        details["exitCode"] = job.exit_code
    return details


class JobsTable(dict):
    """moto's Batch job table, read by several threads: each iteration reads a snapshot.

    moto's DescribeJobs and ListJobs iterate it while another request submits a job (or the
    retention sweep drops one): "dictionary changed size during iteration". Copying the keys
    or items into a list happens in one step under the GIL.
    """

    def __iter__(self):
        return iter(list(super().keys()))

    def keys(self):
        return list(super().keys())

    def values(self):
        return list(super().values())

    def items(self):
        return list(super().items())


@property
def _batch_backend(self):
    """The full Batch backend for the harness's requests, whatever `use_docker` a user's mock set."""
    if scope.active():
        backend = batch_models.batch_backends[self.current_account][self.region]
        if type(backend._jobs) is dict:  # once per backend, before its first job in practice
            backend._jobs = JobsTable(backend._jobs)
        return backend
    return _stock_batch_backend.fget(self)


def install() -> None:
    """Make moto's Batch run the harness's jobs as local processes (idempotent)."""
    batch_models.Job.__init__ = _init
    batch_models.Job.run = _dispatch_run
    batch_models.Job.terminate = _dispatch_terminate
    batch_models.Job._container_details = _container_details_with_exit_code
    batch_responses.BatchResponse.batch_backend = _batch_backend
    batch_models.BatchBackend.describe_jobs = _describe_jobs
    clock.CLOCK.add_idle_check(no_failure_unread, until_sweep=True)  # the service's Batch watch reads it
