"""emulators/shared_loader.py lists a loader's services from one walk of each folder: the same lists as botocore's."""

import os

import pytest
from botocore import loaders
from moto.core import loaders as moto_loaders

from emulators import shared_loader

shared_loader.install()
ORIGINAL = shared_loader._list_available_services.__wrapped_original__


def kinds_in(location: str) -> set:
    """Every kind of file under location/<service>/<version>/, and a few that are not there."""
    kinds = {"no-such-kind", "service-2.json"}
    for service in os.listdir(location):
        for version in (os.listdir(os.path.join(location, service))
                        if os.path.isdir(os.path.join(location, service)) else ()):
            folder = os.path.join(location, service, version)
            if os.path.isdir(folder):
                kinds |= {name.split(".json")[0] for name in os.listdir(folder) if ".json" in name}
    return kinds


@pytest.mark.parametrize("make", [loaders.create_loader, moto_loaders.create_loader], ids=["botocore", "moto"])
def test_every_kind_lists_the_services_botocore_lists(make):
    assert loaders.Loader.list_available_services is shared_loader._list_available_services
    kinds = set().union(*(kinds_in(location) for location in make()._potential_locations()))
    assert {"service-2", "endpoint-rule-set-1", "waiters-2", "paginators-1"} <= kinds
    for kind in sorted(kinds):
        assert make().list_available_services(kind) == ORIGINAL(make(), kind), kind


def test_the_rule_holds_for_odd_folders(tmp_path):
    def put(path, text="{}"):
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)

    put("plain/2020-01-01/service-2.json")
    put("gzipped/2020-01-01/service-2.json.gz")  # read only where botocore reads gzip
    put("two-versions/2019-01-01/waiters-2.json")
    put("two-versions/2021-01-01/service-2.json")
    put("version-is-a-file/service-2.json")  # no version folder between
    (tmp_path / "kind-is-a-folder/2020-01-01/service-2.json").mkdir(parents=True)
    put("stray-top-level-file.json")
    put("linked/2020-01-01/target.txt")
    os.symlink(tmp_path / "linked/2020-01-01/target.txt", tmp_path / "linked/2020-01-01/service-2.json")
    os.makedirs(tmp_path / "broken-link/2020-01-01")
    os.symlink(tmp_path / "nowhere", tmp_path / "broken-link/2020-01-01/service-2.json")
    put("nested/2020-01-01/deeper/service-2.json")

    def loader():
        return loaders.Loader(extra_search_paths=[str(tmp_path)], include_default_search_paths=False)

    for kind in ("service-2", "waiters-2", "deeper/service-2", "target.txt", "nothing"):
        assert loader().list_available_services(kind) == ORIGINAL(loader(), kind), kind
    assert loader().list_available_services("service-2") == (
        ["gzipped", "linked", "plain", "two-versions"] if ".json.gz" in loaders._JSON_OPEN_METHODS
        else ["linked", "plain", "two-versions"])
