"""One botocore data loader for every boto3 session of this process.

Each new botocore session parses its own copy of botocore's JSON data: the 1.2 MB
`endpoints.json` and the model of each service it makes a client for. moto makes several
sessions while it imports (EC2's region list alone makes three) and so does the harness, so
the same files are parsed again and again at start-up. A loader caches what it has parsed; a
single loader shared by all sessions parses each file once. Clients of one session share
that data already, so sharing it across sessions changes nothing else.

A loader also lists the services it knows once per kind of file (a service's model, its endpoint
rules, its waiters...), each time walking the ~400 service folders with a few `stat`s apiece
(11-29 ms per listing; four at start-up, three by botocore's loader and one by moto's, over the
same folder). `install()` makes each folder of the search path walked once in the process, with
`os.scandir`, and every listing answered from that walk: the same services, by the same rule (a
folder holding a version folder holding `<kind>.json` or `<kind>.json.gz` as a file).
"""

import functools
import os

from botocore import loaders, session

_original = loaders.create_loader


@functools.lru_cache(maxsize=8)
def _shared(search_path_string):
    return _original(search_path_string)


def install() -> None:
    """Make every new botocore session use the process's loader for its data path (idempotent).

    moto's own service models (how its server parses requests) come from a loader of its own,
    made anew for each model: each new loader lists botocore's ~400 service folders first
    (20-30 ms, for every service's first request). One moto loader serves them all here.
    """
    session.create_loader = _shared
    if loaders.Loader.list_available_services is not _list_available_services:
        _list_available_services.__wrapped_original__ = loaders.Loader.list_available_services
        loaders.Loader.list_available_services = _list_available_services
    from moto.core import loaders as moto_loaders, utils as moto_utils

    if moto_utils.create_loader is not _moto_loader:
        moto_utils.create_loader = _moto_loader
        _moto_loader.__wrapped_create__ = moto_loaders.create_loader


@functools.lru_cache(maxsize=1)
def _moto_loader():
    """The one moto loader of the process (its lists and parsed files are cached in it)."""
    return _moto_loader.__wrapped_create__()


@functools.lru_cache(maxsize=32)
def _kinds(location: str) -> dict:
    """{kind of file: the services in `location` with one}, from one walk of its folders.

    Kept for the process, as the shared loader keeps what it has read: botocore's data folder is
    walked once for botocore's loader and moto's.
    """
    found: dict = {}
    extensions = tuple(loaders._JSON_OPEN_METHODS)
    with os.scandir(location) as services:
        for service in services:
            if not service.is_dir():
                continue
            with os.scandir(service.path) as versions:
                for version in versions:
                    if not version.is_dir():
                        continue
                    with os.scandir(version.path) as files:
                        for entry in files:
                            for extension in extensions:
                                if entry.name.endswith(extension) and entry.is_file():
                                    found.setdefault(entry.name[:-len(extension)], set()).add(service.name)
    return found


@loaders.instance_cache
def _list_available_services(self, type_name):
    """botocore's `Loader.list_available_services`, from one walk of each folder of the search path."""
    if os.sep in type_name or (os.altsep and os.altsep in type_name):  # a nested kind: botocore's own walk
        return _list_available_services.__wrapped_original__(self, type_name)
    services = set()
    for location in self._potential_locations():
        services |= _kinds(location).get(type_name, set())
    return sorted(services)
