"""The `hotline` console command.

Each feature area registers its own subcommands, so this file only wires them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules exposing `register(subparsers)`; each adds its own subcommands.
COMMAND_MODULES = [
    "telephony.lab.commands",
    "telephony.ops_cli",
    "telephony.config.cli",
    "services.work_orders.cli",
    "services.routing.cli",
    "services.knowledge.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
