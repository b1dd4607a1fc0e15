"""Run a scenario against a started service: register, request, wait, check; say what happened.

The runner knows nothing about pytest or click: the CLI and the pytest plugin
both call `run_scenario(scenario, service)` and read its Result.
"""

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from server import observe
from server.clock import CLOCK, parse_iso

from .errors import HarnessError
from .client import JOB_END_STATUSES, Client, JobServiceError, wait_changed
from .clock import ServiceClock, in_process
from .failures import around_failure, asl_steps, job_summary, request_summary
from .scenario import TemplateError, _worker_ref, bind_asl, lookup, render
from .trace import Trace, format_event

#: The scripted and callable worker programs, installed with the package.
WORKERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers")
REQUEST_END_STATUSES = ("FULFILLED", "FAILED")
#: Pause between two reads of a service that answers a long poll at once with nothing new.
POLL_SECONDS = 0.02
#: How long the conformance check waits for interactions that end after the last step (a message's delete).
CONFORMANCE_SETTLE_SECONDS = 3.0


@dataclass
class StepResult:
    """How one step went."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""
    index: int = 0


@dataclass
class StepFailure:
    """The first expectation that did not hold."""

    step: str
    expected: object
    actual: object
    message: str
    #: Why it happened, cause first: the failed runs with their error, exit code and stderr.
    cause: str = ""


@dataclass
class Result:
    """The outcome of one scenario run, with every event observed during it."""

    scenario: object
    passed: bool = False
    steps: list = field(default_factory=list)
    failure: StepFailure | None = None
    events: list = field(default_factory=list)
    seconds: float = 0.0
    conformance: object = None
    #: The scenario's variables at the end (`as:` and `capture:` values, registered URNs).
    variables: dict = field(default_factory=dict)
    #: The clock it ran on, and the virtual seconds that passed (None: the wall clock's, or not known here).
    clock: str = "real"
    virtual_seconds: float | None = None
    #: What kept a skipping clock from jumping when the scenario failed (the failure report says it).
    clock_holders: list = field(default_factory=list)

    def timing(self) -> str:
        """`3.17s`, or `3.17s (4881 s virtual, clock skip)` where the clock was virtual."""
        if self.virtual_seconds is None:
            return f"{self.seconds:.2f}s"
        return f"{self.seconds:.2f}s ({self.virtual_seconds:.0f} s virtual, clock {self.clock})"

    def reason(self) -> str:
        """One line: the cause of the failure (pytest's short summary, JUnit's message)."""
        if self.failure is None:
            return ""
        f = self.failure
        return f.cause.split("\n", 1)[0] if f.cause else f.message.split(": ", 1)[-1]

    def format_failure(self, full: bool = False) -> str:
        """The cause first (failed runs, exit codes, stderr), then the step's expectation, then the events.

        The events leave out the user's polling and the loops' housekeeping and show
        those around the failure; `full` shows every event instead.
        """
        if self.failure is None:
            return ""
        f = self.failure
        lines = [self.reason(), f"  scenario {self.scenario.name!r} ({self.scenario.path}) failed at step {f.step!r}"]
        if self.virtual_seconds is not None:
            lines.append(f"  clock {self.clock}: the times of the service are virtual "
                         f"({self.virtual_seconds:.0f} s passed in {self.seconds:.2f}s of wall time)")
            if self.clock_holders:
                lines.append("  the clock could not skip at the failure; not idle: " + "; ".join(self.clock_holders))
        if f.cause:
            lines.extend(f.cause.splitlines()[1:])
        lines += [f"  {f.message}", f"  expected: {_show(f.expected)}", f"  actual:   {_show(f.actual)}"]
        lines += fault_lines(self.events)
        events = self.events
        if events:
            shown, cut = (events, 0) if full else around_failure(events)
            how = "every event" if full else f"{len(shown)} of {len(events)} events, without polling and housekeeping"
            lines.append(f"  observed sequence ({how}; {'' if full else 'all: --full-sequence or pytest -vv; '}"
                         f"to a file: --trace):")
            lines.extend("  " + format_event(e) for e in shown)
        return "\n".join(lines)


class Failed(HarnessError):
    """A step's expectation did not hold."""

    def __init__(self, message, expected=None, actual=None, cause=""):
        super().__init__(message)
        self.message, self.expected, self.actual, self.cause = message, expected, actual, cause


