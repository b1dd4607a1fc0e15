"""A Query on a secondary index of the harness's DynamoDB answers exactly what moto's own query path answers.

Random sequences of writes go through boto3 against the harness's emulator (every kind of write
the side index must follow: PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems
that commit or are cancelled, conditions that fail, UpdateTable adding and removing a GSI,
DeleteTable and CreateTable, restores from a backup and to a point in time, and the retention
policy's own drops). After each write, every index of every table is queried for each key value,
page by page with a random Limit, and each page must equal the page of moto's stock query path
(emulators.dynamodb_index.stock_queries) on the same data: items, order, counts, LastEvaluatedKey,
or the same error.
"""

import itertools
import uuid

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings, strategies as st

from emulators import dynamodb_index, retention
from server.dynamodb_connection import table_spec

S = lambda v: {"S": v}  # noqa: E731
N = lambda v: {"N": v}  # noqa: E731

HASH_ONLY = dict(
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                          (("pk", "S"), ("g", "S"), ("r", "N"), ("n", "N"), ("x", "S"))],
    GlobalSecondaryIndexes=[
        {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"IndexName": "by-g-r", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                              {"AttributeName": "r", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
        {"IndexName": "by-n", "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}},
        {"IndexName": "by-g-x-r", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},  # multi-attribute keys
                                                {"AttributeName": "x", "KeyType": "HASH"},
                                                {"AttributeName": "r", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
    ])
HASH_RANGE = dict(
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                          (("pk", "S"), ("sk", "N"), ("g", "S"), ("r", "N"))],
    GlobalSecondaryIndexes=[
        {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}},
        {"IndexName": "by-g-r", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                              {"AttributeName": "r", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
    ],
    LocalSecondaryIndexes=[
        {"IndexName": "by-pk-r", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "r", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}},
    ])
#: the service's own table (sparse `active` index), with the retention policy dropping ended jobs
SERVICE = {k: v for k, v in table_spec("x").items() if k not in ("TableName", "BillingMode")}
#: the GSI that UpdateTable removes and adds again (once on `n`, once on `x`)
MOVING = [{"IndexName": "by-n", "KeySchema": [{"AttributeName": "n", "KeyType": "HASH"}],
           "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}},
          {"IndexName": "by-n", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"},
                                              {"AttributeName": "n", "KeyType": "RANGE"}],
           "Projection": {"ProjectionType": "KEYS_ONLY"}}]

SCHEMAS = {"h": HASH_ONLY, "hr": HASH_RANGE, "svc": SERVICE}
#: the values each key attribute takes: few, so that items share them
VALUES = {"pk": [S(f"p{i}") for i in range(4)], "sk": [N("1"), N("2")], "g": [S("a"), S("b")],
          "r": [N("1"), N("2"), N("3")], "n": [N("1"), N("1.0"), N("2")], "x": [S("u"), S("v")],
          "urn": [S(f"urn:jobservice:job:{i}") for i in range(3)] + [S(f"urn:jobservice:request:{i}") for i in range(2)],
          "kind": [S("job"), S("dropped")], "active": [S("job"), S("run")],
          "created_at": [S("2026-01-01"), S("2026-01-02")], "status": [S("RUNNING"), S("COMPLETED")]}
ATTRIBUTES = {"h": ["g", "r", "n", "x"], "hr": ["g", "r", "x"], "svc": ["kind", "active", "created_at", "status"]}
ODD = [{"L": [S("a")]}, {"SS": ["a", "b"]}]  # moto takes these as index key values in PutItem; AWS does not


def _key_attrs(logical):
    return [k["AttributeName"] for k in SCHEMAS[logical]["KeySchema"]]


def keys(logical):
    return st.fixed_dictionaries({a: st.sampled_from(VALUES[a]) for a in _key_attrs(logical)})


def items(logical):
    value = lambda a: st.sampled_from(VALUES[a] * 4 + ODD[:1] if a == "g" else VALUES[a])  # noqa: E731
    extra = {a: value(a) for a in ATTRIBUTES[logical]}
    if logical == "svc":
        extra["request"] = st.sampled_from([S(f"urn:jobservice:request:{i}") for i in range(2)])
    return st.builds(lambda k, a: {**k, **a}, keys(logical), st.fixed_dictionaries({}, optional=extra))


TABLES = st.sampled_from(sorted(SCHEMAS))


@st.composite
def updates(draw, logical):
    """An UpdateExpression on the table's attributes: SET, REMOVE, ADD, with a condition at times."""
    names, values, sets, removes, adds = {}, {}, [], [], []
    for i, attr in enumerate(draw(st.lists(st.sampled_from(ATTRIBUTES[logical]), min_size=1, max_size=3,
                                           unique=True))):
        names[f"#a{i}"] = attr
        how = draw(st.sampled_from(["set", "remove", "add"] if attr in ("r", "n") else ["set", "remove"]))
        if how == "set":
            values[f":v{i}"] = draw(st.sampled_from(VALUES[attr]))
            sets.append(f"#a{i} = :v{i}")
        elif how == "remove":
            removes.append(f"#a{i}")
        else:
            values[f":v{i}"] = N("1")
            adds.append(f"#a{i} :v{i}")
    expression = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "",
        "ADD " + ", ".join(adds) if adds else "") if part)
    update = {"Key": draw(keys(logical)), "UpdateExpression": expression, "ExpressionAttributeNames": names}
    if values:
        update["ExpressionAttributeValues"] = values
    condition = draw(st.sampled_from([None, "attribute_exists", "attribute_not_exists"]))
    if condition:
        names["#c"] = ATTRIBUTES[logical][0]
        update["ConditionExpression"] = f"{condition}(#c)"
    return update


