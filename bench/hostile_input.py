"""Benchmark: what hostile input costs the embedded service, measured in one run.

Prints:
  401 timing  median time of a worker call refused for an unknown worker id and for a known id with a
              wrong secret (interleaved, same count), and their ratio (1.0: no timing oracle)
  deep bodies RSS growth of this process over N bodies of 10,000 nested arrays (each a 400), and the
              median time of one such refusal
  depth scan  time to measure the nesting of a 1 MiB body of brackets, per MiB
Usage: python bench/hostile_input.py [--calls 200]
"""

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from server.validation import nesting_depth  # noqa: E402

HOLD = os.path.join(os.path.dirname(HERE), "tests", "workers", "hold.py")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(session, url, headers, data=b"{}") -> float:
    start = time.perf_counter()
    response = session.post(url, headers=headers, data=data, timeout=30)
    elapsed = time.perf_counter() - start
    assert response.status_code in (400, 401), response.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    folder = tempfile.mkdtemp()
    with RunningService(prefix="hostile") as running:
        client = Client(running.url)
        worker = client.register_worker("hold", command=[sys.executable, HOLD, f"{folder}/env", f"{folder}/gate"])
        job = client.register_job("hold", {"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": worker["urn"], "End": True}}})
        client.wait_for_request(client.request_job(job["urn"], {})["urn"])
        while not os.path.exists(f"{folder}/env"):
            time.sleep(0.02)
        env = json.load(open(f"{folder}/env"))
        session, url = requests.Session(), f"{running.url}/v2/worker/results"
        known = {"Authorization": f"Bearer {env['JOBSERVICE_WORKER_ID']}.wrong-secret"}
        unknown = {"Authorization": f"Bearer {'0' * 32}.wrong-secret"}
        for _ in range(20):  # warm both paths
            timed(session, url, known), timed(session, url, unknown)
        wrong, missing = [], []
        for _ in range(calls):
            wrong.append(timed(session, url, known))
            missing.append(timed(session, url, unknown))
        w, m = statistics.median(wrong) * 1000, statistics.median(missing) * 1000
        print(f"401 timing   known id, wrong secret {w:.2f} ms; unknown id {m:.2f} ms; ratio {m / w:.2f}")

        deep = b"[" * 10000 + b"]" * 10000
        token = {"Authorization": f"Bearer {env['JOBSERVICE_WORKER_TOKEN']}", "Content-Type": "application/json"}
        timed(session, url, token, deep)
        before, times = rss_mib(), []
        for _ in range(calls):
            times.append(timed(session, url, token, deep))
        print(f"deep bodies  {calls} x 10,000 nested arrays: RSS {rss_mib() - before:+.1f} MiB, "
              f"median {statistics.median(times) * 1000:.2f} ms each, errors kept {len(running.service.errors)}")
        open(f"{folder}/gate", "w").write("go")

    body = b"[]" * (512 * 1024)
    start = time.perf_counter()
    nesting_depth(body)
    print(f"depth scan   {(time.perf_counter() - start) * 1000:.1f} ms per MiB of brackets")


if __name__ == "__main__":
    main()
