"""Validate a job's ASL and bind its worker URNs to Step Functions activities.

An activity task carries only its input, so each worker Task's input is
wrapped with the execution it belongs to: the Activity Poller unwraps it and
the worker gets exactly the Task state's effective input.
"""

import copy
import json

from .errors import BadRequest, Invalid
from .validation import MAX_DEPTH, check_asl_shape, nesting_depth, parse_json

WORKER_PREFIX = "urn:jobservice:worker:"
WRAP_KEY = "jobservice"
STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
TERMINAL = {"Choice", "Succeed", "Fail"}


def parse(definition) -> dict:
    """Return the ASL as a dict, from a dict or a string holding one; its structural fields type-checked (400)."""
    if isinstance(definition, str):
        if nesting_depth(definition) > MAX_DEPTH:
            raise BadRequest(f"'definition' nests deeper than {MAX_DEPTH} levels")
        try:
            definition = parse_json(definition, "definition")
        except BadRequest as exc:  # text that Step Functions would refuse as a definition
            raise Invalid(exc.message) from None
    elif not isinstance(definition, dict):
        raise BadRequest("'definition' must be an ASL object or a string holding one")
    if not isinstance(definition, dict):
        raise Invalid("definition must be a JSON object with 'StartAt' and 'States'")
    check_asl_shape(definition)
    return definition


def _machines(machine: dict, where: str):
    """Yield (path, machine) for a machine and every nested Parallel branch and Map processor."""
    yield where, machine
    for name, state in (machine.get("States") or {}).items():
        if not isinstance(state, dict):
            continue
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                yield from _machines(branch, f"{where}.States.{name}.Branches[{i}]")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _machines(state[key], f"{where}.States.{name}.{key}")


def validate(asl: dict) -> None:
    """Raise Invalid naming the first structural problem of the ASL."""
    for where, machine in _machines(asl, "$"):
        states = machine.get("States")
        if not isinstance(states, dict) or not states:
            raise Invalid(f"{where}: 'States' must be a non-empty object")
        start = machine.get("StartAt")
        if not isinstance(start, str) or start not in states:
            raise Invalid(f"{where}: 'StartAt' must name one of the states {sorted(states)}")
        for name, state in states.items():
            at = f"{where}.States.{name}"
            if not isinstance(state, dict):
                raise Invalid(f"{at}: a state must be an object")
            kind = state.get("Type")
            if kind not in STATE_TYPES:
                raise Invalid(f"{at}: 'Type' must be one of {sorted(STATE_TYPES)}, not {kind!r}")
            nxt = state.get("Next")
            if nxt is not None and nxt not in states:
                raise Invalid(f"{at}: 'Next' names an unknown state {nxt!r}")
            if kind not in TERMINAL and nxt is None and state.get("End") is not True:
                raise Invalid(f"{at}: a {kind} state needs 'Next' or 'End': true")
            if kind == "Task" and not isinstance(state.get("Resource"), str):
                raise Invalid(f"{at}: a Task state needs a 'Resource' string")
            if kind == "Parallel" and not state.get("Branches"):
                raise Invalid(f"{at}: a Parallel state needs 'Branches'")
            if kind == "Map" and not (state.get("ItemProcessor") or state.get("Iterator")):
                raise Invalid(f"{at}: a Map state needs 'ItemProcessor'")
            if kind == "Choice" and not isinstance(state.get("Choices"), list):
                raise Invalid(f"{at}: a Choice state needs a 'Choices' list")


def _worker_tasks(asl: dict):
    for _, machine in _machines(asl, "$"):
        for state in (machine.get("States") or {}).values():
            if state.get("Type") == "Task" and str(state.get("Resource", "")).startswith(WORKER_PREFIX):
                yield machine, state


def worker_urns(asl: dict) -> set[str]:
    """The worker URNs the ASL's Task states name."""
    return {state["Resource"] for _, state in _worker_tasks(asl)}


def bind(asl: dict, workers: dict[str, dict]) -> dict:
    """Return a copy of the ASL running `workers` (URN -> definition) as activities."""
    bound = copy.deepcopy(asl)
    top_jsonata = bound.get("QueryLanguage") == "JSONata"
    for machine, state in _worker_tasks(bound):
        urn = state["Resource"]
        worker = workers[urn]
        state["Resource"] = worker["activity_arn"]
        jsonata = state.get("QueryLanguage", machine.get("QueryLanguage", "JSONata" if top_jsonata else None)) == "JSONata"
        if jsonata:
            inner = state.get("Arguments", "{% $states.input %}")
            state["Arguments"] = {"input": inner, WRAP_KEY: {
                "execution": "{% $states.context.Execution.Id %}", "worker": urn}}
        elif "Parameters" in state:
            state["Parameters"] = {"input": state["Parameters"], WRAP_KEY: {
                "execution.$": "$$.Execution.Id", "worker": urn}}
        else:
            state["Parameters"] = {"input.$": "$", WRAP_KEY: {"execution.$": "$$.Execution.Id", "worker": urn}}
        if worker.get("timeout_seconds") and "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
            state["TimeoutSeconds"] = int(worker["timeout_seconds"])
        if worker.get("heartbeat_seconds") and "HeartbeatSeconds" not in state and "HeartbeatSecondsPath" not in state:
            state["HeartbeatSeconds"] = int(worker["heartbeat_seconds"])
    return bound


def unwrap(task_input: str) -> tuple[object, str | None, str | None]:
    """Split an activity task's input into (effective input, execution ARN, worker URN)."""
    data = json.loads(task_input) if task_input else {}
    meta = data.get(WRAP_KEY) if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        return data, None, None
    return data.get("input"), meta.get("execution"), meta.get("worker")
