"""The process's one clock: what every timed thing of the service and the embedded emulators reads.

Modes (after Temporal's time-skipping test environment):

- ``real`` (the default): the wall clock; sleeps and waits take real time.
- ``scale=N``: virtual time runs N times faster than the wall clock; every duration is divided by N.
- ``skip``: virtual time runs with the wall clock, and jumps to the next deadline when nothing is
  happening: no hold is taken (an API call or emulator call in flight, a worker process running a
  step), no thread is awake (one that left a clock wait, was started for an execution or got work
  from a long poll, until it waits on the clock again or ends: a loop mid-iteration, an interpreter
  between two states), no waiter's event is set unseen, no idle check objects (a message visible in
  a queue, an activity task waiting to be taken), and no hold was released within a short settle.

Only the harness chooses the mode (`configure`), and only on the embedded target: on localstack or
AWS the clock is the wall clock and asking for virtual time is an error before anything runs.
`server/` reads it the same way on every target: `now()`, `iso()`, `sleep()`, `wait()`.
"""

import heapq
import itertools
import math
import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone

MODES = ("real", "skip", "scale=N")
#: How long skip mode waits after a hold is released or a wait ends before it jumps: what the one who
#: released hands on in that instant (a response on its way to a worker process) is covered by its
#: own hold or an awake thread; this is a margin, not the mechanism.
SETTLE_SECONDS = 0.002
#: How long a thread counts as awake at most (one that goes on to block outside the clock stops counting).
AWAKE_SECONDS = 0.25
#: How often skip mode looks again while only what cannot notify it blocks (an idle check, an awake thread).
LOOK_SECONDS = 0.002
#: How often a wait on an Event looks at the virtual time (an Event cannot be woken from outside).
EVENT_SLICE_SECONDS = 0.01
#: The shortest wall time a wait that does not drive the clock (a sweep's period, a backoff) lasts.
MIN_SWEEP_SECONDS = 0.05
_MODE_RE = re.compile(r"^(real|skip|scale=(\d+(?:\.\d+)?))$")


class ClockError(ValueError):
    """A clock mode that cannot be used: malformed, or virtual where the clock must be the wall's."""


def parse_mode(text: str) -> tuple[str, float]:
    """('real'|'skip'|'scale', rate) from 'real', 'skip' or 'scale=N' (N > 0)."""
    match = _MODE_RE.match(str(text).strip())
    if not match:
        raise ClockError(f"clock mode {text!r} is not one of real, skip, scale=N (N a positive number)")
    if match.group(2) is None:
        return match.group(1), 1.0
    rate = float(match.group(2))
    if not (rate > 0 and math.isfinite(rate)):
        raise ClockError(f"clock mode {text!r}: N must be a positive number")
    return "scale", rate


