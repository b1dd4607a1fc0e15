"""emulators/dynamodb_update.py answers UpdateItem exactly as stock moto does, errors included.

Each example builds two identical tables in two moto backends of this process (accounts of their
own, no server) and applies the same generated UpdateItem requests to both through moto's handler:
one as a request of the harness's server (the fast path), one as a plain moto request. The answer
(or the error's type, code and body), every stored item and the stream's images must be the same.
"""

import contextlib
import json
import string

import pytest

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler

from emulators import dynamodb_update, scope

REGION = "us-east-1"
FAST, STOCK = "000000000101", "000000000102"
NAMES = ["a", "b", "c", "m", "l", "s", "n", "pk", "sk", "status"]


@contextlib.contextmanager
def harness_request():
    """As while the harness's own server answers a request (emulators/scope.py)."""
    previous = getattr(scope._local, "environ", None)
    scope._local.environ = {"REQUEST_METHOD": "POST"}
    try:
        yield
    finally:
        scope._local.environ = previous


# -- values and items ---------------------------------------------------------------------------------
def _number():
    return st.integers(-50, 50).map(str) | st.sampled_from(["1.5", "0", "-0.25", "1e3"])


scalars = st.one_of(
    st.builds(lambda v: {"S": v}, st.text(string.ascii_lowercase, max_size=3)),
    st.builds(lambda v: {"N": v}, _number()),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda v: {"B": v}, st.sampled_from(["YWJj", "eHl6", ""])),
    st.builds(lambda v: {"BS": v}, st.lists(st.sampled_from(["YWJj", "eHl6"]), min_size=1, max_size=2, unique=True)),
    st.builds(lambda v: {"SS": v}, st.lists(st.sampled_from("xyzw"), min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"NS": v}, st.lists(st.sampled_from(["1", "2", "3", "4"]), min_size=1, max_size=3,
                                            unique=True)),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
    st.builds(lambda v: {"M": v}, st.dictionaries(st.sampled_from(["a", "b", "x", "y"]), inner, max_size=3))),
    max_leaves=6)
items = st.dictionaries(st.sampled_from(["a", "b", "c", "m", "l", "s", "n", "status"]), values, max_size=6)


# -- expressions --------------------------------------------------------------------------------------
@st.composite
def paths(draw, names: dict, first=None):
    """A path: an attribute (`first` if given; plain or a #placeholder) then map keys and list indexes."""
    def element(attribute=None):
        attribute = attribute or draw(st.sampled_from(NAMES + ["x"]))
        if attribute == "status" or draw(st.booleans()):  # a reserved word: plain, it is an error
            placeholder = f"#{attribute}{draw(st.sampled_from(['', '1']))}"
            names[placeholder] = attribute
            return placeholder
        return attribute

    text = element(first)
    for _ in range(draw(st.sampled_from([0] * (3 if first is None else 8) + [1, 2]))):
        text += f"[{draw(st.integers(0, 3))}]" if draw(st.booleans()) else f".{element()}"
    return text


@st.composite
def operands(draw, names: dict, vals: dict, depth=0):
    def value():
        placeholder = f":{draw(st.sampled_from('vwxyz'))}{len(vals)}"
        vals[placeholder] = draw(values)
        return placeholder

    kind = draw(st.sampled_from(["value"] * 4 + ["path", "if_not_exists", "list_append", "arithmetic"]
                                if depth < 2 else ["value", "path"]))
    if kind == "value":
        return value()
    if kind == "path":
        return draw(paths(names))
    if kind == "if_not_exists":
        return f"if_not_exists({draw(paths(names))}, {draw(operands(names, vals, depth + 1))})"
    if kind == "list_append":
        return f"list_append({draw(operands(names, vals, depth + 1))}, {draw(operands(names, vals, depth + 1))})"
    return f"{draw(operands(names, vals, depth + 1))} {draw(st.sampled_from('+-'))} " \
           f"{draw(operands(names, vals, depth + 1))}"


