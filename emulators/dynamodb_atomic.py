"""Make moto's DynamoDB item writes atomic, as they are on AWS.

moto's server runs each request in its own thread and its backend reads,
changes and stores an item without a lock, so two concurrent
`list_append` updates of one item can lose one, and a read during an update
can see half of it (a status changed, the field set with it not yet). AWS
applies each write to an item atomically; one lock around the calls that
write or read items gives that, for the requests of the harness's own server
(emulators.scope): a `mock_aws` of the same process calls moto unchanged.
"""

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from . import scope

_ITEM_CALLS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
           "get_item", "query", "scan", "batch_get_item", "transact_get_items")
#: Responses that turn live items into their answer: the copy is made under the lock too, or a
#: concurrent update of a map attribute changes the item while it is being copied. UpdateItem's
#: answer is one of them: moto's handler writes the updated item out (`item.to_json()`) after
#: the backend call, whatever ReturnValues asks (emulators/dynamodb_update.py: unless it asks for
#: NONE) ("dictionary changed size during iteration" when
#: another update of the same item added an attribute meanwhile, seen in a 900-job soak).
_READ_RESPONSES = ("get_item", "batch_get_item", "query", "scan", "transact_get_items", "update_item")
lock = _lock = threading.RLock()  # `lock`: for extensions that change items directly


def _atomic(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not scope.active():
            return method(*args, **kwargs)
        with _lock:
            return method(*args, **kwargs)

    wrapper.__jobservice_atomic__ = True
    return wrapper


def install() -> None:
    """Serialise the DynamoDB calls that read or write items (idempotent)."""
    for cls, names in ((DynamoDBBackend, _ITEM_CALLS), (DynamoHandler, _READ_RESPONSES)):
        for name in names:
            method = getattr(cls, name)
            if not getattr(method, "__jobservice_atomic__", False):
                setattr(cls, name, _atomic(method))
