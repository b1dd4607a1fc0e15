"""Stop moto from keeping every model object it ever made.

moto's `BaseModel.__new__` appends each new instance to its class's `instances_tracked` list, for
its dashboard (`/moto-api/data.json`) and for S3's reset. Nothing ever removes one, and moto
makes many short-lived models: every DynamoDB read, query and update deep-copies the items it
touches (`Item`, `DynamoType`), every Batch job and Step Functions execution is one. So each
call leaks its copies: about 90 KiB per job of this service, for as long as the process runs,
whatever is deleted.

Here the list holds weak references instead: it still lists every instance that is alive (the
dashboard and the reset see the same objects as before), and a dropped copy is freed.
"""

import weakref

from moto.core.common_models import BaseModel


class WeakInstances:
    """A list-like of the live objects appended to it (weak references, pruned as it grows)."""

    def __init__(self, items=()):
        self._refs: list = []
        self._prune_at = 1024
        for item in items:
            self.append(item)

    def append(self, item) -> None:
        try:
            self._refs.append(weakref.ref(item))
        except TypeError:  # a model without weak references: not tracked
            return
        if len(self._refs) >= self._prune_at:
            self._refs = [ref for ref in self._refs if ref() is not None]
            self._prune_at = max(1024, 2 * len(self._refs))

    def __iter__(self):
        return iter([item for item in (ref() for ref in self._refs) if item is not None])

    def __len__(self) -> int:
        return sum(1 for ref in self._refs if ref() is not None)


def _weakly_tracked_new(cls, *args, **kwargs):
    instance = super(BaseModel, cls).__new__(cls)
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, WeakInstances):  # a class made or reset since: moto gave it a plain list
        tracked = WeakInstances(tracked or ())
        cls.instances_tracked = tracked
    tracked.append(instance)
    return instance


def install() -> None:
    """Track moto's model instances weakly (idempotent)."""
    BaseModel.__new__ = _weakly_tracked_new
