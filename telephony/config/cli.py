"""`hotline config check [--file F]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from telephony.config.check import check_config, compose_view, read_env_file, report
from telephony.settings import environment


def cmd_config(args: argparse.Namespace) -> int:
    if args.file:
        try:
            file_env = read_env_file(args.file)
        except OSError as exc:
            print(f"hotline config check: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        env, source = compose_view(file_env, args.file.resolve().parent), str(args.file)
    else:
        env, source = dict(environment()), "the environment"
    problems = check_config(env)
    if problems:
        print(report(problems, source), file=sys.stderr)
        return 1
    print(f"configuration OK ({source})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="check a configuration before running on it")
    config.add_argument("action", choices=["check"])
    config.add_argument("--file", type=Path,
                        help="an env file as docker/.env (default: the process environment)")
    config.set_defaults(func=cmd_config)
