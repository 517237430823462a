"""The sites, as `dialplan/sites.toml` describes them (settings.py reads the file)."""
from __future__ import annotations

from dataclasses import dataclass

from services.overflow import OverflowPolicy
from services.recordings.policy import RecordingPolicy


@dataclass(frozen=True)
class Site:
    name: str
    platform: str              # one of calls.model.PLATFORMS: whose work this site's calls are
    address: str
    sip_port: int
    ami_port: int
    ari_port: int
    service_number: str | None
    seats: tuple[str, ...]
    region_code: str
    rtp_start: int
    rtp_end: int
    overflow: OverflowPolicy | None = None
    surge_after_s: float | None = None   # all seats busy this long: FAQ / callback menu
    recording: RecordingPolicy | None = None   # None: this site does not record
    # shift leaders' softphones: they register like seats, are rung only for listen-in,
    # whisper or barge (issue 18), and never get a citizen's call (not in `seats`)
    supervisor_seats: tuple[str, ...] = ()

    @property
    def ari_url(self) -> str:
        return f"http://{self.address}:{self.ari_port}/ari"

    def trunk_to(self, other: str) -> str:
        """Name of this site's PJSIP endpoint that reaches site `other`."""
        return f"trunk-{other}"



def parse_topology(data: dict) -> tuple[tuple[Site, ...], dict[str, str], dict]:
    defaults = data.get("defaults", {})
    sites = []
    for name, raw in data.get("sites", {}).items():
        seats = raw.get("seats", {})
        sites.append(Site(
            name=name,
            platform=str(raw["platform"]),
            address=raw["address"],
            sip_port=int(raw.get("sip_port", defaults.get("sip_port", 5060))),
            ami_port=int(raw.get("ami_port", defaults.get("ami_port", 5038))),
            ari_port=int(raw.get("ari_port", defaults.get("ari_port", 8088))),
            service_number=raw.get("service_number"),
            seats=tuple(str(n) for n in range(int(seats["first"]), int(seats["last"]) + 1)),
            region_code=str(raw["region_code"]),
            rtp_start=int(raw["rtp"]["start"]),
            rtp_end=int(raw["rtp"]["end"]),
            overflow=OverflowPolicy(**raw["overflow"]) if raw.get("overflow") else None,
            surge_after_s=float(raw["surge"]["after_s"]) if raw.get("surge") else None,
            recording=RecordingPolicy.parse(raw.get("recording"), f"sites.{name}"),
            supervisor_seats=_range(raw.get("supervisor_seats")),
        ))
    lines = {str(k): str(v) for k, v in data.get("lines", {}).items()}
    return tuple(sites), lines, defaults


def _range(raw: dict | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(str(n) for n in range(int(raw["first"]), int(raw["last"]) + 1))
