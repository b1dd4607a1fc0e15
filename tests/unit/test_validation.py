"""Properties of the pure input checks: JSON depth and numbers, names, Batch's numbers, sizes, ASL shape."""

import json
import math
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings, strategies as st

from server import asl
from server.errors import BadRequest, Invalid, PayloadTooLarge
from server.validation import (MAX_DEPTH, MAX_VALUE_BYTES, check_asl_shape, check_count, check_name, check_size,
                               check_vcpus, nesting_depth, parse_json)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30)


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@given(json_values)
def test_any_finite_json_value_parses_back_to_itself(value):
    assert parse_json(json.dumps(value)) == value


@given(json_values)
def test_nesting_depth_of_a_json_text_is_the_depth_of_its_value(value):
    assert nesting_depth(json.dumps(value)) == depth_of(value)


@given(st.integers(1, 5000), st.sampled_from("[{"))
def test_nesting_is_refused_over_64_levels_and_never_raises_recursion_error(depth, opener):
    text = '{"k":' * depth + "0" + "}" * depth if opener == "{" else "[" * depth + "]" * depth
    if depth > MAX_DEPTH:
        with pytest.raises(BadRequest, match="64"):
            parse_json(text)
    else:
        assert depth_of(parse_json(text)) == depth


@given(st.text(alphabet="[]{}\"\\", max_size=40))
def test_brackets_inside_strings_do_not_count(noise):
    assert nesting_depth(json.dumps({"s": noise})) == 1


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "[1e400]", '{"a": -1e999}', "{", "[1,]", ""])
def test_non_finite_numbers_and_bad_json_are_400(text):
    with pytest.raises(BadRequest):
        parse_json(text)


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_every_name_of_the_alphabet_is_taken(name):
    assert check_name(name) == name


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.sampled_from(["\n", "\r\n", " ", "\x00", "/", "é"]),
       st.booleans())
def test_a_name_with_anything_else_before_or_after_is_refused(name, extra, before):
    with pytest.raises(BadRequest):
        check_name(extra + name if before else name + extra)


@given(st.one_of(st.floats(), st.integers(), st.booleans(), st.text(), st.none()))
def test_vcpus_are_batch_values_and_storable_in_dynamodb(value):
    try:
        checked = check_vcpus(value)
    except BadRequest as exc:
        assert "vcpus" in exc.message
        assert not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and (value in (0.25, 0.5) or (value == int(value) and 1 <= value <= 4096)))
        return
    if value is None:
        assert checked is None
        return
    assert checked == value and isinstance(checked, (int, Decimal))
    TypeSerializer().serialize(checked)  # DynamoDB takes it (a float would raise)


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text()))
def test_counts_are_whole_positive_and_bounded(value):
    try:
        assert check_count(value, "memory_mib", 1000) == value
        assert isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000
    except BadRequest as exc:
        assert "memory_mib" in exc.message


@settings(max_examples=30)
@given(json_values)
def test_a_value_is_refused_exactly_when_its_json_is_over_the_limit(value):
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    check_size(value, "data", size)
    with pytest.raises(PayloadTooLarge, match="'data'.*upload it as a file"):
        check_size(value, "data", size - 1)


def test_the_default_limit_fits_step_functions():
    assert MAX_VALUE_BYTES < 256 * 1024
    with pytest.raises(PayloadTooLarge):
        check_size("x" * MAX_VALUE_BYTES, "input")


# -- ASL -------------------------------------------------------------------------------------------------------

state_names = st.text(alphabet="ABC", min_size=1, max_size=2)
wrong_types = st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2),
                                                                                             st.integers(), max_size=2))


@given(st.sampled_from(["Type", "Next", "Default", "Resource", "Branches", "ItemProcessor", "Choices", "End"]),
       wrong_types)
def test_a_structural_field_of_the_wrong_type_is_400_naming_it(field, value):
    kinds = {"Branches": list, "ItemProcessor": dict, "Choices": list}
    if isinstance(value, kinds.get(field, str)) or (field == "End" and isinstance(value, bool)):
        return
    machine = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, field: value}}}
    with pytest.raises(BadRequest, match=field):
        asl.parse(machine)
    with pytest.raises(BadRequest, match=field):
        asl.parse(json.dumps(machine))


@given(st.dictionaries(state_names, st.fixed_dictionaries(
    {"Type": st.sampled_from(["Pass", "Succeed", "Fail", "Dance"])},
    optional={"Next": state_names, "End": st.booleans()}), min_size=1, max_size=4), state_names)
def test_well_typed_asl_is_either_valid_or_422_never_anything_else(states, start):
    machine = {"StartAt": start, "States": states}
    check_asl_shape(machine)
    try:
        asl.validate(asl.parse(machine))
    except Invalid as exc:
        assert exc.status_code == 422 and exc.message


@given(st.integers(1, 200))
def test_nested_parallel_states_are_fine_up_to_the_depth_bound(levels):
    machine = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    for _ in range(levels):
        machine = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [machine], "End": True}}}
    text = json.dumps(machine)
    if nesting_depth(text) > MAX_DEPTH:
        with pytest.raises(BadRequest):
            asl.parse(text)
    else:
        asl.validate(asl.parse(text))


# Any JSON where the ASL's keys may hold anything: the checks answer 400 or 422, never another exception.
FIELDS = ["Type", "Next", "End", "Default", "Resource", "Branches", "ItemProcessor", "Iterator", "Choices", "Retry",
          "Catch", "Parameters", "Arguments", "QueryLanguage", "TimeoutSeconds", "StartAt", "States"]
any_value = st.deferred(lambda: st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(["Task", "Pass", "Parallel", "Map", "Choice", "A", "B",
                                                              "JSONata", "urn:jobservice:worker:w"]),
    st.lists(any_value, max_size=3), st.dictionaries(st.sampled_from(FIELDS + ["A", "B"]), any_value, max_size=4)))


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(FIELDS + ["A", "B"]), any_value, max_size=5))
def test_any_json_shaped_like_asl_is_a_400_or_a_422_or_binds(machine):
    try:
        doc = asl.parse(machine)
        asl.validate(doc)
    except (BadRequest, Invalid):
        return
    workers = {urn: {"activity_arn": "arn:aws:states:us-east-1:1:activity:w"} for urn in asl.worker_urns(doc)}
    json.dumps(asl.bind(doc, workers))
