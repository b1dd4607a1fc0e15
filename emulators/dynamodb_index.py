"""Query a DynamoDB secondary index in time that follows the items of the index, not the table's size.

moto answers a Query on an index by sorting every item of the table by its primary key, then
keeping those that match the key condition. The service queries its sparse `active` index
(running jobs, unfinished runs) a few times a second, so with moto's way each query costs more
with every job ever run, and so does the idle service.

For the requests of the harness's own servers (emulators.scope), each table keeps a side index:
for each key shape of its indexes (hash attributes, range attributes), the items that have every
key attribute, grouped by the values of their hash attributes. A Query on an index hands moto's
own `Table.query` only the items of the queried group, in moto's order (by primary key), instead
of every item of the table: moto then checks, sorts, pages, filters and projects them as always,
so the answer is moto's own. What it does not support goes to moto's path unchanged: a hash
condition that does not name exactly the index's hash attributes, or a hash value it cannot group
(a set, a list, a map, a number moto cannot read).

It follows every change of an item: moto's `Table.put_item` and `Table.delete_item` (PutItem,
BatchWriteItem, TransactWriteItems, PartiQL, an update that creates its item, retention.py) and
`DynamoDBBackend.update_item` (which changes the live item in place) re-place the item they
touched, under dynamodb_atomic's lock. A table object that moto makes anew (CreateTable, a
restore) starts without a side index; a transaction that fails puts back moto's deep copy of the
table, side index included, as it was. A side index is built from the table's items on its first
query, and again after a write outside the harness's requests (a plain `mock_aws`, an import
thread), which it cannot follow, or after `table.items` was replaced.
"""

import contextlib
import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from . import dynamodb_atomic, scope

_ATTR = "_jobservice_side_index"  # a table's side index, in its __dict__ (moto's deep copies carry it)
_ODD = ()  # where an item with a hash value that cannot be grouped is placed (a tuple survives deep copies)
_state = threading.local()
_stock = {}  # what install() replaced: moto's methods (update_item: whatever wrapped it before)


def _value(value: DynamoType) -> tuple:
    """A hashable copy of a value, equal where moto's DynamoType.__eq__ says equal (type and cast value)."""
    return value.type, value.cast_value


def _primary_key(hash_key: DynamoType, range_key: DynamoType | None) -> tuple:
    return _value(hash_key), None if range_key is None else _value(range_key)


class _Shape:
    """The items of a table that have every key attribute of one index shape, by the values of its hash attributes."""

    def __init__(self, hash_attrs: tuple, range_attrs: tuple):
        self.hash_attrs, self.key_attrs = hash_attrs, hash_attrs + range_attrs
        self.groups: dict[tuple, dict] = {}  # hash values -> {primary key: item}
        self.placed: dict[tuple, tuple] = {}  # primary key -> its hash values, or _ODD
        self.odd = 0  # items placed at _ODD: while any, queries of this shape go to moto's path

    def place(self, key: tuple, item) -> None:
        """Put the item of primary key `key` (None: no item) where its current attributes say."""
        old = self.placed.pop(key, None)
        if old == _ODD:
            self.odd -= 1
        elif old is not None:
            group = self.groups[old]
            del group[key]
            if not group:
                del self.groups[old]
        if item is None or not all(name in item.attrs for name in self.key_attrs):
            return
        try:
            values = tuple(_value(item.attrs[name]) for name in self.hash_attrs)
            hash(values)
        except Exception:  # noqa: BLE001 - a set, list or map, or a number moto cannot read: moto's path decides
            self.placed[key] = _ODD
            self.odd += 1
            return
        self.placed[key] = values
        self.groups.setdefault(values, {})[key] = item


class _SideIndex:
    def __init__(self, table: Table):
        self.items = table.items  # the mapping it follows: moto replacing it means starting again
        self.stale = False  # set by a write it could not follow
        self.shapes: dict[tuple, _Shape] = {}


def _every_item(table: Table):
    for hash_set in list(table.items.values()):
        yield from (hash_set.values() if table.range_key_attr else (hash_set,))


