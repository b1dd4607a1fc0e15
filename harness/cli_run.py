"""`harness run PATH...`: replay scenarios against a service it starts, say pass or fail.

Exit codes: 0 every expectation held, 1 one did not, 2 a bad scenario or bad
usage (nothing ran), 3 the service could not start.
"""

import logging
import time
import xml.etree.ElementTree as ET

import click

from .cli import _target_options
from .scenario import ScenarioError, load

EXIT_FAILED, EXIT_USAGE, EXIT_NO_SERVICE = 1, 2, 3


class _Exit(click.ClickException):
    """Stop with a message and a given exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.exit_code = code


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
            failure = ET.SubElement(case, "failure", message=r.failure.message.splitlines()[0] if r.failure else "")
            failure.text = r.format_failure()
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"{'ok  ' if s.ok else 'FAIL'} {s.name} ({s.seconds:.2f}s) {s.detail}" for s in r.steps)
    for s in skipped:
        case = ET.SubElement(suite, "testcase", classname=s.path, name=s.name, time="0")
        ET.SubElement(case, "skipped", message="not run: an earlier scenario failed (use --keep-going)")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def run_all(scenarios, running, keep_going: bool, say) -> tuple[list, list]:
    """Run scenarios in order against a started service; stop at the first failure unless keep_going."""
    from .runner import run_scenario

    results = []
    for i, scenario in enumerate(scenarios):
        result = run_scenario(scenario, running, say=say)
        results.append(result)
        if not result.passed:
            say(result.format_failure())
            if not keep_going:
                return results, scenarios[i + 1:]
    return results, []


@click.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--keep-going", is_flag=True, help="Run every scenario even after one fails.")
@click.option("-k", "expression", metavar="NAME", help="Run only scenarios whose name contains NAME "
              "(case-insensitive); 'not NAME' runs the others.")
@click.option("--junit-xml", type=click.Path(dir_okay=False), help="Write a JUnit XML report to this file.")
@click.option("--diagram", type=click.Path(dir_okay=False),
              help="Write the observed sequence as a Mermaid diagram page (renders offline) to this .html file.")
@click.option("--trace", type=click.Path(dir_okay=False), help="Write every observed event to this .json file.")
@click.option("--worker-logs", type=click.Path(file_okay=False),
              help="Write each local worker's output to DIR/<batch job id>.log instead of this terminal.")
@_target_options
def run(paths, keep_going, expression, junit_xml, diagram, trace, worker_logs, target, endpoint_url, redis_url,
        prefix, region):
    """Replay the scenarios in PATH... (files, or directories of *.yaml) and say pass or fail."""
    try:
        scenarios = [s for path in paths for s in load(path)]
    except ScenarioError as exc:
        raise _Exit(f"bad scenario: {exc}", EXIT_USAGE) from None
    chosen = select(scenarios, expression)
    if not chosen:
        raise _Exit(f"no scenario matches -k {expression!r} (of {len(scenarios)})", EXIT_USAGE)
    from .service import RunningService

    if not logging.getLogger().isEnabledFor(logging.INFO):
        # moto's ASL interpreter logs every failed Task state at ERROR: in a scenario that is the expected news.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    started = time.monotonic()
    running = RunningService(target=target, endpoint_url=endpoint_url, redis_url=redis_url, prefix=prefix,
                             region=region, worker_output=worker_logs, say=lambda t: click.echo(t, err=True))
    try:
        running.start()
    except Exception as exc:  # noqa: BLE001 - any reason the service cannot start is reported the same way
        raise _Exit(f"the service could not start on the {target} target: {exc}", EXIT_NO_SERVICE) from exc
    click.echo(f"service ready ({target}) in {time.monotonic() - started:.2f}s; "
               f"{len(chosen)} scenario(s)" + (f" of {len(scenarios)} selected by -k" if expression else ""))
    try:
        results, skipped = run_all(chosen, running, keep_going, click.echo)
    finally:
        running.stop()
    seconds = time.monotonic() - started
    _write_reports(results, skipped, seconds, junit_xml, diagram, trace)
    failed = [r for r in results if not r.passed]
    summary = f"{len(results) - len(failed)} passed, {len(failed)} failed"
    if skipped:
        summary += f", {len(skipped)} not run"
    click.echo(f"{'FAILED' if failed else 'PASSED'}: {summary} in {seconds:.2f}s")
    for r in failed:
        click.echo(f"  failed: {r.scenario.name} ({r.scenario.path}) at {r.failure.step}")
    if failed:
        raise SystemExit(EXIT_FAILED)


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