def run_scenario(scenario, service, say=None, progress=None, clock=None) -> Result:
    """Run one scenario against `service` (a started RunningService) and return its Result.

    `progress(what, status, seconds)` hears about each wait while it lasts (a live status line).
    `clock` (real, skip, scale=N) overrides the scenario's own `clock:`.
    """
    say = say or (lambda text: None)
    run = _Run(scenario, service, say)
    run.clock_mode = clock or scenario.clock
    run.progress = progress or (lambda what, status, seconds: None)
    return run.execute()


class _Run:
    """The state of one scenario run: names, variables, signals, the trace."""

    def __init__(self, scenario, service, say):
        self.scenario, self.service, self.say = scenario, service, say
        keys = getattr(service, "api_keys", ()) or ()
        self.client = Client(service.url, api_key=keys[0] if keys else None)
        self.suffix = uuid.uuid4().hex[:8]
        self.vars = {"workers": {}, "jobs": {}}
        self.signals = None
        self.progress = lambda what, status, seconds: None
        self.clock = ServiceClock(service)
        self.clock_mode = None

    def execute(self) -> Result:
        result = Result(scenario=self.scenario)
        started = time.monotonic()
        trace = Trace().start()
        self.signals = tempfile.mkdtemp(prefix="scenario-signals-")
        self.say(f"scenario {self.scenario.name} ({self.scenario.path})"
                 + (f" on clock {self.clock_mode}" if self.clock_mode else ""))
        here = in_process(self.service)
        injector = None
        try:
            injector = self._injector()
            if injector is not None:
                injector.arm(self.scenario.faults)
            with self.clock.use(self.clock_mode):
                virtual_start = CLOCK.now() if here else None
                result.clock = CLOCK.mode if here else (self.clock_mode or "real")
                try:
                    self._steps(result, trace)
                finally:
                    if here and CLOCK.virtual:
                        result.virtual_seconds = CLOCK.now() - virtual_start
                    if here and CLOCK.mode == "skip" and not result.passed:
                        result.clock_holders = CLOCK.holders()
        except HarnessError as exc:  # a fault or a clock that cannot apply on this service
            result.failure = StepFailure(step="setup", expected="faults and a clock that apply", actual=str(exc),
                                         message=str(exc))
        finally:
            if injector is not None:
                injector.clear()
            result.events = trace.stop()
            result.variables = self.vars
            shutil.rmtree(self.signals, ignore_errors=True)
        result.seconds = time.monotonic() - started
        verdict = "PASSED" if result.passed else "FAILED"
        self.say(f"{verdict} {self.scenario.name}: {sum(s.ok for s in result.steps)}/{len(result.steps)} steps "
                 f"in {result.timing()}")
        return result

    def _injector(self):
        """The service's fault injector; None when the scenario injects nothing (or it has none)."""
        wants = self.scenario.faults or any(s.action in ("inject", "heal") for s in self.scenario.steps)
        injector = getattr(self.service, "faults", None)
        if wants and injector is None:
            raise HarnessError(f"scenario {self.scenario.name!r} injects faults, which a service run elsewhere "
                               f"(--url) cannot take")
        return injector if wants else None
    def _steps(self, result, trace) -> None:
        """Register (unless a step does), run the steps in order, check conformance if asked."""
        steps = list(self.scenario.steps)
        if not any(s.action == "register" for s in steps):
            from .scenario import Step

            names = list(self.scenario.workers) + list(self.scenario.jobs)
            steps.insert(0, Step(index=0, action="register", args=names, name="register " + ", ".join(names)))
        for step in steps:
            if not self._step(step, result):
                break
        else:
            result.passed = True
        if result.passed and self.scenario.conformance:
            if getattr(self.service, "observable", True):
                self._conformance(result, trace)
            else:  # its arrows are recorded in the other process
                self.say("  skip      conformance with the documented sequence: the service runs in another "
                         "process (run without --url to check it)")

    def _step(self, step, result) -> bool:
        if self.scenario.faults:
            self.service.faults.step(step.name)
        if step.note:
            observe.note("User", step.note)
        started = time.monotonic()
        name = self._name(step)
        try:
            value, detail = getattr(self, f"do_{step.action}")(step)
            self._keep(step, value)
        except Failed as exc:
            return self._failed(step, name, result, started, exc.message, exc.expected, exc.actual, exc.cause)
        except JobServiceError as exc:
            return self._failed(step, name, result, started, f"the service answered {exc}", "a 2xx answer",
                                str(exc))
        except TemplateError as exc:
            return self._failed(step, name, result, started, f"a variable does not hold what the step needs: {exc}",
                                "a value", None)
        seconds = time.monotonic() - started
        result.steps.append(StepResult(name, True, seconds, detail, step.index))
        self.say(f"  ok    {step.index:>2}. {name}  ({seconds:.2f}s){'  ' + detail if detail else ''}")
        return True

    def _name(self, step) -> str:
        """The step's name with its variables resolved (`wait for job urn:...:job:ab12 COMPLETED`)."""
        try:
            return str(render(step.name, self.vars))
        except TemplateError:
            return step.name

    def _failed(self, step, name, result, started, message, expected, actual, cause="") -> bool:
        seconds = time.monotonic() - started
        result.steps.append(StepResult(name, False, seconds, message, step.index))
        result.failure = StepFailure(step=name, expected=expected, actual=actual,
                                     message=f"{self.scenario.path}:{step.line}: {message}", cause=cause)
        self.say(f"  FAIL  {step.index:>2}. {name}  ({seconds:.2f}s)  {message}")
        return False

    def _keep(self, step, value) -> None:
        if step.as_var:
            self.vars[step.as_var] = value
        for var, path in step.capture.items():
            try:
                self.vars[var] = lookup(value, path)
            except TemplateError as exc:
                raise Failed(f"cannot capture {var!r} from {path!r}: {exc}", path, value) from None

    def _conformance(self, result, trace) -> None:
        """Check the documented sequence, giving what the service finishes after the last step time to happen."""
        from .conformance import check

        started = time.monotonic()
        deadline = started + CONFORMANCE_SETTLE_SECONDS
        while True:
            events = trace.snapshot()
            report = check(events)
            if report.ok or time.monotonic() >= deadline:
                break
            trace.wait_beyond(len(events), deadline - time.monotonic())  # checked again at the next event
        result.conformance = report
        seconds = time.monotonic() - started
        name = "conformance with the documented sequence"
        if report.ok:
            result.steps.append(StepResult(name, True, seconds, report.summary()))
            self.say(f"  ok        {name}  ({seconds:.2f}s)  {report.summary()}")
            return
        result.passed = False
        result.steps.append(StepResult(name, False, seconds, report.summary()))
        result.failure = StepFailure(step=name, expected="every documented arrow, in the documented order",
                                     actual=report.summary(), message=report.format())
        self.say(f"  FAIL      {name}  ({seconds:.2f}s)\n{report.format()}")

    # -- the steps ---------------------------------------------------------------
    def do_register(self, step):
        urns = []
        for name in step.args:
            if name in self.scenario.workers:
                worker = self.scenario.workers[name]
                command, env = self._behaviour(worker)
                body = self.client.register_worker(f"{name}-{self.suffix}", command=command, environment=env,
                                                   **worker.options)
                self.vars["workers"][name] = body["urn"]
            else:
                job = self.scenario.jobs[name]
                missing = [w for w in job.workers if w not in self.vars["workers"]]
                if missing:
                    raise Failed(f"job {name!r} runs worker(s) {', '.join(missing)}, not registered yet",
                                 "its workers registered before it", sorted(self.vars["workers"]))
                body = self.client.register_job(f"{name}-{self.suffix}", bind_asl(job.definition, self.vars["workers"]))
                self.vars["jobs"][name] = body["urn"]
            urns.append(body["urn"])
        return urns, ""

    def _behaviour(self, worker):
        """The command and environment that make a local run behave as the scenario says."""
        env = dict(worker.environment)
        env["JOBSERVICE_SCENARIO_DIR"] = self.scenario.directory
        if worker.kind == "command":
            command = [self._local_path(a) for a in worker.command]
        elif worker.kind == "callable":
            command = ["python", os.path.join(WORKERS_DIR, "run_callable.py"), worker.callable]
        else:
            # -S: the scripted worker is standard library only (it puts the harness on its path itself);
            # without `site` and the installs' path hooks each worker starts about 20 ms sooner.
            command = ["python", "-S", os.path.join(WORKERS_DIR, "scripted.py")]
            env["JOBSERVICE_SCRIPT"] = json.dumps(worker.script)
            env["JOBSERVICE_SIGNALS"] = self.signals
        return command, env

    def _local_path(self, arg: str) -> str:
        """A relative path that exists next to the scenario becomes absolute: workers run elsewhere."""
        if os.path.isabs(arg) or arg.startswith("-"):
            return arg
        candidate = os.path.join(self.scenario.directory, arg)
        return candidate if os.path.exists(candidate) else arg

    def _job_urn(self, name):
        if name.startswith("urn:"):
            return name
        if name not in self.vars["jobs"]:
            raise Failed(f"job {name!r} is not registered yet (add it to a 'register' step first)",
                         "a registered job", sorted(self.vars["jobs"]))
        return self.vars["jobs"][name]

    def do_request(self, step):
        args = render(step.args, self.vars)
        urn = self._job_urn(args["job"])
        if "count" not in args:
            body = self.client.request_job(urn, args.get("input"))
            return body["urn"], body["urn"]
        with ThreadPoolExecutor(min(args["count"], 16)) as pool:
            bodies = list(pool.map(lambda _: self.client.request_job(urn, args.get("input")), range(args["count"])))
        return [b["urn"] for b in bodies], f"{len(bodies)} requests"

    def do_wait(self, step, waits=True):
        args = render(step.args, self.vars)
        kind = next(k for k in ("request", "job", "requests", "jobs") if k in args)
        get = self.client.get_request if kind.startswith("request") else self.client.get_job
        ends = REQUEST_END_STATUSES if kind.startswith("request") else JOB_END_STATUSES
        expected = {k: v for k, v in args.items() if k not in ("request", "job", "requests", "jobs")}
        targets = args[kind]
        if kind in ("requests", "jobs") and not isinstance(targets, list):
            raise Failed(f"'{kind}' must hold a list of URNs", "a list", targets)
        urns = targets if isinstance(targets, list) else [targets]
        timeout = step.timeout or self.scenario.timeout
        deadline = time.monotonic() + timeout
        found = [self._until(get, urn, expected, ends, deadline, timeout, waits) for urn in urns]
        detail = ", ".join(sorted({r.get("status", "?") for r in found}))
        return (found if isinstance(targets, list) else found[0]), detail

    def do_expect(self, step):
        return self.do_wait(step, waits=False)

    def _until(self, get, urn, expected, ends, deadline, timeout, waits):
        if not isinstance(urn, str):
            raise Failed("expected a URN", "a URN string", urn)
        resource = None
        want = expected.get("status")
        want = want if isinstance(want, list) else [want]
        # Waiting for an end: the service answers at that end (or its deadline), not at each run's transition.
        until = want if want and all(w in ends for w in want) else None
        while True:
            # The resource as it is first: a long poll waits for a change, and what the step expects may hold
            # already (a worker blocked on this step's `signal` changes nothing until the wait runs out).
            left = deadline - time.monotonic() if waits and resource is not None else 0
            resource = wait_changed(get, urn, left, resource, POLL_SECONDS, until=until)
            problem = _mismatch({k: v for k, v in expected.items() if k not in ("where", "durations")}, resource) \
                or _where(expected.get("where") or {}, resource) or _durations(expected.get("durations") or [], resource)
            if problem is None:
                return resource
            settled = resource.get("status") in ends
            self.progress(urn, resource.get("status"), time.monotonic() - (deadline - timeout))
            if not waits or settled or time.monotonic() >= deadline:
                path, want, got = problem
                why = "" if not waits else " (it has ended)" if settled else f" within {timeout:g}s"
                raise Failed(f"{urn}: {path} is {_show(got)}, expected {_show(want)}{why}",
                             expected, _relevant(resource, expected), self._cause(resource, expected))

    def _cause(self, resource, expected) -> str:
        """The failure summary of a job or request resource, in the scenario's own worker names and steps."""
        want = expected.get("status")
        want = " or ".join(want) if isinstance(want, list) else want
        if "workers" not in resource and "execution_arn" not in resource:
            return request_summary(resource, want)
        names = {urn: name for name, urn in self.vars["workers"].items()}
        steps: dict = {}
        for job in self.scenario.jobs.values():
            for task, states in asl_steps(job.definition).items():
                urn = self.vars["workers"].get(_worker_ref(task) or "")
                if urn:
                    steps.setdefault(urn, [])
                    steps[urn] += [s for s in states if s not in steps[urn]]
        return job_summary(resource, want, steps=steps, names=names)

    def do_download(self, step):
        args = render(step.args, self.vars)
        data = self.client.download(args["key"])
        text = data.decode("utf-8", "replace")
        if "equals" in args and text != args["equals"]:
            raise Failed(f"{args['key']}: the content differs", args["equals"], text)
        if "contains" in args and args["contains"] not in text:
            raise Failed(f"{args['key']}: the content lacks {args['contains']!r}", args["contains"], text)
        parsed = None
        if "json" in args:
            try:
                parsed = json.loads(text)
            except ValueError:
                raise Failed(f"{args['key']}: the content is not JSON", args["json"], text) from None
            problem = _mismatch(args["json"], parsed)
            if problem:
                raise Failed(f"{args['key']}: {problem[0]} is {_show(problem[2])}, expected {_show(problem[1])}",
                             args["json"], parsed)
        return (parsed if parsed is not None else text), f"{len(data)} bytes"

    def do_signal(self, step):
        with open(os.path.join(self.signals, step.args), "w", encoding="utf-8") as fh:
            fh.write(str(time.time()))
        return None, ""

    def do_sleep(self, step):
        self.clock.sleep(step.args)
        return None, ""

    def do_inject(self, step):
        spec = step.args
        if isinstance(spec, str):
            spec = next(f for f in self.scenario.faults if f.name == spec)
        from dataclasses import replace

        injected = self.service.faults.inject(replace(spec, when=None))
        return None, injected.spec.describe()

    def do_heal(self, step):
        self.service.faults.heal(None if step.args == "all" else step.args)
        return None, ""
    def do_advance(self, step):
        try:
            now = self.clock.advance(step.args)
        except HarnessError as exc:
            raise Failed(str(exc), "a virtual clock (skip or scale=N)", self.clock.mode) from None
        return None, f"now {now.isoformat(timespec='seconds')}"

    def do_cancel(self, step):
        args = render(step.args, self.vars)
        job = self.client.cancel_job(args["job"])
        return job, job.get("status", "")


