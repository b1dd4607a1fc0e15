"""A run's lifecycle and the loops stepped one message or one poll at a time, against moto in process.

No HTTP server and no background loop runs here: the API is called through Flask's test client,
the Queue with `run_once`, the Activity Poller with `poll_once`, `wanted` and `watch_once`.
"""

import itertools
import sys
import threading
import time
import uuid

import fakeredis
import pytest

from emulators import sfn_activities
from harness.provision import provision
from harness.service import names_for
from server.config import Settings
from server import job_updates
from server.resources import JOB, RUN, RUN_ATTR
from server.service import Service

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture(scope="module")
def stepped(emulated_aws):
    """A Service on the harness's emulator, called in process (no HTTP), its loops not started."""
    aws, _ = emulated_aws
    service = Service(Settings(endpoint_url=aws.endpoint, access_key_id=aws.credentials.access_key_id,
                               secret_access_key=aws.credentials.secret_access_key, redis_url=None,
                               names=names_for(f"runs{uuid.uuid4().hex[:6]}")),
                      fakeredis.FakeRedis(server=fakeredis.FakeServer()), aws.transport())
    provision(service.clients, service.settings.names, log=lambda text: None)
    yield service
    service.poller.stop()
    # The process has one clock: what this service leaves pending (a running execution, its activity
    # task, a message in its queue) would hold a skipping clock still for the rest of the session.
    for job in service.db.active("job", attributes=("urn", "execution_arn")):
        if job.get("execution_arn"):
            service.clients.sfn.stop_execution(executionArn=job["execution_arn"])
    service.clients.sqs.purge_queue(QueueUrl=service.messages.url)


@pytest.fixture
def api(stepped):
    client = stepped.app.test_client()

    def call(method, path, expect=None, **kw):
        response = client.open(path, method=method, **kw)
        if expect is not None:
            assert response.status_code == expect, response.get_json()
        return response.get_json()

    return call


def one_step_job(api, command=SLEEPER):
    name = f"w-{uuid.uuid4().hex[:8]}"
    worker = api("POST", "/v2/definitions", 201, json={"type": "worker", "name": name, "command": command})
    job = api("POST", "/v2/definitions", 201, json={"type": "job", "name": f"j-{name}", "definition": {
        "StartAt": "A", "States": {"A": {"Type": "Task", "Resource": worker["urn"], "End": True}}}})
    return job, worker


def start_job(stepped, api, job_def) -> str:
    """Request a job and let the Queue take the request; the job's URN."""
    request = api("POST", "/v2/jobs/requests", 202, json={"definition": job_def["urn"], "input": {"n": 1}})
    while stepped.queue.run_once(wait=0):
        pass
    job = api("GET", f"/v2/jobs/requests/{request['urn']}", 200)["job"]
    assert job is not None
    return job


def take_task(stepped, worker) -> dict:
    """The Activity Poller takes the job's task: the run it made, as stored."""
    assert worker["activity_arn"] in stepped.poller.wanted()
    assert stepped.poller.poll_once(worker["activity_arn"])
    runs = [r for r in stepped.worker_info.running() if r["definition"] == worker["urn"]]
    assert len(runs) == 1
    return stepped.worker_info.get(runs[0]["worker"], fresh=True)


def stored(stepped, info) -> tuple[dict, dict]:
    """The run's item and its job's item, as DynamoDB holds them."""
    return stepped.db.get(RUN + info["worker"]), stepped.db.get(info["job"])


