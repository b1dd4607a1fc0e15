"""EC2's instance types, their offerings and its region list, read when first used, not at import.

moto.batch imports moto.ec2, and two of its modules do their work at import: `instance_types`
decodes `instance_types.json.gz` and the ~90 offering files of every region (0.1-0.15 s), and
`availability_zones_and_regions` asks boto3 for EC2's regions three times, which loads EC2's
whole botocore model (~60 ms) to read its endpoint prefix. The embedded target serves no EC2
and its Batch compute environments are UNMANAGED, so start-up paid for data it never reads.

`install()` hooks the import of those two modules (it must run before moto.ec2 is imported; if
it was imported already, its data stays as loaded). Each module runs moto's own code; while it
runs, moto's `load_resource` hands out empty placeholders instead of decoding the files, and
botocore finds EC2's regions from its endpoint prefix without the model. Right after, the
placeholders become containers that decode their file in place the first time any of their
methods runs, with the same content moto builds. Only C code that walks a list or dict without
calling a method (json.dumps, str.join) would see one empty before that: moto's readers iterate
or look up first, and tests/test_moto_pin.py pins the module code this follows and every reader
of these names in moto.
"""

import functools
import importlib.abc
import importlib.machinery
import sys
import threading
import types

TYPES = "moto.ec2.models.instance_types"
REGIONS = "moto.ec2.models.availability_zones_and_regions"
TYPES_FILE = "ec2/resources/instance_types.json"
#: `metadata.endpointPrefix` of botocore's EC2 model (tests/test_moto_pin.py checks it)
ENDPOINT_PREFIXES = {"ec2": "ec2"}

_NOT_WRAPPED = {"__init__", "__getattribute__", "__setattr__", "__delattr__", "__new__"}


def _filling(method):
    @functools.wraps(method)
    def filled_first(self, *args, **kwargs):
        self._fill()
        return method(self, *args, **kwargs)
    return filled_first


def _deferred(base: type, add: str) -> type:
    """A `base` (dict or list) that fills itself in place, once, before any of its methods runs."""

    def __init__(self, load):
        base.__init__(self)
        self._load, self._lock = load, threading.Lock()

    def _fill(self):
        if self._load is not None:
            with self._lock:  # moto's server threads may read it first at the same time
                if self._load is not None:
                    getattr(base, add)(self, self._load())
                    self._load = None

    def __reduce_ex__(self, protocol):  # copies and pickles are plain, filled containers
        self._fill()
        return base, (base(self),)

    namespace = {name: _filling(method) for name, method in vars(base).items()
                 if isinstance(method, (types.WrapperDescriptorType, types.MethodDescriptorType))
                 and name not in _NOT_WRAPPED}
    namespace.update(__slots__=("_load", "_lock"), __init__=__init__, _fill=_fill, __reduce_ex__=__reduce_ex__,
                     __doc__=f"A {base.__name__} read from its file the first time it is used.")
    return type(f"Deferred{base.__name__.capitalize()}", (base,), namespace)


DeferredDict = _deferred(dict, "update")
DeferredList = _deferred(list, "extend")


class _Placeholder(list):
    """What `load_resource` returns for an offerings file while moto's module runs: empty, with its name."""

    def __init__(self, resource):
        super().__init__()
        self.resource = resource


def _offerings(load_resource, resource, location_type):
    """One offerings file as moto's `instance_types` module builds it at import."""
    res = load_resource(resource)
    for instance in res:
        instance["LocationType"] = location_type
    return res


def _defer_instance_types(exec_module, module) -> None:
    from moto.utilities import utils

    load_resource = utils.load_resource
    utils.load_resource = lambda resource: {} if resource == TYPES_FILE else _Placeholder(resource)
    try:
        exec_module(module)
    finally:
        utils.load_resource = module.load_resource = load_resource
    loaded = DeferredDict(functools.partial(load_resource, TYPES_FILE))
    module.INSTANCE_TYPES = loaded
    module.INSTANCE_FAMILIES = DeferredList(lambda: list({i.split(".")[0] for i in loaded.keys()}))
    module.InstanceTypeBackend.instance_types = DeferredList(lambda: list(map(module.InstanceType, loaded.keys())))
    for location_type, regions in module.INSTANCE_TYPE_OFFERINGS.items():
        for region, placeholder in regions.items():
            regions[region] = DeferredList(
                functools.partial(_offerings, load_resource, placeholder.resource, location_type))


def _defer_region_model(exec_module, module) -> None:
    from botocore.session import Session

    stock = Session.get_available_regions

    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        """botocore's own, but with the endpoint prefix of the models it knows instead of their model."""
        prefix = ENDPOINT_PREFIXES.get(service_name)
        if prefix is None:
            return stock(self, service_name, partition_name, allow_non_regional)
        resolver = self._get_internal_component("endpoint_resolver")
        return resolver.get_available_endpoints(prefix, partition_name, allow_non_regional)

    Session.get_available_regions = get_available_regions
    try:
        exec_module(module)
    finally:
        Session.get_available_regions = stock


_DEFERRING = {TYPES: _defer_instance_types, REGIONS: _defer_region_model}


class _Loader(importlib.abc.Loader):
    """The module's own loader, which runs its code inside `defer`."""

    def __init__(self, loader, defer):
        self._loader, self._defer = loader, defer

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._defer(self._loader.exec_module, module)

    def __getattr__(self, name):  # get_source, get_resource_reader, ...
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        defer = _DEFERRING.get(fullname)
        if defer is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, defer)
        return spec


def install() -> None:
    """Defer EC2's data for the next import of moto.ec2 (idempotent; no effect once it is imported)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
