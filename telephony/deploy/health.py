"""Container healthchecks, on the standard library only (both images run them).

  python3 -m telephony.deploy.health ari --site NAME   the site's ARI answers our user
  python3 -m telephony.deploy.health controller        /healthz says ready, database up
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.request

from telephony.settings import api_address, load_settings


def ari_answers(site_name: str) -> str | None:
    settings = load_settings()
    site, creds = settings.site(site_name), settings.credentials
    token = base64.b64encode(f"{creds.ari_user}:{creds.ari_password}".encode()).decode()
    request = urllib.request.Request(f"{site.ari_url}/asterisk/ping",
                                     headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=2) as resp:
        return None if resp.status == 200 else f"ARI answered {resp.status}"


def controller_ready() -> str | None:
    host, port = api_address()
    with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as resp:
        health = json.load(resp)
    if not health.get("ready"):
        return "controller not ready: " + json.dumps(health.get("sites"))
    if not (health.get("orders") or {}).get("database"):
        return "controller ready, order database not yet"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m telephony.deploy.health")
    parser.add_argument("what", choices=["ari", "controller"])
    parser.add_argument("--site")
    args = parser.parse_args(argv)
    try:
        problem = ari_answers(args.site) if args.what == "ari" else controller_ready()
    except Exception as exc:   # any failure is "unhealthy", said in one line
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
