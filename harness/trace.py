"""Collect the observed events of a run (server.observe) and write them as a --trace JSON file."""

import json
import threading

from server import observe


class Trace:
    """Every observe.Event of this process between `start()` and `stop()`, in order."""

    def __init__(self):
        self.events = []
        self._lock = threading.Lock()
        self._added = threading.Condition(self._lock)

    def _add(self, event) -> None:
        with self._lock:
            self.events.append(event)
            self._added.notify_all()

    def start(self) -> "Trace":
        observe.subscribe(self._add)
        return self

    def snapshot(self) -> list:
        """The events so far, in order, while recording goes on."""
        with self._lock:
            return sorted(self.events, key=lambda e: e.seq)

    def wait_beyond(self, count: int, timeout: float) -> bool:
        """Wait at most `timeout` seconds until more than `count` events are recorded; whether they are."""
        with self._lock:
            return self._added.wait_for(lambda: len(self.events) > count, timeout=max(0.0, timeout))

    def stop(self) -> list:
        observe.unsubscribe(self._add)
        with self._lock:
            self.events.sort(key=lambda e: e.seq)
            return list(self.events)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def format_event(event) -> str:
    """One event as a line in the diagram's words: `seq  Source -> Target: label`."""
    if event.kind == "note":
        return f"{event.seq:>6}  Note over {event.source}: {event.label}"
    arrow = "<--" if event.kind == "return" else "->"
    if event.kind == "return":
        return f"{event.seq:>6}  {event.target} {arrow} {event.source}: {event.label}"
    return f"{event.seq:>6}  {event.source} {arrow} {event.target}: {event.label}"


def to_document(results) -> dict:
    """The trace of scenario results as one JSON-ready document."""
    return {"format": "jobservice-trace/1", "scenarios": [{
        "name": r.scenario.name, "path": r.scenario.path, "passed": r.passed, "seconds": round(r.seconds, 3),
        "clock": r.clock, "virtual_seconds": None if r.virtual_seconds is None else round(r.virtual_seconds, 3),
        "events": [e.to_dict() for e in r.events]} for r in results]}


def write_trace(path, results) -> None:
    """Write the events of every result to `path` as JSON."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(to_document(results), fh, indent=1, default=str)
        fh.write("\n")
