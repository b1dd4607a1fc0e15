"""Draw observed runs as Mermaid sequence diagrams in one HTML page that renders offline.

The page looks like the seed diagram (docs/sequence-diagram.html): the same
participants in the same order, `Note over` for notes. mermaid.min.js is
inlined from harness/static/, so a browser needs no network to draw it.
"""

import html
import os
import re

from .errors import HarnessError

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MERMAID_JS = os.path.join(STATIC, "mermaid.min.js")
#: The seed's participants, in its order.
PARTICIPANTS = ("User", "Client", "API Server", "Queue", "DynamoDB Connection", "Activity Poller",
                "Worker Manager", "Worker Helper", "Worker", "AWS SFN", "AWS Batch", "AWS DynamoDB",
                "AWS Queue", "AWS S3", "AWS ElastiCache")
_HEX_ID = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{24}\b")
#: Housekeeping of the background loops (finding work, watching Batch jobs): in the trace, not the drawing.
HOUSEKEEPING = re.compile(r"^(List .*|Query|DescribeJobs)$")


def drawn(events) -> list:
    """The events worth drawing: every interaction but the loops' housekeeping."""
    return [e for e in events if not HOUSEKEEPING.match(e.label)]


class DiagramError(HarnessError):
    """The diagram cannot be drawn (mermaid.min.js missing)."""


def label_text(text: str) -> str:
    """A message as Mermaid takes it: ids shortened, `;` and `#` (Mermaid syntax) as entity codes."""
    text = _HEX_ID.sub(r"\1…", str(text))
    text = re.sub(r"[#;]", lambda m: f"#{ord(m.group())};", text)
    return " ".join(text.split()) or " "


def to_mermaid(events, collapse: bool = True) -> str:
    """The events as a Mermaid sequenceDiagram; consecutive identical arrows are drawn once with a count."""
    names = list(PARTICIPANTS)
    for event in events:
        for name in (event.source, event.target):
            if name not in names:
                names.append(name)
    alias = {name: f"p{i}" for i, name in enumerate(names)}
    lines = ["sequenceDiagram"]
    lines.extend(f"  participant {alias[n]} as {label_text(n)}" for n in names)
    rows = []
    for event in events:
        key = (event.kind, event.source, event.target, event.label, bool((event.details or {}).get("fault")))
        if collapse and rows and rows[-1][0] == key:
            rows[-1][1] += 1
        else:
            rows.append([key, 1])
    for (kind, source, target, label, fault), count in rows:
        text = label_text(label) + (f" (×{count})" if count > 1 else "")
        if fault:  # an injected fault: a note on a red background
            lines += ["  rect rgb(255, 215, 215)", f"  Note over {alias[source]}: ⚡ {text}", "  end"]
        elif kind == "note":
            lines.append(f"  Note over {alias[source]}: {text}")
        elif kind == "return":
            lines.append(f"  {alias[source]}-->>{alias[target]}: {text}")
        else:
            lines.append(f"  {alias[source]}->>{alias[target]}: {text}")
    return "\n".join(lines) + "\n"


def _mermaid_js() -> str:
    try:
        with open(MERMAID_JS, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise DiagramError(f"cannot read {MERMAID_JS}: {exc.strerror or exc}") from None


def render_html(sections, title: str = "Job Service: observed sequence") -> str:
    """One page with a diagram per (heading, summary, mermaid text) section, mermaid inlined."""
    parts = []
    for heading, summary, text in sections:
        parts.append(f"<section>\n<h2>{html.escape(heading)}</h2>\n<p>{html.escape(summary)}</p>\n"
                     f'<pre class="mermaid">\n{html.escape(text, quote=False)}</pre>\n</section>')
    script = _mermaid_js().replace("</script", "<\\/script")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)}</title>
  <style>
    body {{ font-family: sans-serif; margin: 1em 2em; }}
    pre.mermaid {{ font-family: inherit; }}
    g rect .actor {{ stroke: #ccf; fill: #ec0000; }}
  </style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{chr(10).join(parts)}
<script>{script}</script>
<script>mermaid.initialize({{startOnLoad: true, maxTextSize: 10000000, maxEdges: 100000,
  sequence: {{useMaxWidth: false}}}});</script>
</body>
</html>
"""


def write_diagram(path, results) -> None:
    """Write the observed sequence of each scenario result to one HTML page."""
    sections = []
    for r in results:
        verdict = "passed" if r.passed else "FAILED"
        summary = f"{r.scenario.path}: {verdict} in {r.timing()}, {len(r.events)} events"
        if r.conformance is not None:
            summary += f"; conformance: {r.conformance.summary()}"
        shown = drawn(r.events)
        if len(shown) < len(r.events):
            summary += f" ({len(r.events) - len(shown)} housekeeping events of the loops not drawn)"
        sections.append((r.scenario.name, summary, to_mermaid(shown)))
    page = render_html(sections)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
