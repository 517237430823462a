"""The services know nothing of Asterisk: nothing under services/ imports the telephony
package, panoramisk or an ARI library, and only the HTTP layers (services/api/,
services/web/) import aiohttp."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
NEVER = ("telephony", "panoramisk", "asyncari", "aioari", "ari")
HTTP_LAYERS = ("api", "web")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module `path` imports, also through importlib.import_module("...")."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) in ("import_module", "__import__") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def root(module: str) -> str:
    return module.split(".", 1)[0]


SOURCES = sorted(SERVICES.rglob("*.py"))


def test_the_check_reads_every_services_module():
    assert len(SOURCES) > 50
    assert {"services.errors", "services.privacy"} <= {
        m for p in SOURCES for m in imported_modules(p)}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SERVICES)))
def test_services_never_import_telephony_panoramisk_or_ari(path: Path):
    bad = sorted(m for m in imported_modules(path) if root(m) in NEVER)
    assert bad == [], f"{path.relative_to(SERVICES)} imports {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SERVICES)))
def test_only_the_http_layers_import_aiohttp(path: Path):
    layer = path.relative_to(SERVICES).parts[0]
    if layer in HTTP_LAYERS:
        return
    bad = sorted(m for m in imported_modules(path) if root(m) == "aiohttp")
    assert bad == [], f"{path.relative_to(SERVICES)} imports {bad} outside services/api, web"


def test_the_check_catches_a_telephony_import(tmp_path: Path):
    source = tmp_path / "bad.py"
    source.write_text("import importlib\nfrom telephony.logs import configure_logging\n"
                      "importlib.import_module('panoramisk.manager')\n", encoding="utf-8")
    assert imported_modules(source) == {"importlib", "telephony.logs", "panoramisk.manager"}
