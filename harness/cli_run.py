"""`harness run PATH...`: replay scenarios against a service it starts (or one at --url), say pass or fail.

Exit codes: 0 every expectation held, 1 one did not, 2 a bad scenario or bad
usage (nothing ran), 3 the service could not start.
"""

import logging
import sys
import time
import xml.etree.ElementTree as ET

import click

from . import startup
from .options import _target_options, clock_option
from .errors import EXIT_FAILED, ServiceStartError, UsageError
from .scenario import DEFAULT_PATTERNS, load

#: How often a wait says where it is when the output is not a terminal.
PROGRESS_SECONDS = 10.0


def select(scenarios, expression: str | None) -> list:
    """The scenarios whose name contains `expression` (case-insensitive); `not NAME` excludes."""
    if not expression:
        return list(scenarios)
    text = expression.strip()
    negate = text.lower().startswith("not ")
    word = (text[4:] if negate else text).strip().lower()
    return [s for s in scenarios if (word in s.name.lower()) != negate]


def write_junit(path, results, skipped, seconds) -> None:
    """Write a JUnit XML report: one testcase per scenario, its failure with expected, actual and sequence."""
    failures = sum(not r.passed for r in results)
    suite = ET.Element("testsuite", name="harness run", tests=str(len(results) + len(skipped)),
                       failures=str(failures), errors="0", skipped=str(len(skipped)), time=f"{seconds:.3f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.scenario.path, name=r.scenario.name,
                             time=f"{r.seconds:.3f}")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.reason())
            failure.text = r.format_failure()
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"{'ok  ' if s.ok else 'FAIL'} {s.name} ({s.seconds:.2f}s) {s.detail}" for s in r.steps)
    for s in skipped:
        case = ET.SubElement(suite, "testcase", classname=s.path, name=s.name, time="0")
        ET.SubElement(case, "skipped", message="not run: an earlier scenario failed (use --keep-going)")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def run_all(scenarios, running, keep_going: bool, say, full: bool = False, progress=None,
            clock: str | None = None) -> tuple[list, list]:
    """Run scenarios in order against a started service; stop at the first failure unless keep_going."""
    from .runner import run_scenario

    results = []
    for i, scenario in enumerate(scenarios):
        result = run_scenario(scenario, running, say=say, progress=progress, clock=clock)
        results.append(result)
        if not result.passed:
            say(result.format_failure(full=full))  # the one place a failure is printed
            if not keep_going:
                return results, scenarios[i + 1:]
    return results, []


class Progress:
    """A wait's status: a live line on a terminal, a line every PROGRESS_SECONDS otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.what, self.said = None, 0.0

    def __call__(self, what, status, seconds) -> None:
        if self.live:
            self.stream.write(f"\r\033[K  waiting: {what} {status} ({seconds:.1f}s)")
            self.stream.flush()
            return
        if what != self.what:
            self.what, self.said = what, 0.0
        if seconds - self.said >= PROGRESS_SECONDS:
            self.stream.write(f"  still waiting: {what} {status} after {seconds:.0f}s\n")
            self.said = seconds

    def clear(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


RUN_HELP = """Replay the scenarios in PATH... and say pass or fail.

A PATH is a scenario file (any name), or a directory searched recursively for
scenario files (*.scenario.yaml; change with --pattern).

\b
Examples:
  harness run scenarios/                          every scenario of the folder
  harness run scenarios/crash.scenario.yaml -k caught
  harness run --list scenarios/                   what would run, without running
  harness run --url http://127.0.0.1:8080 scenarios/   against a running `harness serve`
  harness run scenarios/ --junit-xml report.xml --diagram run.html
  harness run scenarios/documented_sequence.scenario.yaml --faults throttle.yaml

\b
Exit codes:
  0  every expectation held
  1  a scenario failed (the cause is printed first)
  2  a bad scenario or bad usage: nothing ran
  3  the service could not start (or --url does not answer)
