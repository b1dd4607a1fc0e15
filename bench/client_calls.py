"""Benchmark: CPU of a harness.client call, over the loopback transport and over requests.

One run, one embedded service: the same `Client.get_job` of one ended job, in alternating rounds
through the client's own transport to a local service (harness/loopback_http.py) and through a
`requests.Session` (what the client used for every call before, and still uses for uploads,
presigned URLs and remote services). Prints the median, over the rounds, of the calling thread's
CPU per call (the client's own work) and of this process's CPU per call (the client, the service
answering and moto together, as in a test session), and their ratios.
Usage: python bench/client_calls.py [--calls 300] [--rounds 5]
"""

import argparse
import os
import statistics
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from two_step import register_quick_job  # noqa: E402


def cpu_per_call(call, calls: int) -> tuple[float, float]:
    """(this thread's, this process's) CPU per call, in ms."""
    thread, process = time.thread_time(), time.process_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - thread) / calls * 1000, (time.process_time() - process) / calls * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with RunningService() as running:
        clients = {"loopback": Client(running.url), "requests": Client(running.url, session=requests.Session())}
        urn = clients["loopback"].run_job(register_quick_job(clients["loopback"], "bench-client"), {}, timeout=60)["urn"]
        times = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, client in clients.items():
                cpu_per_call(lambda: client.get_job(urn), 20)  # warm up
                times[name].append(cpu_per_call(lambda: client.get_job(urn), args.calls))
    medians = {name: [statistics.median(t[i] for t in runs) for i in (0, 1)] for name, runs in times.items()}
    print(f"GET /v2/jobs/{{urn}}, CPU per call in ms, median of {args.rounds} rounds of {args.calls} calls each way")
    print(f"{'transport':12}{'calling thread':>16}{'whole process':>16}")
    for name, (thread, process) in medians.items():
        print(f"{name:12}{thread:16.3f}{process:16.3f}")
    (lt, lp), (rt, rp) = medians["loopback"], medians["requests"]
    print(f"loopback / requests: calling thread {lt / rt:.2f}x, whole process {lp / rp:.2f}x")


if __name__ == "__main__":
    main()
