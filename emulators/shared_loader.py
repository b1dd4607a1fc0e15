"""One botocore data loader for every boto3 session of this process.

Each new botocore session parses its own copy of botocore's JSON data: the 1.2 MB
`endpoints.json` and the model of each service it makes a client for. moto makes several
sessions while it imports (EC2's region list alone makes three) and so does the harness, so
the same files are parsed again and again at start-up. A loader caches what it has parsed; a
single loader shared by all sessions parses each file once. Clients of one session share
that data already, so sharing it across sessions changes nothing else.
"""

import functools

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
    from moto.core import loaders as moto_loaders, utils as moto_utils

    if moto_utils.create_loader is not _moto_loader:
        moto_utils.create_loader = _moto_loader
        _moto_loader.__wrapped_create__ = moto_loaders.create_loader


@functools.lru_cache(maxsize=1)
def _moto_loader():
    """The one moto loader of the process (its lists and parsed files are cached in it)."""
    return _moto_loader.__wrapped_create__()
