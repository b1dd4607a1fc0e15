"""The service's own calls go into moto in process with the form of a signature; nothing else takes that form."""

import threading
import time

import boto3
import requests
from botocore.config import Config


def _authorizations(client):
    seen = []
    client.meta.events.register_first("before-send", lambda request, **_: seen.append(request.headers["Authorization"]))
    return seen


def test_an_in_process_call_carries_only_the_form_of_a_signature_and_is_served(emulated_aws):
    _, client = emulated_aws
    dynamodb = client("dynamodb", region_name="eu-west-1")
    seen = _authorizations(dynamodb)
    assert "TableNames" in dynamodb.list_tables()
    assert b"/eu-west-1/dynamodb/aws4_request" in seen[0]  # the scope moto reads its region from
    assert seen[0].endswith(b"Signature=" + b"0" * 64)


def test_that_form_is_refused_over_http_and_a_presigned_url_of_the_same_client_is_not(emulated_aws):
    aws, _ = emulated_aws
    s3 = boto3.client("s3", endpoint_url=aws.endpoint, region_name="us-east-1", config=Config(signature_version="s3v4"),
                      aws_access_key_id=aws.credentials.access_key_id,
                      aws_secret_access_key=aws.credentials.secret_access_key)
    aws.transport().attach(s3.meta.events)  # as the service's own S3 client
    s3.create_bucket(Bucket="inprocess-sign")
    seen = _authorizations(s3)
    s3.put_object(Bucket="inprocess-sign", Key="k", Body=b"data")
    forged = requests.get(f"{aws.endpoint}/inprocess-sign/k", timeout=10,
                          headers={"Authorization": seen[-1].decode(), "X-Amz-Date": "20261201T000000Z"})
    assert forged.status_code == 403  # the loopback port checks signatures: the form alone is no key
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "inprocess-sign", "Key": "k"})
    assert "X-Amz-Signature=" + "0" * 64 not in url
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"data", fetched.text


def test_an_update_answer_is_written_while_no_other_update_of_the_item_runs(emulated_aws, monkeypatch):
    """moto writes an UpdateItem's answer from the live item after its backend call: under the item lock."""
    from moto.dynamodb.models.dynamo_type import Item

    _, client = emulated_aws
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName="answers", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    dynamodb.put_item(TableName="answers", Item={"k": {"S": "x"}})
    writing, changed_meanwhile = threading.Event(), []
    stock_to_json = Item.to_json

    def slow_to_json(self):  # the first update's answer (its item, updated), written out slowly
        if threading.current_thread().name != "first" or "first" not in self.attrs:
            return stock_to_json(self)
        before = set(self.attrs)
        writing.set()
        time.sleep(0.2)
        changed_meanwhile.append(set(self.attrs) != before)
        return stock_to_json(self)

    monkeypatch.setattr(Item, "to_json", slow_to_json)

    def update(name):  # ALL_NEW: an answer made of the item (NONE writes none: emulators/dynamodb_update.py)
        dynamodb.update_item(TableName="answers", Key={"k": {"S": "x"}}, UpdateExpression="SET #n = :v",
                             ExpressionAttributeNames={"#n": name}, ExpressionAttributeValues={":v": {"S": "y"}},
                             ReturnValues="ALL_NEW")

    first = threading.Thread(target=update, args=("first",), name="first")
    first.start()
    assert writing.wait(10)
    update("second")  # another update of the same item while the first one's answer is written
    first.join(10)
    assert changed_meanwhile and not any(changed_meanwhile)
