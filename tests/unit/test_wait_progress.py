"""How `harness run` shows a wait: a live line on a terminal, a line every PROGRESS_SECONDS otherwise."""

import io

from harness.cli_run import PROGRESS_SECONDS, Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_wait_says_where_it_is_every_period_and_a_short_one_says_nothing():
    stream = io.StringIO()
    progress = Progress(stream)
    for seconds in (0.0, 1.0, PROGRESS_SECONDS - 0.1):
        progress("urn:jobservice:job:a", "RUNNING", seconds)
    assert stream.getvalue() == ""
    for seconds in (PROGRESS_SECONDS + 0.5, PROGRESS_SECONDS + 1, 2 * PROGRESS_SECONDS + 1):
        progress("urn:jobservice:job:a", "RUNNING", seconds)
    assert stream.getvalue().splitlines() == [
        f"  still waiting: urn:jobservice:job:a RUNNING after {PROGRESS_SECONDS + 0.5:.0f}s",
        f"  still waiting: urn:jobservice:job:a RUNNING after {2 * PROGRESS_SECONDS + 1:.0f}s"]
    progress("urn:jobservice:job:b", "RUNNING", 1.0)  # another wait starts its own period
    assert len(stream.getvalue().splitlines()) == 2


def test_on_a_terminal_one_line_is_rewritten_and_cleared():
    stream = Terminal()
    progress = Progress(stream)
    progress("urn:jobservice:job:a", "RUNNING", 0.5)
    progress("urn:jobservice:job:a", "RUNNING", 1.25)
    progress.clear()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r") == 3 and text.endswith("\r\033[K")
    assert "waiting: urn:jobservice:job:a RUNNING (1.2s)" in text
