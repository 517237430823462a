"""Put the production topology (docker/topology.toml) on other addresses.

The deployment test and `hotline demo --docker` run the production file as
it is, with only its placeholder addresses (and RTP ranges) swapped, so what
they run is what ops deploy.
"""
from __future__ import annotations

import re
from pathlib import Path

from telephony.settings import REPO_ROOT

PRODUCTION_TOPOLOGY = REPO_ROOT / "docker" / "topology.toml"


def retarget(out: Path, sites: dict[str, str], citizen_networks: list[str],
             line_host: str, rtp_base: int | None = None,
             manager_networks: tuple[str, ...] = ("127.0.0.0/8",),
             source: Path = PRODUCTION_TOPOLOGY) -> Path:
    """Write `source` with each site's address from `sites`, the gateway networks,
    the AMI networks and the lines' host replaced; RTP ranges moved to rtp_base."""
    text = source.read_text(encoding="utf-8")
    for name, address in sites.items():
        text, n = re.subn(rf'(\[sites\.{re.escape(name)}\][^\[]*?address = )"[^"]*"',
                          rf'\g<1>"{address}"', text, flags=re.S)
        if n != 1:
            raise ValueError(f"{source}: no address for site {name}")
    text = re.sub(r"^citizen_networks = .*$", f"citizen_networks = {_list(citizen_networks)}",
                  text, flags=re.M)
    text = re.sub(r"^manager_networks = .*$", f"manager_networks = {_list(manager_networks)}",
                  text, flags=re.M)
    text = re.sub(r"(sip:[\w]+@)[\d.]+(:\d+)", rf"\g<1>{line_host}\g<2>", text)
    if rtp_base is not None:
        starts = iter(range(rtp_base, rtp_base + 100 * 1000, 1000))
        text = re.sub(r"rtp = \{ start = \d+, end = \d+ \}",
                      lambda _: f"rtp = {{ start = {(s := next(starts))}, end = {s + 999} }}", text)
    out.write_text(text, encoding="utf-8")
    return out


def _list(items) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"