def test_each_transition_applied_twice_changes_nothing_the_second_time(stepped, api):
    job_def, worker = one_step_job(api)
    start_job(stepped, api, job_def)
    info = take_task(stepped, worker)
    runs = stepped.runs

    before = stored(stepped, info)
    runs.submitted(info, "another-batch-job")  # a second submission record: the first one stands
    assert stored(stepped, info) == before
    assert before[1]["run_" + info["worker"]]["batch_job_id"] == info["batch_job_id"]

    runs.start(info)
    after_start = stored(stepped, info)
    assert after_start[0]["status"] == "RUNNING" and after_start[1]["run_" + info["worker"]]["status"] == "RUNNING"
    runs.start(info)
    assert stored(stepped, info) == after_start

    runs.finish(info, "SUCCEEDED", {"output": {"done": 1}})
    finished = stored(stepped, info)
    assert finished[1]["run_" + info["worker"]]["status"] == "SUCCEEDED"
    with pytest.raises(Exception) as second:
        runs.finish(info, "SUCCEEDED", {"output": {"done": 2}})
    assert getattr(second.value, "status_code", None) == 409
    assert runs.fail(info, "Worker.Exited", "late") is False  # a failure arriving after the finish
    assert stored(stepped, info) == finished

    while stepped.queue.run_once(wait=0):
        pass
    job = api("GET", f"/v2/jobs/{info['job']}", 200)
    assert job["status"] == "COMPLETED" and job["output"] == {"done": 1}
    assert [w["status"] for w in job["workers"]] == ["SUCCEEDED"]


def test_a_redelivered_request_message_makes_one_job_and_one_execution(stepped, api):
    job_def, _ = one_step_job(api)
    request = api("POST", "/v2/jobs/requests", 202, json={"definition": job_def["urn"]})
    sqs, url = stepped.clients.sqs, stepped.queue.url
    message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    stepped.queue.handle(message)
    first = api("GET", f"/v2/jobs/{api('GET', '/v2/jobs/requests/' + request['urn'], 200)['job']}", 200)
    # The process died before its delete landed: SQS delivers the same message again.
    stepped.queue.handle(message)
    again = api("GET", f"/v2/jobs/requests/{request['urn']}", 200)
    assert again["job"] == first["urn"]
    assert api("GET", f"/v2/jobs/{first['urn']}", 200)["created_at"] == first["created_at"]
    jobs = [j for j in api("GET", "/v2/jobs", 200)["jobs"] if j["request"] == request["urn"]]
    assert len(jobs) == 1
    executions = stepped.clients.sfn.list_executions(stateMachineArn=job_def["state_machine_arn"])["executions"]
    assert len(executions) == 1


def test_add_job_resource_keeps_a_run_entry_written_before_it_and_changes_nothing_twice_or_once_ended(stepped):
    db, job_urn, worker = stepped.db, f"{JOB}{uuid.uuid4().hex}", uuid.uuid4().hex
    # The poller's Update Job Resource lands before the queue's Add Job Resource (a fast activity task).
    run = {"worker": worker, "job": job_urn, "definition": "urn:jobservice:worker:w", "status": "SUBMITTED",
           "batch_job_id": "batch-1", "created_at": "2026-01-01T00:00:00.000Z"}
    assert job_updates.write_run(db, run, submitted=True)
    request = {"urn": "urn:jobservice:request:r", "definition": "urn:jobservice:job-definition:d",
               "input": '{"a": 1}', "workers": ["urn:jobservice:worker:w"]}
    job_updates.create_job(db, job_urn, request, "arn:aws:states:us-east-1:123456789012:execution:m:e")
    job = db.get(job_urn)
    assert (job["status"], job["request"], job["input"], job["active"]) == ("RUNNING", request["urn"], '{"a": 1}', "job")
    assert job[RUN_ATTR + worker]["status"] == "SUBMITTED" and job[RUN_ATTR + worker]["batch_job_id"] == "batch-1"

    job_updates.create_job(db, job_urn, request, "arn:aws:states:us-east-1:123456789012:execution:m:e")  # redelivered
    assert db.get(job_urn) == {**job, "updated_at": db.get(job_urn)["updated_at"]}

    assert job_updates.end_job(db, job_urn, "COMPLETED", output='{"done": 1}')["status"] == "COMPLETED"
    ended = db.get(job_urn)
    job_updates.create_job(db, job_urn, request, "arn:aws:states:us-east-1:123456789012:execution:m:e")
    assert db.get(job_urn) == ended and "active" not in ended


