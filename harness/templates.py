"""`${name.path}` templates of scenarios: stdlib only, so that scripted workers start fast."""

import json
import re

from .errors import HarnessError

TEMPLATE_RE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(HarnessError):
    """A `${...}` that names nothing in the variables given."""


def lookup(value, path: str):
    """Follow a dotted path (`results.0.files.0`) into JSON; a key may itself hold dots (`files.result.json`)."""
    if path in ("", None):
        return value
    if isinstance(value, dict):
        if path in value:
            return value[path]
        head, _, rest = path.partition(".")
        if head in value:
            return lookup(value[head], rest)
        raise TemplateError(f"no {head!r} in {_brief(value)}")
    if isinstance(value, list):
        head, _, rest = path.partition(".")
        if head == "*":
            return [lookup(item, rest) for item in value]
        try:
            return lookup(value[int(head)], rest)
        except (ValueError, IndexError):
            raise TemplateError(f"no item {head!r} in a list of {len(value)}") from None
    raise TemplateError(f"cannot take {path!r} of {_brief(value)}")


def render(value, variables: dict):
    """Replace `${name.path}` in strings; a string that is one whole template keeps the value's JSON type."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = TEMPLATE_RE.fullmatch(value)
    if whole:
        return lookup(variables, whole.group(1).strip())

    def text(match):
        found = lookup(variables, match.group(1).strip())
        return found if isinstance(found, str) else json.dumps(found)

    return TEMPLATE_RE.sub(text, value)


def _brief(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
