"""Conformance: the documented sequence as data, checked against what a run of it observes."""

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from harness.conformance import check, load_sequence, plain
from harness.runner import run_scenario
from harness.scenario import load, load_dict

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = ROOT / "scenarios" / "documented_sequence.scenario.yaml"
#: The seed diagram the service implements, kept in the docs (a copy of the shared seed).
DIAGRAM = ROOT / "docs" / "sequence-diagram.html"
SEED_NAME = "000_690370c4ec18dcd0.txt"
SEED_CANDIDATES = [os.environ.get("JOBSERVICE_SEED", ""), ROOT.parent / "shared" / "seed" / SEED_NAME,
                   Path("/work/shared/seed") / SEED_NAME]


@pytest.fixture(scope="module")
def documented(running):
    """One run of the documented scenario (its Result), shared by this module's tests."""
    result = run_scenario(load(DOCUMENTED)[0], running)
    assert result.passed, result.format_failure()
    return result


def seed_items(text: str) -> list:
    """(kind, source, target, text) of every arrow and non-blank note of the seed's Mermaid, in order."""
    body = text.split("sequenceDiagram", 1)[1].split("</div>", 1)[0]
    items = []
    for line in body.splitlines():
        line = line.strip()
        note = re.match(r"^Note over ([^:]+):\s*(.*)$", line)
        if note:
            if note.group(2).strip():
                items.append(("note", note.group(1).strip(), note.group(1).strip(), plain(note.group(2))))
            continue
        arrow = re.match(r"^(.+?)\s*(?:-->>|-->|->>|->)\s*[+-]?\s*(.+?)\s*:\s*(.*)$", line)
        if arrow:
            items.append(("arrow", arrow.group(1).strip(), arrow.group(2).strip(), plain(arrow.group(3))))
    return items


def test_the_data_is_the_diagram_of_the_docs_arrow_for_arrow():
    data = [("note" if a.kind == "note" else "arrow", a.source, a.target, plain(a.text)) for a in load_sequence()]
    assert data == seed_items(DIAGRAM.read_text())


def test_the_diagram_of_the_docs_is_the_seed_byte_for_byte():
    seed = next((Path(p) for p in SEED_CANDIDATES if p and Path(p).is_file()), None)
    if seed is None:
        pytest.skip("the shared seed diagram is not next to the repository (set JOBSERVICE_SEED)")
    assert DIAGRAM.read_bytes() == seed.read_bytes(), f"{DIAGRAM} differs from {seed}: copy the seed over it"


def test_the_data_is_complete_and_consistent():
    arrows = load_sequence()
    assert len(arrows) == 123
    assert {a.lane for a in arrows} == {"client", "user", "queue", "poller", "worker", "first-update", "last-update",
                                           "queue-status"}
    assert [a.number for a in arrows] == list(range(1, 124))
    for arrow in arrows:
        label = arrow.observed.get("label", "")
        if label.startswith("re:"):
            re.compile(label[3:])
    assert sum(bool(a.unobservable) for a in arrows) == 3  # the Worker's own notes


def test_the_data_reads_the_same_with_libyaml_and_pure_python():
    from harness import conformance

    text = Path(conformance.DATA).read_text(encoding="utf-8")
    assert yaml.load(text, Loader=conformance.LOADER) == yaml.load(text, Loader=yaml.SafeLoader)


def test_the_documented_run_conforms(documented):
    report = documented.conformance
    assert report is not None and report.ok, report.format()
    assert report.count("ok") + report.count("implied") == 120
    assert documented.steps[-1].name == "conformance with the documented sequence" and documented.steps[-1].ok
    by_lane = {}
    for outcome in report.outcomes:
        if outcome.status == "ok":
            by_lane.setdefault(outcome.arrow.lane, []).append(outcome.event.seq)
    for lane, seqs in by_lane.items():
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), lane


def test_a_missing_interaction_is_named(documented):
    events = [e for e in documented.events if e.label != "POST /v2/worker/results"]
    report = check(events)
    assert not report.ok
    missing = [o.arrow.describe() for o in report.problems if o.status == "missing"]
    assert missing == ["#69 Worker -->> Worker Manager: POST /v2/worker/results"]
    assert "missing      #69 Worker -->> Worker Manager: POST /v2/worker/results" in report.format()


def test_an_interaction_out_of_order_is_named(documented):
    events = copy.deepcopy(documented.events)
    # The Queue starts the execution only after the worker has started: against the diagram.
    start = next(e for e in events if e.label == "StartExecution")
    worker_start = next(e for e in events if e.label == "POST /v2/workers/start")
    start.seq = worker_start.seq + 0.5
    report = check(events)
    assert not report.ok
    first = report.problems[0]
    assert (first.status, first.arrow.describe()) == ("out of order", "#22 Note over Queue: Create Job Resource")
    assert "each observed only before #20 Queue -->> AWS SFN: Start Execution" in report.format()


def test_removing_a_step_from_the_scenario_fails_the_check_naming_the_arrow(running):
    data = yaml.safe_load(DOCUMENTED.read_text())
    data["steps"] = [s for s in data["steps"] if s.get("name") != "User reads the intermediate result"]
    result = run_scenario(load_dict(data, str(DOCUMENTED)), running)
    assert not result.passed
    assert result.failure.step == "conformance with the documented sequence"
    text = result.failure.message
    assert "out of order #100 Worker -->> Worker Manager: POST /v2/worker/finish" in text
    assert "before #99 AWS S3 -->> User: Result File, Presigned URL" in text
    assert "observed sequence" in result.format_failure()