def test_results_are_kept_out_of_the_job_item_and_read_back_in_order(stepped, api):
    job_def, worker = one_step_job(api)
    start_job(stepped, api, job_def)
    info = stepped.runs.start(take_task(stepped, worker))
    big = "x" * 150_000  # three of these would not fit one 400 KB item
    for i in range(5):
        assert stepped.runs.add_result(info, {"worker": info["worker"], "data": {"i": i, "pad": big},
                                              "files": [], "at": "t"}) == i + 1
    job = api("GET", f"/v2/jobs/{info['job']}", 200)
    assert [r["data"]["i"] for r in job["results"]] == [0, 1, 2, 3, 4]
    assert [r["data"]["i"] for r in job["workers"][0]["results"]] == [0, 1, 2, 3, 4]
    stepped.runs.fail(info, "Test.Done", "test over")


def test_a_long_poll_answers_on_a_change_and_at_its_deadline(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info = stepped.runs.start(take_task(stepped, worker))

    # At its deadline: nothing changed, the job as it is.
    unchanged = api("GET", f"/v2/jobs/{job_urn}?wait=0.2", 200)
    assert unchanged["status"] == "RUNNING" and unchanged["results"] == []

    # On a change: a result posted while the poll waits is in its answer.
    answers = []
    poll = threading.Thread(target=lambda: answers.append(api("GET", f"/v2/jobs/{job_urn}?wait=20", 200)))
    poll.start()
    time.sleep(0.1)  # not a timing assertion: the change is found whether the poll began before it or not
    stepped.runs.add_result(info, {"worker": info["worker"], "data": "r1", "files": [], "at": "t"})
    poll.join(30)
    assert [r["data"] for r in answers[0]["results"]] == ["r1"]

    # An ended job answers at once, whatever the wait.
    stepped.runs.fail(info, "Test.Done", "test over")
    while stepped.queue.run_once(wait=0):
        pass
    assert api("GET", f"/v2/jobs/{job_urn}?wait=20", 200)["status"] == "FAILED"


@pytest.mark.parametrize("bad", ["21", "-1", "abc", "nan", "inf", ""])
def test_a_bad_wait_is_a_400_naming_it(stepped, api, bad):
    job_def, _ = one_step_job(api)
    request = api("POST", "/v2/jobs/requests", 202, json={"definition": job_def["urn"]})
    body = api("GET", f"/v2/jobs/requests/{request['urn']}?wait={bad}", 400)
    assert body["error"]["code"] == "BadRequest" and "'wait'" in body["error"]["message"]


@pytest.mark.parametrize("bad", ["", "DONE", "RUNNING,", "running", "PENDING"])
def test_a_bad_until_is_a_400_naming_it(stepped, api, bad):
    job_def, _ = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    body = api("GET", f"/v2/jobs/{job_urn}?wait=1&until={bad}", 400)
    assert body["error"]["code"] == "BadRequest" and "'until'" in body["error"]["message"]


def create_run(stepped, worker, job_urn) -> tuple[dict, str]:
    """A poller takes the job's task and creates its run, and stops there (before SubmitJob): (info, token)."""
    from server import asl

    task = stepped.clients.sfn_poll.get_activity_task(activityArn=worker["activity_arn"], workerName="test")
    effective, _, _ = asl.unwrap(task["input"])
    return stepped.runs.create(task["taskToken"], job_urn, worker["urn"], effective)


def test_a_task_taken_but_never_submitted_fails_its_run_and_its_job(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    # A poller took the task and recorded the run, then died before SubmitJob.
    info, _ = create_run(stepped, worker, job_urn)
    assert api("GET", f"/v2/jobs/{job_urn}", 200)["workers"] == []  # a run joins its job once submitted
    assert stepped.poller.watch_once() == 0  # within the grace period: it may still be submitted
    stepped.settings.unsubmitted_grace_seconds = 0
    try:
        assert stepped.poller.watch_once() == 1
    finally:
        stepped.settings.unsubmitted_grace_seconds = 60
    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        stepped.queue.run_once(wait=0)
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert job["status"] == "FAILED" and job["error"]["error"] == "Worker.NotSubmitted"
    assert [w["status"] for w in job["workers"]] == ["FAILED"]


def test_the_poller_holds_no_thread_per_definition(stepped, api):
    poller = stepped.poller
    while stepped.queue.run_once(wait=0):  # the jobs other tests left running end first
        pass
    for job in api("GET", "/v2/jobs?status=RUNNING", 200)["jobs"]:
        api("POST", f"/v2/jobs/{job['urn']}/cancel", 200)
    definitions = [one_step_job(api) for _ in range(200)]
    assert poller.discover_once() == set() and poller.polling() == []  # 200 definitions, nothing running

    job_def, worker = definitions[0]
    job_urn = start_job(stepped, api, job_def)
    assert poller.discover_once() == {worker["activity_arn"]}
    assert poller.polling() == [worker["activity_arn"]]
    deadline = time.monotonic() + 20
    while not stepped.worker_info.running():  # the poll thread took the task
        assert time.monotonic() < deadline, "the poll thread did not take the task"
        time.sleep(0.01)

    api("POST", f"/v2/jobs/{job_urn}/cancel", 200)
    assert poller.discover_once() == set()
    deadline = time.monotonic() + 20
    while poller.polling():
        assert time.monotonic() < deadline, f"poll threads left: {poller.polling()}"
        sfn_activities.wake_all()  # an idle poll returns now, not after its 60 s (one may start after a wake)
        time.sleep(0.01)


def test_a_task_taken_when_its_run_cannot_be_recorded_is_failed_at_once(stepped, api, monkeypatch):
    from botocore.exceptions import ClientError

    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)

    def unavailable(info):  # DynamoDB refuses the run's item (a fault, as a throttled or unreachable table)
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "PutItem")

    monkeypatch.setattr(stepped.worker_info, "create", unavailable)
    with pytest.raises(ClientError):
        stepped.poller.poll_once(worker["activity_arn"])
    monkeypatch.undo()
    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":  # no message: the sweep sees it
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        stepped.queue.reconcile()
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert job["status"] == "FAILED" and job["error"]["error"] == "Worker.NotSubmitted"
    assert job["workers"] == []


