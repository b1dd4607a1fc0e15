"""Scenarios: the YAML format, loading, and validation that names the file and line of each problem.

A file holds one scenario, or several as YAML documents separated by `---`.
Everything is checked before anything runs: the shape of each section,
every reference (a worker a job runs, a job a step requests, a variable a
step uses) and the ASL's worker Tasks. docs/reference/scenario-format.md is the reference.
"""

import difflib
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import PurePath

import yaml

from .errors import UsageError
from .templates import TEMPLATE_RE, TemplateError, lookup, render  # noqa: F401 - part of this API

WORKER_URN = "urn:jobservice:worker:"
JOB_URN = "urn:jobservice:job-definition:"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REQUEST_STATUSES = ("PENDING", "FULFILLED", "FAILED")
JOB_STATUSES = ("RUNNING", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
#: Variables every scenario has: `${workers.NAME}` and `${jobs.NAME}` are the registered URNs.
BUILTIN_VARS = ("workers", "jobs")
#: What a scripted worker's templates can name: its run's payload and the keys of files it uploaded.
WORKER_VARS = ("input", "worker", "job", "files")


class ScenarioError(UsageError):
    """A bad scenario: the file, the line and what was expected."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = str(path), int(line or 0), message


@dataclass
class Worker:
    """A worker definition and how its runs behave locally (command, callable or scripted steps)."""

    name: str
    kind: str
    command: list | None = None
    callable: str | None = None
    script: list = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    line: int = 0


@dataclass
class Job:
    """A job definition: its ASL (Task resources still name scenario workers) and the workers it runs."""

    name: str
    definition: dict
    workers: list
    line: int = 0


@dataclass
class Step:
    """One thing the user or client does: `action` with its `args`, and what to keep of the answer."""

    index: int
    action: str
    args: object
    name: str
    note: str | None = None
    capture: dict = field(default_factory=dict)
    as_var: str | None = None
    timeout: float | None = None
    line: int = 0


@dataclass
class Scenario:
    """A validated scenario, ready to run."""

    name: str
    path: str
    description: str = ""
    workers: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    conformance: bool = False
    timeout: float = 30.0
    #: The clock it runs on (real, skip, scale=N); None: whatever the service's clock is.
    clock: str | None = None
    line: int = 0
    #: Faults (harness.faults.Spec) armed when the run starts; `inject:` steps apply the others by name.
    faults: list = field(default_factory=list)

    @property
    def directory(self) -> str:
        """The folder relative paths and callable modules are found in: the file's, or the cwd for a dict."""
        return os.getcwd() if self.path.startswith("<") else os.path.dirname(os.path.abspath(self.path))


# -- YAML with line numbers ------------------------------------------------------
class _Map(dict):
    """A mapping that remembers the line of itself and of each key."""

    line = 0
    lines: dict = {}


class _Seq(list):
    """A list that remembers the line of itself and of each item."""

    line = 0
    lines: list = []


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps lines and refuses duplicate keys."""


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, "a mapping key must be a plain value")
        if key in out:
            raise ScenarioError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader, node):
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _line(container, key=None, default=0) -> int:
    """The line of `container[key]` (or of the container) when it came from YAML."""
    if key is not None:
        lines = getattr(container, "lines", None)
        if isinstance(lines, dict) and key in lines:
            return lines[key]
        if isinstance(lines, list) and isinstance(key, int) and key < len(lines):
            return lines[key]
    return getattr(container, "line", 0) or default


# -- loading ---------------------------------------------------------------------
#: What a scenario file is, for `harness run DIR` and for pytest (ini `harness_scenario_files`).
DEFAULT_PATTERNS = ("*.scenario.yaml",)


def is_scenario_file(path, patterns=DEFAULT_PATTERNS) -> bool:
    """Whether a file is a scenario: a bare pattern matches its name, one with a '/' the end of its path."""
    path = PurePath(path)
    return any(path.match(p) if "/" in p or os.sep in p else PurePath(path.name).match(p) for p in patterns)


def scenario_files(directory, patterns=DEFAULT_PATTERNS) -> list:
    """The scenario files under a directory, searched recursively, sorted (hidden folders skipped)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in files if is_scenario_file(os.path.join(root, f), patterns)]
    return sorted(found)


