"""Query a DynamoDB secondary index in time that follows the matching items, not the table's size.

moto answers a Query on an index by sorting every item of the table by its primary key, then
filtering. The service queries its sparse `active` index (running jobs, unfinished runs) a few
times a second, so with moto's way each query costs more with every job ever run, and so does
the idle service. This filters first and sorts only what matches, in the same order as before
(index keys, then primary key for ties).
"""

import threading

from moto.dynamodb.models.table import Table

_state = threading.local()
_all_items = Table.all_items
_sorted_items = Table.sorted_items
_query = Table.query


def _unsorted_all_items(self):
    if not getattr(_state, "index_query", False):
        return _all_items(self)
    items = []
    for hash_set in self.items.values():
        items.extend(hash_set.values() if self.range_key_attr else (hash_set,))
    return items


def _sorted_by_primary_key_then(self, hash_key_attrs, range_key_attrs, items):
    if getattr(_state, "index_query", False):
        items.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    return _sorted_items(self, hash_key_attrs, range_key_attrs, items)


def _index_query(self, *args, **kwargs):
    index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
    _state.index_query = bool(index_name)
    try:
        return _query(self, *args, **kwargs)
    finally:
        _state.index_query = False


def install() -> None:
    """Filter before sorting in index queries (idempotent)."""
    Table.all_items = _unsorted_all_items
    Table.sorted_items = _sorted_by_primary_key_then
    Table.query = _index_query
