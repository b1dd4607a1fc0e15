"""Check an observed run against the documented sequence: every documented arrow occurs, in order.

The documented sequence (documented_sequence.yaml, next to this module) is the
seed diagram as data, split into lanes (threads of control) with the causal
links between them. Within a lane, arrows must be observed in the documented
order; an arrow with `after` must also come after those arrows. The report
names every arrow that is missing or out of order.
"""

import functools
import os
import re
from dataclasses import dataclass, field

import yaml

from .errors import HarnessError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "documented_sequence.yaml")
#: libyaml's safe loader where PyYAML has it: the data file takes 50 ms in the pure-Python one.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConformanceError(HarnessError):
    """The documented sequence data is malformed."""


@dataclass
class Arrow:
    """One arrow (or note) of the documented sequence and how it shows in the observed events."""

    number: int
    lane: str
    source: str
    target: str
    text: str
    kind: str = "call"
    id: str | None = None
    after: list = field(default_factory=list)
    observed: dict = field(default_factory=dict)
    implied: str | None = None
    unobservable: str | None = None
    loop: str | None = None
    style: str = "-->>"

    def describe(self) -> str:
        text = plain(self.text)
        if self.kind == "note":
            return f"#{self.number} Note over {self.source}: {text}"
        return f"#{self.number} {self.source} {self.style} {self.target}: {text}"

    def expects(self) -> str:
        """What event stands for this arrow, in the observed vocabulary."""
        label, source, target, kind = self.want
        if kind == "note":
            return f"note over {source}: {label}"
        return f"{kind} {source} -> {target}: {label}"

    @functools.cached_property
    def want(self) -> tuple:
        """(label, source, target, kind) of the event that stands for this arrow (an arrow is not changed)."""
        label = self.observed.get("label", plain(self.text))
        return (label, self.observed.get("from", self.source), self.observed.get("to", self.target),
                self.observed.get("kind", self.kind))

    def matches(self, event) -> bool:
        label, source, target, kind = self.want
        if event.kind != kind or event.source != source or event.target != target:
            return False
        if label.startswith("re:"):
            return re.search(label[3:], event.label) is not None
        return event.label == label


@dataclass
class Outcome:
    """How one documented arrow fared: ok, implied, unchecked, missing or out-of-order."""

    arrow: Arrow
    status: str
    event: object = None
    reason: str = ""
    cause: object = None


@dataclass
class Report:
    """The outcome of every documented arrow."""

    outcomes: list

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list:
        return [o for o in self.outcomes if o.status in ("missing", "out of order")]

    def count(self, status) -> int:
        return sum(o.status == status for o in self.outcomes)

    def summary(self) -> str:
        unobservable = sum(o.status == "unchecked" and bool(o.arrow.unobservable) for o in self.outcomes)
        checked = len(self.outcomes) - unobservable
        text = (f"{self.count('ok') + self.count('implied')} of {checked} documented arrows observed in order "
                f"({self.count('implied')} implied by the call before them; {unobservable} not "
                f"observable from the service)")
        if self.problems:
            text += f"; {self.count('missing')} missing, {self.count('out of order')} out of order"
        return text

    def format(self) -> str:
        """The summary, then each missing or out-of-order arrow (a run of them behind one cause, grouped)."""
        lines = [f"conformance: {self.summary()}"]
        groups = []
        for o in self.problems:
            last = groups[-1][-1] if groups else None
            if (last is not None and o.status == "out of order" and last.status == o.status
                    and last.arrow.lane == o.arrow.lane and last.cause is o.cause):
                groups[-1].append(o)
            else:
                groups.append([o])
        for group in groups:
            first = group[0]
            if len(group) == 1:
                lines.append(f"  {first.status:<12} {first.arrow.describe()}")
                lines.append(f"  {'':<12}   expected {first.arrow.expects()}; {first.reason}")
                continue
            lines.append(f"  {first.status:<12} #{first.arrow.number}-#{group[-1].arrow.number}: {len(group)} arrows "
                         f"of the {first.arrow.lane} lane, each observed only before {first.cause.describe()}, "
                         "which they must follow:")
            lines.extend(f"  {'':<12}   {o.arrow.describe()}" for o in group)
        return "\n".join(lines)