def test_reconcile_leaves_a_busy_job_to_its_messages_and_sees_its_end_once_it_is_quiet(stepped, api, monkeypatch):
    from server.dynamodb_connection import Update, now

    job_def, _ = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    arn = stepped.db.get(job_urn)["execution_arn"]
    reads = []
    read = stepped.queue._execution
    monkeypatch.setattr(stepped.queue, "_execution", lambda a: (reads.append(a), read(a))[1])

    stepped.queue.reconcile()  # first seen, written just now: driven by messages, not read
    assert reads.count(arn) == 0
    stepped.clients.sfn.stop_execution(executionArn=arn)  # an end no message announces
    stepped.db.update(job_urn, Update().set("updated_at", now()))  # a message's write
    stepped.queue.reconcile()  # written just now again: not read yet
    assert reads.count(arn) == 0
    assert api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING"

    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":  # quiet for a period: read, ended
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        time.sleep(0.1)
        stepped.queue.reconcile()
    assert api("GET", f"/v2/jobs/{job_urn}", 200)["status"] in ("CANCELLED", "FAILED")


@pytest.mark.parametrize("started_here", [True, False], ids=["started-here", "started-by-another-process"])
def test_update_messages_end_the_job_whether_or_not_this_queue_started_it(stepped, api, started_here):
    from server.queue import QueueProcessor

    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    queue = stepped.queue if started_here else QueueProcessor(stepped)  # a queue process that knows nothing
    try:
        info = stepped.runs.start(take_task(stepped, worker))
        stepped.queue.send({"type": "update-job", "job": job_urn, "worker": info["worker"]}, "test")
        while queue.run_once(wait=0):  # an update while the job runs: nothing changes
            pass
        assert api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING"
        stepped.runs.finish(info, "SUCCEEDED", {"output": {"ok": started_here}})  # sends the update message
        deadline = time.monotonic() + 20
        while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the job stayed RUNNING"
            queue.run_once(wait=0)
        job = api("GET", f"/v2/jobs/{job_urn}", 200)
        assert job["status"] == "COMPLETED" and job["output"] == {"ok": started_here}
        assert job_urn not in queue._executions  # what the queue kept of the job went with its end
    finally:
        if not started_here:
            queue.stop()


