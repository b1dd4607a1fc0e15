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

    run(-1)  # the pools that live as long as the service are started by now
    threads_before = threading.active_count()

    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(run, range(50)))

    assert [j["status"] for j in jobs] == ["COMPLETED"] * 50
    assert len({j["urn"] for j in jobs}) == 50
    for job in jobs:
        assert sorted(r["data"]["i"] for r in job["results"]) == [0, 1, 2]
        assert [len(w["results"]) for w in job["workers"]] == [3]
        assert job["output"]["n"] == job["input"]["n"]
    # No worker process and no thread outlives the jobs (this definition's idle poll was there before).
    deadline = time.monotonic() + 60
    while batch_local.running_pids() or threading.active_count() > threads_before:
        assert time.monotonic() < deadline, (batch_local.running_pids(),
                                             sorted(t.name for t in threading.enumerate()))
        time.sleep(0.1)