def plain(text: str) -> str:
    """The diagram's text without its line breaks (`</br>`) and repeated spaces."""
    return " ".join(re.sub(r"<\s*/?\s*br\s*/?\s*>", " ", text, flags=re.I).split())


def load_sequence(path: str = DATA) -> list:
    """The documented arrows, numbered in the diagram's order (the file is read once)."""
    return list(_sequence(path))


@functools.lru_cache(maxsize=8)
def _sequence(path: str) -> tuple:
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=LOADER)
    arrows, ids = [], set()
    for block in data.get("blocks", []):
        if "elided" in block:
            continue
        lane = block["lane"]
        for i, spec in enumerate(block["arrows"]):
            kind = spec.get("kind", "call")
            source = spec["over"] if kind == "note" else spec["from"]
            target = spec["over"] if kind == "note" else spec["to"]
            observed = spec.get("observed", {})
            if isinstance(observed, str):
                observed = {"label": observed}
            after = list(spec.get("after", [])) + (list(block.get("after", [])) if i == 0 else [])
            for ref in after:
                if ref not in ids:
                    raise ConformanceError(f"{path}: arrow {spec.get('text')!r} comes after unknown id {ref!r}")
            arrow = Arrow(number=len(arrows) + 1, lane=lane, source=source, target=target, text=spec["text"],
                          kind=kind, id=spec.get("id"), after=after, observed=observed,
                          implied=spec.get("implied"), unobservable=spec.get("unobservable"),
                          loop=block.get("loop"), style=spec.get("arrow", "-->>"))
            if arrow.id:
                ids.add(arrow.id)
            arrows.append(arrow)
    return tuple(arrows)


def check(events, arrows=None) -> Report:
    """Match the documented arrows against the observed events (ordered by seq)."""
    arrows = load_sequence() if arrows is None else arrows
    events = sorted(events, key=lambda e: e.seq)
    lane_at: dict = {}          # lane -> (index of its last matched event, the arrow matched there)
    by_id: dict = {}            # arrow id -> (index, arrow), for `after`
    outcomes, previous = [], {}
    for arrow in arrows:
        if arrow.unobservable:
            outcomes.append(Outcome(arrow, "unchecked", reason=arrow.unobservable))
            continue
        if arrow.implied:
            before = previous.get(arrow.lane)
            if before is not None and before.status == "ok":
                outcomes.append(Outcome(arrow, "implied", before.event, arrow.implied))
            else:
                outcomes.append(Outcome(arrow, "unchecked", reason=f"{arrow.implied}, which was not observed"))
            continue
        bound, because = lane_at.get(arrow.lane, (-1, None))
        for ref in arrow.after:
            if ref in by_id and by_id[ref][0] > bound:
                bound, because = by_id[ref]
        found = next((i for i in range(bound + 1, len(events)) if arrow.matches(events[i])), None)
        if found is not None:
            outcome = Outcome(arrow, "ok", events[found])
            lane_at[arrow.lane] = (found, arrow)
            if arrow.id:
                by_id[arrow.id] = (found, arrow)
        else:
            earlier = [events[i] for i in range(0, bound + 1) if arrow.matches(events[i])]
            if earlier and because is not None:
                outcome = Outcome(arrow, "out of order", earlier[-1],
                                  f"observed only at event {earlier[-1].seq}, before {because.describe()} "
                                  f"(event {events[bound].seq}), which it must follow", cause=because)
            else:
                outcome = Outcome(arrow, "missing", reason="never observed" if not earlier else
                                  f"observed only at event {earlier[-1].seq}")
        outcomes.append(outcome)
        previous[arrow.lane] = outcome
    return Report(outcomes)
