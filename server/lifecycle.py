"""One INFO line per lifecycle step of a request, job and run, in the diagram's words (`harness -v`)."""

import logging

from . import clock

log = logging.getLogger("jobservice.lifecycle")


def say(event: str, urn: str, detail: str = "") -> None:
    """Log `event: urn (detail)`: request accepted, job started, run submitted, worker started, ..."""
    log.info("%s: %s%s", event, urn, f" ({detail})" if detail else "")


def since(iso: str | None) -> str:
    """Seconds since an ISO time, as text ("2.41 s"); "?" when unknown."""
    try:
        started = clock.parse_iso(iso)
    except ValueError:
        return "?"
    return f"{(clock.utcnow() - started).total_seconds():.2f} s"