def load(path, patterns=DEFAULT_PATTERNS) -> list:
    """Load every scenario of a file (any name), or of each scenario file under a directory."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = scenario_files(path, patterns)
        if not files:
            raise ScenarioError(path, 0, f"no scenario file ({', '.join(patterns)}) under this directory")
        return [s for f in files for s in load(f)]
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ScenarioError(path, 0, f"cannot read the scenario: {exc.strerror or exc}") from None
    return loads(text, path)


def loads(text: str, path: str = "<string>") -> list:
    """Load the scenarios of YAML text (one per document)."""
    loader = _Loader(text)
    loader.name = path
    docs = []
    try:
        while loader.check_data():
            docs.append(loader.get_data())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ScenarioError(path, mark.line + 1 if mark else 0, f"invalid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, 0, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    docs = [d for d in docs if d is not None]
    if not docs:
        raise ScenarioError(path, 1, "the file holds no scenario")
    return [load_dict(doc, path, index=i, count=len(docs)) for i, doc in enumerate(docs)]


def load_dict(data: dict, source: str = "<dict>", index: int = 0, count: int = 1) -> Scenario:
    """Validate one scenario given as a mapping (from YAML, or built in Python)."""
    return _Validator(source).scenario(data, index, count)


# -- validation ------------------------------------------------------------------
class _Validator:
    """Check one scenario, raising ScenarioError at the first problem."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, line, message):
        raise ScenarioError(self.path, line, message)

    def mapping(self, value, what, line, allowed=None, required=()):
        if not isinstance(value, dict):
            self.fail(line, f"{what} must be a mapping, got {_kind(value)}")
        for key in value:
            if allowed is not None and key not in allowed:
                self.fail(_line(value, key, line), f"unknown key {key!r} in {what}{_did_you_mean(key, allowed)}; "
                          f"expected one of: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.fail(_line(value, None, line), f"{what} needs {key!r}")
        return value

    def typed(self, container, key, types, what, line, check=None, need=""):
        value = container[key]
        at = _line(container, key, line)
        if isinstance(value, bool) and bool not in _tuple(types):
            self.fail(at, f"{key!r} of {what} must be {need or _names(types)}, got {_kind(value)}")
        if not isinstance(value, types) or (check is not None and not check(value)):
            self.fail(at, f"{key!r} of {what} must be {need or _names(types)}, got {_kind(value)} {value!r}")
        return value

    # -- the scenario --
    def scenario(self, data, index, count) -> Scenario:
        allowed = ("name", "description", "timeout", "conformance", "clock", "workers", "jobs", "faults", "steps")
        self.mapping(data, "a scenario", 1, allowed, required=("steps",))
        line = _line(data)
        base = os.path.basename(self.path)
        stem = base[:-len(".scenario.yaml")] if base.endswith(".scenario.yaml") else os.path.splitext(base)[0]
        default = stem + (f"[{index + 1}]" if count > 1 else "")
        name = self.typed(data, "name", str, "the scenario", line) if "name" in data else default
        description = self.typed(data, "description", str, "the scenario", line) if "description" in data else ""
        timeout = (self.typed(data, "timeout", (int, float), "the scenario", line, lambda v: v > 0,
                              "a positive number of seconds") if "timeout" in data else 30.0)
        conformance = self.typed(data, "conformance", bool, "the scenario", line) if "conformance" in data else False
        scenario = Scenario(name=name, path=self.path, description=description, timeout=float(timeout),
                            conformance=conformance, line=line)
        if "clock" in data:
            scenario.clock = self.clock_mode(data["clock"], _line(data, "clock", line))
        workers = data.get("workers") or {}
        self.mapping(workers, "'workers'", _line(data, "workers", line))
        for wname, spec in workers.items():
            scenario.workers[wname] = self.worker(wname, spec, _line(workers, wname, line))
        jobs = data.get("jobs") or {}
        self.mapping(jobs, "'jobs'", _line(data, "jobs", line))
        for jname, spec in jobs.items():
            scenario.jobs[jname] = self.job(jname, spec, _line(jobs, jname, line), scenario)
        named = self.faults(data.get("faults") or [], _line(data, "faults", line), scenario)
        steps = data["steps"]
        at = _line(data, "steps", line)
        if not isinstance(steps, list) or not steps:
            self.fail(at, f"'steps' must be a non-empty list, got {_kind(steps)}")
        defined = set(BUILTIN_VARS)
        for i, raw in enumerate(steps):
            scenario.steps.append(self.step(i + 1, raw, _line(steps, i, at), scenario, defined))
        injected = {s.args for s in scenario.steps if s.action == "inject" and isinstance(s.args, str)}
        for s in scenario.steps:
            if s.action in ("inject", "heal") and isinstance(s.args, str) and s.args != "all" and s.args not in named:
                self.fail(s.line, f"step {s.index} ({s.action}) names fault {s.args!r}, which the 'faults' section "
                          f"does not name (named: {', '.join(named) or 'none'})")
        step_names = {s.name for s in scenario.steps}
        for spec in scenario.faults:
            if spec.when and "step" in spec.when and spec.when["step"] not in step_names:
                self.fail(spec.line, f"fault {spec.describe()!r} waits for step {spec.when['step']!r}, which the "
                          f"scenario does not have{_did_you_mean(spec.when['step'], step_names)}")
        # A fault an `inject:` step names waits for that step.
        scenario.faults = [f for f in scenario.faults if f.name not in injected] + \
            [_step_triggered(f) for f in scenario.faults if f.name in injected]
        return scenario

    # -- faults --
    def faults(self, items, line, scenario) -> dict:
        from .faults import FaultSpecError, parse

        if not isinstance(items, list):
            self.fail(line, f"'faults' must be a list of faults, got {_kind(items)}")
        named = {}
        for i, item in enumerate(items):
            at = _line(items, i, line)
            try:
                spec = parse(_plain(item), f"fault {i + 1}")
            except FaultSpecError as exc:
                self.fail(at, str(exc))
            spec.line = at
            if spec.name:
                if spec.name in named:
                    self.fail(at, f"two faults are named {spec.name!r}")
                named[spec.name] = spec
            scenario.faults.append(spec)
        return named

    # -- workers --
    def worker(self, name, spec, line) -> Worker:
        self.name(name, "a worker", line)
        behaviours = ("command", "callable", "scripted")
        allowed = behaviours + ("environment", "image", "timeout_seconds", "heartbeat_seconds", "vcpus", "memory_mib")
        self.mapping(spec, f"worker {name!r}", line, allowed)
        given = [b for b in behaviours if b in spec]
        if len(given) != 1:
            self.fail(_line(spec, None, line), f"worker {name!r} needs exactly one of command, callable, "
                      f"scripted (how it behaves when it runs), got {', '.join(given) or 'none'}")
        kind = given[0]
        worker = Worker(name=name, kind=kind, line=line)
        what = f"worker {name!r}"
        if kind == "command":
            worker.command = list(self.typed(spec, "command", list, what, line,
                                             lambda v: v and all(isinstance(a, str) for a in v),
                                             "a non-empty list of strings"))
            self.command_exists(worker.command, what, _line(spec, "command", line))
        elif kind == "callable":
            worker.callable = self.typed(spec, "callable", str, what, line,
                                         lambda v: re.match(r"^[\w.]+:[\w.]+$", v), "'module:function'")
            self.module_exists(worker.callable, what, _line(spec, "callable", line))
        else:
            worker.script = self.script(spec["scripted"], what, _line(spec, "scripted", line))
        if "environment" in spec:
            worker.environment = dict(self.typed(
                spec, "environment", dict, what, line,
                lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
                "a mapping of string values"))
        for key in ("timeout_seconds", "heartbeat_seconds", "memory_mib"):
            if key in spec:
                worker.options[key] = self.typed(spec, key, int, what, line, lambda v: v > 0, "a positive integer")
        if "vcpus" in spec:
            worker.options["vcpus"] = self.typed(spec, "vcpus", (int, float), what, line, lambda v: v > 0,
                                                 "a positive number")
        if "image" in spec:
            worker.options["image"] = self.typed(spec, "image", str, what, line)
        return worker

    def script(self, steps, what, line) -> list:
        if not isinstance(steps, list) or not steps:
            self.fail(line, f"'scripted' of {what} must be a non-empty list of steps, got {_kind(steps)}")
        actions = ("start", "upload", "download", "results", "heartbeat", "sleep", "wait", "finish", "fail",
                   "crash")
        out, uploaded = [], set()
        for i, raw in enumerate(steps):
            at = _line(steps, i, line)
            if isinstance(raw, str):
                raw = {raw: None}
            if not isinstance(raw, dict) or len(raw) != 1:
                self.fail(at, f"a scripted step of {what} must be one of {', '.join(actions)} "
                          f"(a mapping with one key), got {_kind(raw)}")
            action, args = next(iter(raw.items()))
            if action not in actions:
                self.fail(at, f"unknown scripted step {action!r} of {what}{_did_you_mean(action, actions)}; "
                          f"expected one of: {', '.join(actions)}")
            step_what = f"scripted step {action!r} of {what}"
            if action in ("start", "finish", "crash", "heartbeat") and args is None:
                args = {}
            if action == "start":
                self.mapping(args, step_what, at, ())
            elif action == "upload":
                self.mapping(args, step_what, at, ("name", "content"), ("name", "content"))
                self.typed(args, "name", str, step_what, at, lambda v: v and "/" not in v and ".." not in v,
                           "a file name without '/' or '..'")
                uploaded.add(args["name"])
            elif action == "download":
                self.mapping(args, step_what, at, ("file", "key", "expect"))
                if ("file" in args) == ("key" in args):
                    self.fail(at, f"{step_what} needs one of 'file' (a name it uploaded) or 'key'")
                if "file" in args and args["file"] not in uploaded:
                    self.fail(_line(args, "file", at), f"{step_what}: no earlier upload named {args['file']!r}")
            elif action == "results":
                self.mapping(args, step_what, at, ("data", "files"), ("data",))
                files = args.get("files", [])
                if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                    self.fail(_line(args, "files", at), f"'files' of {step_what} must be a list of uploaded names")
                for f in files:
                    if f not in uploaded and not f.startswith("${"):
                        self.fail(_line(args, "files", at), f"{step_what}: no earlier upload named {f!r}")
            elif action == "heartbeat":
                self.mapping(args, step_what, at, ("times", "every"))
                if "times" in args:
                    self.typed(args, "times", int, step_what, at, lambda v: v >= 1, "a positive integer")
                if "every" in args:
                    self.typed(args, "every", (int, float), step_what, at, lambda v: v >= 0, "a number of seconds")
            elif action == "sleep":
                if isinstance(args, bool) or not isinstance(args, (int, float)) or args < 0:
                    self.fail(at, f"{step_what} takes a number of seconds, got {_kind(args)}")
            elif action == "wait":
                if not isinstance(args, str) or not re.match(r"^[\w.${}-]+$", args):
                    self.fail(at, f"{step_what} takes the name of a signal the user sends, got {_kind(args)}")
            elif action == "finish":
                self.mapping(args, step_what, at, ("output",))
            elif action == "fail":
                self.mapping(args, step_what, at, ("error", "cause"), ("error",))
                self.typed(args, "error", str, step_what, at, lambda v: v != "", "a non-empty error code")
                if "cause" in args:
                    self.typed(args, "cause", str, step_what, at)
            elif action == "crash":
                self.mapping(args, step_what, at, ("exit_code",))
                if "exit_code" in args:
                    self.typed(args, "exit_code", int, step_what, at, lambda v: 0 <= v < 256, "0-255")
            self.templates(args, at, WORKER_VARS, f"{step_what}")
            out.append({action: _plain(args)})
        return out

    # -- jobs --
    def job(self, name, spec, line, scenario) -> Job:
        self.name(name, "a job", line)
        what = f"job {name!r}"
        self.mapping(spec, what, line, ("definition", "file"))
        if ("definition" in spec) == ("file" in spec):
            self.fail(_line(spec, None, line), f"{what} needs one of 'definition' (the ASL) or 'file'")
        if "file" in spec:
            at = _line(spec, "file", line)
            rel = self.typed(spec, "file", str, what, line)
            full = os.path.join(os.path.dirname(os.path.abspath(self.path)), rel)
            try:
                with open(full, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                self.fail(at, f"cannot read the ASL file {rel!r} of {what}: {exc.strerror or exc}")
            try:
                asl = json.loads(text) if full.endswith(".json") else yaml.load(text, Loader=_Loader)
            except (ValueError, yaml.YAMLError) as exc:
                self.fail(at, f"the ASL file {rel!r} of {what} is not valid JSON/YAML: {exc}")
            asl_line = at
        else:
            asl, asl_line = spec["definition"], _line(spec, "definition", line)
            if isinstance(asl, str):
                try:
                    asl = json.loads(asl)
                except ValueError as exc:
                    self.fail(asl_line, f"the definition of {what} is a string that is not JSON: {exc}")
        if not isinstance(asl, dict) or not isinstance(asl.get("States"), dict) or "StartAt" not in asl:
            self.fail(asl_line, f"the definition of {what} must be ASL: a mapping with 'StartAt' and 'States'")
        workers = []
        for _, state in task_states(asl):
            at = _line(state, "Resource", asl_line) if "file" not in spec else asl_line
            ref = _worker_ref(state["Resource"])
            if ref is None:
                continue
            if ref not in scenario.workers:
                self.fail(at, f"{what} runs worker {ref!r}, which the scenario does not declare under 'workers' "
                          f"(declared: {', '.join(scenario.workers) or 'none'})")
            workers.append(ref)
        return Job(name=name, definition=_plain(asl), workers=sorted(set(workers)), line=line)

    # -- steps --
    def step(self, index, raw, line, scenario, defined) -> Step:
        actions = ("register", "request", "wait", "expect", "download", "signal", "sleep", "advance", "cancel",
                   "inject", "heal")
        common = ("name", "note", "capture", "as", "timeout")
        if not isinstance(raw, dict):
            self.fail(line, f"step {index} must be a mapping with one of: {', '.join(actions)}; got {_kind(raw)}")
        line = _line(raw, None, line)
        given = [k for k in raw if k in actions]
        for key in raw:
            if key not in actions and key not in common:
                self.fail(_line(raw, key, line), f"unknown key {key!r} in step {index}"
                          f"{_did_you_mean(key, actions + common)}; expected one action of "
                          f"{', '.join(actions)} and optionally {', '.join(common)}")
        if len(given) != 1:
            self.fail(line, f"step {index} needs exactly one action of {', '.join(actions)}, got "
                      f"{', '.join(given) or 'none'}")
        action = given[0]
        args = raw[action]
        at = _line(raw, action, line)
        what = f"step {index} ({action})"
        step = Step(index=index, action=action, args=None, name="", line=line)
        for key, kind in (("name", str), ("note", str)):
            if key in raw:
                setattr(step, key, self.typed(raw, key, kind, what, line))
        if "timeout" in raw:
            step.timeout = float(self.typed(raw, "timeout", (int, float), what, line, lambda v: v > 0,
                                            "a positive number of seconds"))
        self.templates(args, at, defined, what)
        step.args, label = getattr(self, f"step_{action}")(args, at, what, scenario)
        step.name = step.name or label
        if "capture" in raw:
            capture = self.typed(raw, "capture", dict, what, line)
            for var, path in capture.items():
                cat = _line(capture, var, line)
                if not isinstance(var, str) or not VAR_RE.match(var) or var in BUILTIN_VARS:
                    self.fail(cat, f"capture name {var!r} of {what} must be an identifier (not workers/jobs)")
                if not isinstance(path, (str, int)):
                    self.fail(cat, f"capture {var!r} of {what} must be a dotted path such as 'job' or "
                              f"'results.0.files.0', got {_kind(path)}")
            step.capture = {k: str(v) for k, v in capture.items()}
        if "as" in raw:
            step.as_var = self.typed(raw, "as", str, what, line, lambda v: VAR_RE.match(v) and v not in BUILTIN_VARS,
                                     "an identifier (not workers/jobs)")
        if (step.capture or step.as_var) and action in ("register", "signal", "sleep", "advance", "inject", "heal"):
            self.fail(line, f"{what} answers nothing to capture")
        defined.update(step.capture)
        if step.as_var:
            defined.add(step.as_var)
        return step

    def step_register(self, args, at, what, scenario):
        names = list(scenario.workers) + list(scenario.jobs)
        if args in (None, "all"):
            return names, "register " + ", ".join(names)
        items = [args] if isinstance(args, str) else args
        if not isinstance(items, list) or not all(isinstance(n, str) for n in items):
            self.fail(at, f"{what} takes 'all', a name, or a list of declared worker and job names")
        for i, name in enumerate(items):
            if name not in scenario.workers and name not in scenario.jobs:
                self.fail(_line(args, i, at), f"{what}: {name!r} is neither a declared worker nor a job "
                          f"(declared: {', '.join(names) or 'none'})")
        return list(items), "register " + ", ".join(items)

    def step_request(self, args, at, what, scenario):
        self.mapping(args, what, at, ("job", "input", "count"), ("job",))
        job = self.typed(args, "job", str, what, at)
        if job not in scenario.jobs and not job.startswith("${"):
            self.fail(_line(args, "job", at), f"{what} requests job {job!r}, which the scenario does not declare "
                      f"under 'jobs' (declared: {', '.join(scenario.jobs) or 'none'})")
        count = self.typed(args, "count", int, what, at, lambda v: 1 <= v <= 1000, "an integer 1-1000") \
            if "count" in args else None
        return _plain(args), f"request {job}" + (f" x{count}" if count else "")

    def _target(self, args, at, what):
        kinds = [k for k in ("request", "job", "requests", "jobs") if k in args]
        if len(kinds) != 1:
            self.fail(at, f"{what} needs one of 'request', 'job', 'requests' or 'jobs' (a URN or a variable)")
        kind = kinds[0]
        if kind in ("request", "job"):
            self.typed(args, kind, str, what, at)
        elif not isinstance(args[kind], (str, list)):
            self.fail(_line(args, kind, at), f"'{kind}' of {what} must be a variable or a list of URNs")
        return kind

    def step_wait(self, args, at, what, scenario, waits=True):
        keys = ("request", "job", "requests", "jobs", "status", "output", "error", "results", "workers", "input",
                "where", "durations")
        self.mapping(args, what, at, keys)
        kind = self._target(args, at, what)
        statuses = REQUEST_STATUSES if kind.startswith("request") else JOB_STATUSES
        if "status" in args:
            status = args["status"]
            items = status if isinstance(status, list) else [status]
            for s in items:
                if s not in statuses:
                    self.fail(_line(args, "status", at), f"'status' of {what} must be one of "
                              f"{', '.join(statuses)} (a {kind.rstrip('s')}'s statuses), got {s!r}")
        elif waits:
            self.fail(at, f"{what} needs 'status' (one or a list of {', '.join(statuses)})")
        if kind.startswith("request"):
            for key in ("output", "error", "results", "workers"):
                if key in args and key != "error":
                    self.fail(_line(args, key, at), f"{key!r} of {what} applies to jobs, not job requests")
        for key in ("results", "workers"):
            if key in args and not (isinstance(args[key], list) or
                                    (isinstance(args[key], int) and not isinstance(args[key], bool))):
                self.fail(_line(args, key, at), f"{key!r} of {what} must be a count or a list of expected entries")
        if "where" in args:
            where = self.typed(args, "where", dict, what, at)
            for path in where:
                if not isinstance(path, str) or not path:
                    self.fail(_line(where, path, at), f"a key of 'where' in {what} must be a dotted path "
                              "such as 'workers.0.status'")
        if "durations" in args:
            self.durations(args["durations"], _line(args, "durations", at), what)
        target = args[kind]
        label = f"{kind} {target if isinstance(target, str) else len(target)}"
        return _plain(args), ("wait for " if waits else "expect ") + label + (
            f" {args['status']}" if "status" in args else "")

    def step_expect(self, args, at, what, scenario):
        return self.step_wait(args, at, what, scenario, waits=False)

    def step_download(self, args, at, what, scenario):
        self.mapping(args, what, at, ("key", "equals", "json", "contains"), ("key",))
        self.typed(args, "key", str, what, at)
        checks = [k for k in ("equals", "json", "contains") if k in args]
        if len(checks) > 1:
            self.fail(at, f"{what} takes at most one of equals, json, contains")
        for key in ("equals", "contains"):
            if key in args:
                self.typed(args, key, str, what, at)
        return _plain(args), "download " + args["key"]

    def step_signal(self, args, at, what, scenario):
        if not isinstance(args, str) or not VAR_RE.match(args.replace("-", "_")):
            self.fail(at, f"{what} takes the name of a signal scripted workers 'wait' for, got {_kind(args)}")
        return args, f"signal {args}"

    def step_sleep(self, args, at, what, scenario):
        if isinstance(args, bool) or not isinstance(args, (int, float)) or args < 0:
            self.fail(at, f"{what} takes a number of seconds, got {_kind(args)}")
        return float(args), f"sleep {args}s"

    def step_inject(self, args, at, what, scenario):
        """A fault's name from the 'faults' section, or a fault mapping."""
        if isinstance(args, str):
            return args, f"inject {args}"
        from .faults import FaultSpecError, parse

        try:
            spec = parse(_plain(args), what)
        except FaultSpecError as exc:
            self.fail(at, str(exc))
        return spec, f"inject {spec.describe()}"

    def step_heal(self, args, at, what, scenario):
        if args is None:
            args = "all"
        if not isinstance(args, str):
            self.fail(at, f"{what} takes the name of a fault, or 'all'")
        return args, f"heal {args}"
    def step_advance(self, args, at, what, scenario):
        if isinstance(args, bool) or not isinstance(args, (int, float)) or not 0 <= args < float("inf"):
            self.fail(at, f"{what} takes a number of seconds to move the clock forward, got {_kind(args)}")
        return float(args), f"advance the clock {args:g}s"

    def clock_mode(self, value, line) -> str:
        from server.clock import ClockError, parse_mode

        try:
            parse_mode(value)
        except ClockError as exc:
            self.fail(line, str(exc))
        return str(value).strip()

    def durations(self, specs, line, what) -> None:
        """`durations`: [{from: PATH, to: PATH, at_least: S, at_most: S}], seconds between two times of the resource."""
        if not isinstance(specs, list) or not specs:
            self.fail(line, f"'durations' of {what} must be a non-empty list of {{from, to, at_least, at_most}}")
        for i, spec in enumerate(specs):
            at = _line(specs, i, line)
            self.mapping(spec, f"a duration of {what}", at, ("from", "to", "at_least", "at_most"), ("from", "to"))
            for key in ("from", "to"):
                self.typed(spec, key, str, f"a duration of {what}", at)
            if "at_least" not in spec and "at_most" not in spec:
                self.fail(at, f"a duration of {what} needs at_least or at_most (seconds)")
            for key in ("at_least", "at_most"):
                if key in spec:
                    self.typed(spec, key, (int, float), f"a duration of {what}", at, lambda v: v >= 0,
                               "a non-negative number of seconds")

    def step_cancel(self, args, at, what, scenario):
        self.mapping(args, what, at, ("job",), ("job",))
        self.typed(args, "job", str, what, at)
        return _plain(args), f"cancel {args['job']}"

    # -- shared checks --
    @property
    def directory(self) -> str | None:
        """The folder relative paths are found in; None for a scenario that comes from no file."""
        return None if self.path.startswith("<") else os.path.dirname(os.path.abspath(self.path))

    def command_exists(self, command: list, what: str, line: int) -> None:
        """A program that is not on PATH, or a script that is not there, fails now rather than in the worker."""
        if self.directory is None:
            return
        program = command[0]
        if program in ("python", "python3"):
            script = next((a for a in command[1:] if not a.startswith("-")), None)
            if script is None or command[1] in ("-c", "-m") or not script.endswith(".py"):
                return
            if not os.path.isfile(os.path.join(self.directory, script)):
                self.fail(line, f"the command of {what} runs {script!r}, which does not exist "
                          f"(relative paths are relative to the scenario's folder, {self.directory})")
        elif "/" in program:
            if not os.path.isfile(os.path.join(self.directory, program)):
                self.fail(line, f"the command of {what} runs {program!r}, which does not exist "
                          f"(relative paths are relative to the scenario's folder, {self.directory})")
        elif shutil.which(program) is None:
            self.fail(line, f"the command of {what} runs {program!r}, which is not on PATH")

    def module_exists(self, target: str, what: str, line: int) -> None:
        """A callable's module is next to the scenario (a file or package) or importable."""
        if self.directory is None:
            return
        module = target.split(":", 1)[0]
        base = os.path.join(self.directory, *module.split("."))
        if os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py")):
            return
        top = module.split(".", 1)[0]
        local_top = os.path.join(self.directory, top)
        if not (os.path.exists(local_top) or os.path.exists(local_top + ".py")) \
                and importlib.util.find_spec(top) is not None:
            return  # an installed package: its submodules are its own business
        self.fail(line, f"the callable of {what} names module {module!r}, which is neither next to the "
                  f"scenario ({base}.py) nor installed")

    def name(self, name, what, line):
        if not isinstance(name, str) or not NAME_RE.match(name):
            self.fail(line, f"the name of {what} must match [A-Za-z0-9_-]{{1,48}}, got {name!r}")

    def templates(self, value, line, allowed, what):
        """Check that every `${name...}` in `value` names something available at this point."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.templates(item, _line(value, key, line), allowed, what)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.templates(item, _line(value, i, line), allowed, what)
        elif isinstance(value, str):
            for expr in TEMPLATE_RE.findall(value):
                root = expr.split(".", 1)[0].strip()
                if root not in allowed:
                    known = ", ".join(sorted(allowed))
                    self.fail(line, f"{what} uses ${{{expr}}}, but {root!r} is not defined at this point "
                              f"(capture it with 'as' or 'capture' in an earlier step; known: {known})")


def _step_triggered(spec):
    """The fault, waiting for the `inject:` step that names it (the runner applies it there)."""
    from dataclasses import replace

    return replace(spec, when={"inject": spec.name})


def task_states(asl):
    """Yield (name, state) of every Task state whose Resource is a string, nested Parallel and Map included."""
    states = asl.get("States") if isinstance(asl, dict) else None
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        if state.get("Type") == "Task" and isinstance(state.get("Resource"), str):
            yield name, state
        for branch in state.get("Branches") or []:
            yield from task_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            yield from task_states(state.get(key))


def _worker_ref(resource: str) -> str | None:
    """The scenario worker a Task resource names (`worker:NAME` or its URN), or None for anything else."""
    if resource.startswith("worker:"):
        return resource[len("worker:"):]
    if resource.startswith(WORKER_URN):
        return resource[len(WORKER_URN):]
    return None


def bind_asl(asl: dict, urns: dict) -> dict:
    """Return a copy of the ASL whose worker Tasks name the registered worker URNs."""
    out = json.loads(json.dumps(asl))
    for _, state in task_states(out):
        ref = _worker_ref(state["Resource"])
        if ref is not None:
            state["Resource"] = urns[ref]
    return out


def _plain(value):
    """Plain dicts and lists (no line bookkeeping), as JSON would give them."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _did_you_mean(word, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _names(types) -> str:
    words = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a mapping"}
    return " or ".join(words.get(t, t.__name__) for t in _tuple(types))


def _kind(value) -> str:
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict)
        else type(value).__name__)