@st.composite
def requests(draw):
    """An UpdateItem request body (valid or not), without TableName and Key."""
    names, vals = {}, {}
    clauses = []
    # Each action its own attribute, mostly (two actions on one path, or on a key, are errors)
    targets = iter(draw(st.permutations(["a", "b", "c", "m", "l", "s", "n", "x", "status", "y", "z"])))
    target = lambda: paths(names, None if draw(st.integers(0, 15)) == 0 else next(targets))  # noqa: E731
    keywords = st.sampled_from(["SET", "REMOVE", "ADD", "DELETE"])
    twice = draw(st.integers(0, 30)) == 0  # a clause given twice is an error
    for keyword in draw(st.lists(keywords, min_size=1, max_size=3, unique=not twice)):
        actions = []
        for _ in range(draw(st.integers(1, 2))):
            if keyword == "SET":
                actions.append(f"{draw(target())} = {draw(operands(names, vals))}")
            elif keyword == "REMOVE":
                actions.append(draw(target()))
            else:
                placeholder = f":{keyword.lower()}{len(vals)}"
                vals[placeholder] = draw(scalars if draw(st.booleans()) else values)
                actions.append(f"{draw(target())} {placeholder}")
        clauses.append(f"{keyword} {', '.join(actions)}")
    expression = " ".join(clauses)
    mangle = draw(st.sampled_from(["none"] * 24 + ["spaces", "garbage", "empty", "unused name", "unused value",
                                                  "missing value", "missing name", "lower"]))
    if mangle == "spaces":
        expression = f"  {expression.replace(' = ', '=').replace(', ', ' ,  ')} "
    elif mangle == "garbage":
        expression += draw(st.sampled_from([" ,", " SET", " (", " = :q", " a b", " REMOVE #", "[x]"]))
    elif mangle == "empty":
        expression = "  "
    elif mangle == "unused name":
        names["#unused"] = "zz"
    elif mangle == "unused value":
        vals[":unused"] = {"S": "zz"}
    elif mangle == "missing value" and vals:
        vals.pop(sorted(vals)[0])
    elif mangle == "missing name" and names:
        names.pop(sorted(names)[0])
    elif mangle == "lower":
        expression = expression.lower()
    body = {"UpdateExpression": expression}
    condition = draw(st.sampled_from([None] * 12 + ["attribute_exists(a)", "attribute_not_exists(b)", "#cs = :cv",
                                      "size(l) > :cn", "attribute_exists(m.x) OR n < :cn", "a ==",
                                      "#cs IN (:cv, :cn)", "#cs = :nowhere"]))
    if condition:
        body["ConditionExpression"] = condition
        if "#cs" in condition:
            names["#cs"] = "status"
            vals[":cv"] = draw(st.sampled_from([{"S": "RUNNING"}, {"S": "x"}]))
        if ":cn" in condition:
            vals[":cn"] = {"N": draw(st.sampled_from(["0", "1", "3"]))}
        if draw(st.booleans()):
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        body["ExpressionAttributeNames"] = names
    if vals or draw(st.integers(0, 20)) == 0:
        body["ExpressionAttributeValues"] = vals
    returns = draw(st.sampled_from([None, "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"] * 3 + ["all_new"]))
    if returns:
        body["ReturnValues"] = returns
    return body


tables = st.fixed_dictionaries({
    "range": st.booleans(),
    "stream": st.sampled_from([None, "NEW_AND_OLD_IMAGES", "OLD_IMAGE", "KEYS_ONLY"]),
})


# -- the two sides ------------------------------------------------------------------------------------
def _backend(account):
    return dynamodb_backends[account][REGION]


def _create(account, name, spec, stored):
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if spec["range"]:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    streams = {"StreamEnabled": True, "StreamViewType": spec["stream"]} if spec["stream"] else None
    backend = _backend(account)
    backend.create_table(name, schema=schema, throughput=None, attr=attrs, global_indexes=None, indexes=None,
                         streams=streams, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                         deletion_protection_enabled=None, warm_throughput=None)
    for item in stored:
        backend.put_item(name, item)


