"""Say why a job or job request ended otherwise than expected: the cause first, the sequence after.

Used by the scenario runner, `Client.run_job(expect=...)`, `harness run` and the
pytest plugin, so a failure reads the same everywhere:

    worker crasher (step Crash, attempt 1) FAILED: Worker.Exited, exit code 3; job FAILED, expected COMPLETED
      job urn:jobservice:job:ab12 is FAILED, expected COMPLETED
      run 74fd21a1 of worker crasher (step Crash, attempt 1) FAILED: Worker.Exited
        cause: worker 74fd... exited with code 3 without calling /v2/worker/finish (...)
        exit code: 3
        stderr (last 2 lines):
          Traceback ...

The first line is the headline (pytest's short summary shows it); the rest is the detail.
"""

import json
import re
import sys
from datetime import datetime

from server import clock

from .scenario import task_states

WORKER_URN = "urn:jobservice:worker:"
ENDED_RUN = ("FAILED",)
GOING_RUN = ("SUBMITTED", "RUNNING")
_EXIT_RE = re.compile(r"exited with code (-?\d+)")
#: Stderr lines shown per failed run.
STDERR_LINES = 10


def job_summary(job: dict, expected: str | None = None, steps: dict | None = None, names: dict | None = None,
                now: datetime | None = None) -> str:
    """Lines that say how a job ended and why: its failed runs (error, cause, exit code, stderr), its open runs.

    `steps` maps a worker URN to the ASL states that run it, `names` a worker URN to the
    name to show (a scenario's own name instead of the registered one).
    """
    status = job.get("status")
    wanted = f", expected {expected}" if expected and expected != status else ""
    lines = [f"  job {job.get('urn')} is {status}{wanted}"]
    runs = job.get("workers") or []
    seen: dict = {}
    headline = None
    for run in runs:
        definition = run.get("definition", "")
        seen[definition] = seen.get(definition, 0) + 1
        label = _run_label(run, seen[definition], steps or {}, names or {})
        if run.get("status") in ENDED_RUN:
            detail, brief = _failed_run(label, run)
            lines.extend(detail)
            headline = headline or brief
        elif run.get("status") in GOING_RUN:
            going = f"run {label} is still {run['status']} after {_age(run, now)}"
            lines.append("  " + going)
            if status != "RUNNING" or expected:
                headline = headline or going
    error = _error(job.get("error"))
    if error and not any(run.get("status") in ENDED_RUN for run in runs):
        text = f"{error[0]}" + (f": {error[1]}" if error[1] else "")
        lines.append(f"  error: {text}")
        headline = headline or f"job error {text}"
    head = f"{headline}; job {status}{wanted}" if headline else f"job {job.get('urn')} is {status}{wanted}"
    return "\n".join([head] + lines)


def request_summary(request: dict, expected: str | None = None) -> str:
    """How a job request ended and why."""
    status = request.get("status")
    head = f"job request {request.get('urn')} is {status}" + (
        f", expected {expected}" if expected and expected != status else "")
    error = request.get("error")
    if error:
        head += f": {error if isinstance(error, str) else json.dumps(error, sort_keys=True)}"
    return head


def _run_label(run: dict, attempt: int, steps: dict, names: dict) -> str:
    definition = run.get("definition", "")
    name = names.get(definition) or definition.removeprefix(WORKER_URN)
    where = [f"step {' or '.join(steps[definition])}"] if steps.get(definition) else []
    where.append(f"attempt {attempt}")
    return f"{str(run.get('worker', '?'))[:8]} of worker {name} ({', '.join(where)})"


def _failed_run(label: str, run: dict) -> tuple[list, str]:
    """The detail lines of a failed run, and its one-line headline."""
    error, cause = _error(run.get("error")) or ("no error given", "")
    lines = [f"  run {label} FAILED: {error}"]
    if cause:
        lines.append(f"    cause: {cause}")
    code, stderr = _process(run)
    if code is None:
        found = _EXIT_RE.search(cause or "")
        code = int(found.group(1)) if found else None
    brief = f"worker {label.split(' of worker ', 1)[-1]} FAILED: {error}"
    if code is not None:
        lines.append(f"    exit code: {code}")
        brief += f", exit code {code}"
    if stderr:
        shown = stderr[-STDERR_LINES:]
        lines.append(f"    stderr (last {len(shown)} line{'s' if len(shown) > 1 else ''}):")
        lines.extend(f"      {line}" for line in shown)
        brief += f", stderr: {shown[-1].strip()[:120]}"
    return lines, brief


def _process(run: dict):
    """Exit code and stderr tail of a run's process, when its Batch runs in this process (embedded, local)."""
    batch = sys.modules.get("emulators.batch_local")  # loaded only when the service runs here
    if batch is None or not run.get("batch_job_id"):
        return None, []
    found = batch.ended(run["batch_job_id"])
    return found if found is not None else (None, [])


def _error(value):
    """(error, cause) of an error field given as a mapping or a JSON string; None when there is none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value, ""
    if isinstance(value, dict):
        return str(value.get("error") or value.get("code") or "?"), str(value.get("cause") or value.get("message") or "")
    return None


def _age(run: dict, now: datetime | None) -> str:
    try:
        started = clock.parse_iso(run.get("created_at"))
    except ValueError:
        return "an unknown time"
    seconds = ((now or clock.utcnow()) - started).total_seconds()  # the service's (maybe virtual) time
    return f"{seconds:.1f}s"


def asl_steps(asl) -> dict:
    """{worker URN: [state names]} of the Task states of an ASL document (nested Parallel and Map included)."""
    if isinstance(asl, str):
        try:
            asl = json.loads(asl)
        except ValueError:
            return {}
    out: dict = {}
    for name, state in task_states(asl):
        out.setdefault(state["Resource"], []).append(name)
    return out


# -- the observed sequence, as shown with a failure --------------------------------------------
#: Housekeeping of the background loops: finding work and watching Batch (also left out of diagrams).
HOUSEKEEPING = re.compile(r"^(List .*|Query|DescribeJobs|GetActivityTask|ReceiveMessage)$")
#: Events shown before and after the failure's first sign.
BEFORE, AFTER = 25, 15


def relevant(events) -> list:
    """The events without the user's polling (GETs and what served them) and the loops' housekeeping."""
    out, polling = [], set()
    for event in events:
        thread = event.details.get("thread")
        if event.kind == "call" and event.source == "User" and event.label.startswith("GET "):
            polling.add(thread)
            continue
        if thread in polling:
            if event.kind == "return" and event.target == "User":
                polling.discard(thread)
            continue
        if HOUSEKEEPING.match(event.label):
            continue
        out.append(event)
    return out


def around_failure(events) -> tuple[list, int]:
    """The relevant events near the first sign of failure (a FAILED note, a failing call), and how many were cut."""
    kept = relevant(events)
    marks = [i for i, e in enumerate(kept) if _fails(e)]
    if not marks:
        shown = kept[-(BEFORE + AFTER):]
        return shown, len(kept) - len(shown)
    start, end = max(0, marks[0] - BEFORE), min(len(kept), marks[0] + AFTER + 1)
    return kept[start:end], len(kept) - (end - start)


def _fails(event) -> bool:
    label = event.label
    return ("SendTaskFailure" in label or "FAILED" in label or "TIMED_OUT" in label
            or (event.kind == "return" and label[:1] in "45" and label.isdigit()))
