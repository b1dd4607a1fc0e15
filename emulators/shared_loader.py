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
    """Make every new botocore session use the process's loader for its data path (idempotent)."""
    session.create_loader = _shared
