"""`hotline lab ...`, `hotline controller` and `hotline demo`."""
from __future__ import annotations

import argparse
import json
import sys

from telephony.settings import (
    SettingsError,
    child_environment,
    default_to_lab_mode,
    load_settings,
)


def _lab_settings():
    default_to_lab_mode()
    return load_settings()


def cmd_lab(args: argparse.Namespace) -> int:
    from telephony.lab.lab import Lab, LabError
    from telephony.lab.runtime import ensure_runtime

    try:
        if args.action == "install":
            ensure_runtime()
            return 0
        lab = Lab(_lab_settings())
        if args.action == "up":
            lab.up(controller=not args.no_controller, controllers=args.controllers,
                   redis=args.redis)
        elif args.action == "down":
            lab.down()
        elif args.action == "status":
            print(json.dumps(lab_status(lab), indent=2, ensure_ascii=False))
        elif args.action == "render":
            for site in lab.settings.sites:
                print(f"{site.name}: {lab.render(site)}")
    except (LabError, SettingsError, RuntimeError) as exc:
        print(f"hotline lab {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def lab_status(lab) -> dict:
    from telephony.lab.probe import site_snapshot

    procs = lab.processes()
    sites = {}
    for site in lab.settings.sites:
        running = procs.get(f"asterisk-{site.name}", False)
        sites[site.name] = {"address": site.address, "running": running,
                            **(site_snapshot(lab.settings, site) if running else {})}
    ha = lab.redis_ha
    redis = ha.status() if ha.running else {"mode": "single", "running": procs.get("redis", False)}
    return {"processes": procs, "sites": sites, "redis": redis, "controller": lab.health(),
            "controllers": lab.controllers()}


def cmd_demo(args: argparse.Namespace) -> int:
    from telephony.lab.demo import run_demo, run_surge_demo

    if args.docker:
        from telephony.deploy.demo import run_docker_demo

        return run_docker_demo(keep=args.keep)
    if args.surge:
        return run_surge_demo(_lab_settings(), keep=args.keep)
    return run_demo(_lab_settings(), keep=args.keep)


def cmd_drill(args: argparse.Namespace) -> int:
    """Run the failure drills against the lab and print what each measured."""
    import subprocess
    import tempfile
    from pathlib import Path

    from telephony.settings import REPO_ROOT

    drills = REPO_ROOT / "tests" / "integration"
    if not drills.exists():
        print("hotline drill: the drills live in the source tree (tests/integration)",
              file=sys.stderr)
        return 2
    report = Path(tempfile.mkstemp(prefix="hotline-drill-", suffix=".jsonl")[1])
    env = child_environment(HOTLINE_MODE="lab", HOTLINE_DRILL_REPORT=str(report),
                            HOTLINE_DRILL_FULL="1" if args.full else "0")
    code = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "drill", str(drills)],
                          cwd=REPO_ROOT, env=env, check=False).returncode
    rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    print(f"\n{'drill':32} {'calls':>6} {'dropped':>8} {'orders lost':>12} {'recovery':>9}  note")
    for row in rows:
        recovery = "-" if row["recovery_s"] is None else f"{row['recovery_s']:.2f}s"
        print(f"{row['drill']:32} {row['calls']:>6} {row['dropped']:>8} {row['orders_lost']:>12} "
              f"{recovery:>9}  {row['note']}")
    if code:
        print(f"\nsome drills FAILED (pytest exit {code}); see above", file=sys.stderr)
    return code


def _controller_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= count <= 8:
        raise argparse.ArgumentTypeError("between 1 and 8 controllers")
    return count


def register_lab(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="the multi-site Asterisk lab on this machine")
    lab.add_argument("action", choices=["up", "down", "status", "install", "render"])
    lab.add_argument("--no-controller", action="store_true",
                     help="start the sites and Redis only")
    lab.add_argument("--redis", choices=["single", "sentinel"], default="single",
                     help="sentinel: a replica and three Sentinels next to the primary "
                          "(the controller finds the primary through them)")
    lab.add_argument("--controllers", type=_controller_count, default=1, metavar="N",
                     help="start N controllers sharing the sites by site leases (default 1; "
                          "controller k answers on the API port + k - 1)")
    lab.set_defaults(func=cmd_lab)


def register_tools(sub: argparse._SubParsersAction) -> None:
    """Drills and the demo, after `hotline controller` in the command list."""
    drill = sub.add_parser("drill", help="failure drills against the lab, with a table")
    drill.add_argument("--full", action="store_true",
                       help="full-length drills (e.g. a 30 s Redis outage); CI runs a reduced set")
    drill.set_defaults(func=cmd_drill)

    demo = sub.add_parser("demo", help="bring the lab up and place a simulated citizen call")
    demo.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    demo.add_argument("--docker", action="store_true",
                      help="the same call against the compose deployment (docker/), at the "
                           "lab's addresses: the lab must be down")
    demo.add_argument("--surge", action="store_true",
                      help="more citizens than local seats: overflow to remote seats")
    demo.set_defaults(func=cmd_demo)