def _put(logical):
    return st.builds(lambda item, cond: {"Item": item, **({"ConditionExpression": "attribute_not_exists(#c)",
                                                            "ExpressionAttributeNames": {"#c": _key_attrs(logical)[0]}}
                                                           if cond else {})},
                     items(logical), st.booleans())


def _unique_keys(logical, requests, key_of):
    seen, kept = set(), []
    for request in requests:
        key = tuple(sorted((a, str(v)) for a, v in key_of(request).items() if a in _key_attrs(logical)))
        if key not in seen:
            seen.add(key)
            kept.append(request)
    return kept


@st.composite
def steps(draw):
    logical = draw(TABLES)
    kind = draw(st.sampled_from(["put", "put", "update", "update", "update", "legacy update", "delete", "batch", "transact", "transact",
                                 "transact", "end job", "end job", "move gsi", "recreate", "restore",
                                 "restore to point in time"]))
    if kind == "put":
        return kind, logical, draw(_put(logical))
    if kind == "update":
        return kind, logical, draw(updates(logical))
    if kind == "legacy update":  # AttributeUpdates: moto changes the item in place by another way
        changes = draw(st.dictionaries(st.sampled_from(ATTRIBUTES[logical]), st.one_of(
            st.just({"Action": "DELETE"}),
            st.builds(lambda v: {"Action": "PUT", "Value": v}, st.sampled_from(VALUES["g"] + VALUES["r"]))),
            min_size=1, max_size=2))
        return "update", logical, {"Key": draw(keys(logical)), "AttributeUpdates": changes}
    if kind == "delete":
        return kind, logical, {"Key": draw(keys(logical))}
    if kind == "batch":
        requests = draw(st.lists(st.one_of(
            st.builds(lambda i: {"PutRequest": {"Item": i}}, items(logical)),
            st.builds(lambda k: {"DeleteRequest": {"Key": k}}, keys(logical))), min_size=1, max_size=5))
        return kind, logical, _unique_keys(logical, requests, lambda r: next(iter(r.values())).get("Item") or
                                           next(iter(r.values()))["Key"])
    if kind == "transact":
        actions = draw(st.lists(st.one_of(
            st.builds(lambda p: {"Put": p}, _put(logical)),
            st.builds(lambda u: {"Update": u}, updates(logical)),
            st.builds(lambda k: {"Delete": {"Key": k}}, keys(logical)),
            st.builds(lambda k, c: {"ConditionCheck": {"Key": k, "ConditionExpression": f"{c}(#c)",
                                                       "ExpressionAttributeNames": {"#c": ATTRIBUTES[logical][0]}}},
                      keys(logical), st.sampled_from(["attribute_exists", "attribute_not_exists"]))),
            min_size=1, max_size=4))
        return kind, logical, _unique_keys(logical, actions, lambda a: next(iter(a.values())).get("Key") or
                                           next(iter(a.values()))["Item"])
    if kind == "end job":  # as the service ends a job: the retention policy may drop the oldest ended one
        return "update", "svc", {
            "Key": {"urn": draw(st.sampled_from(VALUES["urn"][:3]))},
            "UpdateExpression": "SET kind = :job, #s = :done, created_at = :c REMOVE active",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":job": S("job"), ":done": S("COMPLETED"),
                                          ":c": draw(st.sampled_from(VALUES["created_at"]))}}
    return kind, "h" if kind == "move gsi" else logical, None


