"""The harness's executions share the parse of their state machine's definition and of each JSONPath.

moto's Step Functions interpreter parses a state machine's ASL definition (ANTLR, then its
preprocessor) at the start of every execution, and jsonpath-ng builds a new PLY parser for
each JSONPath it evaluates: together about 80 % of the interpreter's CPU for a two-step job of
the service (py-spy, 8 jobs at once). Neither parse depends on the execution:

- An execution started through the harness's own server (emulators.scope) evaluates the
  components parsed once per definition text (at most `DEFINITIONS` kept). Evaluation changes
  no component: an execution's state lives in its `Environment`. The one value a component
  makes for itself, the key under which an execution keeps that component's counters in its
  Environment (`EvalComponent.heap_key`, a Retrier's attempts), is made for every component
  before the parse is shared, so two executions never race to make it. Other executions
  (a plain `mock_aws`) parse as moto does.
- A JSONPath text is parsed once (at most `PATHS` kept): a parsed path is only read when it
  finds values. This is the same parse moto makes, so it applies to every execution.
"""

import functools

from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend import execution_worker

from . import scope

DEFINITIONS, PATHS = 128, 4096
_Worker = execution_worker.ExecutionWorker
_stock = {"init": _Worker.__init__, "entrypoint": _Worker._get_evaluation_entrypoint,
          "json_path": json_path.parse, "result_path": result_path.parse}


@functools.lru_cache(maxsize=DEFINITIONS)
def program(definition: str) -> EvalComponent:
    """The evaluation components of a definition, parsed once, with every component's heap key made."""
    parsed = AmazonStateLanguageParser.parse(definition)[0]
    seen, stack = set(), [parsed]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            node.heap_key  # noqa: B018 - made now, once, not by the first of two executions to ask
        if isinstance(node, (list, tuple, set, frozenset)):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif type(node).__module__.startswith("moto.stepfunctions.parser.") and hasattr(node, "__dict__"):
            stack.extend(vars(node).values())
    return parsed


def _init(self, *args, **kwargs):
    _stock["init"](self, *args, **kwargs)
    self.jobservice_shared_parse = scope.active()  # made in StartExecution's request


def _entrypoint(self):
    if getattr(self, "jobservice_shared_parse", False):
        return program(self._evaluation_details.state_machine_details.definition)
    return _stock["entrypoint"](self)


def install() -> None:
    """Share the parses (idempotent)."""
    if _Worker.__init__ is _init:
        return
    _Worker.__init__ = _init
    _Worker._get_evaluation_entrypoint = _entrypoint
    json_path.parse = functools.lru_cache(maxsize=PATHS)(_stock["json_path"])
    result_path.parse = functools.lru_cache(maxsize=PATHS)(_stock["result_path"])
