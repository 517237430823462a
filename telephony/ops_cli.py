"""`hotline overflow on|off|auto|status --site 12345 --reason "..."` (the ops
switch, 启动应急联动预案) and `hotline seat pause|resume`, through the
controller's API like any other client."""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from telephony.settings import SettingsError, api_access


def _request(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SettingsError(f"{exc.code}: {exc.read().decode(errors='replace')}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SettingsError(f"controller not reachable at {url}: {exc}") from exc


def cmd_overflow(args: argparse.Namespace) -> int:
    try:
        api = api_access()   # the API's address and a token: no call-control secrets
        base, token = f"{api.base_url}/api/v1/overflow", api.token
        if args.action != "status":
            if not args.reason.strip():
                print("hotline overflow: --reason is required to switch", file=sys.stderr)
                return 2
            enabled = {"on": True, "off": False, "auto": None}[args.action]
            _request(base, token, "PUT", {"site": args.site, "enabled": enabled,
                                          "reason": args.reason})
        status = _request(base, token)["status"].get(args.site)
    except SettingsError as exc:
        print(f"hotline overflow: {exc}", file=sys.stderr)
        return 1
    if status is None:
        print(f"hotline overflow: site {args.site} has no overflow policy", file=sys.stderr)
        return 1
    forced = {True: "forced on", False: "forced off", None: "automatic"}[status["forced"]]
    print(f"site {args.site}: overflow to {status['to']} "
          f"{'ACTIVE' if status['active'] else 'inactive'} ({forced}"
          f"{': ' + status['reason'] if status['reason'] else ''})"
          f"{' - ' + status['why'] if status['why'] else ''}")
    return 0


def cmd_seat(args: argparse.Namespace) -> int:
    """Pause or resume a seat through the API (an agent's token pauses only their own seat)."""
    try:
        api = api_access()
        base, token = f"{api.base_url}/api/v1/seats", api.token
        seat = _request(f"{base}/{args.site}/{args.seat}/{args.action}", token, "POST", {})
    except SettingsError as exc:
        print(f"hotline seat: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(seat, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    overflow = sub.add_parser("overflow", help="the overflow ops switch (启动应急联动预案)")
    overflow.add_argument("action", choices=["on", "off", "auto", "status"])
    overflow.add_argument("--site", default="12345")
    overflow.add_argument("--reason", default="", help="why (required to switch; audited)")
    overflow.set_defaults(func=cmd_overflow)

    seat = sub.add_parser("seat", help="pause or resume a seat (no new calls while paused)")
    seat.add_argument("action", choices=["pause", "resume"])
    seat.add_argument("--site", required=True)
    seat.add_argument("--seat", required=True)
    seat.set_defaults(func=cmd_seat)
