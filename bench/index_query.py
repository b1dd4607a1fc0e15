"""Benchmark: CPU per query of the service's sparse `active` index, with the side index and on moto's path.

The service asks DynamoDBConnection.active() several times a second (the activity poller, the
queue's reconcile). Here the same call, through the same in-process transport into the harness's
emulator, on a table of 50 RUNNING jobs among 200, 2,000 and 10,000 ended ones. For each size it
prints, in one run: the CPU of the first query (which builds the side index from the table), the
median CPU per query with the side index (emulators/dynamodb_index.py) and on moto's own query path
(dynamodb_index.stock_queries()), and their ratio. Both answer the same 50 jobs, checked.
Usage: python bench/index_query.py [--queries 30] [--active 50] [--ended 200,2000,10000]
"""

import argparse
import os
import statistics
import sys
import time
import types
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import boto3  # noqa: E402

from emulators import EmbeddedAWS, dynamodb_index  # noqa: E402
from server.dynamodb_connection import DynamoDBConnection, table_spec  # noqa: E402


def load(ddb, table: str, active: int, ended: int) -> None:
    items, spread = [], (active + ended) // active  # the running jobs spread among the ended ones
    for n in range(active + ended):
        running = n % spread == 0 and n < spread * active
        item = {"urn": {"S": f"urn:jobservice:job:{uuid.uuid4()}"}, "kind": {"S": "job"},
                "status": {"S": "RUNNING" if running else "COMPLETED"},
                "created_at": {"S": f"2026-12-01T00:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}Z"},
                "output": {"S": "x" * 200}}
        if running:
            item["active"] = {"S": "job"}
        items.append({"PutRequest": {"Item": item}})
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: items[start:start + 25]})


def cpu(call) -> tuple[float, object]:
    started = time.process_time()
    answer = call()
    return time.process_time() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--ended", default="200,2000,10000")
    args = parser.parse_args()
    rows = []
    with EmbeddedAWS() as aws:
        ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1",
                           aws_access_key_id=aws.credentials.access_key_id,
                           aws_secret_access_key=aws.credentials.secret_access_key)
        aws.transport().attach(ddb.meta.events)  # as the service's own client
        for ended in (int(n) for n in args.ended.split(",")):
            table = f"bench-{uuid.uuid4().hex[:8]}"
            ddb.create_table(**table_spec(table))
            load(ddb, table, args.active, ended)
            connection = DynamoDBConnection(types.SimpleNamespace(dynamodb=ddb), table)
            query = lambda: connection.active("job")  # noqa: E731
            first, answer = cpu(query)
            with dynamodb_index.stock_queries():
                _, stock_answer = cpu(query)
            assert answer == stock_answer and len(answer) == args.active, (len(answer), len(stock_answer))
            side, stock = [], []
            for _ in range(args.queries):  # alternating, so that both see the same machine
                side.append(cpu(query)[0])
                with dynamodb_index.stock_queries():
                    stock.append(cpu(query)[0])
            rows.append((ended, first, statistics.median(side), statistics.median(stock)))
            ddb.delete_table(TableName=table)
    print(f"CPU per `active` query ({args.active} RUNNING jobs; median of {args.queries}; this process: "
          f"client, in-process transport and moto)")
    print(f"{'ended jobs':>10}  {'first (builds)':>14}  {'side index':>10}  {'moto path':>10}  {'moto/side':>9}")
    for ended, first, side, stock in rows:
        print(f"{ended:>10}  {first * 1000:>11.2f} ms  {side * 1000:>7.2f} ms  {stock * 1000:>7.2f} ms  "
              f"{stock / side:>8.1f}x")


if __name__ == "__main__":
    main()
