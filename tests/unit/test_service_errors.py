"""Unexpected errors are kept for tests to raise again, but only so many: the rest are only logged."""

import fakeredis

from server.config import Settings
from server.service import MAX_ERRORS_KEPT, Service


def test_a_flood_of_unexpected_errors_keeps_a_bounded_number():
    service = Service(Settings(redis_url=None, access_key_id="k", secret_access_key="s"), fakeredis.FakeRedis())
    for i in range(MAX_ERRORS_KEPT + 50):
        try:
            raise RecursionError(f"error {i}")
        except RecursionError:
            service.report_error()
    assert len(service.errors) == MAX_ERRORS_KEPT
    assert str(service.errors[0]) == "error 0"  # the first ones, which a test raises again
