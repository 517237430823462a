"""The `hotline` console command.

Each feature area registers its own subcommands, so this file only wires them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from telephony.settings import SettingsError, orders_config

# Modules exposing `register(subparsers)` (or the function named after ":"); each adds
# its own subcommands, in this order.
COMMAND_MODULES = [
    "telephony.lab.commands:register_lab",
    "telephony.controller_cli",
    "telephony.lab.commands:register_tools",
    "telephony.ops_cli",
    "telephony.config.cli",
    "telephony.recordings_cli",
    "services.work_orders.cli",   # register(sub, orders_config, configure_logging=...)
    "services.routing.cli",
    "services.dispatch.cli",
    "services.knowledge.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for entry in COMMAND_MODULES:
        name, _, function = entry.partition(":")
        register = getattr(importlib.import_module(name), function or "register")
        if name == "services.work_orders.cli":   # the database as the controller finds it
            from telephony.logs import configure_logging

            register(sub, orders_config, configure_logging=configure_logging)
        else:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"hotline {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
