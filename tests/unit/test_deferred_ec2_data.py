"""emulators/lazy_ec2.py: EC2's data is not decoded by `import emulators`, and equals moto's own when read."""

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, strategies as st

from emulators.lazy_ec2 import DeferredDict, DeferredList

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# In a fresh process: `import emulators` (which defers), then the same two moto modules run again from
# their files under other names, as moto ships them, and their data compared.
CHILD = textwrap.dedent("""
    import importlib.util, json, sys
    decoded = []
    loads = json.loads
    def recording(data, *args, **kwargs):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if '"InstanceType"' in text or '"serviceId":"EC2"' in text:
            decoded.append(text[:80])
        return loads(data, *args, **kwargs)
    json.loads = recording
    import emulators
    from moto.ec2.models import availability_zones_and_regions as regions, instance_types as types
    at_import = list(decoded)
    json.loads = loads

    def stock(module):
        spec = importlib.util.spec_from_file_location(module.__name__ + "_stock", module.__file__)
        copy = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(copy)
        return copy

    eager_types, eager_regions = stock(types), stock(regions)
    def region_list(module):
        return [(r.name, r.endpoint, r.opt_in_status) for r in module.RegionsAndZonesBackend.regions]
    same = {
        "regions": region_list(regions) == region_list(eager_regions) and len(region_list(regions)) > 30,
        "offerings": types.INSTANCE_TYPE_OFFERINGS == eager_types.INSTANCE_TYPE_OFFERINGS,
        "offerings as JSON":
            json.dumps(types.INSTANCE_TYPE_OFFERINGS) == json.dumps(eager_types.INSTANCE_TYPE_OFFERINGS),
        "types": types.INSTANCE_TYPES == eager_types.INSTANCE_TYPES and len(types.INSTANCE_TYPES) > 1000,
        "types as JSON": json.dumps(types.INSTANCE_TYPES) == json.dumps(eager_types.INSTANCE_TYPES),
        "families": types.INSTANCE_FAMILIES == eager_types.INSTANCE_FAMILIES,
        "backend types": types.InstanceTypeBackend.instance_types == eager_types.InstanceTypeBackend.instance_types,
    }
    print(json.dumps({"decoded at import": at_import, "same": same}))
""")


def test_import_decodes_no_ec2_data_and_what_is_read_later_equals_what_moto_loads_at_import():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["decoded at import"] == []
    assert out["same"] == dict.fromkeys(out["same"], True)


# -- the containers: whatever is done to them first, they answer as the loaded dict or list would ----
keys = st.sampled_from("abcdef")
DICT_CALLS = st.one_of(
    st.tuples(st.sampled_from(["__getitem__", "get", "__contains__", "pop", "__delitem__"]), keys.map(lambda k: (k,))),
    st.tuples(st.just("__setitem__"), st.tuples(keys, st.integers())),
    st.tuples(st.just("setdefault"), st.tuples(keys, st.integers())),
    st.tuples(st.just("update"), st.dictionaries(keys, st.integers()).map(lambda d: (d,))),
    st.tuples(st.sampled_from(["keys", "values", "items", "__len__", "__iter__", "copy", "__repr__", "popitem",
                               "clear", "__reversed__"]), st.just(())),
)
LIST_CALLS = st.one_of(
    st.tuples(st.sampled_from(["__getitem__", "pop", "__delitem__"]), st.integers(-3, 3).map(lambda i: (i,))),
    st.tuples(st.sampled_from(["__contains__", "count", "index", "append", "remove"]),
              st.integers(0, 5).map(lambda v: (v,))),
    st.tuples(st.just("__setitem__"), st.tuples(st.integers(-3, 3), st.integers())),
    st.tuples(st.just("extend"), st.lists(st.integers(0, 5)).map(lambda v: (v,))),
    st.tuples(st.sampled_from(["__len__", "__iter__", "copy", "__repr__", "sort", "reverse", "clear", "__reversed__"]),
              st.just(())),
)


def outcome(target, name, args):
    try:
        result = getattr(target, name)(*args)
    except (KeyError, IndexError, ValueError) as exc:
        return type(exc)
    return list(result) if name in ("keys", "values", "items", "__iter__", "__reversed__") else result


def behaves_as(deferred, plain, calls):
    content = copy.deepcopy(plain)
    for name, args in calls:  # each call as the first one, on a container not yet loaded
        fresh = type(deferred)(lambda: copy.deepcopy(content))
        assert outcome(fresh, name, args) == outcome(copy.deepcopy(content), name, args), (name, args)
    for name, args in calls:
        assert outcome(deferred, name, args) == outcome(plain, name, args), (name, args)
        assert deferred == plain and plain == deferred and len(deferred) == len(plain)
    for made in (copy.copy(deferred), copy.deepcopy(deferred), pickle.loads(pickle.dumps(deferred))):
        assert made == plain and type(made) is type(plain)
    assert json.dumps(deferred) == json.dumps(plain)


@given(st.dictionaries(keys, st.integers()), st.lists(DICT_CALLS, max_size=8))
def test_a_deferred_dict_answers_as_the_dict_it_loads(content, calls):
    behaves_as(DeferredDict(lambda: dict(content)), dict(content), calls)


@given(st.lists(st.integers(0, 5)), st.lists(LIST_CALLS, max_size=8))
def test_a_deferred_list_answers_as_the_list_it_loads(content, calls):
    behaves_as(DeferredList(lambda: list(content)), list(content), calls)


FIRST_CALLS = [("dict", name, args) for name, args in [
    ("__getitem__", ("a",)), ("get", ("a",)), ("__contains__", ("a",)), ("pop", ("a",)), ("__delitem__", ("a",)),
    ("__setitem__", ("b", 0)), ("setdefault", ("a", 0)), ("update", ({"b": 1},)), ("keys", ()), ("values", ()),
    ("items", ()), ("__len__", ()), ("__iter__", ()), ("copy", ()), ("__repr__", ()), ("popitem", ()), ("clear", ()),
    ("__reversed__", ()), ("__eq__", ({"a": 1},)), ("__or__", ({"b": 1},))]] + [("list", name, args) for name, args in [
    ("__getitem__", (0,)), ("pop", ()), ("__delitem__", (0,)), ("__contains__", (1,)), ("count", (1,)),
    ("index", (1,)), ("append", (1,)), ("remove", (1,)), ("__setitem__", (0, 5)), ("extend", ([1],)), ("__len__", ()),
    ("__iter__", ()), ("copy", ()), ("__repr__", ()), ("sort", ()), ("reverse", ()), ("clear", ()),
    ("__reversed__", ()), ("__eq__", ([1],)), ("__add__", ([1],)), ("__mul__", (2,)), ("insert", (0, 1))]]


@pytest.mark.parametrize("kind, name, args", FIRST_CALLS, ids=[f"{k}.{n}" for k, n, _ in FIRST_CALLS])
def test_whatever_reads_a_deferred_container_first_sees_it_loaded(kind, name, args):
    content = {"a": 1, "c": 2} if kind == "dict" else [2, 1, 3]
    deferred = (DeferredDict if kind == "dict" else DeferredList)(lambda: copy.deepcopy(content))
    plain = copy.deepcopy(content)
    assert outcome(deferred, name, args) == outcome(plain, name, args)
    assert deferred == plain


def test_a_deferred_container_loads_once_whatever_reads_it_first():
    loads = []
    deferred = DeferredList(lambda: loads.append(1) or [3, 1, 2])
    assert 2 in deferred and sorted(deferred) == [1, 2, 3] and len(deferred) == 3
    assert loads == [1]