"""


@click.command("run", help=RUN_HELP, short_help="Replay scenarios and say pass or fail.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--list", "list_only", is_flag=True, help="List the scenarios found (file and name), run nothing.")
@click.option("--url", envvar="HARNESS_URL", metavar="URL",
              help="Run against the Job Service at URL (already running, any target or roles) instead of "
                   "starting one. Conformance is not checked: its arrows are recorded in that process.")
@click.option("--api-key", envvar="HARNESS_API_KEY", help="The client API key of the service at --url.")
@click.option("--pattern", "patterns", multiple=True, metavar="GLOB", envvar="HARNESS_SCENARIO_FILES",
              help=f"What a scenario file is in a directory (repeat for several; default "
                   f"{', '.join(DEFAULT_PATTERNS)}). A pattern with '/' matches the end of the path.")
@click.option("--keep-going", is_flag=True, help="Run every scenario even after one fails.")
@click.option("--full-sequence", is_flag=True,
              help="With a failure, show every observed event (default: those around the failure, "
                   "without polling and housekeeping).")
@click.option("-k", "expression", metavar="NAME", help="Run only scenarios whose name contains NAME "
              "(case-insensitive); 'not NAME' runs the others.")
@click.option("--junit-xml", type=click.Path(dir_okay=False), help="Write a JUnit XML report to this file.")
@click.option("--diagram", type=click.Path(dir_okay=False),
              help="Write the observed sequence as a Mermaid diagram page (renders offline) to this .html file.")
@click.option("--trace", type=click.Path(dir_okay=False), help="Write every observed event to this .json file.")
@click.option("--faults", "faults_file", type=click.Path(dir_okay=False), metavar="FILE.yaml",
              help="Apply the faults of this file to every scenario run (docs/how-to/faults.md).")
@click.option("--worker-logs", type=click.Path(file_okay=False),
              help="Write each local worker's output to DIR/<batch job id>.log instead of this terminal.")
@clock_option("The clock every scenario runs on, over their own `clock:`: real, skip (jump to the next timer "
              "when nothing happens) or scale=N. Virtual clocks need the embedded target.")
@_target_options
def run(paths, list_only, url, api_key, patterns, keep_going, full_sequence, expression, junit_xml, diagram, trace,
        faults_file, worker_logs, clock, target, endpoint_url, redis_url, prefix, region):
    patterns = tuple(patterns) or DEFAULT_PATTERNS
    scenarios = [s for path in paths for s in load(path, patterns)]  # a ScenarioError exits 2 (harness.cli)
    chosen = select(scenarios, expression)
    if not chosen:
        raise UsageError(f"no scenario matches -k {expression!r} (of {len(scenarios)})")
    if faults_file:
        from .faults import load_file

        extra = load_file(faults_file)  # a FaultSpecError exits 2, as a bad scenario does
        for s in chosen:
            s.faults = list(s.faults) + extra
    if list_only:
        for s in chosen:
            click.echo(f"{s.path}:{s.line}: {s.name}")
        click.echo(f"{len(chosen)} scenario(s)" + (f" of {len(scenarios)} selected by -k" if expression else ""))
        return
    from .clock import check_target
    from .service import RemoteService, RunningService

    for s in chosen if not url else ():  # a virtual clock where time is the wall's: refused before anything starts
        check_target(target, clock or s.clock)

    if not logging.getLogger().isEnabledFor(logging.INFO):
        # moto's ASL interpreter logs every failed Task state at ERROR: in a scenario that is the expected news.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    started = time.monotonic()
    say = lambda text: click.echo(text, err=True)  # noqa: E731
    if url:
        running = RemoteService(url, api_keys=(api_key,) if api_key else (), say=say)
        say(f"checking the Job Service at {url}...")
        if trace or diagram:
            say("note: --trace and --diagram stay empty with --url: the service records its arrows in its own process")
    else:
        running = RunningService(target=target, endpoint_url=endpoint_url, redis_url=redis_url, prefix=prefix,
                                 region=region, worker_output=worker_logs, say=say)
        say(f"starting the Job Service on the {target} target (emulators, loops, API)...")
    try:
        running.start()
    except ServiceStartError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reason the service cannot start is reported the same way
        raise ServiceStartError(f"the service could not start on the {target} target: "
                                f"{type(exc).__name__}: {exc}") from exc
    startup.resume()  # the `harness` command paused the collector for its start-up (RunningService resumed it)
    where = url or target
    click.echo(f"service ready ({where}) in {time.monotonic() - started:.2f}s; "
               f"{len(chosen)} scenario(s)" + (f" of {len(scenarios)} selected by -k" if expression else ""))
    progress = Progress()
    try:
        results, skipped = run_all(chosen, running, keep_going, _echo_clearing(progress), full_sequence, progress,
                                   clock)
    finally:
        progress.clear()
        running.stop(grace=0)  # the process exits next: its daemon loops end with it
    seconds = time.monotonic() - started
    _write_reports(results, skipped, seconds, junit_xml, diagram, trace)
    failed = [r for r in results if not r.passed]
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    if skipped:
        summary += f", {len(skipped)} not run"
    click.echo(f"{'FAILED' if failed else 'PASSED'}: {summary} in {seconds:.2f}s")
    for r in failed:
        click.echo(f"  failed: {r.scenario.name} ({r.scenario.path}): {r.reason()}")
    if failed:
        raise SystemExit(EXIT_FAILED)


def _echo_clearing(progress: Progress):
    """click.echo that first clears a live status line."""
    def echo(text):
        progress.clear()
        click.echo(text)

    return echo


def _write_reports(results, skipped, seconds, junit_xml, diagram, trace) -> None:
    if junit_xml:
        write_junit(junit_xml, results, skipped, seconds)
        click.echo(f"JUnit XML: {junit_xml}")
    if trace:
        from .trace import write_trace

        write_trace(trace, results)
        click.echo(f"trace: {trace}")
    if diagram:
        from .diagram import write_diagram

        write_diagram(diagram, results)
        click.echo(f"diagram: {diagram}")