class Tables:
    """The tables of one example: logical name -> the table that now stands for it."""

    def __init__(self, ddb):
        self.ddb, self.names, self.policies, self.moved = ddb, {}, [], 0
        for logical in SCHEMAS:
            self.create(logical)

    def create(self, logical):
        name = self.names[logical] = f"side-{logical}-{uuid.uuid4().hex[:10]}"
        self.ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **SCHEMAS[logical])
        if logical == "svc":
            self.policies.append(retention.Retention(name, keep=1))
            retention.apply(self.policies[-1])

    def close(self):
        for policy in self.policies:
            retention.remove(policy)
        for name in self.ddb.list_tables()["TableNames"]:
            if name.startswith("side-"):
                self.ddb.delete_table(TableName=name)

    def apply(self, kind, logical, request):
        ddb, name = self.ddb, self.names[logical]
        try:
            if kind == "put":
                ddb.put_item(TableName=name, **request)
            elif kind == "update":
                ddb.update_item(TableName=name, **request)
            elif kind == "delete":
                ddb.delete_item(TableName=name, **request)
            elif kind == "batch":
                ddb.batch_write_item(RequestItems={name: request})
            elif kind == "transact":
                ddb.transact_write_items(TransactItems=[
                    {action: {"TableName": name, **body}} for item in request for action, body in item.items()])
            elif kind == "move gsi":
                gone = "by-n" in [i["IndexName"] for i in ddb.describe_table(TableName=name)["Table"].get(
                    "GlobalSecondaryIndexes", [])]
                change = {"Delete": {"IndexName": "by-n"}} if gone else {"Create": MOVING[self.moved % 2]}
                self.moved += not gone
                ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[change],
                                 AttributeDefinitions=HASH_ONLY["AttributeDefinitions"])
            elif kind == "recreate":
                ddb.delete_table(TableName=name)
                self.create(logical)
            elif kind == "restore":
                backup = ddb.create_backup(TableName=name, BackupName=f"{name}-backup")["BackupDetails"]["BackupArn"]
                self.names[logical] = f"side-{logical}-{uuid.uuid4().hex[:10]}"
                ddb.restore_table_from_backup(TargetTableName=self.names[logical], BackupArn=backup)
            elif kind == "restore to point in time":
                self.names[logical] = f"side-{logical}-{uuid.uuid4().hex[:10]}"
                ddb.restore_table_to_point_in_time(SourceTableName=name, TargetTableName=self.names[logical])
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        return "ok"


