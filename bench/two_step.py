"""Benchmark: a trivial two-step job from POST /v2/jobs/requests to COMPLETED, against its floor.

Prints, in one run on the same emulators:
  job      median (and p90) of 20 jobs through the HTTP API, with two real worker processes
  spawn    median time to start a Python worker process that imports what quick_worker.py imports
  floor    median of the same AWS and Redis calls made directly with boto3 and redis-py, in one thread,
           with no API, no loops and no worker processes: over HTTP to the loopback moto server
           (as before) and in process (botocore's send short-circuited into moto, as the service does)
  CPU      this process's CPU time per job for both (moto, the service and the client share it)
and the ratios job/floor and job/(floor + 2 x spawn).
Usage: python bench/two_step.py [--jobs 20]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from server.clients import Clients  # noqa: E402
from server.dynamodb_connection import Update, dumps, now  # noqa: E402


def register_quick_job(client, name: str, steps: int = 2) -> str:
    """Register the quick worker and a job of `steps` Task states that each run it; the job's URN."""
    # -S: a stdlib-only worker needs no site-packages; it starts ~15 ms sooner.
    worker = client.register_worker("quick", command=[sys.executable, "-S", os.path.join(HERE, "quick_worker.py")])
    names = [f"Step{i + 1}" for i in range(steps)]
    states = {n: {"Type": "Task", "Resource": worker["urn"], **({"Next": names[i + 1]} if i + 1 < steps else {"End": True})}
              for i, n in enumerate(names)}
    return client.register_job(name, {"StartAt": names[0], "States": states})["urn"]


def quick_job_runner(client, name: str):
    """`job(i)`: run one quick two-step job (registered as `name`) and check it COMPLETED; warmed up twice."""
    definition = register_quick_job(client, name)

    def job(i):
        done = client.run_job(definition, {"i": i}, timeout=300)
        assert done["status"] == "COMPLETED", done

    for _ in range(2):
        job(-1)  # warm up
    return job


def job_times(client, definition, count):
    times = []
    for i in range(count):
        started = time.perf_counter()
        job = client.run_job(definition, {"i": i}, timeout=60)
        times.append(time.perf_counter() - started)
        assert job["status"] == "COMPLETED" and job["output"]["steps"] == 2, job
    return times


def spawn():
    """Start a Python worker process that imports what quick_worker.py imports, and wait for its exit."""
    subprocess.run([sys.executable, "-S", "-c", "import _json, _socket, os"], check=True)


def spawn_times(count):
    times = []
    for _ in range(count):
        started = time.perf_counter()
        spawn()
        times.append(time.perf_counter() - started)
    return times


def floor_once(service, state_machine, activity, worker_def, n, clients=None, processes=False):
    """The AWS and Redis calls of one job, as the service makes them, without the service; with
    `processes`, also each step's worker process (started and waited for, making no calls)."""
    c, names, table = clients or service.clients, service.settings.names, service.settings.names.table
    ddb, sqs, sfn, batch, r = c.dynamodb, c.sqs, c.sfn, c.batch, c.redis
    # Its own queue: a stopped service's loop may still be inside a long poll of the service's queue.
    queue = sqs.create_queue(QueueName=f"bench-floor-{n}")["QueueUrl"]
    key = {"urn": {"S": f"urn:floor:{n}"}}

    def get():
        ddb.get_item(TableName=table, Key=key, ConsistentRead=True)

    def update(field):
        u = Update().set(field, now())
        ddb.update_item(TableName=table, Key=key, UpdateExpression=u.expression(),
                        ExpressionAttributeNames=u.names, ExpressionAttributeValues=u.values)

    get()  # the definition
    update("request")
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    msg = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]
    get(), get()
    execution = sfn.start_execution(stateMachineArn=state_machine, name=f"floor-{n}-{time.time_ns()}",
                                    input=json.dumps({"i": n}))["executionArn"]
    update("job"), update("request")
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])
    for _step in range(2):
        task = c.sfn_poll.get_activity_task(activityArn=activity)
        get(), update("run"), update("job")
        batch.submit_job(jobName=f"floor-{n}", jobQueue=names.job_queue, jobDefinition=worker_def)
        if processes:
            spawn()
        update("run"), r.set(f"floor:{n}", dumps({"n": n})), update("job")
        r.get(f"floor:{n}"), update("run"), r.set(f"floor:{n}", "{}"), update("job")  # start
        r.get(f"floor:{n}"), update("run"), r.set(f"floor:{n}", "{}")  # finish
        sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"i": n}))
        update("job")
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
        msg = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]
        get()
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and _step == 1:
            time.sleep(0.002)
        update("job")
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=msg["ReceiptHandle"])
    get(), get()  # the user reads the request and the job


