"""The harness's handle on the service's clock: choose its mode, move it, read it (`jobservice.clock`).

The clock itself is server/clock.py, one per process. The harness sets its mode only for a
service of its own process on the embedded target; elsewhere time is the wall clock.
"""

from contextlib import contextmanager
from datetime import datetime

from server.clock import CLOCK, ClockError, parse_iso, parse_mode

from .errors import UsageError

__all__ = ["ServiceClock", "check_target", "in_process"]


def check_target(target: str, mode: str | None) -> None:
    """Refuse a malformed mode, and a virtual one where time is not ours (localstack, aws, a remote service)."""
    if mode is None:
        return
    try:
        kind, _ = parse_mode(mode)
    except ClockError as exc:
        raise UsageError(str(exc)) from None
    if kind != "real" and target != "embedded":
        raise UsageError(f"clock {mode} needs the embedded target: on {target} time is the wall clock "
                         "(AWS's timers cannot be skipped or scaled); use clock real or the embedded target")


def in_process(service) -> bool:
    """True for a service on the embedded target that runs in this process (its clock is ours to set)."""
    return getattr(service, "target", None) == "embedded" and getattr(service, "service", None) is not None


class ServiceClock:
    """The clock of a running service: `mode`, `now()`, `advance(seconds)` (after Temporal's test environment)."""

    def __init__(self, service):
        self._service = service

    @property
    def mode(self) -> str:
        return CLOCK.mode if in_process(self._service) else self._health()["mode"]

    def now(self) -> datetime:
        """The service's virtual now (UTC)."""
        if in_process(self._service):
            return CLOCK.utcnow()
        return parse_iso(self._health()["now"])

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by `seconds` (skip or scale=N only); return the new now."""
        if not in_process(self._service):
            raise UsageError("advance moves the clock of a service in this process (the embedded target); "
                             "this one runs elsewhere")
        try:
            CLOCK.advance(seconds)
        except ClockError as exc:
            raise UsageError(str(exc)) from None
        return CLOCK.utcnow()

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of the service's time (in skip mode, time jumps while nothing happens)."""
        if in_process(self._service):
            CLOCK.sleep(seconds)
        else:
            import time

            time.sleep(seconds)

    @contextmanager
    def use(self, mode: str | None):
        """Run the block with the clock in `mode` (None: as it is); the mode before comes back after."""
        if mode is None or parse_mode(mode) == parse_mode(self.mode):
            yield
            return
        if not in_process(self._service):
            raise UsageError(f"this scenario needs clock {mode}, and the service it runs on ("
                             f"{getattr(self._service, 'url', '?')}) runs clock {self.mode}: start it with "
                             f"--clock {mode}, or run without --url")
        check_target(self._service.target, mode)
        before = CLOCK.mode
        CLOCK.configure(mode)
        try:
            yield
        finally:
            CLOCK.configure(before)

    def _health(self) -> dict:
        import requests

        body = requests.get(self._service.url + "/v2/health", timeout=10).json()
        return body.get("clock") or {"mode": "real", "now": datetime.now().astimezone().isoformat()}
