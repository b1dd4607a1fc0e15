"""Unexpected errors are kept for tests to raise again, but only so many: the rest are only logged."""

import fakeredis

from server.config import Settings
from server.service import Service


def test_a_flood_of_unexpected_errors_keeps_a_bounded_number():
    service = Service(Settings(redis_url=None, access_key_id="k", secret_access_key="s"), fakeredis.FakeRedis())
    kept = service.settings.errors_kept
    for i in range(kept + 50):
        try:
            raise RecursionError(f"error {i}")
        except RecursionError:
            service.report_error()
    assert len(list(service.errors)) == kept
    assert str(list(service.errors)[-1]) == f"error {kept + 49}"  # the latest, which a test raises again
    assert service.errors[kept + 49:] and str(service.errors[kept + 49:][0]) == f"error {kept + 49}"