def floor_setup(service) -> tuple:
    """A two-step state machine of its own activity and a Batch job definition, for the floor."""
    sfn = service.clients.sfn
    activity = sfn.create_activity(name="bench-floor")["activityArn"]
    machine = sfn.create_state_machine(
        name="bench-floor", roleArn=service.states_role_arn(), definition=json.dumps(
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "Next": "B"},
                                        "B": {"Type": "Task", "Resource": activity, "End": True}}}))["stateMachineArn"]
    definition = service.clients.batch.register_job_definition(
        jobDefinitionName="bench-floor", type="container",
        containerProperties={"image": "local", "command": ["true"], "resourceRequirements": [
            {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}]})["jobDefinitionArn"]
    return machine, activity, definition


def floor_run(service, setup, count, clients=None, first=0, warm=2) -> tuple[list, float]:
    """Seconds of each of `count` floor jobs (after `warm` ones) and the CPU per job."""
    times, cpu = [], 0.0
    for n in range(first, first + count + warm):
        if n == first + warm:
            cpu = time.process_time()
        t = time.perf_counter()
        floor_once(service, *setup, n, clients)
        times.append(time.perf_counter() - t)
    return times[warm:], (time.process_time() - cpu) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    with RunningService() as running:
        print(f"start-up: {time.perf_counter() - started:.2f} s", flush=True)
        client = Client(running.url)
        definition = register_quick_job(client, "bench-two-step")
        job_times(client, definition, 2)  # warm up
        cpu = time.process_time()
        jobs = job_times(client, definition, args.jobs)
        job_cpu = (time.process_time() - cpu) / args.jobs

        # The floor runs on the same emulators, with the service's loops stopped so none competes.
        service = running.service
        service.stop(timeout=0.5)
        setup = floor_setup(service)
        floors, floor_cpu = floor_run(service, setup, args.jobs)
        http = Clients(service.settings, service.clients.redis)  # no transport: HTTP to the loopback port
        http_floors, http_cpu = floor_run(service, setup, args.jobs, http, first=args.jobs + 2)
        spawns = spawn_times(args.jobs)

    job, floor, spawn = statistics.median(jobs), statistics.median(floors), statistics.median(spawns)
    http_floor = statistics.median(http_floors)
    p90 = sorted(jobs)[int(0.9 * (len(jobs) - 1))]
    print(f"job   (POST request -> COMPLETED, 2 worker processes): median {job * 1000:7.1f} ms  "
          f"p90 {p90 * 1000:7.1f} ms  over {len(jobs)} jobs")
    print(f"floor over HTTP (same calls, boto3 to the moto server): median {http_floor * 1000:7.1f} ms  "
          f"CPU {http_cpu * 1000:.1f} ms")
    print(f"floor in process (same calls, boto3 into moto):         median {floor * 1000:7.1f} ms")
    print(f"spawn (one Python worker process, no calls):          median {spawn * 1000:7.1f} ms")
    print(f"CPU of this process per job: job {job_cpu * 1000:.1f} ms, floor {floor_cpu * 1000:.1f} ms "
          f"({job_cpu / floor_cpu:.2f}x); CPU time is steadier than wall time on a busy machine")
    print(f"ratio job / floor over HTTP:         {job / http_floor:5.2f}x")
    print(f"ratio job / floor in process:        {job / floor:5.2f}x")
    print(f"ratio job / (floor + 2 x spawn):     {job / (floor + 2 * spawn):5.2f}x")


if __name__ == "__main__":
    main()
