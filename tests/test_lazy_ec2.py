"""EC2's data, read on first use by emulators/lazy_ec2.py, answers as stock moto's read at import.

Stock moto's answers come from tests/ec2_probe.py in a child process that never imports
emulators/; the emulator's from the embedded emulator, as the service and workers reach it.
"""

import json
import os
import subprocess
import sys

import ec2_probe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stock_answers() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ec2_probe.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_ec2_regions_offerings_and_managed_compute_environments_answer_as_stock_moto(emulated_aws):
    _, client = emulated_aws
    emulator = json.loads(json.dumps(ec2_probe.answers(client), default=str))
    stock = stock_answers()
    assert emulator["batch"]["created"] is None and emulator["batch"]["instances"], emulator["batch"]
    assert emulator["batch"]["unknown type"][0] == "InvalidParameterValue"
    assert len(emulator["ec2"]["all types"]) > 1000 and len(emulator["ec2"]["regions"]) > 30
    assert set(emulator) == set(stock)
    for part in stock:
        assert set(emulator[part]) == set(stock[part])
        for probe in stock[part]:
            assert emulator[part][probe] == stock[part][probe], (part, probe)
