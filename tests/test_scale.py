"""Many jobs at once on the session's service: all complete, nothing duplicated, nothing left behind."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import BEHAVE
from emulators import batch_local


def test_50_jobs_at_8_at_once_all_complete_with_each_result_once_and_nothing_left_over(service, client, unique):
    worker = client.register_worker(unique("many"), command=BEHAVE)
    job_def = client.register_job(unique("many"), {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": worker["urn"], "End": True}}})

    def run(i):
        return client.run_job(job_def["urn"], {"mode": "results", "count": 3, "n": i}, timeout=240)

    run(-1)
    # What may be alive afterwards: what was alive before, and the Queue's fixed-size pool grown to its size.
    pool = {f"queue_{i}" for i in range(service.service.settings.queue_threads)}
    allowed = {t.name for t in threading.enumerate()} | pool

    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(run, range(50)))

    assert [j["status"] for j in jobs] == ["COMPLETED"] * 50
    assert len({j["urn"] for j in jobs}) == 50
    for job in jobs:
        assert sorted(r["data"]["i"] for r in job["results"]) == [0, 1, 2]
        assert [len(w["results"]) for w in job["workers"]] == [3]
        assert job["output"]["n"] == job["input"]["n"]
    # No worker process and no thread outlives the jobs.
    deadline = time.monotonic() + 90
    while batch_local.running_pids() or {t.name for t in threading.enumerate()} - allowed:
        assert time.monotonic() < deadline, (
            f"left over: workers {batch_local.running_pids()}, "
            f"threads {sorted({t.name for t in threading.enumerate()} - allowed)}")
        time.sleep(0.1)