def _shape_of(index) -> tuple:
    return (tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"),
            tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"))


def _shape(table: Table, shape: tuple) -> _Shape:
    """The side index of `table` for `shape`, built from the table's items if it is not up to date."""
    side = table.__dict__.get(_ATTR)
    if side is None or side.stale or side.items is not table.items:
        side = table.__dict__[_ATTR] = _SideIndex(table)
    found = side.shapes.get(shape)
    if found is None:
        current = {_shape_of(index) for index in table.all_indexes()}
        for gone in [s for s in side.shapes if s not in current]:  # an index UpdateTable removed or changed
            del side.shapes[gone]
        found = side.shapes[shape] = _Shape(*shape)
        for item in _every_item(table):
            found.place(_primary_key(item.hash_key, item.range_key), item)
    return found


def _candidates(table: Table, index_name, hash_key_conditions) -> list | None:
    """The items that may answer a query on `index_name`, in moto's order; None: let moto's path answer."""
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None or not hash_key_conditions:
        return None
    shape = _shape_of(index)
    conditions = dict(hash_key_conditions)
    if not shape[0] or len(conditions) != len(hash_key_conditions) or set(conditions) != set(shape[0]):
        return None
    try:
        values = tuple(_value(conditions[name]) for name in shape[0])
        hash(values)
    except Exception:  # noqa: BLE001 - a value it cannot group
        return None
    found = _shape(table, shape)
    if found.odd:
        return None
    items = list(found.groups.get(values, {}).values())
    # moto's Table.all_items order, which its query keeps for the items it picks
    items.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    return items


def _all_items(self):
    candidates = getattr(_state, "candidates", None)
    if candidates is None:
        return _stock["all_items"](self)
    _state.candidates = None
    return candidates


def _query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
           projection_expressions, index_name=None, consistent_read=False, filter_expression=None,
           hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
    def stock():
        return _stock["query"](
            self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
            projection_expressions, index_name=index_name, consistent_read=consistent_read,
            filter_expression=filter_expression, hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions, **filter_kwargs)

    if not index_name or not scope.active() or getattr(_state, "stock", False):
        return stock()
    with dynamodb_atomic.lock:
        try:
            _state.candidates = _candidates(self, index_name, hash_key_conditions)
        except Exception:  # noqa: BLE001 - whatever it could not read, moto's path answers as it does
            side = self.__dict__.get(_ATTR)
            if side is not None:
                side.stale = True
            _state.candidates = None
        try:
            return stock()
        finally:
            _state.candidates = None


def _touched(table: Table, key) -> None:
    """An item of `table` may have changed: `key()` gives its (hash key, range key)."""
    side = table.__dict__.get(_ATTR)
    if side is None:
        return
    if not scope.active():  # not under our lock, not ours to follow: build again on the next query
        side.stale = True
        return
    if side.stale or side.items is not table.items:
        return
    try:
        hash_key, range_key = key()
    except Exception:  # noqa: BLE001 - moto reads the key as this does: it wrote nothing either
        return
    try:
        if table.range_key_attr and range_key is None:  # moto drops a whole partition: start again
            side.stale = True
            return
        found = table.items.get(hash_key)  # .get: items is a defaultdict
        if found is not None and table.range_key_attr:
            found = found.get(range_key)
        primary_key = _primary_key(hash_key, range_key)
        for shape in side.shapes.values():
            shape.place(primary_key, found)
    except Exception:  # noqa: BLE001 - a write that did not go as expected: build again on the next query
        side.stale = True


def _locked(method):
    """Run `method` and its side index change under dynamodb_atomic's lock, for the harness's requests."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not scope.active():
            return method(*args, **kwargs)
        with dynamodb_atomic.lock:
            return method(*args, **kwargs)

    return wrapper


@_locked
def _put_item(self, item_attrs, *args, **kwargs):
    try:
        return _stock["put_item"](self, item_attrs, *args, **kwargs)
    finally:
        _touched(self, lambda: (DynamoType(item_attrs[self.hash_key_attr]),
                                DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr else None))


@_locked
def _delete_item(self, hash_key, range_key, *args, **kwargs):
    try:
        return _stock["delete_item"](self, hash_key, range_key, *args, **kwargs)
    finally:
        _touched(self, lambda: (hash_key, range_key))


def _update_key(table: Table, key) -> tuple:
    """The item moto's DynamoDBBackend.update_item reads for `key` (its own parsing of the key)."""
    if all([table.hash_key_attr in key, table.range_key_attr in key]):
        return DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
    if table.range_key_attr:  # moto's get_item refuses it before anything is written
        raise ValueError("no range key")
    if table.hash_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), None
    return DynamoType(key), None


@_locked
def _update_item(self, table_name, key, *args, **kwargs):
    try:
        return _stock["update_item"](self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name) if isinstance(table_name, str) else None
        if table is None:  # an ARN, or no such table
            table = next((t for t in self.tables.values() if t.table_arn == table_name), None)
        if table is not None:
            _touched(table, lambda: _update_key(table, key))


_update_item.__jobservice_atomic__ = True  # it takes dynamodb_atomic's lock itself: not wrapped once more
_PATCHES = ((Table, "query", _query), (Table, "all_items", _all_items), (Table, "put_item", _put_item),
            (Table, "delete_item", _delete_item), (DynamoDBBackend, "update_item", _update_item))
_installed = []


def install() -> None:
    """Answer index queries from side indexes and keep them up to date (idempotent)."""
    if _installed:
        return
    _installed.append(True)
    for cls, name, patch in _PATCHES:
        _stock[name] = getattr(cls, name)
        setattr(cls, name, patch)


@contextlib.contextmanager
def stock_queries():
    """Within: index queries served in this thread take moto's path (for comparing, and the benchmark)."""
    previous = getattr(_state, "stock", False)
    _state.stock = True
    try:
        yield
    finally:
        _state.stock = previous
