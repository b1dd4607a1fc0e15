"""Benchmark: CPU per DynamoDB item call on the embedded target, in process, with and without
emulators/dynamodb_update.py (moto's UpdateItem without the parsing and copying nobody reads).

One run, one process, one thread: the service's resources table on the harness's own moto, reached
as the service reaches it (EmbeddedAWS.transport(): botocore's send short-circuited into moto). Each operation is
timed in alternating rounds with the extension installed and uninstalled, and prints the median CPU
per call (botocore, the in-process path and moto together) of each, and their ratio:
  UpdateItem            one run entry set as the service's `Update` builder writes it, ALL_NEW
  UpdateItem NONE       the same, ReturnValues NONE
  UpdateItem condition  the same with a ConditionExpression that holds
  GetItem               a consistent read of the job item
  PutItem condition     a new item, ConditionExpression attribute_not_exists(urn)
Then (unless --jobs 0) the whole service on the embedded target: this process's CPU per trivial
two-step job (bench/two_step.py's), in alternating batches with and without the extension.
Usage: python bench/dynamodb_ops.py [--calls 300] [--rounds 5] [--jobs 8] [--job-rounds 3]
"""

import argparse
import itertools
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import boto3  # noqa: E402
from moto.core.responses import BaseResponse  # noqa: E402

from emulators import EmbeddedAWS, dynamodb_update  # noqa: E402
from server.dynamodb_connection import Update, now, table_spec  # noqa: E402

TABLE = "bench-dynamodb-ops"
KEY = {"urn": {"S": "urn:jobservice:job:bench"}}


def operations(dynamodb):
    counter = itertools.count()

    def update(returns="ALL_NEW", condition=None):
        def call():
            change = Update().set(f"run_{next(counter) % 4}", {"status": "RUNNING", "worker": "w", "updated_at": now()})
            kwargs = dict(TableName=TABLE, Key=KEY, UpdateExpression=change.expression(),
                          ExpressionAttributeNames=change.names, ExpressionAttributeValues=change.values,
                          ReturnValues=returns)
            if condition:
                kwargs["ConditionExpression"] = condition
            dynamodb.update_item(**kwargs)
        return call

    def put():
        dynamodb.put_item(TableName=TABLE, Item={"urn": {"S": f"urn:jobservice:run:{next(counter)}"},
                                                 "kind": {"S": "run"}, "status": {"S": "SUBMITTED"}},
                          ConditionExpression="attribute_not_exists(urn)")

    return {"UpdateItem": update(), "UpdateItem NONE": update("NONE"),
            "UpdateItem condition": update(condition="attribute_exists(urn)"),
            "GetItem": lambda: dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True),
            "PutItem condition": put}


class HandlerClock:
    """CPU inside moto's response handler (`call_action`: parsing the request, the backend, the answer)."""

    def __init__(self):
        self.spent = 0.0
        self._stock = BaseResponse.call_action
        clock = self

        def call_action(handler):
            started = time.thread_time()
            try:
                return clock._stock(handler)
            finally:
                clock.spent += time.thread_time() - started

        BaseResponse.call_action = call_action


def cpu_per_call(call, calls: int, handler: HandlerClock) -> tuple[float, float]:
    """(CPU per call, of which in moto's handler), in ms."""
    handler.spent = 0.0
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / calls * 1000, handler.spent / calls * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=8, help="jobs per batch (0: no service run)")
    parser.add_argument("--job-rounds", type=int, default=3)
    args = parser.parse_args()
    calls(args)
    if args.jobs:
        jobs(args)


def calls(args):
    with EmbeddedAWS() as aws:
        dynamodb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1",
                                aws_access_key_id=aws.credentials.access_key_id,
                                aws_secret_access_key=aws.credentials.secret_access_key)
        aws.transport().attach(dynamodb.meta.events)
        dynamodb.create_table(**table_spec(TABLE))
        dynamodb.put_item(TableName=TABLE, Item={**KEY, "kind": {"S": "job"}, "status": {"S": "RUNNING"},
                                                 "created_at": {"S": now()}, "input": {"S": "{}"}})
        handler = HandlerClock()
        print(f"CPU per call in ms, median of {args.rounds} rounds of {args.calls} calls each way: the whole call "
              "(botocore, in-process path, moto) and, of it, moto's handler (call_action)")
        print(f"{'operation':22} {'stock':>7} {'fast':>7} {'ratio':>6}   {'handler: stock':>14} {'fast':>7} {'ratio':>6}")
        for name, call in operations(dynamodb).items():
            times = {"stock": [], "fast": []}
            for _ in range(args.rounds):
                for mode in ("stock", "fast"):
                    (dynamodb_update.uninstall if mode == "stock" else dynamodb_update.install)()
                    cpu_per_call(call, 20, handler)  # warm up this mode
                    times[mode].append(cpu_per_call(call, args.calls, handler))
            (stock, stock_handler), (fast, fast_handler) = (
                [statistics.median(t[i] for t in times[mode]) for i in (0, 1)] for mode in ("stock", "fast"))
            print(f"{name:22} {stock:7.3f} {fast:7.3f} {fast / stock:6.2f}   "
                  f"{stock_handler:14.3f} {fast_handler:7.3f} {fast_handler / stock_handler:6.2f}")
        dynamodb_update.install()


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def jobs(args):
    from harness.client import Client
    from harness.service import RunningService
    from two_step import register_quick_job

    with RunningService() as running:
        client = Client(running.url)
        definition = register_quick_job(client, "bench-dynamodb-ops")
        for i in range(2):
            client.run_job(definition, {"i": i}, timeout=300)  # warm up
        per_job = {"stock": [], "fast": []}
        for _ in range(args.job_rounds):
            for mode in ("stock", "fast"):
                (dynamodb_update.uninstall if mode == "stock" else dynamodb_update.install)()
                client.run_job(definition, {"i": -1}, timeout=300)
                started = _process_cpu()
                for i in range(args.jobs):
                    client.run_job(definition, {"i": i}, timeout=300)
                per_job[mode].append((_process_cpu() - started) / args.jobs * 1000)
        dynamodb_update.install()
    stock, fast = statistics.median(per_job["stock"]), statistics.median(per_job["fast"])
    print(f"service CPU per two-step job (this process, median of {args.job_rounds} batches of {args.jobs}): "
          f"stock {stock:.0f} ms, fast {fast:.0f} ms, fast/stock {fast / stock:.2f}")


if __name__ == "__main__":
    main()
