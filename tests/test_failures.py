"""Nothing hangs: crashing, silent, failing and slow workers end their jobs; messages twice make one job."""

import threading

import pytest

from conftest import BEHAVE


def one_step(client, unique, command=BEHAVE, task_extra=None, **worker_fields):
    worker = client.register_worker(unique("w"), command=command, **worker_fields)
    task = {"Type": "Task", "Resource": worker["urn"], "End": True, **(task_extra or {})}
    return client.register_job(unique("one"), {"StartAt": "Work", "States": {"Work": task}})["urn"]


@pytest.mark.parametrize("mode, code", [("crash", 3), ("exit0", 0)])
def test_worker_that_exits_without_finish_fails_the_job_promptly(client, unique, mode, code):
    job = client.run_job(one_step(client, unique), {"mode": mode}, timeout=15)
    assert job["status"] == "FAILED"
    assert job["error"]["error"] == "Worker.Exited"
    assert f"exited with code {code} without calling /v2/worker/finish" in job["error"]["cause"]
    run = job["workers"][0]
    assert run["status"] == "FAILED" and run["error"]["error"] == "Worker.Exited"


def test_worker_finishing_with_an_error_fails_the_job(client, unique):
    job = client.run_job(one_step(client, unique), {"mode": "fail"}, timeout=15)
    assert job["status"] == "FAILED"
    assert job["error"] == {"error": "Worker.Failed", "cause": "asked to fail"}
    assert len(job["results"]) == 1  # what it posted before failing stays readable


def test_a_catch_in_the_asl_turns_a_crash_into_a_completed_job(client, unique):
    catch = {"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Recovered"}]}
    worker = client.register_worker(unique("w"), command=BEHAVE)
    asl = {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": worker["urn"], "End": True, **catch},
        "Recovered": {"Type": "Pass", "End": True}}}
    job = client.run_job(client.register_job(unique("caught"), asl)["urn"], {"mode": "crash"}, timeout=15)
    assert job["status"] == "COMPLETED"
    assert job["output"]["failure"]["Error"] == "Worker.Exited"


def test_a_command_that_cannot_start_fails_the_job_with_the_reason(client, unique):
    job = client.run_job(one_step(client, unique, command=["/nonexistent/worker-binary"]), timeout=15)
    assert job["status"] == "FAILED"
    assert "CannotStartContainerError" in job["error"]["cause"]
    assert "/nonexistent/worker-binary" in job["error"]["cause"]


def test_heartbeat_seconds_without_heartbeats_times_the_task_out(client, unique):
    job_def = one_step(client, unique, heartbeat_seconds=1, timeout_seconds=30)
    job = client.run_job(job_def, {"mode": "sleep", "seconds": 30}, timeout=15)
    assert job["status"] == "FAILED"
    assert job["error"]["error"] == "States.Timeout"
    assert job["workers"][0]["status"] == "FAILED"  # its process was terminated, not left behind


def test_timeout_seconds_of_the_worker_ends_a_slow_task(client, unique):
    job = client.run_job(one_step(client, unique, timeout_seconds=1), {"mode": "sleep", "seconds": 30}, timeout=15)
    assert job["status"] == "FAILED" and job["error"]["error"] == "States.Timeout"


def test_twenty_concurrent_results_from_a_worker_process(client, unique):
    job = client.run_job(one_step(client, unique), {"mode": "results", "count": 20}, timeout=30)
    assert job["status"] == "COMPLETED", job["error"]
    assert sorted(r["data"]["i"] for r in job["results"]) == list(range(20))


def test_a_redelivered_request_message_makes_one_execution_and_one_job(client, unique, hold, service):
    worker = hold()  # a RUNNING execution: StartExecution with its name again is the interesting case
    job = client.get_job(worker.job)
    request_urn = job["request"]
    queue = service.service.queue
    # The request was fulfilled; put it back to PENDING as if the processor died before saying so.
    from server.dynamodb_connection import Update

    service.service.db.update(request_urn, Update().set("status", "PENDING"))
    threads = [threading.Thread(target=queue.process_request, args=(request_urn,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.send({"type": "job-request", "request": request_urn}, "Send Request Message")
    assert client.wait_for_request(request_urn)["job"] == worker.job
    sfn = service.service.clients.sfn
    executions = sfn.list_executions(stateMachineArn=client.get_definition(job["definition"])["state_machine_arn"])
    assert [e["executionArn"] for e in executions["executions"]] == [job["execution_arn"]]
    jobs = [j for j in client.list_jobs(definition=job["definition"])]
    assert [j["urn"] for j in jobs] == [worker.job]
    assert len(client.get_job(worker.job)["workers"]) == 1


def test_worker_info_lost_from_the_cache_is_rebuilt_from_dynamodb(hold, service, client):
    worker = hold({"k": 1})
    assert worker.call("POST", "/v2/workers/start").status_code == 200
    service.service.clients.redis.flushall()
    payload = worker.call("POST", "/v2/workers/start").json()
    assert payload["input"] == {"k": 1} and payload["worker"] == worker.id
    assert worker.call("POST", "/v2/worker/finish", json={"output": {"done": True}}).status_code == 200
    assert client.wait_for_job(worker.job)["output"] == {"done": True}
