"""Benchmark: CPU per DynamoDB item call on the embedded target, in process, with and without
emulators/dynamodb_update.py (moto's UpdateItem without the parsing and copying nobody reads).

One run, one process, one thread: the service's resources table on the harness's own moto, reached
as the service reaches it (botocore's send short-circuited into moto's WSGI app). Each operation is
timed in alternating rounds with the extension installed and uninstalled, and prints the median CPU
per call (botocore, the WSGI app and moto together) of each, and their ratio:
  UpdateItem            one run entry set as the service's `Update` builder writes it, ALL_NEW
  UpdateItem NONE       the same, ReturnValues NONE
  UpdateItem condition  the same with a ConditionExpression that holds
  GetItem               a consistent read of the job item
  PutItem condition     a new item, ConditionExpression attribute_not_exists(urn)
Usage: python bench/dynamodb_ops.py [--calls 300] [--rounds 5]
"""

import argparse
import itertools
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import boto3  # noqa: E402

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


def cpu_per_call(call, calls: int) -> float:
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / calls * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with EmbeddedAWS() as aws:
        dynamodb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1",
                                aws_access_key_id=aws.credentials.access_key_id,
                                aws_secret_access_key=aws.credentials.secret_access_key)
        aws.transport().attach(dynamodb.meta.events)
        dynamodb.create_table(**table_spec(TABLE))
        dynamodb.put_item(TableName=TABLE, Item={**KEY, "kind": {"S": "job"}, "status": {"S": "RUNNING"},
                                                 "created_at": {"S": now()}, "input": {"S": "{}"}})
        print(f"CPU per call, ms (median of {args.rounds} rounds of {args.calls} calls each way)")
        print(f"{'operation':22} {'stock moto':>10} {'fast':>8} {'fast/stock':>10}")
        for name, call in operations(dynamodb).items():
            times = {"stock": [], "fast": []}
            for _ in range(args.rounds):
                for mode in ("stock", "fast"):
                    (dynamodb_update.uninstall if mode == "stock" else dynamodb_update.install)()
                    cpu_per_call(call, 20)  # warm up this mode
                    times[mode].append(cpu_per_call(call, args.calls))
            stock, fast = statistics.median(times["stock"]), statistics.median(times["fast"])
            print(f"{name:22} {stock:10.3f} {fast:8.3f} {fast / stock:10.2f}")
        dynamodb_update.install()


if __name__ == "__main__":
    main()
