"""Benchmark: CPU per in-process AWS call of the service, through the whole WSGI app and through the direct path.

One embedded service; three sets of the service's own clients (server/clients.py) on the same moto:
"wsgi" with `EmbeddedAWS.transport(direct=False)` (werkzeug's EnvironBuilder, run_wsgi_app, moto's
domain dispatcher, Flask) and botocore's whole pipeline, "direct" with the direct transport and
botocore's whole pipeline, "service" as the service has them (the direct transport, and botocore's
pipeline skipped: inprocess._DirectCalls). Each operation runs alternately on each, single thread,
and the thread CPU per call is printed with the ratios, and split by layer: the client side (the
rest), the transport (environ, WSGI chain, answer), and moto's `call_action` (the handler) inside it.
With --jobs N, then N trivial two-step jobs (bench/throughput.py's), one at a time, on a service
whose transport is the WSGI one and on one whose transport is the direct one: this process's CPU
per job (moto, the service, the client; workers apart), and the ratio.
Usage: python bench/inprocess_calls.py [--calls 300] [--rounds 3] [--jobs 0]
"""

import argparse
import collections
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import moto.core.responses as moto_responses  # noqa: E402

from emulators import EmbeddedAWS, inprocess  # noqa: E402
from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from server.clients import Clients  # noqa: E402
from server.dynamodb_connection import Update, now  # noqa: E402

LAYERS: collections.Counter = collections.Counter()


def _timed(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            LAYERS[label] += time.thread_time() - start

    setattr(owner, name, timed)


class _Pipeline:
    """A transport given to clients that keep botocore's whole pipeline (no `_DirectCalls`)."""

    def __init__(self, transport):
        self.transport = transport

    def attach(self, events, client=None) -> None:
        self.transport.attach(events)


def operations(clients, table: str, queue: str, execution: str) -> dict:
    dynamodb, sqs, sfn = clients.dynamodb, clients.sqs, clients.sfn
    key = {"urn": {"S": "urn:bench:inprocess"}}

    def update_item():
        update = Update().set("run_1", {"status": "RUNNING", "worker": "w", "updated_at": now()})
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression=update.expression(),
                             ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values)

    def send_receive_delete():
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
        message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)["Messages"][0]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    return {"GetItem": lambda: dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True),
            "UpdateItem": update_item,
            "SQS send+receive+delete (3 calls)": send_receive_delete,
            "DescribeExecution": lambda: sfn.describe_execution(executionArn=execution)}


def cpu_per_job(direct: bool, jobs: int) -> dict:
    """CPU per trivial two-step job of a service whose own calls take the direct path or the WSGI one."""
    from throughput import measure
    from two_step import quick_job_runner

    stock = EmbeddedAWS.transport
    EmbeddedAWS.transport = lambda self, direct_=direct: stock(self, direct=direct_)
    try:
        with RunningService() as running:
            assert running.service.clients._transport.direct is direct
            return measure(quick_job_runner(Client(running.url), "bench-inprocess"), jobs, 1)
    finally:
        EmbeddedAWS.transport = stock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per operation and path (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two paths (default 3)")
    parser.add_argument("--jobs", type=int, default=0, help="also CPU per job over N jobs on each path (default 0)")
    args = parser.parse_args()
    _timed(inprocess.InProcessTransport, "respond", "transport")
    _timed(moto_responses.BaseResponse, "call_action", "call_action")
    with RunningService() as running:
        service = running.service
        table = service.settings.names.table
        paths = {"wsgi": Clients(service.settings, transport=_Pipeline(running.aws.transport(direct=False))),
                 "direct": Clients(service.settings, transport=_Pipeline(running.aws.transport())),
                 "service": service.clients}
        assert service.clients._transport.direct, "the service's transport is the direct one"
        assert isinstance(service.clients.dynamodb._make_api_call, inprocess._DirectCalls)
        direct = paths["direct"]
        direct.dynamodb.put_item(TableName=table, Item={"urn": {"S": "urn:bench:inprocess"}, "kind": {"S": "job"}})
        queue = direct.sqs.create_queue(QueueName="bench-inprocess")["QueueUrl"]
        machine = direct.sfn.create_state_machine(
            name="bench-inprocess", roleArn="arn:aws:iam::123456789012:role/bench",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
        execution = direct.sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        ops = {path: operations(clients, table, queue, execution) for path, clients in paths.items()}
        totals = collections.defaultdict(lambda: collections.Counter())
        for _ in range(args.rounds):
            for path in paths:
                for name, call in ops[path].items():
                    for _ in range(20):  # warm: clients, caches, moto's first-call work
                        call()
                    LAYERS.clear()
                    start = time.thread_time()
                    for _ in range(args.calls):
                        call()
                    totals[(path, name)]["total"] += time.thread_time() - start
                    totals[(path, name)].update(LAYERS)
                    totals[(path, name)]["n"] += args.calls
        print(f"CPU per call (ms), single thread, {args.calls * args.rounds} calls per operation and path")
        print(f"{'operation':36} {'path':7} {'total':>6} {'client':>7} {'transport':>9} {'handler':>8}")
        for name in ops["direct"]:
            for path in paths:
                t = totals[(path, name)]
                per = {key: value / t["n"] * 1000 for key, value in t.items() if key != "n"}
                print(f"{name:36} {path:7} {per['total']:6.3f} {per['total'] - per['transport']:7.3f} "
                      f"{per['transport']:9.3f} {per['call_action']:8.3f}")
            wsgi, fast, own = totals[("wsgi", name)], totals[("direct", name)], totals[("service", name)]
            plumbing = [(t["transport"] - t["call_action"]) / t["n"] for t in (wsgi, fast)]
            client = [(t["total"] - t["transport"]) / t["n"] for t in (fast, own)]
            print(f"{'':36} direct/wsgi: total {fast['total'] / wsgi['total']:.2f}x, "
                  f"transport without the handler {plumbing[1] / plumbing[0]:.2f}x")
            print(f"{'':36} service/direct: total {own['total'] / fast['total']:.2f}x, "
                  f"client side {client[1] / client[0]:.2f}x")
    if args.jobs:
        rows = {}
        for direct in (False, True, False, True):  # alternated: the machine's load changes during a run
            row = cpu_per_job(direct, args.jobs)
            rows.setdefault(direct, []).append(row["cpu_ms"])
        wsgi, fast = (sum(rows[d]) / len(rows[d]) for d in (False, True))
        print(f"\nCPU per trivial two-step job, one at a time, {2 * args.jobs} jobs per path: "
              f"wsgi {wsgi:.1f} ms, direct {fast:.1f} ms, direct/wsgi {fast / wsgi:.2f}x")


if __name__ == "__main__":
    main()
