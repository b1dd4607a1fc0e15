"""Benchmark: `import emulators` with EC2's data read at import (stock moto) and on first use (emulators/lazy_ec2.py).

Each measurement is a fresh `python -c` process that imports `emulators` with the garbage
collector paused (as `harness run` starts up) and prints how long the import took; the
variants alternate, so a busy machine slows them alike. Variants: `stock` (lazy_ec2 does
nothing), `regions` and `types` (one of its two deferrals), `lazy` (both, as shipped).
Usage: python bench/startup_imports.py [--runs 9]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import gc, importlib.util, json, os, sys, time
gc.disable()
spec = importlib.util.spec_from_file_location("emulators.lazy_ec2", os.path.join("emulators", "lazy_ec2.py"))
lazy_ec2 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lazy_ec2)
keep = {"stock": [], "regions": [lazy_ec2.REGIONS], "types": [lazy_ec2.TYPES]}.get(sys.argv[1])
if keep is not None:
    for name in set(lazy_ec2._DEFERRING) - set(keep):
        del lazy_ec2._DEFERRING[name]
sys.modules["emulators.lazy_ec2"] = lazy_ec2
started = time.perf_counter()
import emulators
imported = time.perf_counter() - started
from moto.ec2.models import instance_types
assert (type(instance_types.INSTANCE_TYPES) is dict) == (sys.argv[1] in ("stock", "regions"))
print(json.dumps({"import": imported}))
"""

VARIANTS = ("stock", "regions", "types", "lazy")


def one(variant: str) -> tuple[float, float]:
    """(seconds `import emulators` took, wall seconds of the whole process) in a fresh process."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD, variant], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)["import"], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    one("stock")  # warm the file cache and the .pyc files
    rows = {variant: [] for variant in VARIANTS}
    for _ in range(args.runs):
        for variant in VARIANTS:
            rows[variant].append(one(variant))
    median = {variant: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
              for variant, rs in rows.items()}
    for variant, (imported, wall) in median.items():
        print(f"{variant:8} import emulators: median {imported * 1000:6.0f} ms   process wall {wall * 1000:6.0f} ms")
    stock, lazy = median["stock"], median["lazy"]
    print(f"lazy / stock: import {lazy[0] / stock[0]:.2f}x ({(stock[0] - lazy[0]) * 1000:.0f} ms less), "
          f"process {lazy[1] / stock[1]:.2f}x over {args.runs} runs each (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
