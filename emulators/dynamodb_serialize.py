"""DynamoDB item values written out by a direct walk instead of moto's generic shape walk.

moto serializes every response by walking its botocore output shape. An item's attribute value
(`AttributeValue`) is a structure of ten members (S, N, B, SS, NS, BS, M, L, NULL, BOOL), and for
each member of each value, of each nested map and list, the generic walk asks an attribute picker
for the member under several spellings: about 220 look-ups for a job item with two worker runs,
half of the CPU of a GetItem on the embedded target (3.2 ms).

`_attribute_value` writes the same JSON in one pass over the value: the same members in the
model's order, strings through `str` as `_serialize_type_string` does, blobs base64-encoded as
`_serialize_type_blob` does, booleans as they are, None members left out, None list items kept.
Anything it does not know exactly (a key that is no member, a value that is no dict, a response
transformer) goes to moto's walk. Only the harness's own requests take it (emulators/scope.py);
tests/unit/test_dynamodb_serialize.py checks that both write the same JSON for any item.

The answers of the item calls the service makes (GetItem, PutItem, UpdateItem, DeleteItem, Query,
Scan) are written the same way as a whole (`_serialize_result`): their items, counts, last key and
consumed capacity, with no walk of the output structure (which asked the attribute picker for each
of its members under several spellings: a third of an UpdateItem's serialization). An answer with
any other member goes to moto's walk.
"""

from moto.core import serialize

from . import scope

#: The members of botocore's DynamoDB `AttributeValue`, in the model's order.
MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_KNOWN = frozenset(MEMBERS)
_original = serialize.BaseJSONSerializer._serialize_type_structure


class _Slow(Exception):
    """A value this walk does not write exactly as moto's: moto's own walk writes it."""


def _string(value):
    """As moto's `_serialize_type_string`: `str(value)` unless it is None, {} or []."""
    return value if value in (None, {}, []) else str(value)


def _attribute_value(base64, value) -> dict:
    if type(value) is not dict or not value.keys() <= _KNOWN:
        raise _Slow
    out = {}
    for member in MEMBERS:
        item = value.get(member)
        if item is None:
            continue
        if member in ("S", "N"):
            out[member] = _string(item)
        elif member == "M":
            if type(item) is not dict:
                raise _Slow
            out[member] = {k: _attribute_value(base64, v) for k, v in item.items() if v is not None}
        elif member == "L":
            if type(item) is not list:
                raise _Slow
            out[member] = [None if v is None else _attribute_value(base64, v) for v in item]
        elif member in ("SS", "NS"):
            if type(item) is not list:
                raise _Slow
            out[member] = [_string(v) for v in item]
        elif member == "B":
            out[member] = base64(item)
        elif member == "BS":
            if type(item) is not list or any(v is None for v in item):
                raise _Slow
            out[member] = [base64(v) for v in item]
        else:  # NULL, BOOL: JSON booleans, written as they are
            out[member] = item
    return out


def _serialize_type_structure(self, serialized, value, shape, key):
    if (shape.name == "AttributeValue" and key and scope.active()
            and not getattr(self._value_picker, "response_transformers", None)
            and self.operation_model.service_model.service_name == "dynamodb"):
        try:
            written = _attribute_value(self._base64, value)
        except _Slow:
            pass
        else:
            self._default_serialize(serialized, written, shape, key)
            return
    _original(self, serialized, value, shape, key)


#: The item calls whose whole answer is written directly, and the members each may have.
_ITEM_MAP, _ITEM_LIST, _COUNT = "item", "items", "count"
_ANSWERS = {
    "GetItem": {"Item": _ITEM_MAP},
    "PutItem": {"Attributes": _ITEM_MAP},
    "UpdateItem": {"Attributes": _ITEM_MAP},
    "DeleteItem": {"Attributes": _ITEM_MAP},
    "Query": {"Items": _ITEM_LIST, "Count": _COUNT, "ScannedCount": _COUNT, "LastEvaluatedKey": _ITEM_MAP},
    "Scan": {"Items": _ITEM_LIST, "Count": _COUNT, "ScannedCount": _COUNT, "LastEvaluatedKey": _ITEM_MAP},
}
_original_result = serialize.ResponseSerializer._serialize_result


def _item(base64, value) -> dict:
    if type(value) is not dict:
        raise _Slow
    return {k: _attribute_value(base64, v) for k, v in value.items() if v is not None}


def _capacity(value) -> dict:
    """A ConsumedCapacity of a table name and capacity units, as moto answers an item call."""
    if type(value) is not dict or not value.keys() <= {"TableName", "CapacityUnits"}:
        raise _Slow
    name, units = value.get("TableName"), value.get("CapacityUnits")
    if not (name is None or type(name) is str) or not (units is None or type(units) in (int, float)):
        raise _Slow
    out = {}
    if name is not None:
        out["TableName"] = name
    if units is not None:
        out["CapacityUnits"] = float(units)
    return out


def _answer(self, result) -> dict:
    members = _ANSWERS[self.operation_model.name]
    if type(result) is not dict:
        raise _Slow
    out = {}
    for key, value in result.items():
        if value is None:
            continue
        kind = members.get(key)
        if key == "ConsumedCapacity":
            out[key] = _capacity(value)
        elif kind == _ITEM_MAP:
            out[key] = _item(self._base64, value)
        elif kind == _ITEM_LIST:
            if type(value) is not list:
                raise _Slow
            out[key] = [_item(self._base64, v) for v in value]
        elif kind == _COUNT and type(value) is int:
            out[key] = value
        else:
            raise _Slow
    return out


def _serialize_result(self, resp, result):
    if (self.operation_model.name in _ANSWERS and type(self) is serialize.JSONSerializer and scope.active()
            and not getattr(self._value_picker, "response_transformers", None)
            and self.operation_model.service_model.service_name == "dynamodb"):
        try:
            written = _answer(self, result)
        except _Slow:
            pass
        else:
            return self._serialized_result_to_response(resp, result, self.operation_model.output_shape, written)
    return _original_result(self, resp, result)


def install() -> None:
    """Write DynamoDB attribute values, and the item calls' answers, directly for the harness's requests
    (idempotent)."""
    serialize.BaseJSONSerializer._serialize_type_structure = _serialize_type_structure
    serialize.ResponseSerializer._serialize_result = _serialize_result
