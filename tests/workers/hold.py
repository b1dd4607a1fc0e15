"""A worker that does nothing itself: it writes its environment to a file and waits for a gate file.

Tests then act as this worker with its token. Usage: hold.py ENV_FILE GATE_FILE
"""

import json
import os
import sys
import time

env_file, gate = sys.argv[1], sys.argv[2]
with open(env_file + ".tmp", "w") as f:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("JOBSERVICE_")}, f)
os.replace(env_file + ".tmp", env_file)
deadline = time.monotonic() + 60
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.02)