def _update(account, body):
    handler = DynamoHandler()
    handler.current_account, handler.region = account, REGION
    handler.body = json.loads(json.dumps(body))  # each side gets its own request, as from the wire
    try:
        return "answer", handler.update_item().result
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", type(exc).__name__, getattr(exc, "code", None), getattr(exc, "description", str(exc))


def _state(account, name):
    table = _backend(account).get_table(name)
    stored = sorted(json.dumps(item.to_json(), sort_keys=True, default=repr) for item in table.all_items())
    stream = [{k: v for k, v in record.record["dynamodb"].items() if k in ("Keys", "NewImage", "OldImage")}
              | {"event": record.record["eventName"]} for record in (table.stream_shard.items if table.stream_shard
                                                                     else [])]
    return stored, stream


@contextlib.contextmanager
def _tables(name, create):
    """The table `name` on both sides (`create(account)` makes it), deleted when the block ends."""
    for account in (FAST, STOCK):
        create(account)
    try:
        yield
    finally:
        for account in (FAST, STOCK):
            _backend(account).delete_table(name)


def _same_on_both(name, request):
    """`request` as one of the harness's on the fast side and as a plain moto request on the stock side:
    the same answer or error, then the same table; the answer."""
    with harness_request():
        fast = _update(FAST, request)
    assert fast == _update(STOCK, request), request
    assert _state(FAST, name) == _state(STOCK, name), request
    return fast


_examples = iter(range(10 ** 9))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=tables, stored=st.lists(items, max_size=2), updates=st.lists(
    st.tuples(st.integers(0, 2), requests()), min_size=1, max_size=4))
def test_a_harness_update_answers_and_stores_what_stock_moto_does(spec, stored, updates):
    dynamodb_update.install()
    name = f"t{next(_examples)}"
    key_of = (lambda i: {"pk": {"S": f"k{i}"}, "sk": {"N": str(i)}}) if spec["range"] else (
        lambda i: {"pk": {"S": f"k{i}"}})
    stored = [{**attributes, **key_of(i)} for i, attributes in enumerate(stored)]
    with _tables(name, lambda account: _create(account, name, spec, stored)):
        for which, body in updates:  # key 2 (or beyond the stored items): an item the update creates
            fast = _same_on_both(name, {"TableName": name, "Key": key_of(which), **body})
            event(f"{fast[0]} {fast[1] if fast[0] == 'error' else body.get('ReturnValues')}")


def test_the_same_expression_text_with_other_values_and_items_updates_each_as_moto():
    """The parsed expression is kept by its text: the next request with that text gets its own values."""
    dynamodb_update.install()
    spec = {"range": False, "stream": "NEW_AND_OLD_IMAGES"}
    stored = [{"pk": {"S": "k0"}, "l": {"L": []}, "n": {"N": "1"}}]
    with _tables("same-text", lambda account: _create(account, "same-text", spec, stored)):
        for i in range(3):
            request = {"TableName": "same-text", "Key": {"pk": {"S": f"k{i % 2}"}}, "ReturnValues": "UPDATED_NEW",
                       "UpdateExpression": "SET #n0 = :v1, l = list_append(if_not_exists(l, :v2), :v3) ADD n :v4",
                       "ExpressionAttributeNames": {"#n0": f"run_{i}"},
                       "ExpressionAttributeValues": {":v1": {"M": {"status": {"S": f"s{i}"}}}, ":v2": {"L": []},
                                                     ":v3": {"L": [{"N": str(i)}]}, ":v4": {"N": str(i)}}}
            fast = _same_on_both("same-text", request)
            assert fast[0] == "answer" and fast[1]["Attributes"][f"run_{i}"] == {"M": {"status": {"S": f"s{i}"}}}