def test_a_middle_tasks_finish_reads_the_execution_once_when_the_next_run_is_written(stepped, api, monkeypatch):
    from server import queue as queue_module

    monkeypatch.setattr(queue_module, "SETTLE_PAUSES", (60.0, 60.0))  # only a run written ends a pause in time
    name = f"w-{uuid.uuid4().hex[:8]}"
    worker = api("POST", "/v2/definitions", 201, json={"type": "worker", "name": name, "command": SLEEPER})
    job_def = api("POST", "/v2/definitions", 201, json={"type": "job", "name": f"j-{name}", "definition": {
        "StartAt": "A", "States": {"A": {"Type": "Task", "Resource": worker["urn"], "Next": "B"},
                                   "B": {"Type": "Task", "Resource": worker["urn"], "End": True}}}})
    job_urn = start_job(stepped, api, job_def)
    first = stepped.runs.start(take_task(stepped, worker))
    reads = []
    read = stepped.queue._execution

    def counted(arn):
        execution = read(arn)
        reads.append(execution["status"])
        return execution

    monkeypatch.setattr(stepped.queue, "_execution", counted)
    stepped.runs.finish(first, "SUCCEEDED", {"output": {"step": 1}})  # sends the update-job message
    handled = threading.Thread(target=lambda: stepped.queue.run_once(wait=0), daemon=True)
    handled.start()
    deadline = time.monotonic() + 20
    while job_urn not in stepped.db.changes._waiting:  # the queue took the message and waits on the job
        assert time.monotonic() < deadline, "the queue did not take the update message"
        time.sleep(0.005)
    assert stepped.poller.poll_once(worker["activity_arn"])  # the next task's run is written into the job
    handled.join(20)
    assert not handled.is_alive(), "the queue kept waiting for the execution's end"
    assert reads == ["RUNNING"]  # once, as the diagram's "Get Execution Status"
    assert api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING"
    stepped.clients.sfn.stop_execution(executionArn=api("GET", f"/v2/jobs/{job_urn}", 200)["execution_arn"])


def test_the_queue_keeps_at_most_a_bounded_number_of_execution_arns(stepped, monkeypatch):
    from server import queue as queue_module

    monkeypatch.setattr(queue_module, "KNOWN_EXECUTIONS", 3)
    processor = queue_module.QueueProcessor(stepped)
    try:
        for n in range(10):
            processor._know(f"urn:jobservice:job:{n}", f"arn:{n}")
        assert processor._executions == {f"urn:jobservice:job:{n}": f"arn:{n}" for n in (7, 8, 9)}
    finally:
        processor.stop()


def test_a_job_created_here_is_polled_at_once_and_dropped_by_the_next_full_discovery(stepped, api):
    poller = stepped.poller
    job_def, worker = one_step_job(api)
    created = []
    with stepped.db.changes.watch("urn:jobservice:job:*") as written:  # what the poller's loop is told
        job_urn = start_job(stepped, api, job_def)
        created = written.take()
    assert created == [{"workers": [worker["urn"]]}]
    assert worker["activity_arn"] in poller.discover_once({worker["urn"]})  # no read of the running jobs
    assert worker["activity_arn"] in poller.polling()
    deadline = time.monotonic() + 20
    while not [r for r in stepped.worker_info.running() if r["job"] == job_urn]:  # its task was taken
        assert time.monotonic() < deadline, "the poll thread did not take the task"
        time.sleep(0.01)
    api("POST", f"/v2/jobs/{job_urn}/cancel", 200)
    assert worker["activity_arn"] not in poller.discover_once()  # a full discovery: no running job uses it


