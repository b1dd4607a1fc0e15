"""How workers retry a call of the Job Service: which answers are transient, how long to wait, which calls carry a key.

Shared by the Python WorkerClient and the scripted worker (which imports nothing heavy).
"""

import random
import uuid

#: Answers worth another try: throttled, or the service (or its cache) briefly unavailable.
TRANSIENT = (429, 500, 502, 503, 504)
#: Tries per call, and the cap of one pause (seconds): about 10 s of trying in all.
ATTEMPTS, MAX_PAUSE = 8, 2.0
#: Writes that carry an Idempotency-Key, so that a retry never duplicates what the first try did.
KEYED = ("/v2/worker/results", "/v2/workers/results", "/v2/worker/finish", "/v2/workers/finish",
         "/v2/workers/files")


def pause(attempt: int) -> float:
    """Seconds before try `attempt + 1` (full jitter, exponential, capped)."""
    return random.uniform(0, min(MAX_PAUSE, 0.1 * 2 ** attempt))


def idempotency_headers(method: str, path: str) -> dict:
    """A fresh Idempotency-Key for a keyed write (the same for all its tries), else nothing."""
    return {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" and path in KEYED else {}