SAME_TEXTS = ["SET #a = :v, #b = :w", "SET #a = :v REMOVE #b", "SET #a = :v, x = :w", "SET #a.x = :v, #b = :w",
              "ADD #a :n SET #b = if_not_exists(#b, :w)"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SAME_TEXTS),
                          st.fixed_dictionaries({"#a": st.sampled_from(["pk", "x", "x.x", "run_1", "run_2", "a"]),
                                                 "#b": st.sampled_from(["pk", "x", "run_1", "run_2", "run_3", "b"])})),
                min_size=2, max_size=8))
def test_one_text_with_names_that_change_is_checked_as_moto_checks_it(changes):
    """The checks a tree passed are kept for names that are the same to them: a key, a duplicate is still seen."""
    dynamodb_update.install()
    name = f"t{next(_examples)}"
    stored = [{"pk": {"S": "k0"}, "x": {"M": {}}}]
    with _tables(name, lambda account: _create(account, name, {"range": False, "stream": None}, stored)):
        for text, names in changes:
            request = {"TableName": name, "Key": {"pk": {"S": "k0"}}, "UpdateExpression": text,
                       "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW",
                       "ExpressionAttributeValues": {k: v for k, v in {":v": {"S": "v"}, ":w": {"N": "2"},
                                                                       ":n": {"N": "1"}}.items() if k in text}}
            _same_on_both(name, request)


def test_outside_the_harness_requests_update_item_is_moto_s_own(monkeypatch):
    """A `mock_aws` of the same process gets stock moto, which parses the expression in the handler and
    again in the backend of every request; the harness's requests parse a text once. (The comparisons
    above rest on this: their stock side is a request outside the harness's.)"""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    dynamodb_update.install()
    dynamodb_update.parsed.cache_clear()
    parses = []
    stock_make = UpdateExpressionParser.make
    monkeypatch.setattr(UpdateExpressionParser, "make",
                        classmethod(lambda cls, text: parses.append(text) or stock_make(text)))
    with _tables("gate", lambda account: _create(account, "gate", {"range": False, "stream": None}, [])):
        text = "SET gate_check_attribute = :v"
        for i in range(2):
            request = {"TableName": "gate", "Key": {"pk": {"S": "k"}}, "UpdateExpression": text,
                       "ExpressionAttributeValues": {":v": {"N": str(i)}}}
            assert _update(STOCK, request)[0] == "answer"
            with harness_request():
                assert _update(FAST, request)[0] == "answer"
        assert parses.count(text) == 2 * 2 + 1


@st.composite
def plain_requests(draw):
    """An UpdateItem request of plain SET and REMOVE actions (paths of names, one value each), valid or not:
    what `_plain_validated` answers once the text's checks are kept."""
    names, vals = {}, {}

    def path():
        parts = []
        for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
            attribute = draw(st.sampled_from(["a", "m", "x", "g", "pk", "status", "run_1", "run_2"]))
            if attribute == "status" or draw(st.booleans()):  # plain "status" is a reserved word: an error
                placeholder = f"#p{len(names)}"
                names[placeholder] = attribute
                attribute = placeholder
            parts.append(attribute)
        return ".".join(parts)

    sets = [f"{path()} = :v{i}" for i in range(draw(st.integers(0, 3)))]
    for i in range(len(sets)):
        vals[f":v{i}"] = draw(st.sampled_from([{"S": ""}, {"N": "7"}, {"S": "v"}]) | values)  # "" and N: errors on g
    removes = [path() for _ in range(draw(st.integers(0 if sets else 1, 2)))]
    clauses = ([f"SET {', '.join(sets)}"] if sets else []) + ([f"REMOVE {', '.join(removes)}"] if removes else [])
    if len(clauses) == 2 and draw(st.booleans()):
        clauses.reverse()
    mangle = draw(st.sampled_from(["none"] * 8 + ["missing value", "missing name"]))
    if mangle == "missing value" and vals:
        vals.pop(sorted(vals)[0])
    elif mangle == "missing name" and names:
        names.pop(sorted(names)[0])
    body = {"UpdateExpression": " ".join(clauses), "ReturnValues": draw(st.sampled_from(["NONE", "ALL_NEW", "UPDATED_OLD"]))}
    if names:
        body["ExpressionAttributeNames"] = names
    if vals:
        body["ExpressionAttributeValues"] = vals
    return body


