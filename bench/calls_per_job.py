"""Benchmark: the AWS calls the service makes per job, by operation (a count, not a time).

Runs N trivial two-step jobs (bench/throughput.py's) one at a time on the embedded target, counting
every call the service's own clients send (the in-process transport) and every request the loopback
moto server takes from workers, and prints calls per job by operation, most first.
Usage: python bench/calls_per_job.py [--jobs 10] [--concurrency 1]
"""

import argparse
import collections
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from emulators import inprocess  # noqa: E402
from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from two_step import register_quick_job  # noqa: E402

COUNTS: collections.Counter = collections.Counter()
_lock = threading.Lock()


def _operation(request) -> str:
    target = request.headers.get("X-Amz-Target")
    service = request.url.split("//", 1)[-1].split("/", 1)[0]
    if target:
        return target.decode() if isinstance(target, bytes) else target
    body = request.body if isinstance(request.body, (bytes, str)) else b""
    body = body.decode() if isinstance(body, bytes) else body
    for part in body.split("&"):
        if part.startswith("Action="):
            return part[len("Action="):]
    return f"{request.method} {service}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    original = inprocess.InProcessTransport.respond

    def counted(self, request):
        with _lock:
            COUNTS[_operation(request)] += 1
        return original(self, request)

    inprocess.InProcessTransport.respond = counted
    with RunningService() as running:
        client = Client(running.url)
        definition = register_quick_job(client, "bench-calls")
        client.run_job(definition, {"i": -1}, timeout=300)  # warm up
        with _lock:
            COUNTS.clear()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda i: client.run_job(definition, {"i": i}, timeout=300), range(args.jobs)))
        with _lock:
            counts = dict(COUNTS)
    total = sum(counts.values())
    print(f"{total / args.jobs:.1f} AWS calls per job by the service ({args.jobs} jobs, {args.concurrency} at once)")
    for operation, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{n / args.jobs:7.1f}  {operation}")


if __name__ == "__main__":
    main()
