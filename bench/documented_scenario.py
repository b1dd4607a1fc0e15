"""Benchmark: `harness run scenarios/documented_sequence.scenario.yaml` as a user runs it, start-up included.

Prints the wall time of each whole command (a fresh process: imports, emulators,
provisioning, the scenario with its conformance check, shutdown) and, from its
output, the service start-up and the scenario's own time; then the medians.
Usage: python bench/documented_scenario.py [--runs 3]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def one_run() -> tuple[float, float, float]:
    """(wall seconds, start-up seconds, scenario seconds) of one `harness run`."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness", "run", "scenarios/documented_sequence.scenario.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"harness run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    startup = float(re.search(r"service ready \(\w+\) in ([\d.]+)s", done.stdout).group(1))
    scenario = float(re.search(r"PASSED documented sequence: \S+ steps in ([\d.]+)s", done.stdout).group(1))
    return wall, startup, scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for i in range(args.runs):
        rows.append(one_run())
        print(f"run {i + 1}: wall {rows[-1][0]:.2f}s, start-up {rows[-1][1]:.2f}s, scenario {rows[-1][2]:.2f}s")
    walls, startups, scenarios = zip(*rows)
    print(f"median: wall {statistics.median(walls):.2f}s, start-up {statistics.median(startups):.2f}s, "
          f"scenario {statistics.median(scenarios):.2f}s (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
