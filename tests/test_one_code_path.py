"""server/ never asks which target it runs on, and imports no emulator."""

import ast
import pathlib

SERVER = pathlib.Path(__file__).resolve().parent.parent / "server"
EMULATOR_MODULES = ("moto", "fakeredis", "emulators", "localstack_client", "harness")


def modules():
    return sorted(SERVER.glob("*.py"))


def test_server_imports_no_emulator():
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.split(".")[0] in EMULATOR_MODULES, f"{path.name} imports {name}"


def test_the_target_is_read_only_as_a_label_for_health():
    readers = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "target":
                readers.append(path.name)
            if isinstance(node, ast.Constant) and node.value in ("embedded", "localstack", "aws") \
                    and path.name != "config.py":
                readers.append(f"{path.name}: {node.value!r}")
    assert readers == ["service.py"], readers
