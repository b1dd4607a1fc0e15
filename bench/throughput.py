"""Benchmark: jobs per second and CPU per job, one at a time and 8 at once, against the raw-call floor.

In one run on the same embedded emulators:
  service   trivial two-step jobs (two real worker processes each) through the HTTP API, N at once,
            with the peak number of threads of this process while they run
  floor     the same AWS and Redis calls as the service makes for one job (bench/two_step.py), made
            directly with boto3 from N threads, in process (as the service's own calls go: botocore's
            pipeline skipped by the in-process transport's `_DirectCalls`), in process through
            botocore's whole pipeline (boto3 as a user's code calls it, into the same in-process moto),
            and over HTTP to the loopback moto server
CPU per job is this process's CPU (moto, the service, the client); workers' CPU is shown apart.
The service and the in-process floor are measured in alternating rounds (`--rounds`), the service
idle between its rounds; the ratio printed is the median of the rounds' ratios, with each round's.
Usage: python bench/throughput.py [--jobs 16] [--concurrency 1 8] [--rounds 3]
"""

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from server.clients import Clients  # noqa: E402
from two_step import floor_once, floor_setup, quick_job_runner  # noqa: E402


class PeakThreads:
    """The most threads this process had while the block ran (sampled every 20 ms)."""

    def __enter__(self):
        self.peak, self._stop = threading.active_count(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, threading.active_count())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class WholePipeline:
    """The in-process transport attached to a client's events only: each call takes botocore's whole
    pipeline (parameters, endpoint rules, signing, the response's parsing) into the same in-process moto."""

    def __init__(self, transport):
        self.transport = transport

    def attach(self, events, client=None):
        self.transport.attach(events)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(run_one, count: int, concurrency: int) -> dict:
    """Run `run_one(i)` for i < count, `concurrency` at once: jobs/s, CPU per job, peak threads."""
    cpu, workers, started = time.process_time(), children_cpu(), time.perf_counter()
    with PeakThreads() as threads, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run_one, range(count)))
    seconds = time.perf_counter() - started
    return {"jobs_s": count / seconds, "cpu_ms": (time.process_time() - cpu) / count * 1000,
            "worker_cpu_ms": (children_cpu() - workers) / count * 1000, "threads": threads.peak}


def median_row(runs: list) -> dict:
    """The median of each figure over runs of one measurement."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=16, help="jobs per measurement (default 16)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="jobs at once (default 1 8)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of the service and the in-process floor (default 3)")
    args = parser.parse_args()
    rows: dict = {}
    with RunningService() as running:
        job = quick_job_runner(Client(running.url), "bench-throughput")
        service = running.service
        setup = floor_setup(service)
        counter = iter(range(10**9))

        def floor(clients=None, processes=False):
            return lambda _: floor_once(service, *setup, next(counter), clients, processes)

        # The service and the in-process floor alternate, round after round, so that a machine whose
        # speed drifts slows both alike. The service's loops stay up, idle, during the floor's rounds
        # (its own queue, activity and items: nothing of the floor's is the service's work).
        for n in args.concurrency:
            for _ in range(args.rounds):
                rows.setdefault(("service", n), []).append(measure(job, args.jobs, n))
                rows.setdefault(("in process", n), []).append(measure(floor(), args.jobs, n))
                print(f"x{n}: service {rows['service', n][-1]['jobs_s']:.2f} jobs/s, "
                      f"floor in process {rows['in process', n][-1]['jobs_s']:.2f} jobs/s", flush=True)

        service.stop(timeout=0.5)  # the other floors run alone on the same emulators
        http = Clients(service.settings, service.clients.redis)
        pipeline = Clients(service.settings, service.clients.redis, WholePipeline(running.aws.transport()))
        floors = (("whole pipeline", pipeline, False), ("over HTTP", http, False), ("+ processes", None, True))
        for label, clients, processes in floors:
            for n in args.concurrency:
                rows[label, n] = [measure(floor(clients, processes), args.jobs, n)]
                print(f"floor {label} x{n}: {rows[label, n][0]['jobs_s']:.2f} jobs/s", flush=True)

    print(f"\n{'':24}{'jobs/s':>8}{'CPU/job':>10}{'workers CPU/job':>17}{'peak threads':>14}   "
          f"(medians of {args.rounds} rounds for the service and the in-process floor)")
    for (label, n), runs in rows.items():
        row = median_row(runs)
        name = f"{'service' if label == 'service' else 'floor ' + label} x{n}"
        print(f"{name:24}{row['jobs_s']:8.2f}{row['cpu_ms']:8.1f}ms{row['worker_cpu_ms']:15.1f}ms{row['threads']:14.0f}")
    print()
    for n in args.concurrency:
        rounds = list(zip(rows["service", n], rows["in process", n]))
        ratios = sorted(s["jobs_s"] / f["jobs_s"] for s, f in rounds)
        cpus = sorted(s["cpu_ms"] / f["cpu_ms"] for s, f in rounds)
        service = median_row(rows["service", n])
        http, processes, pipeline = (median_row(rows[label, n]) for label in ("over HTTP", "+ processes", "whole pipeline"))
        print(f"x{n}: service / in-process floor {statistics.median(ratios):.2f}x jobs/s "
              f"(rounds {', '.join(f'{r:.2f}' for r in ratios)}), {statistics.median(cpus):.2f}x CPU per job; "
              f"service / whole-pipeline floor {service['jobs_s'] / pipeline['jobs_s']:.2f}x jobs/s; "
              f"service / HTTP floor {service['jobs_s'] / http['jobs_s']:.2f}x jobs/s; "
              f"service / (in-process floor + processes) {service['jobs_s'] / processes['jobs_s']:.2f}x jobs/s")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
