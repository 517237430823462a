"""`hotline controller`: run the call controller in the foreground (what the lab and
the controller image start)."""
from __future__ import annotations

import argparse
import asyncio
import sys

from services.event_loop import loop_factory
from telephony.settings import SettingsError, environment, load_settings, log_level


def cmd_controller(args: argparse.Namespace) -> int:
    from telephony.app import run_controller
    from telephony.config.check import check_config, report
    from telephony.logs import configure_logging

    # the same check as `hotline config check`: every problem at once, no traceback
    problems = check_config(environment())
    if problems:
        print("hotline controller: " + report(problems, "the environment"), file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"hotline controller: {exc}", file=sys.stderr)
        return 2
    configure_logging(args.log_level)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run_controller(settings))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ctl = sub.add_parser("controller", help="run the call controller in the foreground")
    ctl.add_argument("--log-level", default=log_level())
    ctl.set_defaults(func=cmd_controller)
