"""The diagram page: the seed's participants and the run's arrows, drawn offline by an inlined Mermaid."""

import html as markup
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.diagram import MERMAID_JS, PARTICIPANTS, drawn, label_text, to_mermaid, write_diagram
from harness.runner import run_scenario
from harness.scenario import load
from server.observe import Event

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = ROOT / "scenarios" / "documented_sequence.scenario.yaml"
#: Arrows of the seed, in the words the service records them, that the page of the documented run must draw.
SEED_ARROWS = [
    ("Client", "API Server", "POST /v2/definitions"),
    ("API Server", "AWS Batch", "RegisterJobDefinition"),
    ("API Server", "AWS SFN", "CreateStateMachine"),
    ("User", "API Server", "POST /v2/jobs/requests"),
    ("API Server", "AWS Queue", "Send Request Message"),
    ("AWS Queue", "Queue", "Receive Message"),
    ("Queue", "AWS SFN", "StartExecution"),
    ("Queue", "DynamoDB Connection", "Add Job Resource"),
    ("Queue", "DynamoDB Connection", "Update Request Resource With Job URN"),
    ("Activity Poller", "AWS SFN", "GetActivityTask"),
    ("Activity Poller", "AWS Batch", "SubmitJob"),
    ("Activity Poller", "AWS ElastiCache", "Cache Worker Info Resource"),
    ("Worker", "Worker Manager", "POST /v2/workers/start"),
    ("Worker Manager", "AWS ElastiCache", "Get Worker Info From Cache"),
    ("Worker", "Worker Helper", "POST /v2/workers/files"),
    ("Worker Helper", "AWS S3", "PutObject"),
    ("Worker", "Worker Manager", "POST /v2/worker/results"),
    ("Worker", "Worker Manager", "POST /v2/worker/finish"),
    ("Worker Manager", "AWS Queue", "Send Update Job Message"),
    ("Queue", "AWS Queue", "Delete Update Job Message"),
    ("API Server", "AWS S3", "Presign GET"),
]


@pytest.fixture(scope="module")
def page(running, tmp_path_factory):
    """The diagram page of one run of the documented scenario: (path, html, mermaid text)."""
    result = run_scenario(load(DOCUMENTED)[0], running)
    assert result.passed, result.format_failure()
    path = tmp_path_factory.mktemp("diagram") / "documented.html"
    write_diagram(path, [result])
    return path, path.read_text(encoding="utf-8"), to_mermaid(drawn(result.events))


def aliases(mermaid: str) -> dict:
    return {name: alias for alias, name in re.findall(r"^  participant (p\d+) as (.+)$", mermaid, re.M)}


def test_the_page_has_the_seed_participants_in_the_seed_order(page):
    _, html, mermaid = page
    names = list(aliases(mermaid))
    assert names[:len(PARTICIPANTS)] == list(PARTICIPANTS)
    for name in PARTICIPANTS:
        assert f" as {name}\n" in html


def test_the_page_draws_the_arrows_of_the_seed(page):
    _, html, mermaid = page
    alias = aliases(mermaid)
    for source, target, label in SEED_ARROWS:
        line = f"  {alias[source]}->>{alias[target]}: {label}"
        assert line in mermaid and markup.escape(line, quote=False) in html, line
    for note in ("Process Job Request", "Create Job Resource", "Create New Worker Info", "Job Status COMPLETED",
                 "Note down Job URN", "Access Intermediate Results"):
        assert re.search(rf"Note over p\d+: {note}\n", mermaid), note
    assert re.search(rf"{alias['API Server']}-->>{alias['User']}: 200", mermaid)


def test_the_page_renders_offline(page):
    _, html, _ = page
    js = Path(MERMAID_JS).read_text(encoding="utf-8")
    assert js[:2000] in html, "mermaid.min.js is inlined"
    assert "mermaid.initialize" in html
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"<link\b", html)
    outside_scripts = re.sub(r"<script>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"https?://", outside_scripts)


def test_labels_are_made_safe_for_mermaid_and_repeats_are_counted():
    assert label_text("a;b#c") == "a#59;b#35;c"
    assert label_text("GET /v2/jobs/urn:jobservice:job:" + "ab" * 16) == "GET /v2/jobs/urn:jobservice:job:abababab…"
    events = [Event("Queue", "AWS SFN", "DescribeExecution", seq=i) for i in range(3)]
    events.append(Event("Queue", "Queue", "Job Status COMPLETED", kind="note", seq=4))
    events.append(Event("Someone New", "Queue", "hello", seq=5))
    text = to_mermaid(events)
    alias = aliases(text)
    assert f"  {alias['Queue']}->>{alias['AWS SFN']}: DescribeExecution (×3)" in text
    assert f"  Note over {alias['Queue']}: Job Status COMPLETED" in text
    assert list(alias)[-1] == "Someone New"


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium (apt-get install chromium)")
def test_headless_chromium_draws_the_sequence(page, tmp_path):
    path, _, mermaid = page
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=20000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = re.sub(r"<script>.*?</script>", "", done.stdout, flags=re.S)
    assert 'aria-roledescription="sequence"' in dom, done.stderr[-2000:]
    assert "Syntax error" not in dom
    drawn_participants = set(re.findall(r'class="actor actor-box"[^>]*><tspan[^>]*>([^<]+)<', dom))
    assert set(PARTICIPANTS) <= drawn_participants
    messages = dom.count('class="messageText"')
    assert messages == len(re.findall(r"^  p\d+-{1,2}>>p\d+: ", mermaid, re.M))
    assert "POST /v2/workers/start" in dom and "Send Update Job Message" in dom