plain_items = st.fixed_dictionaries({}, optional={
    "a": values, "m": st.builds(lambda v: {"M": v}, st.dictionaries(st.sampled_from(["a", "x", "m"]), values, max_size=3)),
    "x": values, "run_1": st.builds(lambda v: {"M": v}, st.dictionaries(st.sampled_from(["status", "a"]), scalars,
                                                                        max_size=2)),
    "g": st.sampled_from([{"S": "g1"}, {"N": "1"}])})


def _create_with_index(account, name, stored):
    """A table whose attribute `g` (S) is the key of a global index: typed, and never an empty string."""
    backend = _backend(account)
    backend.create_table(name, schema=[{"AttributeName": "pk", "KeyType": "HASH"}], throughput=None,
                         attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
                         global_indexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                          "Projection": {"ProjectionType": "ALL"}}],
                         indexes=None, streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
                         deletion_protection_enabled=None, warm_throughput=None)
    for item in stored:
        backend.put_item(name, item)


def _set_g(value):
    return {"UpdateExpression": "SET g = :v0", "ReturnValues": "NONE", "ExpressionAttributeValues": {":v0": value}}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Always: the index key `g` set to an empty string and to a number (moto's empty-key and type checks).
@example(stored=[{}], updates=[(0, _set_g({"S": ""}))])
@example(stored=[{}], updates=[(0, _set_g({"N": "7"}))])
@given(stored=st.lists(plain_items, min_size=1, max_size=3), updates=st.lists(
    st.tuples(st.integers(0, 3), plain_requests()), min_size=1, max_size=4))
def test_plain_updates_answer_and_store_what_stock_moto_does_once_their_checks_are_kept(stored, updates):
    """Each request is sent twice, the second time to another item: the first keeps the checks of its
    text and names, so the second takes `_plain_validated` (as nearly every request of the service does)."""
    dynamodb_update.install()
    name = f"t{next(_examples)}"
    stored = [{**attributes, "pk": {"S": f"k{i}"}} for i, attributes in enumerate(stored)]
    with _tables(name, lambda account: _create_with_index(account, name, stored)):
        for which, body in updates:
            for key in (which, (which + 1) % 4):  # 3: an item the update creates
                fast = _same_on_both(name, {"TableName": name, "Key": {"pk": {"S": f"k{key}"}}, **body})
                event(f"{fast[0]} {fast[1] if fast[0] == 'error' else ''}")


def test_a_plain_update_whose_checks_are_kept_skips_the_copy_and_the_walks(monkeypatch):
    """The second request of a text (other run names, the same to the kept checks) is validated without
    copying the tree; its answer and item are stock moto's."""
    dynamodb_update.install()
    stored = [{"pk": {"S": "k0"}, "run_1": {"M": {"status": {"S": "RUNNING"}}}, "run_2": {"M": {}}}]
    copies = []
    stock_copy = dynamodb_update._deepcopy
    monkeypatch.setattr(dynamodb_update, "_deepcopy",  # a whole tree's copy starts with an empty memo
                        lambda value, memo: (None if memo else copies.append(1)) or stock_copy(value, memo))
    spec = {"range": False, "stream": None}
    with _tables("plain-kept", lambda account: _create(account, "plain-kept", spec, stored)):
        for run in ("run_1", "run_2"):
            request = {"TableName": "plain-kept", "Key": {"pk": {"S": "k0"}}, "ReturnValues": "ALL_NEW",
                       "UpdateExpression": "SET #n0 = :v1, #n2.#n3 = :v2 REMOVE #n4",
                       "ExpressionAttributeNames": {"#n0": "updated_at", "#n2": run, "#n3": "status", "#n4": "gone"},
                       "ExpressionAttributeValues": {":v1": {"S": "t"}, ":v2": {"S": "SUCCEEDED"}}}
            fast = _same_on_both("plain-kept", request)
            assert fast[0] == "answer" and fast[1]["Attributes"][run] == {"M": {"status": {"S": "SUCCEEDED"}}}
        assert len(copies) == 1  # the first request's copy only


# -- conditions kept across names that are the same to them (dynamodb_update.parsed_condition) ---------
@st.composite
def conditions(draw, depth=0):
    """A condition over the placeholders #a and #b (and the plain names a and x), :v and :w."""
    def path():
        head = draw(st.sampled_from(["#a", "#b", "a", "x"]))
        tail = draw(st.sampled_from(["", "", ".#b", ".x", "[0]", ".#a.x"]))
        return head + tail

    def operand():
        return draw(st.sampled_from([":v", ":w"])) if draw(st.booleans()) else path()

    kind = draw(st.sampled_from(["compare", "exists", "not_exists", "size", "begins", "contains", "type", "in",
                                 "between"] + (["and", "or", "not"] if depth < 2 else [])))
    if kind == "compare":
        return f"{operand()} {draw(st.sampled_from(['=', '<>', '<', '<=', '>', '>=']))} {operand()}"
    if kind in ("exists", "not_exists"):
        return f"attribute_{kind}({path()})"
    if kind == "size":
        return f"size({path()}) {draw(st.sampled_from(['=', '>', '<=']))} :n"
    if kind == "begins":
        return f"begins_with({path()}, {operand()})"
    if kind == "contains":
        return f"contains({path()}, {operand()})"
    if kind == "type":
        return f"attribute_type({path()}, :t)"
    if kind == "in":
        return f"{path()} IN ({operand()}, {operand()})"
    if kind == "between":
        return f"{path()} BETWEEN :v AND :w"
    if kind == "not":
        return f"NOT ({draw(conditions(depth + 1))})"
    return f"({draw(conditions(depth + 1))}) {kind.upper()} ({draw(conditions(depth + 1))})"


def _evaluated(tree, item):
    try:
        return "value", tree.expr(item)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", type(exc).__name__


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=conditions(), namings=st.lists(st.fixed_dictionaries({
    "#a": st.sampled_from(["a", "x", "run_1", "run_2", "status"]),
    "#b": st.sampled_from(["a", "x", "run_1", "run_2", "run_3"])}), min_size=2, max_size=5),
    vals=st.fixed_dictionaries({":v": scalars, ":w": scalars, ":n": st.just({"N": "1"}),
                                ":t": st.sampled_from([{"S": "S"}, {"S": "M"}, {"S": "N"}])}),
    stored=st.lists(items, min_size=1, max_size=3))