def test_a_job_that_ends_while_its_last_runs_finish_is_written_is_left_with_no_run_running(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info = stepped.runs.start(take_task(stepped, worker))
    # The worker's finish: its run item is SUCCEEDED and its task completed, but the write to the job
    # (throttled, being retried) has not landed when the queue sees the execution end.
    from server.dynamodb_connection import dumps

    finished = stepped.worker_info.transition(info, "SUCCEEDED", output=dumps({"done": 7}))
    stepped.clients.sfn.send_task_success(taskToken=info["task_token"], output='{"done": 7}')
    assert stored(stepped, info)[1]["run_" + info["worker"]]["status"] == "RUNNING"
    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        stepped.queue.refresh_job(job_urn, settle=True)
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert job["status"] == "COMPLETED"
    assert [(w["status"], w["output"]) for w in job["workers"]] == [("SUCCEEDED", {"done": 7})]
    assert finished["status"] == "SUCCEEDED"


def test_a_long_poll_passing_back_an_older_etag_is_answered_at_once(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info = stepped.runs.start(take_task(stepped, worker))
    http = stepped.app.test_client()
    first = http.get(f"/v2/jobs/{job_urn}")
    seen = first.headers["ETag"].strip('"')
    stepped.runs.add_result(info, {"worker": info["worker"], "data": "r1", "files": [], "at": "t"})  # after it
    answered = threading.Event()

    def late():  # what a poll waiting for a change after its own first read would answer with
        if not answered.wait(10):
            stepped.runs.add_result(info, {"worker": info["worker"], "data": "late", "files": [], "at": "t"})

    threading.Thread(target=late, daemon=True).start()
    again = http.get(f"/v2/jobs/{job_urn}?wait=20&seen={seen}")
    answered.set()
    assert [r["data"] for r in again.get_json()["results"]] == ["r1"]
    assert again.headers["ETag"] != first.headers["ETag"]
    unchanged = http.get(f"/v2/jobs/{job_urn}?wait=0.2&seen={again.headers['ETag'].strip(chr(34))}")
    assert unchanged.headers["ETag"] == again.headers["ETag"]  # seen as it is: waited, to the deadline
    stepped.runs.fail(info, "Test.Done", "test over")


def entry(stepped, info) -> dict | None:
    """The run's entry in its job item, as DynamoDB holds it."""
    return stepped.db.get(info["job"]).get("run_" + info["worker"])


def shown(api, info) -> list[tuple]:
    """The job's workers as GET /v2/jobs/{urn} shows them: (worker, status, batch job id, output)."""
    job = api("GET", f"/v2/jobs/{info['job']}", 200)
    return [(w["worker"], w["status"], w["batch_job_id"], w["output"]) for w in job["workers"]]


@pytest.mark.parametrize("endpoint", ["returns-the-item", "without-ReturnValuesOnConditionCheckFailure"])
def test_a_start_before_the_pollers_write_leaves_the_run_running_with_its_batch_job(stepped, api, monkeypatch,
                                                                                  endpoint):
    if endpoint != "returns-the-item":  # an emulator that ignores the parameter: the write reads the job instead
        update = stepped.db.update
        monkeypatch.setattr(stepped.db, "update", lambda *a, old_on_failure=False, **k: update(*a, **k))
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info, _ = create_run(stepped, worker, job_urn)
    # The Batch job was submitted and its worker called start before the poller recorded the submission.
    started = stepped.runs.start(info)
    assert shown(api, info) == [(info["worker"], "RUNNING", None, None)]
    stepped.runs.submitted(info, "batch-early-start")
    assert shown(api, info) == [(info["worker"], "RUNNING", "batch-early-start", None)]
    assert stepped.worker_info.get(info["worker"], fresh=True)["status"] == "RUNNING"
    stepped.runs.fail(started, "Test.Done", "test over")


def test_a_finish_before_the_pollers_write_is_never_taken_back(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info, _ = create_run(stepped, worker, job_urn)
    stepped.runs.finish(stepped.runs.start(info), "SUCCEEDED", {"output": {"fast": True}})
    assert shown(api, info) == [(info["worker"], "SUCCEEDED", None, {"fast": True})]
    stepped.runs.submitted(info, "batch-fast-worker")  # the poller's write lands last
    assert shown(api, info) == [(info["worker"], "SUCCEEDED", "batch-fast-worker", {"fast": True})]
    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        stepped.queue.run_once(wait=0)
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert job["status"] == "COMPLETED" and job["output"] == {"fast": True}
    assert [(w["status"], w["batch_job_id"]) for w in job["workers"]] == [("SUCCEEDED", "batch-fast-worker")]


def test_the_pollers_write_applied_twice_changes_nothing(stepped, api):
    from server import job_updates

    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info, _ = create_run(stepped, worker, job_urn)
    recorded = stepped.runs.submitted(info, "batch-once")
    before = stored(stepped, info)
    assert before[1]["run_" + info["worker"]]["status"] == "SUBMITTED"
    assert stepped.runs.submitted(info, "batch-once") == recorded  # a retried record
    assert job_updates.write_run(stepped.db, recorded, submitted=True) is False  # a second process's
    assert stored(stepped, info) == before
    assert shown(api, info) == [(info["worker"], "SUBMITTED", "batch-once", None)]
    stepped.runs.fail(recorded, "Test.Done", "test over")


def test_a_job_ended_before_the_pollers_write_is_left_with_no_run_active(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    info, token = create_run(stepped, worker, job_urn)
    batch_job_id = stepped.poller._submit(worker["name"], info["worker"], job_urn, token)
    api("POST", f"/v2/jobs/{job_urn}/cancel", 200)  # ends while the run is in no entry of the job
    stepped.runs.submitted(info, batch_job_id)
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert job["status"] == "CANCELLED"
    assert [(w["status"], w["batch_job_id"], w["error"]["error"]) for w in job["workers"]] == [
        ("FAILED", batch_job_id, "Job.Ended")]
    assert stepped.worker_info.get(info["worker"], fresh=True)["status"] == "FAILED"
    deadline = time.monotonic() + 20
    while True:  # terminated: its process ends and the Batch job with it
        batch_job = stepped.clients.batch.describe_jobs(jobs=[batch_job_id])["jobs"][0]
        if batch_job["status"] == "FAILED":
            break
        assert time.monotonic() < deadline, f"the Batch job is still {batch_job['status']}"
        time.sleep(0.05)


def test_a_run_joining_while_its_job_ends_is_stopped_with_it(stepped, api):
    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)
    job = stepped.db.get(job_urn)  # the Queue reads the job as its execution ends ...
    info, _ = create_run(stepped, worker, job_urn)
    stepped.runs.submitted(info, "batch-joins-late")  # ... the run joins it meanwhile ...
    assert stepped.runs.end_job(job, "FAILED", "Job.Ended", "the job ended", error={"error": "X", "cause": ""})
    ended = api("GET", f"/v2/jobs/{job_urn}", 200)  # ... and is stopped all the same
    assert ended["status"] == "FAILED"
    assert [(w["status"], w["error"]["error"]) for w in ended["workers"]] == [("FAILED", "Job.Ended")]
    assert stepped.worker_info.get(info["worker"], fresh=True)["status"] == "FAILED"


def test_a_refused_submission_leaves_the_run_failed_in_its_job(stepped, api, monkeypatch):
    from botocore.exceptions import ClientError

    job_def, worker = one_step_job(api)
    job_urn = start_job(stepped, api, job_def)

    def refused(**kwargs):
        raise ClientError({"Error": {"Code": "ClientException", "Message": "no"}}, "SubmitJob")

    monkeypatch.setattr(stepped.clients.batch, "submit_job", refused)
    assert stepped.poller.poll_once(worker["activity_arn"])
    monkeypatch.undo()
    job = api("GET", f"/v2/jobs/{job_urn}", 200)
    assert [(w["status"], w["batch_job_id"], w["error"]["error"]) for w in job["workers"]] == [
        ("FAILED", None, "Worker.SubmitFailed")]
    deadline = time.monotonic() + 20
    while api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "RUNNING":  # its task was failed: so is the job
        assert time.monotonic() < deadline, "the job stayed RUNNING"
        stepped.queue.run_once(wait=0)
    assert api("GET", f"/v2/jobs/{job_urn}", 200)["status"] == "FAILED"


@pytest.mark.parametrize("order", list(itertools.permutations(["submitted", "started", "finished"])),
                         ids="-".join)
def test_the_entry_ends_as_the_run_whatever_order_its_writes_arrive_in(stepped, order):
    """The poller's, the start's and the finish's writes of one run's entry, each with the run as its
    writer holds it, in every order: the entry never moves back and ends as the run ended."""
    from server import job_updates
    from server.dynamodb_connection import dumps

    job_urn = f"urn:jobservice:job:order-{uuid.uuid4().hex[:8]}"
    base = {"worker": uuid.uuid4().hex, "job": job_urn, "definition": "urn:jobservice:worker:w",
            "created_at": "2026-01-01T00:00:00.000Z"}
    writes = {  # the poller recorded the Batch job before the start; the finish holds the whole run
        "submitted": ({**base, "status": "SUBMITTED", "batch_job_id": "b1"}, True),
        "started": ({**base, "status": "RUNNING", "batch_job_id": "b1"}, False),
        "finished": ({**base, "status": "SUCCEEDED", "batch_job_id": "b1", "output": dumps(7)}, False),
    }
    rank = {"SUBMITTED": 0, "RUNNING": 1, "SUCCEEDED": 2}
    seen = []
    for name in order:
        info, submitted = writes[name]
        job_updates.write_run(stepped.db, info, submitted=submitted)
        seen.append(rank[entry(stepped, info)["status"]])
    assert seen == sorted(seen)
    final = entry(stepped, base)
    assert {k: final[k] for k in ("worker", "definition", "status", "batch_job_id", "output", "created_at")} == {
        **{k: base[k] for k in ("worker", "definition", "created_at")},
        "status": "SUCCEEDED", "batch_job_id": "b1", "output": dumps(7)}
    for info, submitted in writes.values():  # each applied again: nothing written
        assert job_updates.write_run(stepped.db, info, submitted=submitted) is False


def test_only_the_pollers_write_shows_the_batch_job_in_the_job(stepped):
    """A fast worker's start writes the entry first, with the Batch job id its cached run holds: the job
    shows that id only from the poller's write on (Submit Worker Job, then Update Job Resource), so a
    user waiting for it sees the diagram's order."""
    from server import job_updates

    job_urn = f"urn:jobservice:job:batch-{uuid.uuid4().hex[:8]}"
    base = {"worker": uuid.uuid4().hex, "job": job_urn, "definition": "urn:jobservice:worker:w",
            "created_at": "2026-01-01T00:00:00.000Z", "batch_job_id": "b1"}
    job_updates.write_run(stepped.db, {**base, "status": "RUNNING"})  # the start, before the poller's write
    assert entry(stepped, base)["status"] == "RUNNING" and "batch_job_id" not in entry(stepped, base)
    job_updates.write_run(stepped.db, {**base, "status": "SUBMITTED"}, submitted=True)  # the poller's
    assert {k: entry(stepped, base).get(k) for k in ("status", "batch_job_id")} == {"status": "RUNNING",
                                                                                  "batch_job_id": "b1"}


def test_the_pollers_write_leaves_a_runs_end_to_its_finisher(stepped):
    """The poller's write lands while the worker's finish is in flight (the run item has ended, the
    job's entry not yet): it shows the run submitted, and the end comes with the finisher's own write
    (Update Job Resource of the Worker Manager, before the user can see it)."""
    from server import job_updates
    from server.dynamodb_connection import dumps

    job_urn = f"urn:jobservice:job:end-{uuid.uuid4().hex[:8]}"
    ended = {"worker": uuid.uuid4().hex, "job": job_urn, "definition": "urn:jobservice:worker:w",
             "created_at": "2026-01-01T00:00:00.000Z", "batch_job_id": "b1", "status": "SUCCEEDED",
             "output": dumps(7)}
    job_updates.write_run(stepped.db, ended, submitted=True)  # the poller, with the run item as set_once returned it
    shown = entry(stepped, ended)
    assert (shown["status"], shown["batch_job_id"], "output" in shown) == ("SUBMITTED", "b1", False)
    job_updates.write_run(stepped.db, ended)  # the finisher's write
    shown = entry(stepped, ended)
    assert (shown["status"], shown["batch_job_id"], shown["output"]) == ("SUCCEEDED", "b1", dumps(7))
