"""The README's commands and every relative link of the README and docs/ point at something that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: Pages that other pieces of work write (performance, runs, security, limits, fidelity): linked before they land.
WRITTEN_ELSEWHERE = {"docs/explanation/performance.md", "docs/explanation/runs.md", "docs/explanation/security.md",
                     "docs/reference/limits.md", "docs/explanation/fidelity.md"}


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, mailto:
            path = (page.parent / target).resolve()
            if not path.exists() and str(path.relative_to(ROOT)) not in WRITTEN_ELSEWHERE:
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_quick_start_names_files_that_exist():
    first = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert ".venv/bin/python -m pytest" in first
    scenario = re.search(r"harness run (\S+)", first).group(1)
    assert (ROOT / scenario).is_file() and scenario.endswith(".scenario.yaml")
