"""The direct writer of DynamoDB attribute values writes exactly the JSON moto's generic walk writes."""

import json

import pytest
from hypothesis import given, settings, strategies as st
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.core.utils import get_service_model

from emulators import dynamodb_serialize, scope

_names = st.text(min_size=1, max_size=8)
_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=12)),
    st.builds(lambda n: {"N": n}, st.integers(-10**9, 10**9).map(str)),
    st.builds(lambda b: {"B": b}, st.binary(max_size=12)),
    st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=5), min_size=1, max_size=3, unique=True)),
    st.builds(lambda s: {"NS": s}, st.lists(st.integers(0, 99).map(str), min_size=1, max_size=3, unique=True)),
    st.builds(lambda s: {"BS": s}, st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=3, unique=True)),
    st.just({"NULL": True}),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.builds(lambda m: {"M": m}, st.dictionaries(_names, inner, max_size=4)),
    st.builds(lambda items: {"L": items}, st.lists(inner, max_size=4))), max_leaves=25)
_items = st.dictionaries(_names, _values, min_size=1, max_size=6)


def _written(result: dict, operation: str, fast: bool) -> dict:
    """The JSON body moto writes for `result` of `operation` (the direct writer on or off)."""
    operation_model = get_service_model("dynamodb").operation_model(operation)
    serializer = JSONSerializer(operation_model=operation_model, value_picker=XFormedAttributePicker())
    previous = getattr(scope._local, "environ", None)
    scope._local.environ = {} if fast else None  # a harness request, or not
    try:
        return json.loads(serializer.serialize(result)["body"])
    finally:
        scope._local.environ = previous


@pytest.fixture(scope="module", autouse=True)
def installed():
    dynamodb_serialize.install()


@settings(max_examples=300, deadline=None)
@given(_items)
def test_any_item_is_written_as_moto_writes_it(item):
    result = dynamo_to_dict({"Item": {k: DynamoType(v) for k, v in item.items()}})
    assert _written(result, "GetItem", fast=True) == _written(result, "GetItem", fast=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(_items, max_size=4))
def test_a_query_page_is_written_as_moto_writes_it(items):
    result = dynamo_to_dict({"Items": [{k: DynamoType(v) for k, v in i.items()} for i in items],
                             "Count": len(items), "ScannedCount": len(items)})
    assert _written(result, "Query", fast=True) == _written(result, "Query", fast=False)


def test_a_value_it_does_not_know_goes_to_moto_walk():
    odd = {"Item": {"a": {"S": "x", "unknown": "y"}, "b": {"L": [None, {"N": "1"}]}, "c": {"M": {"d": None}}}}
    assert _written(odd, "GetItem", fast=True) == _written(odd, "GetItem", fast=False)



def _as_result(item: dict) -> dict:
    return dynamo_to_dict({"Item": {k: DynamoType(v) for k, v in item.items()}})["Item"]


_capacities = st.one_of(st.none(), st.fixed_dictionaries(
    {"TableName": st.text(min_size=1, max_size=8)},
    optional={"CapacityUnits": st.one_of(st.floats(0, 100), st.integers(0, 100))}))
_answers = {
    "GetItem": st.fixed_dictionaries({}, optional={"Item": _items.map(_as_result), "ConsumedCapacity": _capacities}),
    "PutItem": st.fixed_dictionaries({}, optional={"Attributes": _items.map(_as_result)}),
    "UpdateItem": st.fixed_dictionaries({}, optional={"Attributes": _items.map(_as_result),
                                                      "ConsumedCapacity": _capacities}),
    "DeleteItem": st.fixed_dictionaries({}, optional={"Attributes": _items.map(_as_result)}),
    "Query": st.fixed_dictionaries(
        {"Items": st.lists(_items.map(_as_result), max_size=3), "Count": st.integers(0, 5),
         "ScannedCount": st.integers(0, 5)},
        optional={"LastEvaluatedKey": _items.map(_as_result), "ConsumedCapacity": _capacities}),
    "Scan": st.fixed_dictionaries(
        {"Items": st.lists(_items.map(_as_result), max_size=3), "Count": st.integers(0, 5),
         "ScannedCount": st.integers(0, 5)}),
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_answers)).flatmap(lambda op: st.tuples(st.just(op), _answers[op])))
def test_an_item_calls_whole_answer_is_written_as_moto_writes_it(case):
    operation, result = case
    operation_model = get_service_model("dynamodb").operation_model(operation)
    serializer = JSONSerializer(operation_model=operation_model, value_picker=XFormedAttributePicker())
    dynamodb_serialize._answer(serializer, result)  # written directly (it raises for what goes to moto's walk)
    assert _written(result, operation, fast=True) == _written(result, operation, fast=False)


@pytest.mark.parametrize("operation, odd", [
    ("UpdateItem", {"Attributes": {"a": {"S": "x"}}, "ItemCollectionMetrics": {"ItemCollectionKey": {}}}),
    ("Query", {"Items": [], "Count": "3"}),
    ("GetItem", {"Item": {"a": {"S": "x"}}, "ConsumedCapacity": {"TableName": "t", "Table": {"CapacityUnits": 1}}}),
])
def test_an_answer_with_members_it_does_not_know_goes_to_moto_walk(operation, odd):
    assert _written(odd, operation, fast=True) == _written(odd, operation, fast=False)
