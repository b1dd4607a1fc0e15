"""The cause-first summary of a job or request, and the events shown with it: pure logic, no server."""

from datetime import datetime, timezone

from harness.failures import around_failure, asl_steps, job_summary, relevant, request_summary
from server.observe import Event

WORKER = "urn:jobservice:worker:extract"
ASL = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": "Extract", "States": {"Extract": {"Type": "Task", "Resource": WORKER, "End": True}}}]}}}


def run(status, **fields):
    return {"worker": "0123456789abcdef" * 2, "definition": WORKER, "status": status,
            "created_at": "2026-12-01T10:00:00.000Z", **fields}


def test_a_failed_run_leads_with_worker_step_attempt_error_and_exit_code():
    job = {"urn": "urn:jobservice:job:j1", "status": "FAILED",
           "error": {"error": "Worker.Exited", "cause": "..."},
           "workers": [run("FAILED", error={"error": "Boom", "cause": "first"}),
                       run("FAILED", error='{"error": "Worker.Exited", "cause": "exited with code 7 without"}')]}
    text = job_summary(job, "COMPLETED", steps=asl_steps(ASL))
    first, *rest = text.splitlines()
    assert first == "worker extract (step Extract, attempt 1) FAILED: Boom; job FAILED, expected COMPLETED"
    assert "  run 01234567 of worker extract (step Extract, attempt 2) FAILED: Worker.Exited" in rest
    assert "    exit code: 7" in rest


def test_a_run_still_going_says_for_how_long():
    job = {"urn": "urn:jobservice:job:j1", "status": "RUNNING", "workers": [run("RUNNING")]}
    now = datetime(2026, 12, 1, 10, 0, 42, tzinfo=timezone.utc)
    first = job_summary(job, "COMPLETED", names={WORKER: "extract-step"}, now=now).splitlines()[0]
    assert first == ("run 01234567 of worker extract-step (attempt 1) is still RUNNING after 42.0s; "
                     "job RUNNING, expected COMPLETED")


def test_a_job_error_without_a_failed_run_is_the_headline():
    job = {"urn": "urn:jobservice:job:j1", "status": "FAILED", "workers": [],
           "error": {"error": "States.Runtime", "cause": "bad path"}}
    assert job_summary(job, "COMPLETED").splitlines()[0] == (
        "job error States.Runtime: bad path; job FAILED, expected COMPLETED")
    assert request_summary({"urn": "r", "status": "FAILED", "error": {"code": "X"}}, "FULFILLED") == (
        'job request r is FAILED, expected FULFILLED: {"code": "X"}')


def event(seq, source, target, label, kind="call", thread=1):
    return Event(source, target, label, kind, seq=seq, details={"thread": thread})


def test_polling_and_housekeeping_are_left_out_and_the_failure_is_kept():
    events = [
        event(1, "User", "API Server", "GET /v2/jobs/urn:jobservice:job:j1", thread=7),
        event(2, "API Server", "DynamoDB Connection", "Get Resource", thread=7),
        event(3, "Activity Poller", "AWS Batch", "DescribeJobs", thread=2),
        event(4, "DynamoDB Connection", "AWS DynamoDB", "GetItem", thread=7),
        event(5, "API Server", "User", "200", kind="return", thread=7),
        event(6, "Activity Poller", "AWS SFN", "SendTaskFailure", thread=2),
        event(7, "User", "API Server", "POST /v2/jobs/requests", thread=8),
    ]
    assert [e.seq for e in relevant(events)] == [6, 7]
    shown, cut = around_failure(events)
    assert [e.seq for e in shown] == [6, 7] and cut == 0