class Clock:
    """Virtual time for one process; thread-safe. `now()` is seconds since the epoch."""

    def __init__(self, wall=time.time, settle: float = SETTLE_SECONDS, awake: float = AWAKE_SECONDS):
        self._wall = wall
        self._cond = threading.Condition()
        self._kind, self._rate = "real", 1.0
        self._anchor_wall = self._anchor_virtual = None  # None: virtual == wall exactly
        self._holds: Counter = Counter()
        self._suspended: Counter = Counter()
        self._deadlines: list = []  # heap of (virtual time, id, "waiter" | "bare" | "sweep")
        self._ids = itertools.count()
        self._last_change = time.monotonic()  # of the last release, wait end or park: skip waits `settle` after it
        self._awake: dict = {}  # thread -> monotonic time it stops counting as awake
        self._awake_for = awake
        self._events: dict = {}  # waiter id -> the Event it waits for
        self._lifted: dict = {}  # waiter id -> the holds its wait lifts that were taken (a worker's)
        self._idle_checks: list = []  # (check, until_sweep)
        self._settle = settle
        self._skipper = None
        self.jumps = 0  # how many times skip mode jumped (for the bench and the health check)

    # -- mode --
    @property
    def mode(self) -> str:
        return {"real": "real", "skip": "skip"}.get(self._kind) or f"scale={self._rate:g}"

    @property
    def virtual(self) -> bool:
        """True once virtual time may differ from the wall clock (a mode other than real, or an advance)."""
        return self._kind != "real" or self._anchor_wall is not None

    def configure(self, mode: str) -> None:
        """Switch to `mode`; virtual time goes on from where it is (it never goes back)."""
        kind, rate = parse_mode(mode)
        with self._cond:
            self._reanchor()
            self._kind, self._rate = kind, rate
            if kind != "skip":
                self._awake.clear()
            if kind == "real" and self._anchor_virtual == self._anchor_wall:
                self._anchor_wall = self._anchor_virtual = None
            self._cond.notify_all()
        if kind == "skip":
            self._start_skipper()

    def reset(self) -> None:
        """Back to the wall clock (tests and a harness that ends)."""
        with self._cond:
            self._kind, self._rate = "real", 1.0
            self._awake.clear()
            self._anchor_wall = self._anchor_virtual = None
            self._cond.notify_all()

    def _reanchor(self) -> None:
        wall = self._wall()
        self._anchor_virtual, self._anchor_wall = self._now_at(wall), wall

    # -- reading --
    def _now_at(self, wall: float) -> float:
        if self._anchor_wall is None:
            return wall
        return self._anchor_virtual + (wall - self._anchor_wall) * self._rate

    def now(self) -> float:
        """Virtual seconds since the epoch."""
        return self._now_at(self._wall())

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    def iso(self) -> str:
        """The virtual now as the API writes times: ISO 8601 UTC with milliseconds and a Z."""
        return self.utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def wall_seconds(self, virtual_seconds: float) -> float:
        """How long `virtual_seconds` take on the wall clock at the current rate (skips aside)."""
        return max(0.0, virtual_seconds) / self._rate

    def virtual_seconds(self, wall_seconds: float) -> float:
        """The virtual seconds that pass in `wall_seconds` at the current rate: a grace for real latency."""
        return max(0.0, wall_seconds) * self._rate

    # -- moving it --
    def advance(self, seconds: float) -> float:
        """Move virtual time forward by hand; wake what waits for it. Returns the new now."""
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
            raise ClockError(f"advance takes a non-negative number of seconds, got {seconds!r}")
        with self._cond:
            if self._kind == "real":
                raise ClockError("the clock is real (the wall clock): advance needs --clock skip or scale=N")
            self._reanchor()
            self._anchor_virtual += seconds
            self._cond.notify_all()
            return self._anchor_virtual

    def _jump_to(self, virtual: float) -> None:
        with self._cond:
            self._reanchor()
            if virtual > self._anchor_virtual:
                self._anchor_virtual = virtual
                self.jumps += 1
            self._cond.notify_all()

    # -- what is happening --
    def hold(self, key) -> None:
        """Something is happening (skip mode does not jump) until `release(key)`."""
        with self._cond:
            self._holds[key] += 1

    def release(self, key) -> None:
        with self._cond:
            self._holds[key] -= 1
            if self._holds[key] <= 0:
                del self._holds[key]
            self._last_change = time.monotonic()
            self._cond.notify_all()  # the skipper looks again at once

    @contextmanager
    def busy(self, key=None):
        """Hold the clock still (in skip mode) for the duration of the block; default key: this thread."""
        key = key if key is not None else thread_key()
        self.hold(key)
        try:
            yield
        finally:
            self.release(key)

    def wake(self, thread: threading.Thread | None = None) -> None:
        """`thread` (default: this one) is happening until it waits on the clock, `park()`s or ends.

        For a thread about to be started for work (an execution's interpreter), and for one that
        got work from a long poll. At most `awake` wall seconds: one that goes on to block
        outside the clock (a join, a socket) stops counting then.
        """
        with self._cond:
            if self._kind == "skip":  # only skip mode asks (and forgets what ended)
                self._awake[thread or threading.current_thread()] = time.monotonic() + self._awake_for

    def park(self, thread: threading.Thread | None = None) -> None:
        """`thread` (default: this one) is no longer awake: it waits for work (a long poll)."""
        with self._cond:
            if self._awake.pop(thread or threading.current_thread(), None) is not None:
                self._last_change = time.monotonic()
                self._cond.notify_all()

    def _awake_threads(self) -> list:
        """The threads awake now (under the lock); forgets those that ended or outlived `awake`."""
        now = time.monotonic()
        for thread, until in list(self._awake.items()):
            if until <= now or (thread.ident is not None and not thread.is_alive()):
                del self._awake[thread]
        return list(self._awake)

    def add_idle_check(self, check, until_sweep: bool = False) -> None:
        """`check()` is True while its component has nothing to do (no visible message, no task waiting).

        `until_sweep`: what the check sees waits for a sweep of the service (an execution that
        ended unseen): while it alone is not idle, skip mode may jump to the next sweep.
        """
        with self._cond:
            if all(check is not c for c, _ in self._idle_checks):
                self._idle_checks.append((check, until_sweep))

    def remove_idle_check(self, check) -> None:
        with self._cond:
            self._idle_checks[:] = [(c, s) for c, s in self._idle_checks if c is not check]

    def _blocking(self) -> str | None:
        """None when nothing happens; "sweep" when only what a sweep will see; else "busy"."""
        with self._cond:
            checks = list(self._idle_checks)
        # The checks before the holds: what hands work over (a task taken, a message received)
        # wakes its thread before the work leaves what a check sees.
        waiting = [until_sweep for check, until_sweep in checks if not check()]
        with self._cond:
            if self._held():
                return "busy"
        if not waiting:
            return None
        return "sweep" if all(waiting) else "busy"

    def holders(self) -> list[str]:
        """What keeps a skipping clock from jumping now, in words (empty: nothing)."""
        with self._cond:
            held = [f"{key[0]} {key[1]}" for key, count in self._holds.items()
                    if count > 0 and not self._suspended[key]]
            held += [f"thread {thread.name} (awake)" for thread in self._awake_threads()]
            if any(event.is_set() for event in self._events.values()):
                held.append("a waiter whose event is set (not woken yet)")
            checks = list(self._idle_checks)
        waiting = [getattr(check, "waiting", None) or getattr(check, "__name__", "a component")
                   for check, _ in checks if not check()]
        return [f"held by {what}" for what in held] + waiting

    def idle(self) -> bool:
        """Nothing is happening now: no hold outside a wait, and every idle check says idle."""
        return self._blocking() is None

    # -- waiting --
    @contextmanager
    def _waiting(self, deadline, release, kind="waiter", event=None):
        """Register a deadline (and the event waited for) and lift this thread's (and `release`'s) holds.

        The thread stops being awake while it waits; when the wait ends it is awake again unless
        one of those holds covers it.
        """
        me = threading.current_thread()
        keys = [thread_key(), *release]
        entry = None
        waiter = next(self._ids)
        with self._cond:
            self._awake.pop(me, None)
            for key in keys:
                self._suspended[key] += 1
            if deadline is not None:
                entry = (deadline, waiter, kind)
                heapq.heappush(self._deadlines, entry)
            if event is not None:
                self._events[waiter] = event
            lifted = [key for key in release if self._holds.get(key, 0) > 0]
            if lifted:
                self._lifted[waiter] = lifted
            self._cond.notify_all()
        try:
            yield lifted
        finally:
            with self._cond:
                for key in keys:
                    self._suspended[key] -= 1
                    if self._suspended[key] <= 0:
                        del self._suspended[key]
                if entry is not None:
                    self._deadlines.remove(entry)
                    heapq.heapify(self._deadlines)
                self._events.pop(waiter, None)
                self._lifted.pop(waiter, None)
                self._last_change = time.monotonic()
                if self._kind == "skip" and not any(self._holds.get(key, 0) > 0 for key in keys):
                    self._awake[me] = self._last_change + self._awake_for  # what it does next is happening

    def deadline(self, at: float):
        """Register a bare deadline (a message becoming visible, a key expiring): skip may jump to it.

        Returns a function that removes it.
        """
        entry = (at, next(self._ids), "bare")
        with self._cond:
            heapq.heappush(self._deadlines, entry)
            self._cond.notify_all()

        def remove():
            with self._cond:
                if entry in self._deadlines:
                    self._deadlines.remove(entry)
                    heapq.heapify(self._deadlines)
        return remove

    def sleep(self, seconds: float, release=(), max_wall: float | None = None) -> None:
        """Sleep `seconds` of virtual time (at most `max_wall` wall seconds), not holding the clock.

        A sleep that lifts holds (`release`: a worker's, while it sleeps) ends early once nothing
        holds them any more (the worker's process ended): it has no one left to wake.
        """
        self.sleep_until(self.now() + max(0.0, seconds), release, max_wall)

    def sleep_until(self, at: float, release=(), max_wall: float | None = None) -> None:
        if self._kind == "real" and self._anchor_wall is None and not release and max_wall is None:
            time.sleep(max(0.0, at - self._wall()))
            return
        wall_end = None if max_wall is None else time.monotonic() + max_wall
        with self._waiting(at, release) as lifted, self._cond:
            while (left := at - self.now()) > 0:
                if lifted and not self._still_held(lifted):
                    return
                step = left / self._rate
                if wall_end is not None:
                    step = min(step, wall_end - time.monotonic())
                    if step <= 0:
                        return
                self._cond.wait(step)

    def wait(self, event: threading.Event, timeout: float | None = None, release=(), drive: bool = True) -> bool:
        """`event.wait(timeout)` with `timeout` in virtual seconds; True when the event is set.

        `drive=False` (a sweep's period, a backoff): skip mode does not jump to this deadline, but
        the wait ends once virtual time passes it for any other reason.
        """
        if self._kind == "real" and self._anchor_wall is None and not release:
            return threading.Event.wait(event, timeout)
        at = None if timeout is None else self.now() + max(0.0, timeout)
        # A sweep's period never shrinks below MIN_SWEEP_SECONDS of wall time (scale=N would make it spin).
        wall_floor = time.monotonic() + min(max(0.0, timeout or 0.0), MIN_SWEEP_SECONDS)
        with self._waiting(at, release, "waiter" if drive else "sweep", event):
            while not event.is_set():
                if at is None:
                    step = EVENT_SLICE_SECONDS * 10
                else:
                    left = at - self.now()
                    if left <= 0 and (drive or time.monotonic() >= wall_floor):
                        return event.is_set()
                    step = max(min(left / self._rate, EVENT_SLICE_SECONDS), 0.001)
                threading.Event.wait(event, step)
            return True

    def _still_held(self, keys) -> bool:
        return any(self._holds.get(key, 0) > 0 for key in keys)

    def next_deadline(self, sweep: bool = False) -> float | None:
        """The earliest deadline that skip mode jumps to (`sweep`: the earliest sweep's instead).

        Not a sleep whose lifted holds were all released (its worker ended): it is about to end.
        """
        with self._cond:
            return min((at for at, waiter, kind in self._deadlines if (kind == "sweep") == sweep
                        and (waiter not in self._lifted or self._still_held(self._lifted[waiter]))), default=None)

    # -- skip mode --
    def step(self) -> bool:
        """Jump to the next deadline if nothing is happening now (one move of skip mode); True if it jumped."""
        with self._cond:
            now = self.now()
            while self._deadlines and self._deadlines[0][0] <= now:
                if self._deadlines[0][2] != "bare":
                    return False  # a waiter whose time has come has not woken yet: it is about to act
                heapq.heappop(self._deadlines)  # a bare deadline that passed
        blocking = self._blocking()
        if blocking == "busy":
            return False
        nxt = self.next_deadline(sweep=blocking == "sweep")
        if nxt is None:
            return False
        self._jump_to(nxt)
        return True

    def _start_skipper(self) -> None:
        with self._cond:
            if self._skipper is not None and self._skipper.is_alive():
                return
            self._skipper = threading.Thread(target=self._skip_forever, name="jobservice-clock-skip", daemon=True)
            self._skipper.start()

    def _skip_forever(self) -> None:
        """Jump as soon as nothing happens and something waits for a deadline.

        A release, a wait, a park and a new deadline notify it; what cannot (an idle check, an
        awake thread that ends, an event set for a waiter) it looks at every LOOK_SECONDS meanwhile.
        """
        while self._kind == "skip":
            with self._cond:
                if not self._deadlines:
                    self._cond.wait(0.1)  # a new deadline notifies
                    continue
                if self._held():
                    self._cond.wait(self._look_after())
                    continue
                quiet_for = time.monotonic() - self._last_change
            if quiet_for < self._settle:
                time.sleep(self._settle - quiet_for)
            elif self._kind == "skip" and not self.step():
                with self._cond:
                    self._cond.wait(LOOK_SECONDS)

    def _look_after(self) -> float:
        """How long the skipper may wait for a notification (under the lock)."""
        if self._awake or any(event.is_set() for event in self._events.values()):
            return LOOK_SECONDS
        return 0.1  # a safety net: releases, waits and deadlines notify

    def _holds_active(self) -> bool:
        return any(count > 0 and not self._suspended[key] for key, count in self._holds.items())

    def _held(self) -> bool:
        """A hold, an awake thread or a waiter whose event is set and who has not woken yet (under the lock)."""
        return (self._holds_active() or bool(self._awake_threads())
                or any(event.is_set() for event in self._events.values()))

    def describe(self) -> dict:
        """What GET /v2/health shows: the mode and the virtual now."""
        return {"mode": self.mode, "now": self.iso()}


def thread_key():
    """The key `busy()` holds by default, and that a wait of this thread lifts."""
    return ("thread", threading.get_ident())


def worker_key(worker_id: str) -> tuple:
    """The hold a worker run's process keeps while it runs (a worker's clock sleep lifts it)."""
    return ("worker", worker_id)


#: The clock of this process. The harness configures it; everything else reads it.
CLOCK = Clock()


def now() -> float:
    return CLOCK.now()


def iso() -> str:
    return CLOCK.iso()


def utcnow() -> datetime:
    return CLOCK.utcnow()


def parse_iso(text) -> datetime:
    """A time as the API writes it (ISO 8601 UTC, `Z` or an offset) as an aware datetime; ValueError otherwise."""
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def epoch(text) -> float:
    """`parse_iso(text)` in seconds since the epoch, comparable with `now()`."""
    return parse_iso(text).timestamp()


def sleep(seconds: float, release=()) -> None:
    CLOCK.sleep(seconds, release)


def wait(event: threading.Event, timeout: float | None = None, release=(), drive: bool = True) -> bool:
    return CLOCK.wait(event, timeout, release, drive)
