"""Benchmark: scenarios/long_waits.scenario.yaml on a skipping clock, wall time against virtual time.

Prints, in one run:
  start    wall seconds to start the embedded service (emulators, loops, API)
  wall     wall seconds of the scenario (register, request, wait for the job to end, check)
  virtual  virtual seconds of its job, from created_at to updated_at (over 4,080 by construction)
  ratio    virtual / wall: how much faster than real time the job ran
  jumps    how many times the clock jumped to the next deadline
and the same for `harness run` as a whole (start + scenario) on the wall.
Usage: python bench/clock.py [--repeat 1]
"""

import argparse
import os
import sys
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness.client import Client  # noqa: E402
from harness.runner import run_scenario  # noqa: E402
from harness.scenario import load  # noqa: E402
from harness.service import RunningService  # noqa: E402
from server.clock import CLOCK  # noqa: E402

SCENARIO = os.path.join(os.path.dirname(HERE), "scenarios", "long_waits.scenario.yaml")


def _seconds(a: str, b: str) -> float:
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(b) - parse(a)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="scenario runs on one service")
    args = parser.parse_args()
    scenario = load(SCENARIO)[0]
    started = time.perf_counter()
    with RunningService() as service:
        start = time.perf_counter() - started
        print(f"start    {start:.2f} s")
        for _ in range(args.repeat):
            jumps = CLOCK.jumps
            began = time.perf_counter()
            result = run_scenario(scenario, service)  # the scenario says clock: skip
            wall = time.perf_counter() - began
            assert result.passed, result.format_failure()
            job = Client(service.url).get_job(result.variables["job"])
            virtual = _seconds(job["created_at"], job["updated_at"])
            print(f"wall     {wall:.2f} s")
            print(f"virtual  {virtual:.1f} s")
            print(f"ratio    {virtual / wall:.0f}x (virtual / wall)")
            print(f"jumps    {CLOCK.jumps - jumps}")
            print(f"total    {start + wall:.2f} s wall for start + scenario (what `harness run` costs)")


if __name__ == "__main__":
    main()
