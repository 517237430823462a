"""A synchronous look at one site for `hotline lab status`."""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from telephony.settings import Settings, Site


def _get(settings: Settings, site: Site, path: str):
    creds = settings.credentials
    token = base64.b64encode(f"{creds.ari_user}:{creds.ari_password}".encode()).decode()
    request = urllib.request.Request(f"{site.ari_url}{path}",
                                     headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=2) as resp:
        return json.loads(resp.read())


def site_snapshot(settings: Settings, site: Site) -> dict:
    try:
        endpoints = _get(settings, site, "/endpoints/PJSIP")
        channels = _get(settings, site, "/channels")
        bridges = _get(settings, site, "/bridges")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"ari": f"unreachable: {exc}"}
    seats = {e["resource"]: e["state"] for e in endpoints if e["resource"] in site.seats}
    return {
        "ari": "ok",
        "seats_online": sorted(s for s, state in seats.items() if state == "online"),
        "channels": len(channels),
        "bridges": len(bridges),
    }
