"""Ends that are news until the service reads them, for the skip clock.

The service learns that an execution ended by describing it, and that a worker's Batch job failed
by describing that; until then the end is something happening, as a visible message is. An
`Unread` is a clock idle check (`until_sweep`): while it holds an end, a skipping clock jumps only
to the service's next sweep, not past it to a deadline the end would have prevented (a task's
timeout). An end nobody reads is dropped after `seconds` of wall time, so it cannot hold the clock.
"""

import threading
import time

from server import clock


class Unread:
    """Keys (an execution ARN, a Batch job id) whose end nobody has read yet; `self()` is True when none is."""

    def __init__(self, seconds: float, waiting: str):
        self.seconds = seconds
        #: What `Clock.holders()` says while an end is unread.
        self.waiting = waiting
        self._ended: dict = {}  # key -> monotonic time it ended
        self._lock = threading.Lock()

    def ended(self, key) -> None:
        """`key` ended (noted in skip mode only: no other mode asks)."""
        if clock.CLOCK.mode == "skip":
            with self._lock:
                self._ended[key] = time.monotonic()

    def read(self, keys) -> None:
        """The ends of `keys` have been read."""
        if self._ended:
            with self._lock:
                for key in keys:
                    self._ended.pop(key, None)

    def __call__(self) -> bool:
        with self._lock:
            stale = time.monotonic() - self.seconds
            for key in [key for key, at in self._ended.items() if at < stale]:
                del self._ended[key]
            return not self._ended
