"""The `hotline` console command.

Each feature area registers its own subcommands, so this file only wires them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.work_orders.config import OrdersConfig

# Modules exposing `register(subparsers)`; each adds its own subcommands.
COMMAND_MODULES = [
    "telephony.lab.commands",
    "telephony.ops_cli",
    "telephony.config.cli",
    "services.work_orders.cli",   # register(sub, orders_config, configure_logging=...)
    "services.routing.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        if name == "services.work_orders.cli":
            from telephony.logs import configure_logging

            module.register(sub, orders_config, configure_logging=configure_logging)
        else:
            module.register(sub)
    return parser


def orders_config() -> OrdersConfig:
    """What `hotline orders` needs: the database URL (with its password from the settings'
    secrets) and the Redis URL; read only when an order command runs."""
    from services.work_orders.config import OrdersConfig
    from services.work_orders.db import default_url
    from telephony.settings import with_db_password

    env = with_db_password(os.environ)
    data_dir = Path(env["HOTLINE_DATA_DIR"]) if env.get("HOTLINE_DATA_DIR") else None
    return OrdersConfig(db_url=env.get("HOTLINE_DB_URL") or default_url(data_dir),
                        redis_url=env.get("HOTLINE_REDIS_URL") or None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
