"""A refused worker token costs the same whether its id is unknown or its secret wrong (no timing oracle)."""

import hmac

import fakeredis
import pytest

from server import observe, worker_info
from server.errors import Unauthorized
from server.worker_info import WorkerInfo, new_token, token_hash


class Items:
    """The two calls of the DynamoDB Connection that worker info makes here, over a dict, recorded as it records.

    (moto's in-process mock would reset the backends that an embedded service of the same test
    process runs on.)
    """

    def __init__(self):
        self.items = {}

    def get(self, urn, label="Get Resource", attributes=()):
        observe.record(observe.current(), "DynamoDB Connection", label, attributes=attributes)
        item = self.items.get(urn)
        return {k: item[k] for k in attributes if k in item} if item and attributes else item

    def put_new(self, item, label="Add Resource"):
        observe.record(observe.current(), "DynamoDB Connection", label)
        return self.items.setdefault(item["urn"], item) is item


@pytest.fixture
def runs():
    return WorkerInfo(Items(), fakeredis.FakeRedis(), ttl=60)


def refusal_path(runs, header, monkeypatch) -> list:
    """What a refused call does: the stores it reads and the comparisons it makes, in order."""
    steps = []
    sink = lambda event: steps.append((event.target, event.label, event.details))  # noqa: E731
    compare = hmac.compare_digest
    monkeypatch.setattr(worker_info.hmac, "compare_digest",
                        lambda a, b: steps.append(("compare", len(a), len(b))) or compare(a, b))
    observe.subscribe(sink)
    try:
        with pytest.raises(Unauthorized) as refused:
            runs.authenticate(header)
    finally:
        observe.unsubscribe(sink)
        monkeypatch.setattr(worker_info.hmac, "compare_digest", compare)
    return steps + [refused.value.message]


@pytest.mark.parametrize("cached", [True, False])
def test_unknown_id_and_wrong_secret_take_the_same_path(runs, monkeypatch, cached):
    token = new_token("a" * 32)
    info = {"worker": "a" * 32, "job": "urn:jobservice:job:j", "status": "RUNNING", "token_hash": token_hash(token),
            "created_at": "2026-01-01T00:00:00.000Z"}
    runs.create(info)
    if cached:
        runs.cache(info)
    assert runs.authenticate(f"Bearer {token}")["worker"] == "a" * 32
    if not cached:
        runs.redis.flushall()
    wrong_secret = refusal_path(runs, f"Bearer {'a' * 32}.{'x' * 32}", monkeypatch)
    unknown_id = refusal_path(runs, f"Bearer {'b' * 32}.{'x' * 32}", monkeypatch)
    assert wrong_secret == unknown_id
    assert [s for s in unknown_id if s[0] == "compare"] == [("compare", 64, 64)] * 2


def test_an_id_no_run_can_have_is_refused_before_any_store(runs):
    with pytest.raises(Unauthorized):
        runs.authenticate("Bearer " + "x" * 3000 + ".secret")
