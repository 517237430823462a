"""Call control knows nothing of Asterisk: nothing under telephony/calls/ imports
aiohttp, panoramisk or the ARI adapter, and none of it writes a dial string."""
from __future__ import annotations

import ast
import subprocess
import sys

from telephony.settings import REPO_ROOT

CALLS = REPO_ROOT / "telephony" / "calls"
FORBIDDEN = ("aiohttp", "panoramisk", "telephony.ari")


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


def test_nothing_under_calls_imports_aiohttp_panoramisk_or_ari():
    files = sorted(CALLS.glob("*.py"))
    assert len(files) > 5
    found = {f"{path.name}: {name}" for path in files for name in _imports(path)
             if _forbidden(name)}
    assert found == set()


def test_importing_call_control_loads_none_of_them():
    """Not even through what it imports (services, the model)."""
    code = ("import sys, pkgutil, importlib, telephony.calls as c\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module(f'telephony.calls.{m.name}')\n"
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT).stdout.split()
    assert "telephony.calls.controller" in out
    assert [name for name in out if _forbidden(name)] == []


def test_no_dial_string_is_written_under_calls():
    for path in CALLS.glob("*.py"):
        assert "PJSIP/" not in path.read_text(encoding="utf-8"), path.name