def _pages(ddb, request, stock: bool):
    """Every page of a query, as the client sees it (or its error), through the side index or moto's path."""
    pages, start = [], None
    for _ in range(50):
        try:
            if stock:
                with dynamodb_index.stock_queries():
                    page = ddb.query(**request, **({"ExclusiveStartKey": start} if start else {}))
            else:
                page = ddb.query(**request, **({"ExclusiveStartKey": start} if start else {}))
        except ClientError as exc:
            return pages + [("error", exc.response["Error"])]
        except Exception as exc:  # noqa: BLE001 - moto's own failure (a range attribute of two types), in process
            return pages + [("exception", type(exc).__name__, str(exc))]
        page.pop("ResponseMetadata")
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages
    return pages + ["more than 50 pages"]


def queries(draw, ddb, table):
    """One query per index and key value of `table`, with random Limit, order, range condition, filter, projection."""
    described = ddb.describe_table(TableName=table)["Table"]
    for index in described.get("GlobalSecondaryIndexes", []) + described.get("LocalSecondaryIndexes", []):
        hashes = [k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "RANGE"]
        for values in itertools.product(*(VALUES[name] for name in hashes)):
            request = {"TableName": table, "IndexName": index["IndexName"],
                       "KeyConditionExpression": " AND ".join(f"#h{i} = :h{i}" for i in range(len(hashes))),
                       "ExpressionAttributeNames": {f"#h{i}": name for i, name in enumerate(hashes)},
                       "ExpressionAttributeValues": {f":h{i}": value for i, value in enumerate(values)},
                       "ScanIndexForward": draw(st.booleans())}
            limit = draw(st.one_of(st.none(), st.integers(1, 3)))
            if limit:
                request["Limit"] = limit
            if ranges and draw(st.booleans()):
                request["KeyConditionExpression"] += " AND #r >= :r"
                request["ExpressionAttributeNames"]["#r"] = ranges[0]
                request["ExpressionAttributeValues"][":r"] = draw(st.sampled_from(VALUES[ranges[0]]))
            if draw(st.booleans()):
                request["FilterExpression"] = "attribute_not_exists(#f) OR #f <> :f"
                request["ExpressionAttributeNames"]["#f"] = "x"
                request["ExpressionAttributeValues"][":f"] = S("v")
            if draw(st.booleans()):
                request["ProjectionExpression"] = "#h0, #p"
                request["ExpressionAttributeNames"]["#p"] = "x"
            yield request


@pytest.fixture(scope="module")
def ddb(emulated_aws):
    return emulated_aws[1]("dynamodb")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.fixed_dictionaries({logical: st.lists(items(logical), max_size=12) for logical in SCHEMAS}),
       st.lists(steps(), min_size=1, max_size=12), st.data())
def test_every_index_query_answers_as_moto_after_every_write(ddb, seed, writes, data):
    tables = Tables(ddb)
    try:
        for logical, seeded in seed.items():
            for item in seeded:
                tables.apply("put", logical, {"Item": item})
        for number, (kind, logical, request) in enumerate(writes):
            outcome = tables.apply(kind, logical, request)
            for table in tables.names.values():
                for query in queries(data.draw, ddb, table):
                    fast, stock = _pages(ddb, query, stock=False), _pages(ddb, query, stock=True)
                    assert fast == stock, f"after write {number} ({kind} on {logical}: {outcome}), {query}"
    finally:
        tables.close()


def _active(ddb, table, value):
    request = {"TableName": table, "IndexName": "active", "KeyConditionExpression": "active = :v",
               "ExpressionAttributeValues": {":v": S(value)}, "Limit": 2}
    fast, stock = _pages(ddb, request, stock=False), _pages(ddb, request, stock=True)
    assert fast == stock
    return [item["urn"]["S"] for page in fast for item in page["Items"]]


