"""The DynamoDB Connection: every resource lives as one item of one table.

Items are keyed by URN. User JSON (inputs, outputs, result data) is stored as
JSON text, so any JSON survives DynamoDB's number rules. Each worker run of a
job is a top-level attribute `run_<id>` of the job's item, so concurrent
workers update one job without overwriting each other, and every append is a
single atomic `list_append`.
"""

import json
import threading
from collections.abc import Callable
from contextlib import contextmanager

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from . import clock, observe

BY_KIND = "by-kind"
ACTIVE = "active"
PARTICIPANT = "DynamoDB Connection"

_ser, _de = TypeSerializer(), TypeDeserializer()


def now() -> str:
    """Return the current time as ISO 8601 UTC with milliseconds."""
    return clock.iso()


def _to_attr(value):
    return _ser.serialize(value)


def _from_item(item: dict) -> dict:
    out = {}
    for key, raw in item.items():
        value = _de.deserialize(raw)
        out[key] = _plain(value)
    return out


def _plain(value):
    """Turn DynamoDB's Decimals back into ints and floats."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "as_integer_ratio") and type(value).__name__ == "Decimal":
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class ConditionFailed(Exception):
    """A conditional write did not apply: the item is not in the expected state.

    `item` is the item as the failed write found it, when the write asked for it (`old_on_failure`);
    None otherwise, or when there was no item.
    """

    def __init__(self, urn: str, item: dict | None = None):
        super().__init__(urn)
        self.item = item


class Update:
    """Build one UpdateItem expression from SET / REMOVE / ADD parts."""

    def __init__(self):
        self.sets, self.removes, self.adds = [], [], []
        self.names, self.values = {}, {}
        self._n = 0
        #: The top-level attributes it writes (sets, removes or adds to), which waiters may watch.
        self.attributes: set[str] = set()

    def name(self, *path: str) -> str:
        self.attributes.add(path[0])
        parts = []
        for part in path:
            token = f"#n{len(self.names)}"
            self.names[token] = part
            parts.append(token)
        return ".".join(parts)

    def value(self, value) -> str:
        self._n += 1
        token = f":v{self._n}"
        self.values[token] = _to_attr(value)
        return token

    def set(self, path, value, if_absent=False) -> "Update":
        path = path if isinstance(path, tuple) else (path,)
        ref = self.name(*path)
        val = self.value(value)
        self.sets.append(f"{ref} = if_not_exists({ref}, {val})" if if_absent else f"{ref} = {val}")
        return self

    def append(self, path, items: list) -> "Update":
        path = path if isinstance(path, tuple) else (path,)
        ref = self.name(*path)
        self.sets.append(f"{ref} = list_append(if_not_exists({ref}, {self.value([])}), {self.value(items)})")
        return self

    def remove(self, path) -> "Update":
        path = path if isinstance(path, tuple) else (path,)
        self.removes.append(self.name(*path))
        return self

    def add(self, path, number: int) -> "Update":
        self.adds.append(f"{self.name(path)} {self.value(number)}")
        return self

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        return " ".join(parts)


class Written(threading.Event):
    """The Event a watcher waits on, with the items its writes stored (a change feed of this process).

    `take()` answers what was written since the last take: the new item of each write that
    returned one, None for a write whose new item is not known (a put, a delete, a transaction).
    """

    def __init__(self):
        super().__init__()
        self._items: list[dict | None] = []
        self._items_lock = threading.Lock()

    def push(self, item: dict | None) -> None:
        with self._items_lock:
            if len(self._items) < 64:  # a slow watcher re-reads instead of holding every write
                self._items.append(item)
            else:
                self._items[-1] = None
        self.set()

    def take(self) -> list[dict | None]:
        with self._items_lock:
            items, self._items = self._items, []
            self.clear()
        return items


class Changes:
    """Tell threads of this process waiting on a URN that it was written (long polls, the poller).

    Only URNs someone waits on right now are held, so this costs nothing per resource ever written.
    Writes made by other processes are not seen here: a waiter re-reads at least every few hundred ms.

    A waiter may say which of the item's attributes it watches (`cares`, given the names a write
    set or removed): a write of none of them does not wake it, and does not make the write ask
    DynamoDB for the whole new item on its behalf.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: dict[str, dict[threading.Event, Callable[[set], bool] | None]] = {}

    def _told(self, urn: str, written) -> list:
        """The events of `urn`'s waiters that watch what a write of `written` attributes changed
        (None: the attributes are not known, every waiter)."""
        with self._lock:
            waiting = list(self._waiting.get(urn, {}).items())
        return [event for event, cares in waiting if written is None or cares is None or cares(written)]

    def notify(self, urn: str, item: dict | None = None, written: set | None = None) -> None:
        """`urn` was written (the attributes `written`, when known); `item` is its new content when the
        write returned it (else None)."""
        for event in self._told(urn, written):
            if isinstance(event, Written):
                event.push(item)
            else:
                event.set()

    def watched(self, urn: str, written: set | None = None) -> bool:
        """Whether a thread waits on `urn` now for the new item of a write of `written` (a `Written`
        watching what that write changes: the write then hands it the new item, no read of its own)."""
        return urn in self._waiting and any(isinstance(event, Written) for event in self._told(urn, written))

    @contextmanager
    def watch(self, *urns: str, event: threading.Event | None = None, cares: Callable[[set], bool] | None = None):
        """An Event (`event`, or a new `Written`) set by every write of one of `urns` while the block runs
        (with `cares`, only by a write of attributes for which `cares(names)` is true)."""
        event = event or Written()
        with self._lock:
            for urn in urns:
                self._waiting.setdefault(urn, {})[event] = cares
        try:
            yield event
        finally:
            with self._lock:
                for urn in urns:
                    waiting = self._waiting.get(urn)
                    if waiting is not None:
                        waiting.pop(event, None)
                        if not waiting:
                            del self._waiting[urn]