def fault_lines(events) -> list:
    """One line per injected fault of a run: what it did, where, and how many times."""
    counts: dict = {}
    for event in events:
        if event.kind == "note" and (event.details or {}).get("fault"):
            key = (event.source, event.label)
            counts[key] = counts.get(key, 0) + 1
    lines = [f"    fault over {source}: {label}" + (f" (x{n})" if n > 1 else "")
             for (source, label), n in counts.items()]
    return ["  faults injected during the run:"] + lines if lines else []


def _mismatch(expected, actual, path="$"):
    """None when `actual` holds everything `expected` says, else (path, expected, actual) of the first miss.

    Mappings match as subsets, lists item by item with the same length, a
    string "re:PATTERN" as a regular expression, and `status` may list
    several accepted values.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return path, expected, actual
        for key, want in expected.items():
            at = f"{path}.{key}" if path != "$" else key
            if key not in actual:
                return at, want, "<absent>"
            got = actual[key]
            if key == "status" and isinstance(want, list):
                if got not in want:
                    return at, " or ".join(want), got
                continue
            if key in ("results", "workers") and isinstance(want, int) and not isinstance(want, bool):
                count = len(got) if isinstance(got, list) else got
                if count != want:
                    return f"{at} (count)", want, count
                continue
            problem = _mismatch(want, got, at)
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return path, expected, actual
        for i, (want, got) in enumerate(zip(expected, actual)):
            problem = _mismatch(want, got, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(expected, str) and expected.startswith("re:"):
        ok = isinstance(actual, str) and re.search(expected[3:], actual)
        return None if ok else (path, expected, actual)
    if expected == actual and isinstance(expected, bool) == isinstance(actual, bool):
        return None
    return path, expected, actual


def _where(paths: dict, resource):
    """The first dotted path of `where` whose value does not match, as _mismatch reports it."""
    for path, want in paths.items():
        try:
            got = lookup(resource, path)
        except TemplateError:
            got = "<absent>"
        problem = _mismatch(want, got, path)
        if problem:
            return problem
    return None


def _durations(specs: list, resource):
    """The first `durations` entry (seconds between two ISO times of the resource) out of its bounds."""
    for spec in specs:
        label = f"{spec['from']} -> {spec['to']}"
        try:
            start, end = (parse_iso(lookup(resource, spec[k])) for k in ("from", "to"))
        except (TemplateError, ValueError) as exc:
            return label, spec, f"<no time: {exc}>"
        seconds = (end - start).total_seconds()
        if seconds < spec.get("at_least", float("-inf")) or seconds > spec.get("at_most", float("inf")):
            bounds = " and ".join(f"{k.replace('_', ' ')} {spec[k]:g}s" for k in ("at_least", "at_most") if k in spec)
            return f"{label} (seconds)", bounds, round(seconds, 3)
    return None


def _relevant(resource, expected) -> dict:
    """The fields of the resource that the expectation talks about (plus its status)."""
    keys = ["status"] + [k for k in expected if k not in ("status", "where", "durations")]
    out = {k: resource.get(k) for k in keys if k in resource}
    for path in expected.get("where") or {}:
        try:
            out[path] = lookup(resource, path)
        except TemplateError:
            out[path] = "<absent>"
    return out


def _show(value) -> str:
    if isinstance(value, str):
        return value if len(value) < 300 else value[:297] + "..."
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) < 600 else text[:597] + "..."


__all__ = ["Result", "StepFailure", "StepResult", "run_scenario"]
