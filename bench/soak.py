"""Benchmark: N trivial jobs requested at a fixed rate; what the service costs before, during and after.

Prints, for this process (moto, the service and the client together):
  RSS and threads before, at their peak during, and after the jobs (after a GC);
  idle CPU (% of one core over a quiet window) on the fresh service and after the jobs;
  whether the service kept up: the backlog (requested, not yet COMPLETED) at its peak and the
  request-to-COMPLETED latency (median, p90);
  memory per ended job: (RSS after - RSS before) / N;
  with --tracemalloc, the Python memory per ended job (allocated and kept, by module), which the
  allocator's slack does not blur (tracemalloc slows everything down: latencies are not comparable);
  with --retain N, the embedded target keeps only the latest N ended jobs (--retain-ended-jobs).
Usage: python bench/soak.py [--jobs 100] [--rate 4] [--idle 3] [--retain N] [--tracemalloc]
"""

import argparse
import gc
import os
import statistics
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness.client import Client  # noqa: E402
from harness.service import RunningService  # noqa: E402
from two_step import register_quick_job  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def idle_cpu(seconds: float) -> float:
    """This process's CPU over `seconds` of doing nothing, in % of one core."""
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - cpu) / (time.perf_counter() - wall) * 100


def snapshot(label: str, idle: float | None = None) -> dict:
    gc.collect()
    row = {"rss": rss_mib(), "threads": threading.active_count()}
    if idle:
        row["idle"] = idle_cpu(idle)
    print(f"{label:7} RSS {row['rss']:7.1f} MiB  threads {row['threads']:4d}"
          + (f"  idle CPU {row['idle']:5.1f}%" if "idle" in row else ""), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100, help="jobs to request (default 100)")
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second (default 4)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of each idle-CPU window (default 3)")
    parser.add_argument("--retain", type=int, help="ended jobs the embedded target keeps (default: the service's)")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure Python memory kept per ended job")
    args = parser.parse_args()
    with RunningService(retain_ended_jobs=args.retain) as running:
        client = Client(running.url)
        definition = register_quick_job(client, "bench-soak", steps=1)
        for i in range(3):
            client.run_job(definition, {"warm": i})
        time.sleep(1)
        before = snapshot("before", args.idle)
        if args.tracemalloc:
            tracemalloc.start()
            traced_before = tracemalloc.take_snapshot()

        latencies, lock = [], threading.Lock()
        peak = {"rss": before["rss"], "threads": before["threads"], "backlog": 0}
        outstanding = [0]

        def follow(urn, requested_at):
            job = client.wait_for_job(client.wait_for_request(urn, timeout=600)["job"], timeout=600)
            assert job["status"] == "COMPLETED", job
            with lock:
                latencies.append(time.perf_counter() - requested_at)
                outstanding[0] -= 1

        started = time.perf_counter()
        with ThreadPoolExecutor(32) as followers:
            for i in range(args.jobs):
                due = started + i / args.rate
                time.sleep(max(0.0, due - time.perf_counter()))
                urn = client.request_job(definition, {"i": i})["urn"]
                with lock:
                    outstanding[0] += 1
                    peak["backlog"] = max(peak["backlog"], outstanding[0])
                followers.submit(follow, urn, time.perf_counter())
                peak["rss"] = max(peak["rss"], rss_mib())
                peak["threads"] = max(peak["threads"], threading.active_count())
        elapsed = time.perf_counter() - started
        print(f"during  RSS {peak['rss']:7.1f} MiB  threads {peak['threads']:4d} (peaks)  "
              f"backlog peak {peak['backlog']}", flush=True)
        time.sleep(1)
        after = snapshot("after", args.idle)
        if args.tracemalloc:
            traced = tracemalloc.take_snapshot().compare_to(traced_before, "filename")
            tracemalloc.stop()

    ordered = sorted(latencies)
    print(f"\n{args.jobs} jobs requested at {args.rate:g}/s; all COMPLETED after {elapsed:.1f} s "
          f"({args.jobs / elapsed:.2f} jobs/s)")
    print(f"request -> COMPLETED: median {statistics.median(ordered) * 1000:.0f} ms, "
          f"p90 {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms")
    print(f"memory per ended job: {(after['rss'] - before['rss']) * 1024 / args.jobs:.1f} KiB "
          f"(RSS {before['rss']:.1f} -> {after['rss']:.1f} MiB)")
    if args.tracemalloc:
        kept = sum(stat.size_diff for stat in traced)
        print(f"Python memory kept per ended job (tracemalloc): {kept / 1024 / args.jobs:.1f} KiB; the largest:")
        for stat in traced[:10]:
            where = stat.traceback[0].filename.split("site-packages/")[-1]
            print(f"  {stat.size_diff / 1024 / args.jobs:7.1f} KiB  {where}")
    print(f"idle CPU: fresh {before['idle']:.1f}%, after the jobs {after['idle']:.1f}%; "
          f"threads {before['threads']} -> {after['threads']}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