#: What `Changes` is notified of when any job is created (the poller watches it to find new work).
JOBS_CREATED = "urn:jobservice:job:*"


class DynamoDBConnection:
    """Resources (definitions, requests, jobs, worker runs) in one DynamoDB table."""

    def __init__(self, clients, table: str):
        self._clients = clients
        self.table = table
        #: Every write through this connection notifies the threads waiting on its URN.
        self.changes = Changes()

    def _call(self, operation: str, label: str, **kwargs):
        caller = observe.current()
        observe.record(caller, PARTICIPANT, label)
        if operation not in ("batch_get_item", "transact_write_items"):
            kwargs["TableName"] = self.table
        with observe.acting_as(PARTICIPANT):
            return getattr(self._clients.dynamodb, operation)(**kwargs)

    def get(self, urn: str, label: str = "Get Resource", attributes: tuple[str, ...] = ()) -> dict | None:
        """The item with this URN (only `attributes` of it, when given), or None."""
        kwargs = {}
        if attributes:
            kwargs = {"ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
                      "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(attributes)}}
        item = self._call("get_item", label, Key={"urn": {"S": urn}}, ConsistentRead=True, **kwargs).get("Item")
        return _from_item(item) if item else None

    def put_new(self, item: dict, label: str = "Add Resource") -> bool:
        """Store a new item; False when one with its URN exists already."""
        try:
            self._call("put_item", label, Item={k: _to_attr(v) for k, v in item.items()},
                       ConditionExpression="attribute_not_exists(urn)")
            self.changes.notify(item["urn"])
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def delete(self, urn: str, label: str = "Delete Resource") -> None:
        self._call("delete_item", label, Key={"urn": {"S": urn}})
        self.changes.notify(urn)

    def get_many(self, urns: list[str], label: str = "Get Resources") -> dict[str, dict]:
        """The items of `urns` that exist, by URN (BatchGetItem, 100 at a time, consistent reads)."""
        found: dict[str, dict] = {}
        for start in range(0, len(urns), 100):
            keys = [{"urn": {"S": u}} for u in urns[start:start + 100]]
            while keys:
                page = self._call("batch_get_item", label,
                                  RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}})
                for raw in page.get("Responses", {}).get(self.table, []):
                    item = _from_item(raw)
                    found[item["urn"]] = item
                keys = page.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def update(self, urn: str, update: Update, condition: str | None = None,
               label: str = "Update Resource", returns: str = "ALL_NEW", old_on_failure: bool = False) -> dict:
        """Apply `update` to one item atomically; raise ConditionFailed if `condition` is false (with the
        item as it was, read by the same call, when `old_on_failure`).

        Returns the item's attributes as `returns` asks. While a thread of this process waits on the
        item, the write asks for the whole new item and hands it to the waiters (`Changes`).
        """
        asked = "ALL_NEW" if returns == "NONE" and self.changes.watched(urn, update.attributes) else returns
        kwargs = dict(Key={"urn": {"S": urn}}, UpdateExpression=update.expression(),
                      ExpressionAttributeNames=update.names, ReturnValues=asked)
        if update.values:
            kwargs["ExpressionAttributeValues"] = update.values
        if condition:
            kwargs["ConditionExpression"] = condition
            if old_on_failure:
                kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            attributes = self._call("update_item", label, **kwargs).get("Attributes", {})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                raise ConditionFailed(urn, _from_item(old) if old else None) from exc
            raise
        item = _from_item(attributes)
        self.changes.notify(urn, item if asked == "ALL_NEW" else None, update.attributes)
        return item if returns != "NONE" else {}

    def put_and_update(self, item: dict, urn: str, update: Update, label: str = "Add Resource") -> None:
        """Store a new item and update another, both or neither (TransactWriteItems)."""
        change = {"TableName": self.table, "Key": {"urn": {"S": urn}}, "UpdateExpression": update.expression(),
                  "ExpressionAttributeNames": update.names}
        if update.values:
            change["ExpressionAttributeValues"] = update.values
        self._call("transact_write_items", label, TransactItems=[
            {"Put": {"TableName": self.table, "Item": {k: _to_attr(v) for k, v in item.items()}}},
            {"Update": change}])
        self.changes.notify(item["urn"])
        self.changes.notify(urn)

    def query_index(self, index: str, key: str, value: str, newest_first: bool = True,
                    label: str = "Query Resources", attributes: tuple[str, ...] = ()) -> list[dict]:
        """Every item of an index partition, newest first (only `attributes` of each, if given)."""
        items, start = [], None
        names = {"#k": key, **{f"#p{i}": a for i, a in enumerate(attributes)}}
        while True:
            kwargs = dict(IndexName=index, KeyConditionExpression="#k = :v",
                          ExpressionAttributeNames=names,
                          ExpressionAttributeValues={":v": {"S": value}},
                          ScanIndexForward=not newest_first)
            if attributes:
                kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(attributes)))
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._call("query", label, **kwargs)
            items.extend(_from_item(i) for i in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def by_kind(self, kind: str) -> list[dict]:
        return self.query_index(BY_KIND, "kind", kind, label=f"List {kind} Resources")

    def active(self, kind: str, attributes: tuple[str, ...] = ()) -> list[dict]:
        """Jobs still RUNNING, or worker runs not yet finished (only `attributes` of each, if given)."""
        return self.query_index(ACTIVE, "active", kind, newest_first=False, label=f"List Active {kind}s",
                                attributes=attributes)

    def ping(self) -> None:
        self._clients.dynamodb.describe_table(TableName=self.table)


def table_spec(table: str) -> dict:
    """Arguments of CreateTable for the resources table (used by provisioning)."""
    return dict(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "urn", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "active", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "urn", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": BY_KIND, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"},
                           {"AttributeName": "created_at", "KeyType": "RANGE"}]},
            {"IndexName": ACTIVE, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "active", "KeyType": "HASH"},
                           {"AttributeName": "created_at", "KeyType": "RANGE"}]},
        ],
    )
