"""What the benches need beyond the test install (`pip install -e '.[bench]'`), checked
before a run starts: the capacity bench draws its plot with matplotlib and profiles the
controller with py-spy only after its measured steps, so a missing one used to end a run
minutes in, with nothing written."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

INSTALL = ".venv/bin/pip install -e '.[bench]'"


def missing(bin_dir: Path, *, profiling: bool,
            has_module: Callable[[str], bool] = lambda name:
            importlib.util.find_spec(name) is not None) -> list[str]:
    """The bench tools that are not installed: matplotlib always, and the py-spy beside
    the interpreter (`bin_dir`) when a profile step will run."""
    gone = [] if has_module("matplotlib") else ["matplotlib"]
    if profiling and not (bin_dir / "py-spy").exists():
        gone.append("py-spy")
    return gone


def refusal(gone: list[str]) -> str | None:
    """The line a bench stops with, before it starts anything, or None when all is there."""
    if not gone:
        return None
    return f"{' and '.join(gone)} not installed: install the bench tools with `{INSTALL}`"