def test_the_runs_the_retention_policy_deletes_leave_the_active_index(ddb):
    """retention.py deletes an ended job's runs (and tombstones the job) straight in moto's table."""
    table = f"side-retention-{uuid.uuid4().hex[:8]}"
    ddb.create_table(**table_spec(table))
    policy = retention.Retention(table, keep=1)
    retention.apply(policy)
    try:
        for n in range(3):  # three RUNNING jobs, each with a run its worker never finished
            job, run = f"urn:jobservice:job:{n}", f"urn:jobservice:run:w{n}"
            ddb.put_item(TableName=table, Item={"urn": S(job), "kind": S("job"), "status": S("RUNNING"),
                                                "active": S("job"), "created_at": S(f"2026-01-0{n + 1}"),
                                                f"run_w{n}": {"M": {"worker": S(f"w{n}")}}})
            ddb.put_item(TableName=table, Item={"urn": S(run), "kind": S("run"), "active": S("run"),
                                                "created_at": S(f"2026-01-0{n + 1}")})
        assert _active(ddb, table, "run") == ["urn:jobservice:run:w0", "urn:jobservice:run:w1", "urn:jobservice:run:w2"]
        for n in range(2):  # two jobs end: with a retention of 1, the first is dropped with its run
            ddb.update_item(TableName=table, Key={"urn": S(f"urn:jobservice:job:{n}")},
                            UpdateExpression="SET #s = :done REMOVE active", ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={":done": S("COMPLETED")})
        assert policy.dropped == 1
        assert _active(ddb, table, "run") == ["urn:jobservice:run:w1", "urn:jobservice:run:w2"]
        assert _active(ddb, table, "job") == ["urn:jobservice:job:2"]
    finally:
        retention.remove(policy)
        ddb.delete_table(TableName=table)


def test_a_write_moto_makes_outside_the_harness_requests_is_seen_by_the_next_index_query(ddb):
    """moto's table import writes from a thread of its own, not through the harness's server."""
    import threading

    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = f"side-outside-{uuid.uuid4().hex[:8]}"
    ddb.create_table(**table_spec(table))
    try:
        ddb.put_item(TableName=table, Item={"urn": S("a"), "active": S("job"), "created_at": S("1")})
        assert _active(ddb, table, "job") == ["a"]
        moto_table = dynamodb_backends["123456789012"]["us-east-1"].get_table(table)
        writer = threading.Thread(target=lambda: [
            moto_table.put_item({"urn": S("b"), "active": S("job"), "created_at": S("0")}),
            moto_table.delete_item(DynamoType(S("a")), None)])
        writer.start()
        writer.join()
        assert _active(ddb, table, "job") == ["b"]
    finally:
        ddb.delete_table(TableName=table)


def test_the_extensions_write_items_only_where_the_side_index_follows():
    """emulators/ changes DynamoDB items through Table.put_item and Table.delete_item (retention), or in place only
    inside DynamoDBBackend.update_item (dynamodb_update's backend_update_item): each is followed. A new writer
    must go through them, or tell dynamodb_index."""
    import os
    import re

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulators")
    writes = re.compile(r"UpdateExpressionExecutor\(|update_with_attribute_updates\(|\.attrs\[[^]]*\]\s*=|"
                        r"\.items\[[^]]*\]\s*=|\.items\.pop\(|\.put_item\(|\.delete_item\(")
    found = {}
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") and name != "dynamodb_index.py":
            with open(os.path.join(root, name), encoding="utf-8") as f:
                found.update({(name, m.group(0)): True for m in writes.finditer(f.read())})
    assert sorted(found) == [
        ("dynamodb_update.py", ".put_item("), ("dynamodb_update.py", "UpdateExpressionExecutor("),
        ("dynamodb_update.py", "update_with_attribute_updates("),
        ("retention.py", ".delete_item("), ("retention.py", ".put_item(")]
    from emulators import dynamodb_update

    assert dynamodb_update._FAST[(dynamodb_update.DynamoDBBackend, "update_item")] is dynamodb_update.backend_update_item
