"""A Query on a secondary index of the embedded DynamoDB: index order, primary key for ties, sparse items left out."""

import uuid

from server.dynamodb_connection import table_spec


def test_an_index_query_answers_in_index_order_with_ties_by_primary_key(emulated_aws):
    table = f"t-{uuid.uuid4().hex[:8]}"
    ddb = emulated_aws[1]("dynamodb")
    ddb.create_table(**table_spec(table))
    rows = [("b", "2"), ("a", "2"), ("c", "1"), ("d", None), ("e", "3"), ("f", None)]
    for urn, created in rows:
        item = {"urn": {"S": urn}, "kind": {"S": "job"}, "created_at": {"S": created or "0"}}
        if created is not None:
            item["active"] = {"S": "job"}
        ddb.put_item(TableName=table, Item=item)

    def query(forward):
        return [i["urn"]["S"] for i in ddb.query(
            TableName=table, IndexName="active", KeyConditionExpression="#a = :v",
            ExpressionAttributeNames={"#a": "active"}, ExpressionAttributeValues={":v": {"S": "job"}},
            ScanIndexForward=forward)["Items"]]

    assert query(True) == ["c", "a", "b", "e"]
    assert query(False) == ["e", "b", "a", "c"]
    assert sorted(i["urn"]["S"] for i in ddb.scan(TableName=table)["Items"]) == list("abcdef")