def test_a_condition_kept_for_other_names_evaluates_as_moto_parses_it(text, namings, vals, stored):
    """One text with names that change from request to request (`#run` is `run_<id>`): each request's
    tree, kept or renamed, answers every item as moto's own parse of that request does."""
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    checked = [Item(DynamoType({"S": "k"}), None, {**attributes, "run_1": {"M": {"x": {"S": "1"}}},
                                                    "run_2": {"L": [{"S": "1"}]}}) for attributes in stored]
    for names in namings:
        used_names = {k: v for k, v in names.items() if k in text}
        used_values = {k: v for k, v in vals.items() if k in text}
        try:
            parser = create_condition_expression_parser(text, used_names, used_values)
            stock = (parser.parse(), tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found))
        except Exception as exc:  # noqa: BLE001 - a text moto refuses: refused the same way
            with pytest.raises(type(exc)):
                dynamodb_update.parsed_condition(text, used_names, used_values)
            continue
        tree, names_found, values_found = dynamodb_update.parsed_condition(text, used_names, used_values)
        assert (tuple(names_found), tuple(values_found)) == stock[1:]
        event("renamed" if tree is not stock[0] and any(
            isinstance(v, str) and v.startswith("run") for v in used_names.values()) else "as parsed")
        for item in checked + [None]:
            assert _evaluated(tree, item) == _evaluated(stock[0], item), (text, names, item)
